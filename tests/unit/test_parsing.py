"""Parser: heading structure, titles, decoding, language and the errors a user can cause."""

from __future__ import annotations

import pytest

from core.errors import ParseError
from core.models import Document, Section
from ingest.parsing import DOCX, PDF, SUPPORTED_EXTENSIONS, SUPPORTED_MEDIA_TYPES, Parser, media_type_for

HTML_PAGE = """<html><head><title>ignored</title></head><body>
<header><p>Brand bar</p></header><nav><a href="/">Home</a></nav>
<h1>Account help</h1>
<p>Everything about your account.</p>
<h2>Passwords</h2>
<p>Reset your password from the settings page.</p>
<ul><li>Open settings</li><li>Click reset</li></ul>
<h3>Rules</h3>
<p>At least twelve characters.</p>
<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>10</td></tr></table>
<h2>Billing</h2>
<p>Invoices go out monthly.</p>
<footer>Copyright footer</footer>
</body></html>"""

MARKDOWN = """# Account help

Everything about your account.

## Passwords

Reset your password from the settings page.

- Open settings
- Click reset

### Rules

At least twelve characters.

## Billing

Invoices go out monthly.
"""


def doc(content: bytes | str, media_type: str = "text/html", **fields: object) -> Document:
    data = content.encode() if isinstance(content, str) else content
    values: dict[str, object] = {
        "workspace": "default",
        "source_id": "docs",
        "native_id": "help/account.html",
    }
    values.update(fields)
    return Document(media_type=media_type, content=data, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser()


def test_html_headings_become_section_paths(parser: Parser) -> None:
    parsed = parser.parse(doc(HTML_PAGE))

    assert parsed.title == "Account help"
    assert parsed.sections == (
        Section(path=(), text="Everything about your account."),
        Section(
            path=("Passwords",),
            text="Reset your password from the settings page.\n- Open settings\n- Click reset",
        ),
        Section(path=("Passwords", "Rules"), text="At least twelve characters.\nPlan | Price\nBasic | 10"),
        Section(path=("Billing",), text="Invoices go out monthly."),
    )
    assert "Brand bar" not in parsed.text
    assert "footer" not in parsed.text
    assert parsed.language == "en"


def test_sibling_sections_under_a_skipped_level_replace_each_other(parser: Parser) -> None:
    # PostgreSQL's pages open with an h2 title and go straight to h3 sections.
    page = (b"<html><body><h2>25.1. SQL Dump</h2><p>Intro text.</p>"
            b"<h3>25.1.1. Restoring the Dump</h3><p>Use psql to restore.</p>"
            b"<h3>25.1.2. Using pg_dumpall</h3><p>Dumps every database.</p></body></html>")
    parsed = parser.parse(doc(page))

    assert [s.path for s in parsed.sections] == [(), ("25.1.1. Restoring the Dump",), ("25.1.2. Using pg_dumpall",)]


def test_an_article_whose_headings_start_at_h2_keeps_them_siblings(parser: Parser) -> None:
    # A help-center article titled apart from its body: "##" sections, "###" under them.
    body = "Intro.\n\n## Reading\n\nRead it.\n\n## Codes\n\nA table.\n\n### E-12\n\nClear the burrs.\n"
    parsed = parser.parse(doc(body, "text/markdown", title="Error codes"))

    assert [s.path for s in parsed.sections] == [(), ("Reading",), ("Codes",), ("Codes", "E-12")]


def test_markdown_headings_and_a_document_title_that_differs(parser: Parser) -> None:
    parsed = parser.parse(doc(MARKDOWN, "text/markdown", title="Help center"))

    assert parsed.title == "Help center"
    assert [s.path for s in parsed.sections] == [
        ("Account help",),
        ("Account help", "Passwords"),
        ("Account help", "Passwords", "Rules"),
        ("Account help", "Billing"),
    ]
    assert parsed.sections[1].text.endswith("- Open settings\n- Click reset")


def test_first_heading_equal_to_the_document_title_is_not_repeated(parser: Parser) -> None:
    parsed = parser.parse(doc(MARKDOWN, "text/markdown", title="  account HELP "))

    assert parsed.title == "account HELP"
    assert [s.path for s in parsed.sections][:2] == [(), ("Passwords",)]


def test_title_falls_back_to_the_file_name(parser: Parser) -> None:
    parsed = parser.parse(doc("<p>Just a paragraph of text, nothing more.</p>", native_id="a/b/notes.html"))

    assert parsed.title == "notes.html"
    assert parsed.sections == (Section(text="Just a paragraph of text, nothing more."),)


def test_plain_text_heading_lines_become_sections(parser: Parser) -> None:
    text = (
        "INSTALLATION\n\nThis guide explains how to install the agent on a server.\n\n"
        "Requirements\n\nYou need Python 3.11 and a recent pip on the machine.\n"
    )
    parsed = parser.parse(doc(text, "text/plain; charset=utf-8", native_id="install.txt"))

    assert parsed.title == "INSTALLATION"
    assert parsed.sections == (
        Section(text="This guide explains how to install the agent on a server."),
        Section(path=("Requirements",), text="You need Python 3.11 and a recent pip on the machine."),
    )


def test_a_document_of_headings_only_keeps_its_text(parser: Parser) -> None:
    parsed = parser.parse(doc("<h1>Closed</h1><h2>Moved</h2>"))

    assert parsed.title == "Closed"
    assert parsed.sections == (Section(text="Closed\nMoved"),)


def test_xhtml_is_parsed_as_html(parser: Parser) -> None:
    xhtml = (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
        "<body><h1>Hi</h1><p>Some body text here.</p></body></html>"
    )
    parsed = parser.parse(doc(xhtml, "application/xhtml+xml"))

    assert (parsed.title, parsed.text) == ("Hi", "Some body text here.")


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        ("<p>Café crème brûlée</p>".encode("iso-8859-1"), "text/html; charset=ISO-8859-1"),
        ('<meta charset="windows-1252"><p>Café crème brûlée</p>'.encode("cp1252"), "text/html"),
        ("\ufeffCafé crème brûlée".encode(), "text/plain"),
        ("Café crème brûlée".encode(), "text/plain; charset=no-such-charset"),
    ],
    ids=["charset-parameter", "meta-charset", "utf8-bom", "unknown-charset-falls-back"],
)
def test_decoding(parser: Parser, content: bytes, media_type: str) -> None:
    assert parser.parse(doc(content, media_type)).text == "Café crème brûlée"


def test_decoding_guesses_a_charset_when_utf8_fails(parser: Parser) -> None:
    text = "Die Größe der Datei übersteigt das Maß, das wir für Ihre Übertragung zulassen."
    parsed = parser.parse(doc(text.encode("cp1252"), "text/plain"))

    assert parsed.text == text
    assert parsed.language == "de"


def test_language_is_kept_when_given_and_none_for_short_text(parser: Parser) -> None:
    long_text = "<p>This paragraph is clearly written in English, long enough to tell.</p>"
    assert parser.parse(doc(long_text, language="fr")).language == "fr"
    assert parser.parse(doc("<p>Hi there</p>")).language is None


def test_parsing_is_deterministic(parser: Parser) -> None:
    assert parser.parse(doc(HTML_PAGE)) == parser.parse(doc(HTML_PAGE))


@pytest.mark.parametrize(
    ("content", "media_type", "expected"),
    [
        (b"", "text/html", "empty content (0 bytes)"),
        (b"  \n\t ", "text/markdown", "empty content (only whitespace)"),
        ("\u3000\u2003".encode(), "text/plain", "empty content (only whitespace)"),
        (b"<html><body><img src='a.png'></body></html>", "text/html", "no text extracted"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "unsupported media type 'image/png'; supported: "),
        (b"data", "", "unsupported media type '(none)'"),
        (bytes(range(256)) * 4, "text/plain", "undecodable text"),
    ],
    ids=["empty", "whitespace", "unicode-whitespace", "no-text", "png", "no-media-type", "binary"],
)
def test_errors_say_what_is_wrong(parser: Parser, content: bytes, media_type: str, expected: str) -> None:
    with pytest.raises(ParseError, match=r"^cannot parse 'help/account\.html': ") as caught:
        parser.parse(doc(content, media_type))

    assert expected in caught.value.message
    assert caught.value.fields["document_id"] == "docs:help/account.html"
    assert caught.value.to_dict()["error"] == "parse_error"


def test_unsupported_media_type_lists_what_is_supported(parser: Parser) -> None:
    with pytest.raises(ParseError) as caught:
        parser.parse(doc(b"x", "application/zip"))

    assert all(media_type in caught.value.message for media_type in SUPPORTED_MEDIA_TYPES)


def test_oversized_content_names_the_setting() -> None:
    with pytest.raises(ParseError) as caught:
        Parser(max_bytes=10).parse(doc(b"<p>eleven b</p>"))

    message = str(caught.value)
    assert "oversized: 15 bytes" in message
    assert "sync.max_file_bytes limit of 10 bytes" in message
    assert "raise KNOWDESK_SYNC__MAX_FILE_BYTES or exclude the file" in message


def test_max_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        Parser(max_bytes=0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("faq.md", "text/markdown"),
        ("docs/Guide.MARKDOWN", "text/markdown"),
        ("index.html", "text/html"),
        ("index.htm", "text/html"),
        ("page.xhtml", "application/xhtml+xml"),
        ("notes.txt", "text/plain"),
        ("notes.text", "text/plain"),
        ("manual.pdf", PDF),
        ("report.docx", DOCX),
        ("https://example.com/help/page.html?lang=en#top", "text/html"),
        ("photo.png", "image/png"),
        ("README", None),
        ("archive.unknownext", None),
    ],
)
def test_media_type_for(name: str, expected: str | None) -> None:
    assert media_type_for(name) == expected


def test_every_supported_extension_maps_to_a_supported_media_type() -> None:
    assert {media_type_for(f"file{ext}") for ext in SUPPORTED_EXTENSIONS} == SUPPORTED_MEDIA_TYPES
