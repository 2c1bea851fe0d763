"""Main-content extraction from an HTML page, with lxml.

The page's main region is chosen by landmarks (``<main>``, ``[role=main]``, a single
``<article>``, common content containers), falling back to ``<body>``. Inside it, navigation,
headers and footers outside the content, sidebars, cookie banners, forms, scripts and styles
are removed by tag, ARIA role and class/id words. The result is a small HTML document
(title + main region) that the foundation Parser partitions like any other HTML.

Also read here: the title (``og:title``, ``<title>``, then the first ``<h1>``), the language
(``<html lang>``), breadcrumbs (ARIA/class breadcrumb trails or schema.org BreadcrumbList
JSON-LD), the canonical link, and the page's links.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "svg", "canvas", "form", "button",
              "select", "input", "textarea", "dialog", "object", "embed")
_BOILERPLATE_TAGS = ("nav", "aside")
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog",
                                "alertdialog", "menu", "menubar"})
#: Class or id words (split on -, _ and spaces) that mark page chrome.
_BOILERPLATE_WORDS = frozenset({
    "nav", "navbar", "navigation", "navheader", "navfooter", "menu", "sidebar", "breadcrumb", "breadcrumbs",
    "cookie", "cookies", "consent", "gdpr", "banner", "footer", "masthead", "skip", "skiplink", "toolbar",
    "share", "social", "newsletter", "related", "pagination", "pager", "feedback", "advert", "ads",
    "toc", "toctree",
})  # fmt: skip
#: A block of at least this many links to this site whose text is almost all link text is
#: navigation (a table of contents, an index of pages): it repeats other sections' headings
#: verbatim and, indexed, wins every keyword search for them.
_NAV_MIN_LINKS = 5
_NAV_LINK_SHARE = 0.85
_NAV_BLOCKS = ("div", "ul", "ol", "dl", "table", "p", "section")
_MAIN_XPATHS = ("//main", "//*[@role='main']", "//article", "//*[@id='content' or @id='main-content' or @id='main']",
                "//*[contains(concat(' ', normalize-space(@class), ' '), ' content ')]")
_WORD_SPLIT = re.compile(r"[\s_\-]+")
_SPACE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a page yields: its main content as a standalone HTML document, and metadata."""

    html: str
    text_length: int
    title: str
    language: str | None
    breadcrumbs: tuple[str, ...]
    canonical: str | None


def extract(page: str | bytes, *, url: str = "") -> Extracted:
    """Main content and metadata of one HTML page (broken markup is repaired by lxml).

    Raises:
        ValueError: the document has no HTML element tree at all (e.g. empty).
    """
    if isinstance(page, str):  # lxml refuses text that still declares its byte encoding (XHTML)
        page = _XML_DECLARATION.sub("", page, count=1)
    root = lxml_html.document_fromstring(page, base_url=url or None)
    language = _language(root)
    title = _title(root)
    crumbs = _breadcrumbs(root, title)
    canonical = _first_attr(root, "//link[translate(@rel, 'CANONICAL', 'canonical')='canonical']/@href")
    if canonical:
        canonical = _absolute(root, canonical)
    for el in root.xpath("//comment() | //processing-instruction()"):
        _drop(el)
    for el in root.iter(*_DROP_TAGS):
        if el.getparent() is not None:
            _drop(el)
    main = _main_region(root)
    _strip_boilerplate(main, keep_header=main.tag != "body")
    text = _SPACE.sub(" ", main.text_content()).strip()
    if not title:
        h1 = main.find(".//h1")
        title = _SPACE.sub(" ", h1.text_content()).strip() if h1 is not None else ""
    if main.tag in ("body", "html"):
        main.tag = "div"  # it goes inside a new <body>
    body = etree.tostring(main, encoding="unicode", method="html")
    lang_attr = f' lang="{_escape(language)}"' if language else ""
    document = (f'<!DOCTYPE html><html{lang_attr}><head><meta charset="utf-8"><title>{_escape(title)}</title>'
                f"</head><body>{body}</body></html>")
    return Extracted(html=document, text_length=len(text), title=title, language=language,
                     breadcrumbs=crumbs, canonical=canonical)


def _main_region(root: lxml_html.HtmlElement) -> lxml_html.HtmlElement:
    for xpath in _MAIN_XPATHS:
        found = [el for el in root.xpath(xpath) if _SPACE.sub("", el.text_content())]
        if len(found) == 1 or (found and xpath != "//article"):
            return _largest(found) if len(found) > 1 else found[0]
        if len(found) > 1:  # several articles (a listing): their common content is the body
            break
    body = root.find("body")
    return body if body is not None else root


def _largest(elements: list[lxml_html.HtmlElement]) -> lxml_html.HtmlElement:
    outermost = [el for el in elements if not any(other in el.iterancestors() for other in elements)]
    return max(outermost, key=lambda el: len(el.text_content()))


def _strip_boilerplate(main: lxml_html.HtmlElement, *, keep_header: bool) -> None:
    doomed = []
    for el in main.iter():
        if not isinstance(el.tag, str) or el is main:
            continue
        if _is_boilerplate(el, keep_header=keep_header) or _is_link_list(el):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None and not any(a in doomed for a in el.iterancestors()):
            _drop(el)


def _is_boilerplate(el: lxml_html.HtmlElement, *, keep_header: bool) -> bool:
    """Page chrome: navigation, sidebars, footers (and headers outside the main region),
    landmark roles of chrome, chrome-named classes/ids, hidden elements."""
    if el.tag in _BOILERPLATE_TAGS or el.tag == "footer" or (el.tag == "header" and not keep_header):
        return True
    if (el.get("role") or "").lower() in _BOILERPLATE_ROLES:
        return True
    return _is_chrome(el) or el.get("hidden") is not None or el.get("aria-hidden") == "true"


def _is_link_list(el: lxml_html.HtmlElement) -> bool:
    """A list of links to this site and little else (no heading inside): a table of contents or a
    page index. Links elsewhere (a list of mirrors, references) are content and are kept."""
    if el.tag not in _NAV_BLOCKS or el.find(".//h1") is not None or el.xpath(".//h2|.//h3|.//h4|.//h5|.//h6"):
        return False
    links = el.xpath(".//a[@href]")
    if len(links) < _NAV_MIN_LINKS or any("://" in (a.get("href") or "") for a in links):
        return False
    text = len(_SPACE.sub("", el.text_content()))
    linked = sum(len(_SPACE.sub("", a.text_content())) for a in links)
    return text > 0 and linked >= _NAV_LINK_SHARE * text


def _is_chrome(el: lxml_html.HtmlElement) -> bool:
    words = set(_WORD_SPLIT.split(f"{el.get('class', '')} {el.get('id', '')}".lower()))
    return bool(words & _BOILERPLATE_WORDS) and el.find(".//h1") is None


def _drop(el: etree._Element) -> None:
    """Remove an element but keep the text that follows it (lxml stores it on the element)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    previous = el.getprevious()
    parent.remove(el)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _title(root: lxml_html.HtmlElement) -> str:
    for xpath in ("//meta[@property='og:title']/@content", "//title//text()", "//h1"):
        value = root.xpath(xpath)
        if value:
            first = value[0]
            text = first.text_content() if hasattr(first, "text_content") else str(first)
            if text := _SPACE.sub(" ", text).strip():
                return text
    return ""


def _language(root: lxml_html.HtmlElement) -> str | None:
    value = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not value:
        value = _first_attr(root, "//meta[@http-equiv='content-language']/@content")
    if not value:
        return None
    code = value.strip().split(",")[0].replace("_", "-").split("-")[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None


def _breadcrumbs(root: lxml_html.HtmlElement, title: str) -> tuple[str, ...]:
    trails = root.xpath(
        "//*[@aria-label and contains(translate(@aria-label, 'BREADCRUMB', 'breadcrumb'), 'breadcrumb')]"
        " | //*[contains(translate(@class, 'BREADCRUMB', 'breadcrumb'), 'breadcrumb')]"
    )
    for trail in trails:
        items = trail.xpath(".//li") or trail.xpath(".//a")
        names = [_SPACE.sub(" ", i.text_content()).strip() for i in items]
        names = [n for n in names if n and n not in (">", "/", "»", "›")]
        if names:
            return _trim_crumbs(names, title)
    for script in root.xpath("//script[@type='application/ld+json']/text()"):
        names = _jsonld_crumbs(script)
        if names:
            return _trim_crumbs(names, title)
    return ()


def _jsonld_crumbs(raw: str) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    nodes = data if isinstance(data, list) else [data]
    nodes += [n for d in list(nodes) if isinstance(d, dict) for n in d.get("@graph", []) if isinstance(n, dict)]
    for node in nodes:
        if isinstance(node, dict) and node.get("@type") == "BreadcrumbList":
            items = sorted((i for i in node.get("itemListElement", []) if isinstance(i, dict)),
                           key=lambda i: int(i.get("position", 0) or 0))
            names = [i.get("name") or (i.get("item") or {}).get("name", "") for i in items
                     if isinstance(i.get("item", {}), dict | str)]
            return [str(n).strip() for n in names if n]
    return []


def _trim_crumbs(names: list[str], title: str) -> tuple[str, ...]:
    if names and names[-1].casefold() == title.casefold():
        names = names[:-1]
    return tuple(names[:8])


def _first_attr(root: lxml_html.HtmlElement, xpath: str) -> str | None:
    value = root.xpath(xpath)
    return str(value[0]).strip() if value else None


def _absolute(root: lxml_html.HtmlElement, href: str) -> str:
    from urllib.parse import urljoin

    base = root.getroottree().docinfo.URL or ""
    return urljoin(base, href)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
