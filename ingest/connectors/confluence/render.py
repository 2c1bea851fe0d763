"""Confluence storage format (XHTML with ``ac:``/``ri:`` elements) to clean HTML for the Parser.

Macros become plain HTML the Parser understands: ``code``/``noformat`` -> ``<pre><code>``;
``info``/``note``/``tip``/``warning``/``panel`` -> a ``<blockquote>`` led by its kind or title;
``expand`` -> its title as a bold paragraph followed by its body; ``excerpt``, ``section``,
``column`` and other body-carrying macros -> their body; layout wrappers -> their content.
Macros with no readable body (``toc``, ``children``, ``jira``, attachments lists) are dropped,
as are images and emoticons. Links keep their text (or the linked page's title).
"""

from __future__ import annotations

import html

from bs4 import BeautifulSoup, Tag

_CODE = {"code", "noformat"}
_PANELS = {"info": "Info", "note": "Note", "tip": "Tip", "warning": "Warning", "panel": "", "callout": ""}
_DROP = {"ac:image", "ac:emoticon", "ac:placeholder", "ri:attachment", "ac:task-list-ignore"}


def storage_to_html(storage: str, *, title: str = "") -> str:
    """A complete HTML document for a page whose body is ``storage`` (Confluence storage format)."""
    soup = BeautifulSoup(storage or "", "html.parser")
    for tag in soup.find_all(["ac:structured-macro", "ac:macro"]):
        if isinstance(tag, Tag) and tag.parent is not None:
            _macro(soup, tag)
    for name in _DROP:
        for tag in soup.find_all(name):
            tag.decompose()
    for link in soup.find_all("ac:link"):
        _link(soup, link)
    for task in soup.find_all("ac:task"):
        status = task.find("ac:task-status")
        body = task.find("ac:task-body")
        li = soup.new_tag("li")
        li.append("[x] " if status and status.get_text(strip=True) == "complete" else "[ ] ")
        if body:
            li.extend(list(body.contents))
        task.replace_with(li)
    for wrapper in soup.find_all(["ac:task-list"]):
        wrapper.name = "ul"
    for wrapper in soup.find_all(["ac:layout", "ac:layout-section", "ac:layout-cell", "ac:rich-text-body",
                                  "ac:plain-text-body", "ac:adf-content", "ac:adf-extension"]):
        wrapper.unwrap()
    for leftover in soup.find_all(lambda t: ":" in t.name):
        leftover.unwrap()
    head = f"<title>{html.escape(title)}</title>" if title else ""
    h1 = f"<h1>{html.escape(title)}</h1>\n" if title else ""
    return f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">{head}</head><body>{h1}{soup}</body></html>"


def _param(macro: Tag, name: str) -> str:
    for p in macro.find_all("ac:parameter", recursive=False):
        if p.get("ac:name") == name:
            return str(p.get_text(strip=True))
    return ""


def _macro(soup: BeautifulSoup, macro: Tag) -> None:
    name = str(macro.get("ac:name") or "").lower()
    plain = macro.find("ac:plain-text-body", recursive=False)
    rich = macro.find("ac:rich-text-body", recursive=False)
    if name in _CODE:
        pre = soup.new_tag("pre")
        code = soup.new_tag("code")
        language = _param(macro, "language")
        if language:
            code["class"] = f"language-{language}"
        code.string = plain.get_text() if plain else macro.get_text()
        pre.append(code)
        macro.replace_with(pre)
        return
    if name in _PANELS or name == "expand":
        label = _param(macro, "title") or _PANELS.get(name, "") or ("Details" if name == "expand" else "")
        box = soup.new_tag("blockquote" if name != "expand" else "div")
        if label:
            p = soup.new_tag("p")
            strong = soup.new_tag("strong")
            strong.string = label
            p.append(strong)
            box.append(p)
        if rich is not None:
            box.extend(list(rich.contents))
        macro.replace_with(box)
        return
    if rich is not None:  # excerpt, section, column, details, ... : keep the body
        div = soup.new_tag("div")
        div.extend(list(rich.contents))
        macro.replace_with(div)
        return
    macro.decompose()  # toc, children, jira, attachments, ...


def _link(soup: BeautifulSoup, link: Tag) -> None:
    body = link.find(["ac:link-body", "ac:plain-text-link-body"])
    text = body.get_text() if body else ""
    if not text:
        target = link.find(["ri:page", "ri:blog-post", "ri:attachment", "ri:user", "ri:space"])
        if isinstance(target, Tag):
            text = str(target.get("ri:content-title") or target.get("ri:filename") or target.get("ri:space-key") or "")
    link.replace_with(soup.new_string(text))
