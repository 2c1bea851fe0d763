"""Grounded answers: the best-supported passages of the retrieved chunks, with citations.

The default answerer is extractive and needs no LLM: it splits the top chunks into units
(sentences, and a list together with the line that introduces it), scores each unit by its
similarity with the question (the retrieval model, cached per unit) plus the share of question
terms it contains, and replies with the best units of the first hit's document in their original order.
Nothing is written that the content does not say, so the answer's support is 1.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import Stemmer

from core.models import Hit

from .decision import Citation
from .meaning import VectorCache

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9ÄÖÜÁÉÍÓÚÑ¿¡])")
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_TERMS = re.compile(r"[^\W_]+(?:-[^\W_]*\d[^\W_]*)?", re.UNICODE)
_STOP_WORDS = (
    "a an and are as at be by can could do does for from have how i if in is it me my of on or our please "
    "should so than that the their them then there this to was we what when where which who why will with "
    "would you your yours im i'm ive dont can't cant get got tell know want need"
)
_STOP = frozenset(_STOP_WORDS.split())
_STEMMER = Stemmer.Stemmer("english")
_HOW = re.compile(r"^\s*(?:how\b|what are the steps|wie\b|cómo\b|comment\b)", re.IGNORECASE)


def terms(text: str) -> set[str]:
    """Content terms of a text: lowercase, stop words dropped, stemmed (English Snowball)."""
    words = [w for w in _TERMS.findall(text.lower()) if w not in _STOP and len(w) > 1]
    return set(_STEMMER.stemWords(words))


@dataclass(frozen=True, slots=True)
class Unit:
    """A quotable piece of a chunk: a sentence, or a list with its lead-in line."""

    text: str
    heading: str
    hit: int
    order: int

    @property
    def embed_text(self) -> str:
        return f"{self.heading}: {self.text}" if self.heading else self.text


@dataclass(frozen=True, slots=True)
class Answer:
    """A grounded reply: its text, citations, how much of it the cited text supports, units used."""

    reply: str
    citations: list[Citation]
    support: float
    documents: list[str] = field(default_factory=list)
    best_unit_score: float = 0.0


def units_of(text: str, hit: int, heading: str = "") -> list[Unit]:
    """Split a chunk's text into units, remembering the heading each one sits under.

    A table row becomes "Header: value, Header: value"; a list stays whole with its lead-in line;
    a short line without end punctuation is a heading, not a unit; prose splits into sentences.
    """
    out: list[Unit] = []
    header: list[str] = []
    lines = [line.strip() for line in text.splitlines()]
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if " | " in line or line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                pass
            elif not header:
                header = cells
            else:
                pairs = zip(header, cells, strict=False) if len(header) == len(cells) else (("", c) for c in cells)
                row = ", ".join(f"{h}: {c}" if h else c for h, c in pairs if c)
                out.append(Unit(text=row.rstrip(".") + ".", heading=heading, hit=hit, order=len(out)))
            i += 1
            continue
        header = []
        if _LIST.match(line) or (line.endswith(":") and i + 1 < len(lines) and _LIST.match(lines[i + 1])):
            lead = line if line.endswith(":") and not _LIST.match(line) else ""
            j = i + 1 if lead else i
            items = []
            while j < len(lines) and _LIST.match(lines[j]):
                items.append(lines[j])
                j += 1
            body = "\n".join(items)
            out.append(Unit(text=f"{lead}\n{body}" if lead else body, heading=heading, hit=hit, order=len(out)))
            i = j
            continue
        if len(line.split()) <= 8 and not line.endswith((".", "!", "?", ":")):
            heading = line
            i += 1
            continue
        for sentence in _SENTENCE.split(line):
            if len(sentence.split()) >= 3:
                out.append(Unit(text=sentence.strip(), heading=heading, hit=hit, order=len(out)))
        i += 1
    return out


def _idf_overlap(wanted: set[str], unit_terms: Sequence[set[str]]) -> list[float]:
    """Per unit: the IDF-weighted share of the question's terms it contains (IDF over these units)."""
    if not wanted:
        return [0.0] * len(unit_terms)
    n = len(unit_terms)
    # Terms with digits (error codes, versions, plan sizes) are what the customer asks about: triple them.
    idf = {
        t: math.log(1 + n / (1 + sum(t in u for u in unit_terms))) * (3.0 if any(c.isdigit() for c in t) else 1.0)
        for t in wanted
    }
    total = sum(idf.values()) or 1.0
    return [sum(idf[t] for t in wanted & u) / total for u in unit_terms]


class ExtractiveAnswerer:
    """Answers from retrieved chunks by quoting their best units.

    Args:
        cache: unit vectors (the retrieval model), cached across requests.
        max_chars: the longest reply.
        max_chunks: how many chunks are read.
        first_document: read the first hit's document's chunks only (``lead_chunks``); else the top
            ``max_chunks`` hits, whichever document, and quote the best unit's document.
        keep_within: units scoring within this much of the best one are quoted too (at most max_units).
    """

    def __init__(
        self,
        *,
        cache: VectorCache,
        max_chars: int = 700,
        max_chunks: int = 3,
        keep_within: float = 0.15,
        max_units: int = 4,
        first_document: bool = True,
    ) -> None:
        self.cache = cache
        self.first_document = first_document
        self.max_units = max_units
        self.max_chars = max_chars
        self.max_chunks = max_chunks
        self.keep_within = keep_within

    def answer(self, question: str, vector: np.ndarray, hits: Sequence[Hit]) -> Answer | None:
        """The reply for ``question`` from ``hits`` (best first), or None when nothing is quotable.

        With ``first_document`` the retrieval's order chooses the document (the first hit's), the units'
        scores choose what to quote from its chunks (``lead_chunks``)."""
        top = lead_chunks(hits, self.max_chunks) if self.first_document else list(hits[: self.max_chunks])
        # A code the customer quotes (E-12, INV-2026-...) keys the passage that answers it (a table row, a
        # section starting with it); when the best chunks hold none, the lower hits that do are read too.
        codes = {t for t in terms(question) if any(c.isdigit() for c in t)}
        if codes and not any(_keys(u, codes) for i, h in enumerate(top) for u in _units(h, i)):
            read = {h.chunk_id for h in top}
            top += [h for h in hits if h.chunk_id not in read and any(_keys(u, codes) for u in _units(h, 0))][:2]
        units = [u for i, h in enumerate(top) for u in _units(h, i)]
        if not units:
            return None
        sims = self.cache.similarities([u.embed_text for u in units], vector)
        lexical = _idf_overlap(terms(question), [terms(u.embed_text) for u in units])
        dense = [top[u.hit].dense_score or 0.0 for u in units]
        scores = [0.6 * float(s) + 0.4 * lex + 0.2 * d for s, lex, d in zip(sims, lexical, dense, strict=True)]
        if _HOW.match(question):  # "how do I ..." wants the steps: prefer lists
            scores = [sc + (0.08 if "\n" in u.text else 0.0) for sc, u in zip(scores, units, strict=True)]
        # A code or number the customer quotes (E-12, 2FA, 250 g) must be in the answer when the document has it;
        # a unit keyed by it (a table row starting with it) is the answer itself.
        quoted = [k for k in range(len(units)) if codes & terms(units[k].text)]
        keyed = [k for k in quoted if _keys(units[k], codes)]
        best = max(keyed or range(len(units)), key=lambda k: scores[k])
        document = top[units[best].hit].document_id
        chosen: list[int] = [best]
        length = len(units[best].text)
        # Then the rest of the best unit's section, in order, for a coherent answer.
        section = [
            k for k in range(len(units)) if (units[k].hit, units[k].heading) == (units[best].hit, units[best].heading)
        ]
        for k in [*section, *quoted]:
            if len(chosen) >= self.max_units or k in chosen or top[units[k].hit].document_id != document:
                continue
            if scores[k] < scores[best] - self.keep_within and k not in quoted:
                continue
            if length + len(units[k].text) > self.max_chars or any(units[k].text == units[c].text for c in chosen):
                continue
            chosen.append(k)
            length += len(units[k].text)
        chosen.sort(key=lambda k: (units[k].hit, units[k].order))
        reply = _join([units[k] for k in chosen])
        hit = top[units[best].hit]
        citation = Citation(title=hit.title or hit.document_id, url=hit.uri, document_id=hit.document_id)
        return Answer(
            reply=reply,
            citations=[citation],
            support=1.0,
            documents=[document],
            best_unit_score=round(float(sims[best]), 4),
        )


def quotes_first_document(answer_from: str | None, reranked: bool) -> bool:
    """Whether the extractive answer quotes the first hit's document (``AgentSettings.answer_from``):
    as configured, else when the second ranking stage re-ranked the hits."""
    if answer_from is None:
        return reranked
    if answer_from not in ("first_document", "top_chunks"):
        raise ValueError(f"answer_from must be first_document or top_chunks, not {answer_from!r}")
    return answer_from == "first_document"


def lead_chunks(hits: Sequence[Hit], limit: int) -> list[Hit]:
    """The chunks an answer quotes from: the first hit's document's, in the hits' order, at most ``limit``.

    The document comes from the retrieval's order, not from the units' match with the question: a
    neighbouring document's sentence that repeats the question's words (the refund page's "sent back"
    for "how do I send an item back") outscored the first document's steps and was cited instead. On the
    fit parts of the answer-correctness sets with the second ranking stage on, answers citing another
    document than the first hit's were wrong 13 times where the first hit was right, and right once
    (fused order: 6 and 4, so the fused order keeps ``top_chunks`` by default).
    """
    if not hits:
        return []
    first = hits[0].document_id
    return [h for h in hits if h.document_id == first][:limit]


def _units(hit: Hit, index: int) -> list[Unit]:
    return units_of(hit.text, index, hit.section[-1] if hit.section else "")


def _keys(unit: Unit, codes: set[str]) -> bool:
    """Whether the unit is keyed by one of the codes: it starts with it (a table row, a definition)."""
    return bool(codes & terms(unit.text[:24]))


def _join(units: Sequence[Unit]) -> str:
    parts: list[str] = []
    for unit in units:
        if parts and ("\n" in unit.text or "\n" in parts[-1]):
            parts.append("\n" + unit.text)
        else:
            parts.append(unit.text)
    return " ".join(parts).replace(" \n", "\n").strip()


def coverage(question: str, hits: Sequence[Hit]) -> float:
    """Share of the question's content terms found in the hits' titles and texts."""
    wanted = terms(question)
    if not wanted:
        return 0.0
    seen: set[str] = set()
    for hit in hits:
        seen |= terms(f"{hit.title} {' '.join(hit.section)} {hit.text}")
    return len(wanted & seen) / len(wanted)
