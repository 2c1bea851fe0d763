"""Large Markdown and plain-text documents, parsed block by block in bounded memory.

``Parser.parse`` partitions a whole document at once: unstructured's elements of a 20 MB text file
(and every chunk of it) then sit in memory together, and nothing is written until all of it is
parsed. ``ParsedStream`` cuts the decoded text into blocks of about ``block_chars`` at boundaries
where unstructured's partitioning restarts cleanly (a blank line in plain text, where its paragraphs
end; a blank line before an ATX heading outside a code fence in Markdown), partitions one block at
a time and folds the elements into sections as they come, so ``Chunker.chunk_stream`` can cut
chunks while later blocks are not parsed yet.

What equals the whole-document parse (with the same spaCy setting: a stream runs unstructured's
spaCy pass only with ``spacy="always"``, see ``Parser``): plain text is grouped into paragraphs by
the rule unstructured would pick for the whole text (decided once, from its first 2,000 lines), and
sections, chunks and language come out identical when the title is settled within the first block
(a heading there, or none in the whole file). Differences, by design: a document whose first
heading comes after the first block is titled by its name and that heading stays a heading; a
section body longer than ``max_section_chars`` is cut at a paragraph boundary; the content hash is
the sync's to compute as the sections pass (``ParsedStream.parsed`` at the end).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from core.errors import ParseError
from core.models import Document, ParsedDocument, Section
from ingest.parsing import (
    _LANGUAGE_SAMPLE,
    MARKDOWN,
    Parser,
    SectionFolder,
    detect_language,
    file_name,
)

__all__ = ["ParsedStream"]

#: Characters of text partitioned at once.
BLOCK_CHARS = 256 * 1024
#: A streamed section body is cut past this many characters (at an element boundary).
MAX_SECTION_CHARS = 64 * 1024
_BLANK = re.compile(r"\n[ \t]*\n")
_FENCE_OR_HEADING = re.compile(r"^(?:(`{3,}|~{3,})|#{1,6}[ \t])", re.MULTILINE)
_LINES_SAMPLED = 2000  # unstructured's auto_paragraph_grouper looks at this many lines


class ParsedStream:
    """One large document's sections, parsed as they are read.

    Built by ``open_stream``; ``title`` and ``language`` are known on construction (the first
    block is parsed then), ``sections()`` yields every section once, ``read_chars`` /
    ``total_chars`` tell how far parsing got.

    Raises (from the constructor and ``sections()``): ParseError, as ``Parser.parse`` does.
    """

    def __init__(self, *, parser: Parser, document: Document, block_chars: int = BLOCK_CHARS,
                 max_section_chars: int = MAX_SECTION_CHARS, keep: bool = True) -> None:
        media_type, params = parser.check(document)
        self._parser = parser
        self._document = document
        self._media_type = media_type
        self._text: str | None = parser.decode(document, params.get("charset"))
        self.total_chars = len(self._text)
        self.read_chars = 0
        self.blocks = 0
        self._grouper = None if media_type == MARKDOWN else _paragraph_grouper(self._text)
        self._block_chars = max(1, block_chars)
        self._cuts = _cuts(self._text, media_type == MARKDOWN, self._block_chars)
        self._folder = SectionFolder(document.title.strip(), max_body_chars=max_section_chars)
        self._kept: list[Section] | None = [] if keep else None
        self._head: list[Section] = []
        self._started = False
        # the first block settles the title (its first heading, else the file's name) ...
        self._head.extend(self._next_block())
        if self._folder.first_title:
            self._folder.first_title = False
        self.title = self._folder.title or file_name(document.native_id)
        # ... and the language, from the first sections' text as a whole parse would sample it
        while sum(len(s.text) + 1 for s in self._head) < _LANGUAGE_SAMPLE and not self.done:
            self._head.extend(self._next_block())
        if self.done:
            self._head.extend(self._folder.end())
        sample = "\n".join(s.text for s in self._head)
        self.language = document.language or detect_language(sample)

    @property
    def done(self) -> bool:
        """Every block was partitioned."""
        return self._text is None

    def sections(self) -> Iterator[Section]:
        """The document's sections in order (once); raises ``ParseError`` when it has none."""
        if self._started:
            raise RuntimeError("a ParsedStream's sections are read once")
        self._started = True
        any_section = False
        head, self._head = self._head, []
        for section in head:
            any_section = True
            yield self._keep(section)
        while not self.done:
            for section in self._next_block():
                any_section = True
                yield self._keep(section)
            if self.done:
                for section in self._folder.end():
                    any_section = True
                    yield self._keep(section)
        if not any_section:
            raise ParseError(f"cannot parse {self._document.native_id!r}: no text extracted: the file holds "
                             "no readable text; check its content", document_id=self._document.id,
                             media_type=self._document.media_type)

    def parsed(self) -> ParsedDocument:
        """The whole document as parsed (after ``sections()`` was read to the end; ``keep=True``)."""
        if self._kept is None or not self.done:
            raise RuntimeError("the stream was not kept or not read to its end")
        return ParsedDocument(title=self.title, sections=tuple(self._kept), language=self.language)

    def _keep(self, section: Section) -> Section:
        if self._kept is not None:
            self._kept.append(section)
        return section

    def _next_block(self) -> list[Section]:
        assert self._text is not None
        start = self.read_chars
        end = next(self._cuts, len(self._text))
        block = self._text[start:end]
        self.read_chars = end
        self.blocks += 1
        if end >= len(self._text):
            self._text = None  # the decoded text is let go with the last block
        if not block.strip():
            return []
        elements = self._parser.partition_text(self._document, self._media_type, block, self._grouper)
        return self._folder.feed(elements)


def _cuts(text: str, markdown: bool, size: int) -> Iterator[int]:
    """Block ends: the last clean boundary at or before every ``size`` characters (or the first
    one after, when a block has none)."""
    start = 0
    while start + size < len(text):
        end = _boundary(text, start, start + size, markdown)
        if end is None or end <= start:
            return
        yield end
        start = end


def _boundary(text: str, start: int, limit: int, markdown: bool) -> int | None:
    """The last boundary in (start, limit], else the first after limit; None when there is none."""
    if markdown:
        cut = _heading_boundary(text, start, limit)
        if cut is not None:
            return cut
    best = None
    for m in _BLANK.finditer(text, start, limit):
        best = m.end()
    if best is not None and best > start:
        return best
    after = _BLANK.search(text, limit)
    return after.end() if after else None


def _heading_boundary(text: str, start: int, limit: int) -> int | None:
    """Markdown: the start of an ATX heading line after a blank line, outside fenced code, in
    (start, limit] (the last one), else within the next few blocks (the first one); None when
    there is none: the caller cuts at a blank line."""
    fence: str | None = None
    best = None
    window = min(len(text), limit + 4 * (limit - start))
    for m in _FENCE_OR_HEADING.finditer(text, start, window):
        marker = m.group(1)
        if marker is not None:
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        pos = m.start()
        if fence is None and pos > start and text[max(start, pos - 2):pos].endswith("\n\n"):
            if pos > limit:
                return best if best is not None else pos
            best = pos
    return best


def _paragraph_grouper(text: str) -> Callable[[str], str]:
    """The grouper unstructured's ``auto_paragraph_grouper`` picks for the whole text, decided
    once from its first lines, so every block groups its lines the same way."""
    from unstructured.cleaners.core import blank_line_grouper, new_line_grouper
    from unstructured.nlp.patterns import LINE_BREAK_RE

    head, pos = text, -1
    for _ in range(_LINES_SAMPLED):
        pos = text.find("\n", pos + 1)
        if pos < 0:
            break
    else:
        head = text[:pos + 1]
    lines = LINE_BREAK_RE.split(head)[:_LINES_SAMPLED]
    empty = sum(1 for line in lines if not line.strip())
    grouper: Callable[[str], str] = new_line_grouper if empty / max(1, len(lines)) < 0.1 else blank_line_grouper
    return grouper
