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
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

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

__all__ = ["SUPPORTED_EXTENSIONS", "SUPPORTED_MEDIA_TYPES", "Parser", "SectionFolder", "media_type_for",
           "oversized_message"]

logger = logging.getLogger(__name__)

HTML, XHTML, MARKDOWN, TEXT = "text/html", "application/xhtml+xml", "text/markdown", "text/plain"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_LABELS = {HTML: "HTML", XHTML: "XHTML", MARKDOWN: "Markdown", TEXT: "text", PDF: "PDF", DOCX: "DOCX"}
SUPPORTED_MEDIA_TYPES = frozenset(_LABELS)
#: Parsed block by block when large (``Parser.stream_bytes``): their blocks partition independently.
STREAMED_MEDIA_TYPES = frozenset({MARKDOWN, TEXT})
SpacyMode = Literal["auto", "always", "never"]

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
        spacy: where unstructured's spaCy pass runs (word, sentence and part-of-speech tagging
            of every paragraph, ~93% of parse time): ``"auto"`` (default) for plain text, PDF text
            layers and DOCX, where it decides which lines are headings, but not for HTML, XHTML and
            Markdown, whose tags decide them (there it only picks NarrativeText over Text, both body
            text to us: on the Debian FAQ it changed no chunk), nor for streamed documents (a large
            file would parse at a fraction of the encoder's pace); ``"always"``; ``"never"`` (cheap
            regex tokenizers instead). ``python -m bench.spacy_pass`` measures it.
        stream_bytes: Markdown and plain-text content above this size is parsed as a stream
            (``stream``) by the sync, block by block in bounded memory.

    Raises (from ``parse``):
        ParseError: empty content or no text, oversized content, an unsupported media type,
            undecodable text, a corrupt or encrypted file, or a PDF without a text layer.

    Example::

        parsed = Parser().parse(Document(workspace="default", source_id="docs",
                                         native_id="faq.md", media_type="text/markdown",
                                         content=b"# FAQ\\n\\nAsk us anything."))
        parsed.title, parsed.sections  # ('FAQ', (Section(path=(), text='Ask us anything.'),))
    """

    def __init__(self, *, max_bytes: int = 50 * 1024 * 1024, spacy: SpacyMode = "auto",
                 stream_bytes: int = 2 * 1024 * 1024) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if spacy not in ("auto", "always", "never"):
            raise ValueError(f"spacy must be auto, always or never, got {spacy!r}")
        if stream_bytes <= 0:
            raise ValueError(f"stream_bytes must be positive, got {stream_bytes}")
        self.max_bytes = max_bytes
        self.spacy = spacy
        self.stream_bytes = stream_bytes

    def streams(self, document: Document) -> bool:
        """Whether the sync parses this document as a stream (large Markdown or plain text)."""
        media_type, _ = _split_media_type(document.media_type)
        return media_type in STREAMED_MEDIA_TYPES and len(document.content) > self.stream_bytes

    def parse(self, document: Document) -> ParsedDocument:
        """Parse one document into title, sections and language; raises ``ParseError``."""
        media_type, params = self.check(document)
        elements = self._partition(document, media_type, params.get("charset"))
        title, sections = _to_sections(elements, document.title.strip())
        if not sections:
            raise _error(document, "no text extracted: the file holds no readable text; check its content")
        title = title or file_name(document.native_id)
        language = document.language or detect_language("\n".join(s.text for s in sections))
        return ParsedDocument(title=title, sections=tuple(sections), language=language)

    def check(self, document: Document) -> tuple[str, dict[str, str]]:
        """The document's media type and its parameters, after the checks every parse makes
        (size cap, supported type, not empty); raises ``ParseError``."""
        media_type, params = _split_media_type(document.media_type)
        size = len(document.content)
        if size > self.max_bytes:
            raise _error(document, oversized_message(size, self.max_bytes))
        if media_type not in SUPPORTED_MEDIA_TYPES:
            raise _error(
                document,
                f"unsupported media type {media_type or '(none)'!r}; supported: "
                f"{', '.join(sorted(SUPPORTED_MEDIA_TYPES))}; exclude the file or convert it",
            )
        if not document.content.strip():
            what = "0 bytes" if not size else "only whitespace"
            raise _error(document, f"empty content ({what}): nothing to parse; fix or remove the file")
        return media_type, params

    def decode(self, document: Document, charset: str | None) -> str:
        """The text of a Markdown or plain-text document; raises ``ParseError``."""
        text = _decode(document, charset, sniff_html=False)
        if not text.strip():
            raise _error(document, "empty content (only whitespace): nothing to parse; fix or remove it")
        return text

    def partition_text(self, document: Document, media_type: str, text: str,
                       grouper: Callable[[str], str] | None = None) -> list[Element]:
        """unstructured's elements of one block of Markdown or plain text (a streamed document's
        block; spaCy only with ``spacy="always"``); raises ``ParseError``."""
        return self._guarded(document, media_type, self.spacy == "always", lambda p: (
            p.md(text=text, languages=[""]) if media_type == MARKDOWN
            else p.text(text=text, languages=[""], paragraph_grouper=grouper)))

    def _uses_spacy(self, media_type: str) -> bool:
        return self.spacy == "always" or (self.spacy == "auto" and media_type in (TEXT, PDF, DOCX))

    def _partition(self, document: Document, media_type: str, charset: str | None) -> list[Element]:
        text = ""
        if media_type == PDF:
            text = _pdf_text(document)
        elif media_type != DOCX:
            text = _decode(document, charset, sniff_html=media_type in (HTML, XHTML))
            if not text.strip():
                raise _error(document, "empty content (only whitespace): nothing to parse; fix or remove it")

        def call(partition: _Partitioners) -> list[Element]:
            if media_type == DOCX:
                return partition.docx(file=io.BytesIO(document.content), languages=[""])
            if media_type == PDF:
                return partition.text(text=text, paragraph_grouper=False, languages=[""])
            if media_type == MARKDOWN:
                return partition.md(text=text, languages=[""])
            if media_type == TEXT:
                return partition.text(text=text, languages=[""])
            return partition.html(text=text, languages=[""], skip_headers_and_footers=True)

        return self._guarded(document, media_type, self._uses_spacy(media_type), call)

    @staticmethod
    def _guarded(document: Document, media_type: str, spacy: bool,
                 call: Callable[[_Partitioners], list[Element]]) -> list[Element]:
        """One partitioner call: warnings logged, the spaCy switch set, any failure a ParseError."""
        partition = _partitioners()
        try:
            with _warnings_to_log(), _nlp(spacy):
                return call(partition)
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
    folder = SectionFolder(title)
    sections = folder.feed(elements) + folder.end()
    return folder.title, sections


class SectionFolder:
    """Folds partitioned elements into sections under a heading stack, as they come.

    The first heading becomes the document's title (when the document has none, or the heading
    equals it); ``feed`` returns the sections completed so far, ``end`` the rest. A streamed
    document (``ingest.streaming``) passes ``max_body_chars``: a section body grown past it is
    cut at an element boundary (same heading path), so no body grows with the file.
    """

    def __init__(self, title: str, *, max_body_chars: int | None = None) -> None:
        self.title = title
        #: True until the first heading was seen (or the title was settled without one)
        self.first_title = True
        self._stack: list[str | None] = []  # None marks the heading used as the document title
        self._body: list[str] = []
        self._body_chars = 0
        self._headings: list[str] = []  # only while no section exists: a document of headings only
        self._emitted = False
        self._max_body_chars = max_body_chars

    def feed(self, elements: Sequence[Element]) -> list[Section]:
        out: list[Section] = []
        for element in elements:
            text = (element.text or "").strip()
            if not text or element.category in _DROPPED:
                continue
            if element.category == "Title":
                self._flush(out)
                if not self._emitted:
                    self._headings.append(text)
                depth = element.metadata.category_depth or 0
                heading: str | None = text
                if self.first_title and (not self.title or _same(text, self.title)):
                    self.title, heading = self.title or text, None
                self.first_title = False
                del self._stack[depth:]
                # A page may skip levels (an h2 title, then h3s; an article whose first heading is an
                # h2): pad to the heading's own depth, or later siblings nest under the first one.
                self._stack.extend([None] * (depth - len(self._stack)))
                self._stack.append(heading)
            else:
                rendered = _render(element, text)
                self._body.append(rendered)
                self._body_chars += len(rendered) + 1
                if self._max_body_chars is not None and self._body_chars >= self._max_body_chars:
                    self._flush(out)
        return out

    def end(self) -> list[Section]:
        out: list[Section] = []
        self._flush(out)
        if not self._emitted and self._headings:  # a document of headings only (e.g. one short line)
            out.append(Section(text="\n".join(self._headings)))
            self._emitted = True
        return out

    def _flush(self, out: list[Section]) -> None:
        if text := "\n".join(self._body).strip():
            out.append(Section(path=tuple(h for h in self._stack if h is not None), text=text))
            self._emitted = True
            self._headings.clear()
        self._body.clear()
        self._body_chars = 0


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


def oversized_message(size: int, limit: int, *, setting: str = "sync.max_file_bytes",
                      fix: str = "raise KNOWDESK_SYNC__MAX_FILE_BYTES or exclude the file") -> str:
    """The one wording of a size cap's per-file failure: the size, the setting and its value, the fix."""
    return (f"oversized: {size:,} bytes ({size / 2**20:.1f} MiB), over the {setting} limit of "
            f"{limit:,} bytes ({limit / 2**20:.1f} MiB); {fix}")


def file_name(native_id: str) -> str:
    return native_id.rstrip("/").rsplit("/", 1)[-1] or native_id


def detect_language(text: str) -> str | None:
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


_NLP_LOCK = threading.Lock()
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
#: Without spaCy a short paragraph counts as a sentence (narrative, not a heading) when it holds one
#: of these or ends like a sentence; unstructured asks for verbs only there.
_COMMON_VERBS = frozenset({
    "is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does", "did", "can",
    "could", "will", "would", "shall", "should", "may", "might", "must", "need", "use", "run", "see", "make",
    "get", "set", "add", "open", "click", "select", "press", "enter", "install",
})


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _tags(text: str) -> list[tuple[str, str]]:
    words = _words(text)
    sentence = text.rstrip().endswith((".", "!", "?"))
    return [(w, "VB" if w.lower() in _COMMON_VERBS or (sentence and i == len(words) - 1) else "NN")
            for i, w in enumerate(words)]


@contextmanager
def _nlp(spacy: bool) -> Iterator[None]:
    """unstructured's text-type checks with spaCy (its own) or with the cheap regex tokenizers.

    The switch is a module global of unstructured's, so every partition holds one lock (parsing is
    CPU-bound Python: it does not run in parallel under the GIL anyway)."""
    from unstructured.partition import text_type

    with _NLP_LOCK:
        if spacy:
            yield
            return
        cheap = {"word_tokenize": _words, "sent_tokenize": _sentences, "pos_tag": _tags}
        saved = {name: getattr(text_type, name) for name in cheap}
        for name, function in cheap.items():
            setattr(text_type, name, function)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(text_type, name, function)


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
