"""Chunker: heading-aware merging and splitting, never over the tokenizer's limit."""

from __future__ import annotations

import itertools
import random

import pytest

from core.models import Chunk, ParsedDocument, Section
from ingest.chunking import CHUNKER_NAME, MIN_BODY_TOKENS, Chunker


class SubwordCounter:
    """Fake tokenizer: each whitespace-separated word costs one token per 4 characters."""

    def __init__(self, max_tokens: int = 512) -> None:
        self._max_tokens = max_tokens

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return sum(-(-len(word) // 4) for word in text.split())


class PairCounter(SubwordCounter):
    """Fake tokenizer whose counts are not additive: one token per two characters of the whole
    text, so every single character counts 0 and SentenceSplitter's pieces overshoot."""

    def count_tokens(self, text: str) -> int:
        return len(text) // 2


def parsed(*sections: tuple[tuple[str, ...], str], title: str = "Guide") -> ParsedDocument:
    return ParsedDocument(title=title, sections=tuple(Section(path=p, text=t) for p, t in sections))


def words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    vocabulary = ["reset", "password", "account", "billing", "invoice", "plan", "support", "refund"]
    sentences = []
    while n > 0:
        size = min(n, rng.randint(5, 15))
        sentences.append(" ".join(rng.choice(vocabulary) for _ in range(size)).capitalize() + ".")
        n -= size
    return " ".join(sentences)


def assert_bounded(chunks: list[Chunk], counter: SubwordCounter, limit: int) -> None:
    for chunk in chunks:
        assert chunk.token_count == counter.count_tokens(chunk.embed_text)
        assert chunk.token_count <= limit, chunk.embed_text
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_small_sections_merge_under_their_common_path() -> None:
    counter = SubwordCounter()
    doc = parsed(
        (("Setup",), "Install the agent."),
        (("Setup", "Network"), "Open port 443."),
        (("Setup", "Network"), "Allow outbound traffic."),
    )

    [chunk] = Chunker(tokens=counter).chunk("docs:guide", doc)

    assert chunk.section == ("Setup",)
    assert chunk.text == "Install the agent.\n\nNetwork\nOpen port 443.\n\nAllow outbound traffic."
    assert chunk.embed_text == f"Guide\nSetup\n\n{chunk.text}"
    assert chunk.id == "docs:guide#0"
    assert_bounded([chunk], counter, 256)


def test_merging_across_branches_keeps_every_heading_inline() -> None:
    doc = parsed((("Setup", "Linux"), "Use apt."), (("Usage",), "Run it daily."), title="")

    [chunk] = Chunker(tokens=SubwordCounter()).chunk("d", doc)

    assert chunk.section == ()
    assert chunk.text == "Setup\nLinux\nUse apt.\n\nUsage\nRun it daily."
    assert chunk.embed_text == chunk.text  # no title and no path: no prefix lines


def test_embed_text_skips_an_empty_section_line() -> None:
    [chunk] = Chunker(tokens=SubwordCounter()).chunk("d", parsed(((), "Body text.")))

    assert (chunk.embed_text, chunk.text, chunk.section) == ("Guide\n\nBody text.", "Body text.", ())


def test_sections_split_when_the_merge_would_exceed_the_budget() -> None:
    counter = SubwordCounter()
    doc = parsed((("A",), words(30, 1)), (("B",), words(30, 2)), (("C",), "Short."))
    assert 50 < counter.count_tokens(words(30, 1)) < 90

    chunks = Chunker(tokens=counter, max_tokens=100).chunk("d", doc)

    assert [c.section for c in chunks] == [("A",), ()]
    assert chunks[1].text.startswith("B\n") and chunks[1].text.endswith("C\nShort.")
    assert_bounded(chunks, counter, 100)


def test_long_section_is_split_with_overlap_and_keeps_its_path() -> None:
    counter = SubwordCounter()
    body = " ".join(f"Step {i} resets it." for i in range(300))  # 5 tokens a sentence
    doc = parsed((("Billing", "Refunds"), body))

    chunks = Chunker(tokens=counter, max_tokens=128, overlap_tokens=16).chunk("d", doc)

    assert len(chunks) > 10
    assert all(c.section == ("Billing", "Refunds") for c in chunks)
    assert all(c.embed_text.startswith("Guide\nBilling > Refunds\n\n") for c in chunks)
    assert_bounded(chunks, counter, 128)
    for previous, chunk in itertools.pairwise(chunks):
        first_sentence = chunk.text.split(". ")[0] + "."
        assert first_sentence in previous.text[-100:]  # the overlap repeats the previous chunk's end


@pytest.mark.parametrize("counter", [SubwordCounter(), PairCounter()], ids=["subword", "non-additive"])
def test_unbroken_string_is_hard_split_under_the_limit(counter: SubwordCounter) -> None:
    blob = "".join(f"{i:05d}" for i in range(1000))  # 5,000 characters, no spaces
    doc = parsed((("Logs",), "Trace follows.\n" + blob), (("Next",), "After."))

    chunks = Chunker(tokens=counter, max_tokens=64, overlap_tokens=0).chunk("d", doc)

    assert_bounded(chunks, counter, 64)
    assert len(chunks) > 5
    assert "".join("".join(c.text.split()) for c in chunks) == f"Tracefollows.{blob}After."


def test_long_table_is_split_between_rows() -> None:
    counter = SubwordCounter()
    table = "\n".join(f"SKU-{i:04d} | Widget model {i} | {i * 3} EUR | in stock" for i in range(400))

    chunks = Chunker(tokens=counter, max_tokens=80, overlap_tokens=0).chunk("d", parsed((("Prices",), table)))

    assert_bounded(chunks, counter, 80)
    assert all(line.startswith("SKU-") for c in chunks for line in c.text.split("\n"))
    assert [line for c in chunks for line in c.text.split("\n")] == table.split("\n")


def test_the_model_limit_wins_over_max_tokens() -> None:
    counter = SubwordCounter(max_tokens=40)
    chunker = Chunker(tokens=counter, max_tokens=256, overlap_tokens=8)

    chunks = chunker.chunk("d", parsed((("A",), words(500))))

    assert chunker.version == f"{CHUNKER_NAME}:40:8"
    assert_bounded(chunks, counter, 40)


def test_a_long_prefix_is_shortened_but_the_section_keeps_its_path() -> None:
    counter = SubwordCounter()
    path = tuple(f"Level{i}-heading-words" for i in range(12))  # ~6 tokens each
    doc = parsed((path, words(300)), title="A rather long document title " * 3)

    chunks = Chunker(tokens=counter, max_tokens=80, overlap_tokens=0).chunk("d", doc)

    assert_bounded(chunks, counter, 80)
    assert all(c.section == path for c in chunks)
    prefix = chunks[0].embed_text.split("\n\n", 1)[0]
    assert prefix.startswith("A rather long document title")
    assert "Level0-" not in prefix and "Level11-heading-words" in prefix
    assert counter.count_tokens(prefix) <= 80 - MIN_BODY_TOKENS  # the body keeps its room


def test_a_huge_title_is_cut() -> None:
    counter = SubwordCounter()
    doc = parsed((("Section",), words(200)), title="Title " * 200)

    chunks = Chunker(tokens=counter, max_tokens=64, overlap_tokens=0).chunk("d", doc)

    assert_bounded(chunks, counter, 64)
    assert all(c.embed_text.startswith("Title Title") for c in chunks)


def test_empty_sections_are_skipped_and_indexes_are_dense() -> None:
    doc = parsed((("A",), "  \n "), (("B",), words(400)), (("C",), "\t"), (("D",), "Tail."))

    chunks = Chunker(tokens=SubwordCounter(), max_tokens=64, overlap_tokens=0).chunk("d", doc)

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert {c.section for c in chunks} == {("B",), ("D",)}
    assert Chunker(tokens=SubwordCounter()).chunk("d", ParsedDocument(title="T", sections=())) == []


def test_random_documents_never_exceed_the_limit_and_are_deterministic() -> None:
    rng = random.Random(7)
    counter = SubwordCounter(max_tokens=200)
    for case in range(40):
        sections = []
        for _ in range(rng.randint(1, 12)):
            path = tuple(f"H{rng.randint(0, 3)}" for _ in range(rng.randint(0, 4)))
            text = words(rng.randint(1, 400), seed=rng.randint(0, 10**6))
            if rng.random() < 0.2:
                text += "\n" + "x" * rng.randint(100, 3000)
            sections.append((path, text))
        doc = parsed(*sections, title=f"Doc {case}")
        max_tokens, overlap = rng.choice([(32, 4), (64, 16), (256, 32)])
        chunker = Chunker(tokens=counter, max_tokens=max_tokens, overlap_tokens=overlap)

        chunks = chunker.chunk("d", doc)

        assert_bounded(chunks, counter, min(max_tokens, 200))
        assert chunker.chunk("d", doc) == chunks


@pytest.mark.parametrize(
    ("max_tokens", "overlap"),
    [(8, 0), (64, -1), (64, 64)],
    ids=["limit-too-small", "negative-overlap", "overlap-not-below-limit"],
)
def test_invalid_settings_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        Chunker(tokens=SubwordCounter(), max_tokens=max_tokens, overlap_tokens=overlap)


def test_version_names_everything_that_changes_output() -> None:
    assert Chunker(tokens=SubwordCounter()).version == "heading-v1:256:32"
    assert Chunker(tokens=SubwordCounter(), max_tokens=128, overlap_tokens=0).version == "heading-v1:128:0"
