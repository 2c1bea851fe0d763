"""Large Markdown and plain text parsed as a stream (``ingest.streaming``): the same chunks as a
whole parse, and memory that does not grow with the file (checked by what is read when)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench.common import SAMPLES
from bench.ingest import prose
from core.errors import ParseError
from core.models import Document, Section
from ingest.chunking import Chunker
from ingest.parsing import Parser
from ingest.streaming import ParsedStream
from tests.fakes import HashEmbedder


def document(text: str, name: str, media_type: str, title: str = "") -> Document:
    return Document(workspace="w", source_id="s", native_id=name, media_type=media_type, title=title,
                    content=text.encode("utf-8"))


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    return Chunker(tokens=HashEmbedder(), max_tokens=128, overlap_tokens=16)


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(spacy="never")


def both(parser: Parser, chunker: Chunker, doc: Document, block_chars: int) -> tuple[list, list, ParsedStream]:  # type: ignore[type-arg]
    whole = chunker.chunk(doc.id, parser.parse(doc))
    stream = ParsedStream(parser=parser, document=doc, block_chars=block_chars)
    streamed = list(chunker.chunk_stream(doc.id, stream.title, stream.sections()))
    return whole, streamed, stream


def test_a_multi_mb_text_file_streams_into_the_chunks_of_a_whole_parse(parser: Parser, chunker: Chunker) -> None:
    doc = document(prose(2_200_000, markdown=False, seed=1), "handbook.txt", "text/plain")
    whole, streamed, stream = both(parser, chunker, doc, block_chars=256 * 1024)
    assert stream.blocks >= 8, "the file must really have been cut into blocks"
    assert len(whole) > 1000
    assert streamed == whole
    parsed = parser.parse(doc)
    assert (stream.title, stream.language) == (parsed.title, parsed.language) == ("The Brewly handbook", "en")
    assert stream.parsed().content_hash == parsed.content_hash


def test_markdown_is_cut_before_headings_and_never_inside_fenced_code(parser: Parser, chunker: Chunker) -> None:
    body = prose(400_000, markdown=True, seed=2)
    chapters = body.split("\n## ")
    fenced = "```sh\n# not a heading: a shell comment\n\n# another one\necho ok\n```\n\n"
    text = "\n## ".join(c + ("\n\n" + fenced if i % 7 == 3 else "") for i, c in enumerate(chapters))
    doc = document(text, "handbook.md", "text/markdown")
    whole, streamed, stream = both(parser, chunker, doc, block_chars=16 * 1024)
    assert stream.blocks >= 20
    assert streamed == whole
    assert any("# not a heading" in c.text for c in streamed)


def test_small_inputs_cut_into_tiny_blocks_chunk_exactly_as_a_whole_parse(parser: Parser, chunker: Chunker) -> None:
    articles = json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8"))["articles"]
    for article in articles[:12]:
        doc = document(article["body"], f"{article['id']}.md", "text/markdown", title=article["title"])
        whole, streamed, _ = both(parser, chunker, doc, block_chars=64)
        assert streamed == whole, article["id"]
        text = document(article["body"], f"{article['id']}.txt", "text/plain", title=article["title"])
        whole, streamed, _ = both(parser, chunker, text, block_chars=64)
        assert streamed == whole, article["id"]


def test_a_stream_parses_only_the_blocks_its_reader_has_reached(parser: Parser) -> None:
    doc = document(prose(1_500_000, markdown=False, seed=3), "big.txt", "text/plain")
    stream = ParsedStream(parser=parser, document=doc, block_chars=64 * 1024)
    sections = stream.sections()
    next(sections)
    assert stream.blocks <= 2 and stream.read_chars < stream.total_chars // 10
    for _ in range(50):
        next(sections)
    assert stream.blocks <= 4
    rest = list(sections)
    assert stream.done and stream.read_chars == stream.total_chars and len(rest) > 1000


def test_the_chunker_yields_a_chunk_before_it_has_read_every_section(chunker: Chunker) -> None:
    pulled = 0

    def sections() -> Iterator[Section]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield Section(path=(f"Part {i}",), text=" ".join(f"word{i}x{j}" for j in range(40)))

    chunks = chunker.chunk_stream("d", "Title", sections())
    first = next(chunks)
    assert first.index == 0 and pulled <= 4  # the sections of one chunk, and the one that did not fit


def test_a_streamed_section_body_is_cut_past_its_limit(parser: Parser) -> None:
    one_section = "Heading line\n\n" + "\n\n".join(f"Paragraph {i} says something long enough." for i in range(4000))
    doc = document(one_section, "flat.txt", "text/plain")
    stream = ParsedStream(parser=parser, document=doc, block_chars=8 * 1024, max_section_chars=4 * 1024)
    sections = list(stream.sections())
    assert len(sections) > 10 and all(len(s.text) < 5 * 1024 for s in sections)


def test_the_stream_checks_what_a_whole_parse_checks() -> None:
    with pytest.raises(ParseError, match=r"sync\.max_file_bytes"):
        ParsedStream(parser=Parser(max_bytes=100), document=document("x" * 200, "a.txt", "text/plain"))
    with pytest.raises(ParseError, match="empty content"):
        ParsedStream(parser=Parser(), document=document(" \n\n ", "a.txt", "text/plain"))
