"""Cuts a ``ParsedDocument`` into heading-aware chunks bounded by the embedding model's tokenizer.

Every chunk's ``embed_text`` (title, section path, body) counts at most
``min(max_tokens, tokens.max_tokens)`` tokens of the model's own tokenizer, so the model never
truncates silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from llama_index.core.node_parser import SentenceSplitter

from core.models import Chunk, ParsedDocument, Section
from ingest.protocols import TokenCounter

__all__ = ["CHUNKER_NAME", "Chunker"]

logger = logging.getLogger(__name__)

CHUNKER_NAME = "heading-v1"
#: A section body keeps at least this many tokens of room; the prefix is shortened otherwise.
MIN_BODY_TOKENS = 48
_MIN_LIMIT = 16
#: Hard splits look at most this many characters per token of budget (bounds the search cost).
_CHARS_PER_TOKEN_CAP = 32
_MAX_HEADS = 4096

Path = tuple[str, ...]
_Piece = tuple[Path, str, str, int]  # (section, text, embed_text, token_count)


class Chunker:
    """Splits parsed documents into chunks under a token limit, following the heading structure.

    Consecutive small sections are merged while the merged ``embed_text`` fits; a merged chunk's
    ``section`` is the longest common path prefix of its sections, and each section's headings
    below that prefix are kept inline as lines of the body. A section too long for one chunk is
    split with llama-index's ``SentenceSplitter`` (paragraphs, then sentences, then words), and
    every piece is checked and hard-split by tokens if it still exceeds the limit. When a deep
    path and long title leave under ``MIN_BODY_TOKENS`` for the body, the prefix in
    ``embed_text`` drops path elements from the front, then cuts the title (``section`` keeps the
    full path).

    Args:
        tokens: the embedding model's tokenizer (``count_tokens`` and ``max_tokens``).
        max_tokens: the most tokens per chunk's ``embed_text``; the effective limit is
            ``min(max_tokens, tokens.max_tokens)``.
        overlap_tokens: tokens repeated between consecutive pieces of one long section
            (at most half the room a piece has).

    Raises:
        ValueError: a limit under 16 tokens, or a negative overlap or one not below the limit.

    Example::

        chunker = Chunker(tokens=embedder, max_tokens=256, overlap_tokens=32)
        chunks = chunker.chunk(document.id, Parser().parse(document))
    """

    def __init__(self, *, tokens: TokenCounter, max_tokens: int = 256, overlap_tokens: int = 32) -> None:
        self.limit = min(max_tokens, tokens.max_tokens)
        if self.limit < _MIN_LIMIT:
            raise ValueError(f"token limit {self.limit} is below {_MIN_LIMIT}; raise max_tokens")
        if not 0 <= overlap_tokens < self.limit:
            raise ValueError(f"overlap_tokens must be in [0, {self.limit}), got {overlap_tokens}")
        self._tokens = tokens
        self.overlap_tokens = overlap_tokens
        self._splitters: dict[tuple[int, int], SentenceSplitter] = {}

    @property
    def version(self) -> str:
        """Name, effective token limit and overlap: a change means every chunk must be rebuilt.

        The tokenizer itself is not included; key stored chunks on the embedding model too.
        """
        return f"{CHUNKER_NAME}:{self.limit}:{self.overlap_tokens}"

    def chunk(self, document_id: str, parsed: ParsedDocument) -> list[Chunk]:
        """The document's chunks, indexed 0..n-1 in document order; equal input, equal output."""
        return list(self.chunk_stream(document_id, parsed.title, parsed.sections))

    def chunk_stream(self, document_id: str, title: str, sections: Iterable[Section]) -> Iterator[Chunk]:
        """``chunk`` over sections as they come (a streamed document's): each chunk is yielded as
        soon as no later section can merge into it, so at most one chunk's sections are held."""
        title = title.strip()
        index = 0
        group: list[Section] = []
        current: _Piece | None = None  # the group as one chunk
        heads: dict[Path, int] = {}  # tokens of the title and path lines, by path

        def emit(piece: _Piece) -> Chunk:
            nonlocal index
            path, text, embed, n = piece
            index += 1
            return Chunk(document_id=document_id, index=index - 1, text=text, embed_text=embed, section=path,
                         token_count=n)

        for section in sections:
            if not section.text.strip():
                continue
            single = self._piece(title, [section])
            if current is not None:
                merged = self._merged(title, group, current, section, single, heads)
                if merged is not None:
                    group, current = [*group, section], merged
                    continue
                yield emit(current)
            group, current = [section], single
            if current is None:
                for rest in self._split(title, section):
                    yield emit((section.path, *rest))
            if len(heads) > _MAX_HEADS:  # a streamed document's many paths: the cache stays small
                heads.clear()
        if current is not None:
            yield emit(current)

    def _merged(
        self,
        title: str,
        group: list[Section],
        current: _Piece,
        section: Section,
        single: _Piece | None,
        heads: dict[Path, int],
    ) -> _Piece | None:
        """The group plus the section as one chunk, or None when it does not fit. The merge is
        only counted when the two chunks, less one prefix, could fit together."""
        if single is None:
            return None
        if section.path not in heads:
            heads[section.path] = self._count(_embed_text(title, section.path, ""))
        if current[3] + single[3] - heads[section.path] > self.limit:
            return None
        return self._piece(title, [*group, section])

    def _count(self, text: str) -> int:
        return self._tokens.count_tokens(text)

    def _piece(self, title: str, group: Sequence[Section]) -> _Piece | None:
        """The group as one chunk, or None when it does not fit the limit."""
        path = _common_prefix([s.path for s in group])
        body = _render_group(group, path)
        embed = _embed_text(title, path, body)
        n = self._count(embed)
        return (path, body, embed, n) if n <= self.limit else None

    def _split(self, title: str, section: Section) -> list[tuple[str, str, int]]:
        """A long section as bounded (text, embed_text, token_count) pieces."""
        prefix = self._prefix(title, section.path)
        budget = self.limit - self._count(prefix)
        overlap = min(self.overlap_tokens, budget // 2)
        splitter = self._splitter(budget, overlap)
        try:
            bodies = splitter.split_text(section.text.strip())
        except ValueError:  # "Single token exceeded chunk size": fall back to hard splits
            logger.debug("sentence splitting failed for a section of %d chars", len(section.text))
            bodies = [section.text.strip()]
        out: list[tuple[str, str, int]] = []
        for body in bodies:
            out.extend(self._bounded(prefix, body))
        return out

    def _prefix(self, title: str, path: Path) -> str:
        """``embed_text``'s head for a long section, shortened until the body has room."""
        room = self.limit - min(MIN_BODY_TOKENS, self.limit)
        while path and self._count(_embed_text(title, path, "")) > room:
            path = path[1:]
        if self._count(_embed_text(title, path, "")) > room:
            title = title[: self._longest_fit(title, lambda t: _embed_text(t, path, ""), room)].rstrip()
        return _embed_text(title, path, "")

    def _bounded(self, prefix: str, body: str) -> list[tuple[str, str, int]]:
        """Verify a piece; hard-split it by tokens (at whitespace when possible) if it exceeds."""
        n = self._count(prefix + body)
        if n <= self.limit:
            return [(body, prefix + body, n)]
        out: list[tuple[str, str, int]] = []
        rest = body
        while rest:
            cut = max(1, self._longest_fit(rest, lambda s: prefix + s.strip(), self.limit))
            space = max(rest.rfind(" ", 0, cut), rest.rfind("\n", 0, cut))
            if cut < len(rest) and space > cut // 2:
                candidate = rest[:space].strip()
                if self._count(prefix + candidate) <= self.limit:
                    cut = space
            text, rest = rest[:cut].strip(), rest[cut:].lstrip()
            if text:
                out.append((text, prefix + text, self._count(prefix + text)))
        return out

    def _longest_fit(self, text: str, render: Callable[[str], str], limit: int) -> int:
        """The largest k with ``count(render(text[:k])) <= limit`` (binary search; 0 if none)."""
        lo, hi = 0, min(len(text), limit * _CHARS_PER_TOKEN_CAP)
        if self._count(render(text[:hi])) <= limit:
            return hi
        while lo < hi - 1:
            mid = (lo + hi) // 2
            if self._count(render(text[:mid])) <= limit:
                lo = mid
            else:
                hi = mid
        return lo

    def _splitter(self, budget: int, overlap: int) -> SentenceSplitter:
        key = (budget, overlap)
        if key not in self._splitters:
            self._splitters[key] = SentenceSplitter(
                chunk_size=budget,
                chunk_overlap=overlap,
                tokenizer=lambda text: range(self._count(text)),
                paragraph_separator="\n",
            )
        return self._splitters[key]


def _embed_text(title: str, path: Path, body: str) -> str:
    head = "\n".join(line for line in (title, " > ".join(path)) if line)
    return f"{head}\n\n{body}" if head else body


def _common_prefix(paths: Sequence[Path]) -> Path:
    first = paths[0]
    n = len(first)
    for path in paths[1:]:
        n = min(n, _shared(first, path))
    return first[:n]


def _shared(a: Path, b: Path) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _render_group(group: Sequence[Section], path: Path) -> str:
    """Merged sections' bodies; headings below the common ``path`` become lines of the text."""
    parts: list[str] = []
    previous: Path | None = None
    for section in group:
        if previous is None:
            headings = section.path[len(path) :]
        elif section.path == previous:
            headings = ()
        else:  # the headings this section does not share with the previous one, at least its own
            start = max(len(path), min(_shared(previous, section.path), len(section.path) - 1))
            headings = section.path[start:]
        parts.append("\n".join([*headings, section.text.strip()]))
        previous = section.path
    return "\n\n".join(parts)
