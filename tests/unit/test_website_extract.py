"""Main-content extraction and the website source's options."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from ingest.connectors.registry import validate_options
from ingest.connectors.website.extract import extract

PAGE = """<!DOCTYPE html><html lang="de-DE"><head><title>Entkalken | Brewly Hilfe</title>
<link rel="canonical" href="/hilfe/entkalken"><script>var tracking = 1;</script><style>p{}</style></head>
<body><header><a href="/">Brewly</a><nav><a href="/a">Menu item A</a></nav></header>
<div class="cookie-banner">Wir verwenden Cookies.</div>
<nav aria-label="Breadcrumb"><ol><li><a href="/">Hilfe</a></li><li><a href="/geraete">Geräte</a></li>
<li>Entkalken | Brewly Hilfe</li></ol></nav>
<main><h1>Entkalken</h1><p>Entkalken Sie die Maschine alle drei Monate.</p>
<aside>Verwandte Artikel</aside><form><input name="q"></form><p>Danach gründlich spülen.</p></main>
<footer>Impressum und Datenschutz</footer></body></html>"""


def test_main_content_only_with_title_language_breadcrumbs_and_canonical() -> None:
    page = extract(PAGE, url="https://help.example.com/hilfe/entkalken?ref=x")
    assert page.title == "Entkalken | Brewly Hilfe"
    assert page.language == "de"
    assert page.breadcrumbs == ("Hilfe", "Geräte")
    assert page.canonical == "https://help.example.com/hilfe/entkalken"
    for kept in ("Entkalken Sie die Maschine", "Danach gründlich spülen", "<h1>Entkalken</h1>"):
        assert kept in page.html
    for dropped in ("Menu item A", "Cookies", "Verwandte Artikel", "Impressum", "tracking", "<form"):
        assert dropped not in page.html
    assert page.html.startswith("<!DOCTYPE html><html lang=\"de\">")


def test_without_landmarks_the_body_minus_chrome_is_kept() -> None:
    html = """<html><head><title>Plain</title></head><body><div class="navheader">Prev Next Home</div>
    <div class="sect1"><h2>Setting up</h2><p>Run the installer and follow the prompts.</p></div>
    <div id="site-footer">Legal footer</div></body></html>"""
    page = extract(html)
    assert "Run the installer" in page.html and "Setting up" in page.html
    assert "Prev Next Home" not in page.html and "Legal footer" not in page.html
    assert page.html.count("<body") == 1
    assert page.language is None and page.breadcrumbs == ()


def test_broken_markup_is_repaired_and_text_after_removed_elements_is_kept() -> None:
    page = extract("<html><title>Leaks</title><div class=content><h1>Leaks<p>Check the tray"
                   "<script>x()</script> and the valve.<table><tr><td>Front<td>Reseat</table>")
    assert "Check the tray" in page.html and "and the valve." in page.html and "Reseat" in page.html
    assert page.title == "Leaks"


def test_xhtml_with_an_xml_declaration_is_read() -> None:
    page = extract('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<!DOCTYPE html><html '
                   'xmlns="http://www.w3.org/1999/xhtml"><head><title>CREATE TABLE</title></head><body>'
                   '<div class="navheader">Prev Up Home</div><div class="refentry"><h2>CREATE TABLE</h2>'
                   "<p>define a new table</p></div></body></html>")
    assert page.title == "CREATE TABLE" and "define a new table" in page.html and "Prev Up" not in page.html


def test_json_ld_breadcrumbs_and_h1_title_fallback() -> None:
    html = """<html><head><script type="application/ld+json">{"@context": "https://schema.org",
    "@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "position": 2, "name": "Billing"},
    {"@type": "ListItem", "position": 1, "name": "Help"}]}</script></head>
    <body><article><h1>Refunds</h1><p>Refunds take five days.</p></article></body></html>"""
    page = extract(html)
    assert page.breadcrumbs == ("Help", "Billing")
    assert page.title == "Refunds"


def test_options_are_validated_with_clear_errors() -> None:
    ok = validate_options("website", {"start_url": "https://docs.example.com/", "max_pages": "50",
                                      "exclude": "/blog/,/tag/", "respect_robots": "false"})
    assert ok["max_pages"] == 50 and ok["exclude"] == ["/blog/", "/tag/"] and ok["respect_robots"] is False
    with pytest.raises(ConfigError, match="missing required option 'start_url'"):
        validate_options("website", {})
    with pytest.raises(ConfigError, match="not an http"):
        validate_options("website", {"start_url": "ftp://example.com/"})
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        validate_options("website", {"start_url": "https://e.com/", "include": "(unclosed"})
    with pytest.raises(ConfigError, match="unknown option 'depth'"):
        validate_options("website", {"start_url": "https://e.com/", "depth": 3})
    with pytest.raises(ConfigError, match="max_pages"):
        validate_options("website", {"start_url": "https://e.com/", "max_pages": 0})


@pytest.mark.parametrize(
    ("content_type", "body", "url", "expected"),
    [
        ("text/html", b"%PDF-1.7 ...", "https://e.com/manual", "application/pdf"),  # mislabelled PDF
        ("application/octet-stream", b"<!DOCTYPE html><html>", "https://e.com/page", "html"),
        ("text/plain", b"  <html><body>hi", "https://e.com/page.txt", "html"),
        ("application/octet-stream", b"PK\x03\x04....word/document.xml", "https://e.com/a.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("image/png", b"\x89PNG\r\n", "https://e.com/logo.png", "image/png"),
    ],
)
def test_content_is_sniffed_before_trusting_the_content_type(content_type: str, body: bytes, url: str,
                                                             expected: str) -> None:
    from ingest.connectors.website.crawl import _kind

    assert _kind(content_type, body, url) == expected


def test_a_table_of_contents_is_navigation_but_lists_of_outside_links_and_prose_stay() -> None:
    toc = "".join(f'<dt><a href="page{i}.html#s{i}">{i}. How do I do thing number {i}?</a></dt>' for i in range(1, 8))
    mirrors = "".join(f'<li><a href="https://mirror{i}.example.org/">mirror {i}</a></li>' for i in range(6))
    html = f"""<html><head><title>Chapter 1</title></head><body><div class="chapter">
    <div class="contents-box"><p><strong>Contents</strong></p><dl>{toc}</dl></div>
    <h2>1. How do I do thing number 1?</h2><p>Open the <a href="a.html">settings</a> and press
    <a href="b.html">save</a>; see <a href="c.html">c</a>, <a href="d.html">d</a> and <a href="e.html">e</a>
    for the reasons behind each step of it.</p>
    <ul>{mirrors}</ul><div class="toc"><a href="x.html">X</a></div></div></body></html>"""
    page = extract(html)
    assert "thing number 5" not in page.html, "the table of contents (links to this site only) is dropped"
    assert page.html.count("thing number 1") == 1, "the section's own heading stays"
    assert "press" in page.html and "settings" in page.html, "prose with a few links stays"
    assert "mirror3.example.org" in page.html, "a list of links to other sites is content"
    assert 'class="toc"' not in page.html
