"""Turns a raw ``Document`` into a ``ParsedDocument``: clean text in heading-structured sections.

HTML, Markdown, plain text and DOCX go through unstructured's partitioners; PDF text layers are
read with pypdf and then classified by unstructured's text partitioner, so heading-like lines
become section headings. OCR is not supported.
"""

from __future__ import annotations

import functools
import io
import logging
import mimetypes
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import charset_normalizer
import pypdf
from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException
from lxml import etree
from lxml import html as lxml_html
from pypdf.errors import FileNotDecryptedError, PyPdfError

from core.errors import ParseError
from core.models import Document, ParsedDocument, Section

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = ["SUPPORTED_EXTENSIONS", "SUPPORTED_MEDIA_TYPES", "Parser", "media_type_for"]

logger = logging.getLogger(__name__)

HTML, XHTML, MARKDOWN, TEXT = "text/html", "application/xhtml+xml", "text/markdown", "text/plain"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_LABELS = {HTML: "HTML", XHTML: "XHTML", MARKDOWN: "Markdown", TEXT: "text", PDF: "PDF", DOCX: "DOCX"}
SUPPORTED_MEDIA_TYPES = frozenset(_LABELS)

_EXTENSIONS = {
    ".html": HTML, ".htm": HTML, ".xhtml": XHTML, ".md": MARKDOWN, ".markdown": MARKDOWN,
    ".txt": TEXT, ".text": TEXT, ".pdf": PDF, ".docx": DOCX,
}  # fmt: skip
SUPPORTED_EXTENSIONS = frozenset(_EXTENSIONS)
_DROPPED = frozenset({"Header", "Footer", "PageBreak", "PageNumber", "Image"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BULLET = re.compile(r"^([-*•‣◦–]|\d{1,3}[.)])\s")
_MIN_WRAP_WIDTH = 40
_LANGUAGE_SAMPLE = 2_000
_MIN_LANGUAGE_CHARS = 20


def media_type_for(path_or_name: str) -> str | None:
    """The media type of a file name, path or URL by its extension, or None when unknown.

    Types we parse come from a fixed table (independent of the host's ``mime.types``); anything
    else from ``mimetypes``, so callers can still report e.g. ``image/png`` as unsupported.

    >>> media_type_for("docs/faq.md")
    'text/markdown'
    """
    name = path_or_name.split("?", 1)[0].split("#", 1)[0]
    known = _EXTENSIONS.get(os.path.splitext(name)[1].lower())
    return known or mimetypes.guess_type(name, strict=False)[0]


class Parser:
    """Parses raw documents (HTML, XHTML, Markdown, plain text, PDF text layers, DOCX).

    Args:
        max_bytes: the largest ``content`` accepted, in bytes (default 50 MiB).

    Raises (from ``parse``):
        ParseError: empty content or no text, oversized content, an unsupported media type,
            undecodable text, a corrupt or encrypted file, or a PDF without a text layer.

    Example::

        parsed = Parser().parse(Document(workspace="default", source_id="docs",
                                         native_id="faq.md", media_type="text/markdown",
                                         content=b"# FAQ\\n\\nAsk us anything."))
        parsed.title, parsed.sections  # ('FAQ', (Section(path=(), text='Ask us anything.'),))
    """

    def __init__(self, *, max_bytes: int = 50 * 1024 * 1024) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes

    def parse(self, document: Document) -> ParsedDocument:
        """Parse one document into title, sections and language; raises ``ParseError``."""
        media_type, params = _split_media_type(document.media_type)
        size = len(document.content)
        if size > self.max_bytes:
            raise _error(
                document,
                f"oversized: {size} bytes, limit {self.max_bytes}; "
                "raise KNOWDESK_SYNC__MAX_FILE_BYTES or exclude the file",
            )
        if media_type not in SUPPORTED_MEDIA_TYPES:
            raise _error(
                document,
                f"unsupported media type {media_type or '(none)'!r}; supported: "
                f"{', '.join(sorted(SUPPORTED_MEDIA_TYPES))}; exclude the file or convert it",
            )
        if not document.content.strip():
            what = "0 bytes" if not size else "only whitespace"
            raise _error(document, f"empty content ({what}): nothing to parse; fix or remove the file")
        elements = self._partition(document, media_type, params.get("charset"))
        title, sections = _to_sections(elements, document.title.strip())
        if not sections:
            raise _error(document, "no text extracted: the file holds no readable text; check its content")
        title = title or _file_name(document.native_id)
        language = document.language or _detect_language("\n".join(s.text for s in sections))
        return ParsedDocument(title=title, sections=tuple(sections), language=language)

    def _partition(self, document: Document, media_type: str, charset: str | None) -> list[Element]:
        text = ""
        if media_type == PDF:
            text = _pdf_text(document)
        elif media_type != DOCX:
            text = _decode(document, charset, sniff_html=media_type in (HTML, XHTML))
            if not text.strip():
                raise _error(document, "empty content (only whitespace): nothing to parse; fix or remove it")
        partition = _partitioners()
        try:
            with _warnings_to_log():
                if media_type == DOCX:
                    return partition.docx(file=io.BytesIO(document.content), languages=[""])
                if media_type == PDF:
                    return partition.text(text=text, paragraph_grouper=False, languages=[""])
                if media_type == MARKDOWN:
                    return partition.md(text=text, languages=[""])
                if media_type == TEXT:
                    return partition.text(text=text, languages=[""])
                return partition.html(text=text, languages=[""], skip_headers_and_footers=True)
        except Exception as exc:  # the third-party partitioner: any failure means a corrupt file
            raise _error(
                document,
                f"corrupt {_LABELS[media_type]} file ({type(exc).__name__}: {exc}); fix or re-export it",
            ) from exc


def _error(document: Document, message: str) -> ParseError:
    return ParseError(
        f"cannot parse {document.native_id!r}: {message}",
        document_id=document.id,
        media_type=document.media_type,
    )


def _split_media_type(value: str) -> tuple[str, dict[str, str]]:
    base, *rest = value.split(";")
    params = {}
    for item in rest:
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip("\"'")
    return base.strip().lower(), params


def _decode(document: Document, charset: str | None, *, sniff_html: bool) -> str:
    data = document.content
    if charset is None and sniff_html and (meta := _META_CHARSET.search(data[:2048])):
        charset = meta.group(1).decode("ascii")
    candidates = [charset] if charset else []
    for encoding in [*candidates, "utf-8-sig"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            logger.debug("%s does not decode as %s", document.id, encoding)
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise _error(
            document, "undecodable text: no known charset fits; send it as UTF-8 or name its charset"
        )
    return str(best)


def _pdf_text(document: Document) -> str:
    """The text layer of a PDF, one paragraph per block, pages joined by blank lines."""
    try:
        with _warnings_to_log():
            reader = pypdf.PdfReader(io.BytesIO(document.content))
            if reader.is_encrypted:
                reader.decrypt("")
            pages = [page.extract_text() or "" for page in reader.pages]
    except FileNotDecryptedError as exc:
        raise _error(document, "encrypted PDF: it needs a password; upload an unprotected copy") from exc
    except PyPdfError as exc:
        raise _error(document, f"corrupt PDF ({exc}); fix or re-export it") from exc
    except Exception as exc:  # pypdf is the PDF partitioner: malformed files raise builtins too
        raise _error(document, f"corrupt PDF ({type(exc).__name__}: {exc}); fix or re-export it") from exc
    text = "\n\n".join(p for p in (_pdf_paragraphs(page) for page in pages) if p)
    if not text.strip():
        raise _error(
            document, "PDF has no text layer (a scanned image?); OCR is not supported, upload a text PDF"
        )
    return text


def _pdf_paragraphs(page: str) -> str:
    """Rejoin wrapped lines: a line reaching near the right margin continues on the next line,
    unless the next one starts a list item. Pages of short lines only are left as they are."""
    lines = [line.strip() for line in page.splitlines()]
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current: list[str] = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line:
            current.append(line)
        wrapped = (
            width >= _MIN_WRAP_WIDTH
            and len(line) >= 0.8 * width
            and following != ""
            and _BULLET.match(following) is None
        )
        if current and not (line and wrapped):
            paragraphs.append(" ".join(current))
            current = []
    return "\n\n".join(paragraphs)


def _to_sections(elements: Sequence[Element], title: str) -> tuple[str, list[Section]]:
    """Fold elements into sections under a heading stack; returns (title, sections)."""
    stack: list[str | None] = []  # None marks the heading used as the document title
    sections: list[Section] = []
    body: list[str] = []
    headings: list[str] = []
    first_title = True

    def flush() -> None:
        if text := "\n".join(body).strip():
            sections.append(Section(path=tuple(h for h in stack if h is not None), text=text))
        body.clear()

    for element in elements:
        text = (element.text or "").strip()
        if not text or element.category in _DROPPED:
            continue
        if element.category == "Title":
            flush()
            headings.append(text)
            depth = element.metadata.category_depth or 0
            heading: str | None = text
            if first_title and (not title or _same(text, title)):
                title, heading = title or text, None
            first_title = False
            del stack[depth:]
            # A page may skip levels (an h2 title, then h3s; an article whose first heading is an
            # h2): pad to the heading's own depth, or later siblings nest under the first one.
            stack.extend([None] * (depth - len(stack)))
            stack.append(heading)
        else:
            body.append(_render(element, text))
    flush()
    if not sections and headings:  # a document of headings only (e.g. one short line of text)
        sections.append(Section(text="\n".join(headings)))
    return title, sections


def _render(element: Element, text: str) -> str:
    if element.category == "ListItem":
        return f"- {text}"
    if element.category == "Table" and (table_html := element.metadata.text_as_html):
        return _table_rows(table_html) or text
    return text


def _table_rows(table_html: str) -> str:
    """Table rows on their own lines, cells joined by `` | ``, so chunks split between rows."""
    try:
        root = lxml_html.fragment_fromstring(table_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    rows = []
    for row in root.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _file_name(native_id: str) -> str:
    return native_id.rstrip("/").rsplit("/", 1)[-1] or native_id


def _detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it is too short or undetectable."""
    sample = text[:_LANGUAGE_SAMPLE]
    if len(sample.strip()) < _MIN_LANGUAGE_CHARS:
        return None
    DetectorFactory.seed = 0  # langdetect is random unless seeded
    try:
        code: str = detect(sample)
    except LangDetectException:
        return None
    return code.split("-", 1)[0].lower()


@contextmanager
def _warnings_to_log() -> Iterator[None]:
    """Third-party warnings on a bad file are logged, not raised (pytest runs with -W error)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for item in caught:
        logger.debug("%s: %s", item.category.__name__, item.message)


class _Partitioners:
    """unstructured's partitioners, imported on first use (the import takes seconds)."""

    def __init__(self) -> None:
        from unstructured.partition.docx import partition_docx
        from unstructured.partition.html import partition_html
        from unstructured.partition.md import partition_md
        from unstructured.partition.text import partition_text

        self.html = partition_html
        self.md = partition_md
        self.text = partition_text
        self.docx = partition_docx


@functools.cache
def _partitioners() -> _Partitioners:
    return _Partitioners()
