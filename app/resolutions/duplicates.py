"""Near-duplicates of a draft: published content that already says what the draft's answer says.

A whole article (or a whole chunk) is a poor match for a two-sentence answer: the answer's facts often
sit in one table row or one list of a long article ("PayPal | Yes | Yes" in the payment-methods table),
so the chunk's cosine stays near that of unrelated articles (0.43-0.52 for the bench's table cases vs up
to 0.64 for new answers). Instead, each answer sentence is compared with the *units* of the retrieved
chunks of each candidate article (its sentences, its table rows read with their header, its sections as
a whole), and an article's **coverage** is the mean over the answer's sentences of the best unit cosine:
how much of the answer the article already states, sentence by sentence. Candidates come from retrieval
over the index's chunks (the default ranking, late stage included) with the draft's title, its answer
and each answer sentence as queries. The threshold is fitted on the fit part of ``bench/resolutions``
by ``python -m bench.fit_duplicates`` (result and procedure in ``bench/results/fit_duplicates.json``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.models import Hit

from . import drafting

#: Coverage (mean best sentence-to-unit cosine, MiniLM) from which an article nearly duplicates a draft.
#: Fitted on the fit part of bench/resolutions (cases r03, r06, ...; ``python -m bench.fit_duplicates``).
COVERAGE = 0.71
#: At most this many answer sentences are compared (and searched); a longer answer is judged on its first ones.
MAX_SENTENCES = 8
#: At most this many candidate articles (the best by chunk cosine) are compared unit by unit.
MAX_CANDIDATES = 4
#: Units of fewer words say too little to match on ("Yes", a lone heading).
MIN_UNIT_WORDS = 3

_ITEM = re.compile(r"^([-*]|\d+[.)])\s+")

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(slots=True)
class Candidate:
    """One published document met in retrieval: its best chunk cosine and the chunks retrieved of it."""

    document_id: str
    title: str
    cosine: float
    chunks: dict[str, str] = field(default_factory=dict)


def queries(title: str, answer: str) -> list[str]:
    """What is searched for a draft: its title, its answer and each of its first answer sentences."""
    found = [title, answer, *drafting.sentences(answer)[:MAX_SENTENCES]]
    return [q for q in dict.fromkeys(found) if q.strip()]


def candidates(hits: Sequence[Hit]) -> list[Candidate]:
    """The documents of ``hits`` (chunks of several queries), best chunk cosine first, at most
    ``MAX_CANDIDATES``."""
    by_doc: dict[str, Candidate] = {}
    for hit in hits:
        cosine = float(hit.dense_score if hit.dense_score is not None else hit.score)
        c = by_doc.setdefault(hit.document_id, Candidate(hit.document_id, hit.title, cosine))
        c.cosine = max(c.cosine, cosine)
        c.chunks.setdefault(hit.chunk_id, hit.text)
    return sorted(by_doc.values(), key=lambda c: -c.cosine)[:MAX_CANDIDATES]


def units(text: str) -> list[str]:
    """What an answer sentence is compared with in a chunk's text: its sentences and list items, each
    table row read with its header ("PayPal (Method): Subscriptions: Yes; Shop orders: Yes"), and each
    section as a whole (heading and body, so a list matches an answer that enumerates it).

    >>> units("Plans\\nPlan | Price\\nStarter | €14.90")
    ['Starter (Plan): Price: €14.90']
    """
    out: list[str] = []
    header: list[str] | None = None
    heading, block = "", list[str]()

    def close_section() -> None:
        if block:
            out.append(f"{heading}: {' '.join(block)}" if heading else " ".join(block))

    for line in text.splitlines():
        s = line.strip()
        if not s:
            header = None
            continue
        if "|" in s:
            cells = [c.strip() for c in s.strip("|").split("|")]
            if header is None:
                header = cells
                continue
            pairs = "; ".join(f"{h}: {c}" for h, c in zip(header[1:], cells[1:], strict=False) if c)
            out.append(f"{cells[0]} ({header[0]}): {pairs}" if pairs else cells[0])
            continue
        header = None
        item = _ITEM.sub("", s)
        if len(s.split()) <= 8 and not s.endswith((".", ":", "?", "!")) and item == s:
            close_section()  # a heading: a new section starts
            heading, block = s, []
            continue
        block.append(item)
        out += drafting.sentences(item)
    close_section()
    return [u for u in dict.fromkeys(out) if len(u.split()) >= MIN_UNIT_WORDS]


def coverage(answer: str, found: Sequence[Candidate], embed: Embed) -> dict[str, float]:
    """Per candidate document: the mean over the answer's sentences of the best cosine against the
    units of its retrieved chunks (0.0 for a document with no unit). One embedding call for everything."""
    sentences = drafting.sentences(answer)[:MAX_SENTENCES]
    per_doc = [[u for text in c.chunks.values() for u in units(text)] for c in found]
    every = [u for us in per_doc for u in us]
    if not sentences or not every:
        return {c.document_id: 0.0 for c in found}
    vectors = _normalised(embed([*sentences, *every]))
    answer_vectors, unit_vectors = vectors[:len(sentences)], vectors[len(sentences):]
    out, start = {}, 0
    for c, us in zip(found, per_doc, strict=True):
        if not us:
            out[c.document_id] = 0.0
            continue
        sims = answer_vectors @ unit_vectors[start:start + len(us)].T
        out[c.document_id] = round(float(sims.max(axis=1).mean()), 4)
        start += len(us)
    return out


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1.0, norms))
