"""Conflicting facts across the indexed knowledge (issue 20, item 4), offline.

Two passages conflict when they state different numbers, prices, durations, dates or limits for
the same thing ("refunds within 14 days" in one source, "within 30 days" in another). The finder:

1. **Candidate pairs.** Every knowledge chunk of the workspace comes from the index with its dense
   vector (``Index.stored_chunks``: the vectors search uses, no second copy of the data). Chunks of
   two different documents are a candidate when their cosine similarity is at least
   ``similarity`` (each chunk keeps its ``neighbours`` most similar ones). Translations are paired
   apart, since the embedding model is English: documents of the same *family* (the native id
   without a language suffix: ``refunds/de`` and ``refunds/en``, ``refunds.de.md`` and
   ``refunds.md``) in different languages, compared whole (chunk boundaries differ by language).
2. **Quantities** (``insights.quantities``): values with units normalised to one base per dimension
   (``2 weeks`` == ``14 days``), and the words around each value (what it qualifies).
3. **Comparison.** Within a same-language pair, a quantity of A conflicts with the quantity of B of
   the same dimension whose surrounding words overlap most (IDF-weighted Jaccard similarity at
   least ``subject_overlap``; values at most ``max_ratio`` apart), when neither value appears
   anywhere in the other passage in that dimension (so two lists of the same prices in another
   order, or a passage that states both the old and the new value, are not conflicts). Within a
   translation pair, words cannot be compared: when both documents state the same kinds of
   quantity in the same order (a faithful translation), differing values at the same place
   conflict.

Each conflicting document pair is reported once, with its strongest evidence: both passages, both
values as written, the shared words, and both sources.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from pydantic import Field

from core.db import Database, insert_ignore
from core.models import Frozen, Hit
from core.tables import WorkspaceRow, utcnow

from .quantities import Quantity, quantities
from .tables import ConflictRunRow

_LANG_SUFFIX = re.compile(r"(?:[/._-](?:en|de|fr|es|it|nl|pt|sv|da|no|nb|fi|pl|cs|ja|zh|ko))(?=(?:\.[a-z0-9]+)?$)",
                          re.IGNORECASE)


class ChunkSource(Protocol):
    """What the finder reads: the workspace's knowledge chunks with their dense vectors."""

    def stored_chunks(self, workspace: str) -> Iterable[tuple[Hit, np.ndarray]]: ...


class Side(Frozen):
    """One passage of a conflict: where it is and what it says."""

    document_id: str
    chunk_id: str
    source_id: str
    title: str
    uri: str | None = None
    language: str | None = None
    value: str
    sentence: str


class Conflict(Frozen):
    """Two documents stating different values for the same thing."""

    a: Side
    b: Side
    dimension: str
    subject: list[str] = Field(default_factory=list)
    similarity: float
    translation: bool = False


class ConflictReport(Frozen):
    """One pass over the workspace's knowledge."""

    workspace: str
    computed_at: datetime
    chunks: int
    candidate_pairs: int
    conflicts: list[Conflict]
    seconds: float


@dataclass(frozen=True, slots=True)
class FinderSettings:
    """Thresholds of the finder (see the module docstring); defaults measured in ``bench.conflicts``."""

    similarity: float = 0.65
    neighbours: int = 8
    subject_overlap: float = 0.2
    min_shared: int = 1
    #: Values further apart than this factor are about different things ("300 g" samples vs "60 kg"
    #: bags); statements that contradict each other differ by an update or a typo.
    max_ratio: float = 4.0


class ConflictFinder:
    """Finds conflicting facts in a workspace's knowledge. ``ConflictFinder(chunks=index)``."""

    def __init__(self, *, chunks: ChunkSource, settings: FinderSettings | None = None) -> None:
        self.chunks, self.settings = chunks, settings or FinderSettings()

    def find(self, workspace: str) -> ConflictReport:
        started = time.perf_counter()
        hits: list[Hit] = []
        vectors: list[np.ndarray] = []
        for hit, vector in self.chunks.stored_chunks(workspace):
            hits.append(hit)
            vectors.append(vector)
        matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), dtype=np.float32)
        pairs, conflicts = find_conflicts(hits, matrix, self.settings)
        return ConflictReport(workspace=workspace, computed_at=utcnow(), chunks=len(hits), candidate_pairs=pairs,
                              conflicts=conflicts, seconds=round(time.perf_counter() - started, 3))


class ConflictStore:
    """The latest report of each workspace (``insight_conflicts``). ``ConflictStore(db=...)``."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def save(self, report: ConflictReport) -> None:
        body = report.model_dump(mode="json")
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=report.workspace, name=report.workspace,
                          created_at=utcnow())
            row = s.get(ConflictRunRow, report.workspace)
            if row is None:
                s.add(ConflictRunRow(workspace=report.workspace, computed_at=report.computed_at, report=body))
            else:
                row.computed_at, row.report = report.computed_at, body

    def latest(self, workspace: str) -> ConflictReport | None:
        with self.db.session() as s:
            row = s.get(ConflictRunRow, workspace)
            return ConflictReport.model_validate(row.report) if row is not None else None


def family(hit: Hit) -> str:
    """A document's translation family: its native id (or document id) without a language suffix."""
    native = str(hit.payload.get("native_id") or hit.document_id.split(":", 1)[-1])
    return _LANG_SUFFIX.sub("", native).lower()


def candidate_pairs(hits: Sequence[Hit], vectors: np.ndarray, settings: FinderSettings
                    ) -> dict[tuple[int, int], tuple[float, bool]]:
    """(i, j) with i < j -> (cosine similarity, translation pair) for the chunks worth comparing."""
    pairs: dict[tuple[int, int], tuple[float, bool]] = {}
    if len(hits) < 2:
        return pairs
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    docs = np.array([h.document_id for h in hits])
    k = min(settings.neighbours, len(hits) - 1)
    for start in range(0, len(hits), 512):
        block = unit[start:start + 512] @ unit.T
        for row, sims in enumerate(block):
            i = start + row
            sims[docs == docs[i]] = -1.0  # never a document against itself
            for j in np.argpartition(-sims, k - 1)[:k] if k > 0 else []:
                score = float(sims[j])
                if score >= settings.similarity and hits[i].language == hits[int(j)].language:
                    key = (min(i, int(j)), max(i, int(j)))
                    pairs[key] = (score, False)
    first: dict[str, int] = {}  # a document's first chunk stands for the document in a translation pair
    for i, hit in enumerate(hits):
        known = first.get(hit.document_id)
        if known is None or _index(hit) < _index(hits[known]):
            first[hit.document_id] = i
    by_family: dict[str, list[int]] = {}
    for i in first.values():
        by_family.setdefault(family(hits[i]), []).append(i)
    for members in by_family.values():
        for x, i in enumerate(members):
            for j in members[x + 1:]:
                if hits[i].language != hits[j].language:
                    pairs[(min(i, j), max(i, j))] = (float(unit[i] @ unit[j]), True)
    return pairs


def find_conflicts(hits: Sequence[Hit], vectors: np.ndarray, settings: FinderSettings | None = None
                   ) -> tuple[int, list[Conflict]]:
    """The number of candidate pairs compared and the conflicts found, one per document pair."""
    settings = settings or FinderSettings()
    pairs = candidate_pairs(hits, vectors, settings)
    extracted: dict[int, list[Quantity]] = {}
    for i in sorted({i for pair in pairs for i in pair}):
        extracted[i] = quantities(hits[i].text)
    whole: dict[str, list[Quantity]] = {}  # a translated document's quantities, all its chunks in order
    for (i, j), (_, translation) in pairs.items():
        for k in (i, j) if translation else ():
            if hits[k].document_id not in whole:
                whole[hits[k].document_id] = quantities(_document_text(hits, hits[k].document_id))
    idf = _idf([q.context for found in extracted.values() for q in found])
    best: dict[tuple[str, str], tuple[float, Conflict]] = {}
    for (i, j), (similarity, translation) in pairs.items():
        if translation:
            qa, qb = whole[hits[i].document_id], whole[hits[j].document_id]
        else:
            qa, qb = extracted[i], extracted[j]
        if not qa or not qb:
            continue
        found = _aligned(qa, qb) if translation else _matched(qa, qb, settings, idf)
        for strength, a, b in found:
            conflict = Conflict(a=_side(hits[i], a), b=_side(hits[j], b), dimension=a.dimension,
                                subject=sorted(a.context & b.context), similarity=round(similarity, 4),
                                translation=translation)
            first, second = sorted((hits[i].document_id, hits[j].document_id))
            rank = strength + similarity
            if (first, second) not in best or rank > best[(first, second)][0]:
                best[(first, second)] = (rank, conflict)
    ordered = sorted(best.values(), key=lambda item: -item[0])
    return len(pairs), [c for _, c in ordered]


def _idf(contexts: Sequence[frozenset[str]]) -> dict[str, float]:
    """Inverse document frequency of context words over every quantity compared in this pass."""
    df: dict[str, int] = {}
    for words in contexts:
        for w in words:
            df[w] = df.get(w, 0) + 1
    n = max(1, len(contexts))
    return {w: math.log(1 + n / d) for w, d in df.items()}


def _overlap(a: frozenset[str], b: frozenset[str], idf: Mapping[str, float]) -> tuple[float, int]:
    """The IDF-weighted Jaccard similarity of two contexts (a word every passage uses, like the
    brand, weighs little) and the number of shared words."""
    if not a or not b:
        return 0.0, 0
    shared = a & b

    def weight(words: frozenset[str]) -> float:
        return sum(idf.get(w, 1.0) for w in words)

    return weight(shared) / weight(a | b), len(shared)


def _ratio(a: Quantity, b: Quantity) -> float:
    low, high = sorted((abs(a.hi) or 1e-9, abs(b.hi) or 1e-9))
    return high / low


def _matched(qa: list[Quantity], qb: list[Quantity], settings: FinderSettings, idf: Mapping[str, float]
             ) -> list[tuple[float, Quantity, Quantity]]:
    out = []
    for a in qa:
        same_dim = [b for b in qb if b.dimension == a.dimension]
        if not same_dim or any(a.same_value(b) for b in same_dim):
            continue
        same_dim = [b for b in same_dim if _ratio(a, b) <= settings.max_ratio]
        if not same_dim:
            continue
        scored = [(_overlap(a.context, b.context, idf), b) for b in same_dim]
        (score, shared), b = max(scored, key=lambda item: item[0])
        if score < settings.subject_overlap or shared < settings.min_shared:
            continue
        if any(b.same_value(other) for other in qa if other.dimension == b.dimension):
            continue  # B's value is stated in A too: a list or an old-and-new passage, not a conflict
        out.append((score, a, b))
    return out


def _aligned(qa: list[Quantity], qb: list[Quantity]) -> list[tuple[float, Quantity, Quantity]]:
    """Conflicts of a translation pair: both documents state the same kinds of quantity in the same
    order (a faithful translation), and a value differs at the same place."""
    if [_translated(q) for q in qa] != [_translated(q) for q in qb]:
        return []
    out = []
    for dimension in {_translated(q) for q in qa}:
        a_dim = [q for q in qa if _translated(q) == dimension]
        b_dim = [q for q in qb if _translated(q) == dimension]
        if len(a_dim) != len(b_dim):
            continue
        for a, b in zip(a_dim, b_dim, strict=True):
            if not a.same_value(b):
                out.append((1.0, a, b))
    return out


def _index(hit: Hit) -> int:
    return int(hit.payload.get("chunk_index") or 0)


def _document_text(hits: Sequence[Hit], document_id: str) -> str:
    chunks = sorted((_index(h), h.text) for h in hits if h.document_id == document_id)
    return "\n".join(text for _, text in chunks)


def _translated(q: Quantity) -> str:
    """The dimension across languages: counted things are named in each language ("8 students",
    "8 élèves"), so counts align as one dimension."""
    return "count" if q.dimension.startswith("count:") else q.dimension


def _side(hit: Hit, q: Quantity) -> Side:
    return Side(document_id=hit.document_id, chunk_id=hit.chunk_id, source_id=hit.source_id, title=hit.title,
                uri=hit.uri, language=hit.language, value=q.shown, sentence=q.sentence[:400])


__all__ = ["ChunkSource", "Conflict", "ConflictFinder", "ConflictReport", "ConflictStore", "FinderSettings", "Side",
           "family", "find_conflicts"]
