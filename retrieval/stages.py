"""The search pipeline's stages as plain functions over candidates (no Qdrant, no model).

    analyze (long-query cut, sentence split) -> [candidates: dense + BM25 lists per (sub-)query,
    fetched by ``Searcher``] -> fuse (second stage: weighted or RRF) -> combine the sub-queries'
    rankings -> diversify over documents (with the per-document cap) -> hits

Every stage is switchable through ``core.settings.SearchSettings``; the values not set there come
from ``retrieval/fitted/fusion.json``, written by ``bench/retrieval/fit_ranking.py`` on the dev
sets' fit split.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from core.settings import SearchSettings

#: The model the second ranking stage scores with and whose chunk token vectors ingest keeps
#: (``retrieval.embedding.DEFAULT_MODEL_ID``, ``retrieval.tokens.LATE_MODEL``).
LATE_MODEL = "all-MiniLM-L6-v2"

logger = logging.getLogger(__name__)

#: Qdrant's default RRF constant, so ``fusion=rrf`` ranks as the fused Qdrant query did.
RRF_K = 2
#: Most sentences of a long question searched on their own (the first ones; the rest only in the whole).
MAX_PARTS = 8
#: Candidates (per (sub-)query, best first) whose headings the second look compares with the query.
HEADING_DEPTH = 30
#: The best BM25 candidates (per (sub-)query) whose index terms ``Pool.cover`` compares with the query's.
COVER_DEPTH = 5
#: A sentence shorter than this (in words) is joined to the next one: "Hi." is not a need.
MIN_PART_WORDS = 4

#: The second ranking stage's features, in the order of their weights in ``RankParams`` (``rerank_<name>``).
RERANK_FEATURES = ("fused", "late", "heading", "phrase")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\s*\n\s*\n?\s*")
_WORD = re.compile(r"\w+")


class RankParams(BaseModel):
    """The second stage's and the later stages' numbers (fitted, or set by settings).

    Example::

        RankParams(fusion="weighted", dense_weight=0.6, split=True, split_min_sentences=3,
                   split_weight=0.5, split_k=10, diversity=0.3)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fusion: Literal["rrf", "weighted"] = "weighted"
    dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    rrf_k: float = Field(default=RRF_K, gt=0.0)
    heading_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    split: bool = True
    split_min_sentences: int = Field(default=3, ge=2)
    split_weight: float = Field(default=0.5, ge=0.0)
    split_k: float = Field(default=10.0, gt=0.0)
    diversity: float = Field(default=0.0, ge=0.0, le=1.0)
    #: A long question's rankings combined per cap group (``combine_groups``): each sentence's weight beside
    #: the whole question's (weight 1; 0: off, ``combine`` per chunk), the RRF constant, and whether the
    #: second ranking stage re-ranks each (sub-)query's ranking with its own text before (True) or the
    #: combined ranking with the whole question after (False).
    group_weight: float = Field(default=0.0, ge=0.0)
    group_k: float = Field(default=10.0, gt=0.0)
    part_rerank: bool = False
    #: A (sub-)query's BM25 list is *weak* when its best score per query term is below this (0: never):
    #: a reworded question shares few terms with its answer, and then ``weak_dense_weight`` is used.
    bm25_strong: float = Field(default=0.0, ge=0.0)
    #: A (sub-)query's BM25 list is also *weak* when the best of its ``COVER_DEPTH`` BM25 candidates holds
    #: less than this share of the query's index terms (``Pool.cover``; 0: never): a paraphrase shares few
    #: words with its answer, an exact question most of them.
    bm25_cover: float = Field(default=0.0, ge=0.0, le=1.0)
    #: The cover rule looks only at queries of at most this many BM25 terms (0: any): a long, multi-need
    #: question's terms are spread over several documents, so no one candidate holds most of them.
    bm25_cover_terms: int = Field(default=0, ge=0)
    #: The dense weight of a query whose BM25 list is weak (``bm25_strong``, ``bm25_cover``).
    weak_dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    #: The second ranking stage's fused-score weight for a query whose BM25 list is weak (None: ``rerank_fused``).
    weak_rerank_fused: float | None = Field(default=None, ge=0.0)
    #: The cap of a search whose caller sets no ``per_document``: ``cap`` chunks per document or per section.
    cap_scope: Literal["document", "section"] = "document"
    cap: int = Field(default=2, ge=1)
    #: The second ranking stage (``rerank``) over the best ``rerank_depth`` fused candidates, and its
    #: features' weights (fused score, late interaction, heading words, phrases).
    rerank: bool = False
    rerank_depth: int = Field(default=30, ge=2)
    rerank_fused: float = Field(default=1.0, ge=0.0)
    rerank_late: float = Field(default=0.0, ge=0.0)
    rerank_heading: float = Field(default=0.0, ge=0.0)
    rerank_phrase: float = Field(default=0.0, ge=0.0)

    @classmethod
    def from_settings(cls, settings: SearchSettings, *, model_id: str | None = None) -> RankParams:
        """The settings' values, and the fitted ones where a setting is left unset.

        ``model_id``: the index's embedding model. The fitted default turns the second ranking stage on
        only for ``LATE_MODEL``, whose token vectors the index keeps at ingest and whose tokens the stage
        scores with (another encoder stores none, so the stage would encode every candidate at query
        time, and the English model's tokens would re-rank a multilingual model's hits);
        ``KNOWDESK_SEARCH__RERANK=late`` turns it on for any model."""
        fitted = fitted_values()
        late = fitted_values("rerank.json")
        default_rerank = str(late.get("rerank", "off"))
        if model_id is not None and model_id != LATE_MODEL:
            default_rerank = "off"
        fusion = settings.fusion or fitted.get("fusion", "weighted")
        split_weight = _pick(settings.split_weight, fitted, "split_weight", 0.5)
        groups = fitted_values("groups.json")
        group_weight = _pick(settings.group_weight, groups, "group_weight", 0.0)
        return cls(
            fusion="rrf" if fusion == "rrf" else "weighted",
            dense_weight=_pick(settings.dense_weight, fitted, "dense_weight", 0.5),
            # a split whose sentences weigh nothing would only cost their searches
            split=settings.split and (split_weight > 0 or group_weight > 0),
            split_min_sentences=settings.split_min_sentences,
            split_weight=split_weight,
            split_k=_pick(None, fitted, "split_k", 10.0),
            rrf_k=_pick(None, fitted, "rrf_k", RRF_K),
            heading_weight=_pick(settings.heading_weight, fitted, "heading_weight", 0.0),
            diversity=_pick(settings.diversity, fitted, "diversity", 0.0),
            group_weight=group_weight,
            group_k=_pick(settings.group_k, groups, "group_k", 10.0),
            part_rerank=(settings.part_rerank if settings.part_rerank is not None
                         else bool(groups.get("part_rerank", False))),
            bm25_strong=_pick(settings.bm25_strong, fitted, "bm25_strong", 0.0),
            bm25_cover=_pick(settings.bm25_cover, fitted, "bm25_cover", 0.0),
            bm25_cover_terms=int(_pick(settings.bm25_cover_terms, fitted, "bm25_cover_terms", 0)),
            weak_dense_weight=_pick(settings.weak_dense_weight, fitted, "weak_dense_weight", 0.5),
            weak_rerank_fused=(settings.weak_rerank_fused if settings.weak_rerank_fused is not None
                               else _optional(fitted.get("weak_rerank_fused"))),
            cap_scope=settings.cap_scope or ("section" if fitted.get("cap_scope") == "section" else "document"),
            cap=int(_pick(settings.cap, fitted, "cap", 2)),
            rerank=(settings.rerank or default_rerank) == "late",
            rerank_depth=settings.rerank_depth or int(_pick(None, late, "depth", 30)),
            **{f"rerank_{name}": _pick(None, late, name, 1.0 if name == "fused" else 0.0) for name in RERANK_FEATURES},
        )


def _optional(found: object) -> float | None:
    return float(found) if isinstance(found, int | float) else None


def _pick(value: float | None, fitted: Mapping[str, object], key: str, default: float) -> float:
    if value is not None:
        return value
    found = fitted.get(key, default)
    return float(found) if isinstance(found, int | float) else default


@functools.lru_cache(maxsize=4)
def fitted_values(name: str = "fusion.json") -> dict[str, object]:
    """``retrieval/fitted/<name>``'s ``values`` (empty when the file is missing): ``fusion.json`` for
    the fusion and later stages, ``rerank.json`` for the second ranking stage, ``groups.json`` for the
    per-group combination of a long question's sentences (``combine_groups``)."""
    try:
        raw = resources.files("retrieval.fitted").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        logger.warning("retrieval/fitted/%s is missing; using built-in ranking defaults", name)
        return {}
    values = json.loads(raw).get("values", {})
    return dict(values) if isinstance(values, dict) else {}


# -- query analysis ---------------------------------------------------------------------------------
class QueryAnalysis(BaseModel):
    """What the search runs for one query: the (possibly cut) text, its sentences, and notes.

    ``parts`` is empty unless the question is long enough to be searched sentence by sentence.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    parts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def analyze(query: str, *, max_chars: int, split: bool, min_sentences: int) -> QueryAnalysis:
    """Cut a query longer than ``max_chars`` at a word boundary (noted), and split a question of
    at least ``min_sentences`` sentences into them (at most ``MAX_PARTS``)."""
    text = query.strip()
    notes: list[str] = []
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = (cut[:space] if space > max_chars // 2 else cut).rstrip()
        notes.append(f"the query has {len(query)} characters; it was answered from its first {len(text)}")
    parts = sentences(text) if split else []
    if len(parts) < min_sentences:
        parts = []
    return QueryAnalysis(text=text, parts=tuple(parts[:MAX_PARTS]), notes=tuple(notes))


def query_notes(query: str, settings: SearchSettings) -> list[str]:
    """What the search will note about ``query`` (a cut to its first part), for callers that
    render the answer (CLI and HTTP JSON ``notes``)."""
    return list(analyze(query, max_chars=settings.max_query_chars, split=False, min_sentences=2).notes)


def sentences(text: str) -> list[str]:
    """The text's sentences (and paragraphs), a short one joined to the next."""
    out: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            continue
        pending = f"{pending} {piece}".strip()
        if len(_WORD.findall(pending)) >= MIN_PART_WORDS:
            out.append(pending)
            pending = ""
    if pending:
        if out:
            out[-1] = f"{out[-1]} {pending}"
        else:
            out.append(pending)
    return out


# -- second stage -----------------------------------------------------------------------------------
class Scored(NamedTuple):
    """One candidate of one (sub-)query: its cosine, its BM25 score (0 when BM25 did not list it),
    its 0-based rank in each list (None when absent) and its heading's cosine."""

    key: str
    dense: float
    sparse: float
    dense_rank: int | None
    sparse_rank: int | None
    #: cosine of the (sub-)query with the chunk's heading (title and section path) alone
    heading: float = 0.0


Ranking = list[tuple[str, float]]


def bm25_strength(items: Sequence[Scored], terms: int) -> float | None:
    """The best BM25 score per query term (None without terms): how well the keywords alone match."""
    if terms <= 0:
        return None
    return max((c.sparse for c in items), default=0.0) / terms


def keyword_weak(items: Sequence[Scored], params: RankParams, terms: int = 0, cover: float | None = None) -> bool:
    """Whether this (sub-)query's BM25 list is weak: its best score per query term is under
    ``bm25_strong``, or the best of its BM25 candidates holds less than ``bm25_cover`` of its terms
    (``cover``: ``Pool.cover``, None when unknown; only for a query of at most ``bm25_cover_terms`` terms,
    when set). A rule set to 0 never fires; an unknown signal never
    does either, nor does anything for a query without BM25 terms (its fusion is dense only anyway)."""
    strength = bm25_strength(items, terms)
    if params.bm25_strong > 0 and strength is not None and strength < params.bm25_strong:
        return True
    if params.bm25_cover_terms and terms > params.bm25_cover_terms:
        return False
    return params.bm25_cover > 0 and cover is not None and terms > 0 and cover < params.bm25_cover


def dense_weight(items: Sequence[Scored], params: RankParams, terms: int = 0, cover: float | None = None) -> float:
    """The dense list's weight for this (sub-)query: ``weak_dense_weight`` when its BM25 list is
    weak (``keyword_weak``), else ``dense_weight``."""
    return params.weak_dense_weight if keyword_weak(items, params, terms, cover) else params.dense_weight


def stage_params(params: RankParams, weak: bool) -> RankParams:
    """The second ranking stage's parameters for a query: ``weak_rerank_fused`` replaces the fused
    score's weight when its BM25 list is weak (and that weight is set)."""
    if weak and params.weak_rerank_fused is not None:
        return params.model_copy(update={"rerank_fused": params.weak_rerank_fused})
    return params


def fuse(items: Sequence[Scored], params: RankParams, terms: int = 0, cover: float | None = None) -> Ranking:
    """One (sub-)query's candidates ranked by the fusion of its dense and BM25 lists.

    ``terms``: the query's BM25 terms (0: unknown); ``cover``: the share of them its best BM25
    candidates hold (``Pool.cover``; None: unknown). With ``bm25_strong`` or ``bm25_cover`` set, a query
    whose BM25 list is weak is fused with ``weak_dense_weight`` (``dense_weight`` chooses, per query).

    ``weighted``: ``w * d + (1 - w) * s`` where ``d`` is the cosine min-max normalized over the
    candidates and ``s`` the BM25 score divided by the best one (scores of a keyword-less query
    are dense only). ``rrf``: ``2 * (w / (k + dense rank) + (1 - w) / (k + BM25 rank))`` (0-based
    ranks, as Qdrant's; an absent rank adds nothing): with ``w = 0.5`` and ``k = RRF_K``, Qdrant's own RRF.
    With ``heading_weight = h > 0`` the best ``HEADING_DEPTH`` are looked at again: the score becomes
    ``(1 - h) * score + h * heading`` where ``heading`` is the heading cosine's RRF term (its rank
    among those) or its min-max value (0 below them, so they keep their order).
    """
    if not items:
        return []
    w = dense_weight(items, params, terms, cover)
    if params.fusion == "rrf":
        k = params.rrf_k
        scores = [
            2 * sum(weight / (k + rank)
                    for weight, rank in ((w, c.dense_rank), (1 - w, c.sparse_rank)) if rank is not None)
            for c in items
        ]
    else:
        low = min(c.dense for c in items)
        spread = max(c.dense for c in items) - low
        best = max(c.sparse for c in items)
        w = w if best > 0 else 1.0
        scores = [
            w * ((c.dense - low) / spread if spread > 0 else 1.0) + (1 - w) * (c.sparse / best if best > 0 else 0.0)
            for c in items
        ]
    h = params.heading_weight
    if h > 0:  # the second look, at the best HEADING_DEPTH only: their headings' similarity
        looked = sorted(range(len(items)), key=lambda i: -scores[i])[:HEADING_DEPTH]
        by_heading = sorted(looked, key=lambda i: -items[i].heading)
        if params.fusion == "rrf":
            extra = {i: 2.0 / (params.rrf_k + rank + 1) for rank, i in enumerate(by_heading)}
        else:
            top, bottom = items[by_heading[0]].heading, items[by_heading[-1]].heading
            extra = {i: (items[i].heading - bottom) / (top - bottom) if top > bottom else 1.0 for i in by_heading}
        scores = [(1 - h) * score + h * extra.get(i, 0.0) for i, score in enumerate(scores)]
    ranked = sorted(zip((c.key for c in items), scores, strict=True), key=lambda kv: -kv[1])
    return ranked


def heading_candidates(
    scored: Sequence[Sequence[Scored]], params: RankParams, terms: Sequence[int] = (),
    cover: Sequence[float | None] = (),
) -> set[str]:
    """The candidates whose heading the second look needs: each (sub-)query's best ``HEADING_DEPTH``
    (``terms``, ``cover``: each (sub-)query's BM25 term count and term cover, as ``fuse`` takes them)."""
    first = params.model_copy(update={"heading_weight": 0.0})
    counts = [*terms, *([0] * (len(scored) - len(terms)))]
    covers = [*cover, *([None] * (len(scored) - len(cover)))]
    return {key for items, n, c in zip(scored, counts, covers, strict=True)
            for key, _ in fuse(items, first, n, c)[:HEADING_DEPTH]}


def combine(whole: Ranking, parts: Sequence[Ranking], params: RankParams) -> Ranking:
    """The whole question's ranking fused with its sentences' (weighted RRF, whole = weight 1).

    Scores stay on the whole query's scale for its own candidates' order: a chunk's score is
    the RRF sum, so a chunk only one sentence finds can still enter the top results.
    """
    if not parts or params.split_weight == 0:
        return whole
    k = params.split_k
    total: dict[str, float] = {}
    for weight, ranking in [(1.0, whole), *((params.split_weight, p) for p in parts)]:
        for rank, (key, _) in enumerate(ranking):
            total[key] = total.get(key, 0.0) + weight / (k + rank + 1)
    return sorted(total.items(), key=lambda kv: -kv[1])


def combine_groups(whole: Ranking, parts: Sequence[Ranking], groups: Mapping[str, str],
                   params: RankParams) -> Ranking:
    """A long question's rankings combined per group (``groups``: each candidate's cap group, a document or
    a section, ``cap_groups``), so that each need brings its best groups near the top.

    Each ranking (the whole question's with weight 1, each sentence's with ``group_weight``) ranks the
    groups by their best chunk; a group scores ``sum(weight / (group_k + its rank among groups + 1))``.
    A group's best chunk (the highest chunk-level sum, as ``combine`` with these numbers) takes the group's
    score; its other chunks keep their chunk-level sum, which is never above it. Without parts or with
    ``group_weight=0``, ``whole`` is returned as is.
    """
    if not parts or params.group_weight == 0:
        return whole
    k = params.group_k
    by_group: dict[str, float] = {}
    by_chunk: dict[str, float] = {}
    for weight, ranking in [(1.0, whole), *((params.group_weight, p) for p in parts)]:
        seen: dict[str, int] = {}
        for rank, (key, _) in enumerate(ranking):
            by_chunk[key] = by_chunk.get(key, 0.0) + weight / (k + rank + 1)
            group = groups[key]
            if group not in seen:
                seen[group] = len(seen)
                by_group[group] = by_group.get(group, 0.0) + weight / (k + seen[group] + 1)
    best: dict[str, str] = {}
    for key, _ in sorted(by_chunk.items(), key=lambda kv: -kv[1]):
        best.setdefault(groups[key], key)
    scores = {key: by_group[groups[key]] if best[groups[key]] == key else score for key, score in by_chunk.items()}
    return sorted(scores.items(), key=lambda kv: -kv[1])


class Features(NamedTuple):
    """What the second ranking stage knows of one candidate besides its fused score (``retrieval.rerank``):
    late interaction (MaxSim of token vectors), the share of the query's content words in its heading,
    and the share of the query's word pairs in its text."""

    late: float
    heading: float
    phrase: float


def rerank(ranked: Ranking, features: Mapping[str, Features], params: RankParams) -> Ranking:
    """The best ``rerank_depth`` of ``ranked`` ordered again by ``sum(weight * feature)`` over
    ``RERANK_FEATURES`` (the fused score and the late score min-max normalized over them; the word
    shares as they are), weights divided by their sum; the rest follow in their order, scaled below
    the lowest re-ranked score. Without weight besides the fused score, ``ranked`` is returned as is."""
    head, tail = ranked[:params.rerank_depth], ranked[params.rerank_depth:]
    weights = [getattr(params, f"rerank_{name}") for name in RERANK_FEATURES]
    total = sum(weights)
    if len(head) < 2 or total <= 0 or total == weights[0]:
        return ranked
    fused = _minmax([score for _, score in head])
    late = _minmax([features[key].late for key, _ in head])
    columns = zip(fused, late, (features[key].heading for key, _ in head), (features[key].phrase for key, _ in head),
                  strict=True)
    scores = [sum(w * v for w, v in zip(weights, values, strict=True)) / total for values in columns]
    reranked = sorted(zip((key for key, _ in head), scores, strict=True), key=lambda kv: -kv[1])
    if not tail:
        return reranked
    floor, last = reranked[-1][1], head[-1][1]
    return reranked + [(key, floor * score / last if last > 0 else floor) for key, score in tail]


def _minmax(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 1.0 for v in values]


def cap_groups(payloads: Mapping[str, Mapping[str, object]], keys: Iterable[str], scope: str) -> dict[str, str]:
    """Each candidate's cap group: its document, or its document and section path (``scope="section"``)."""
    groups = {}
    for key in keys:
        payload = payloads[key]
        group = str(payload.get("document_id", ""))
        section = payload.get("section") or ()
        if scope == "section" and isinstance(section, list | tuple):
            group = "\x1f".join([group, *(str(s) for s in section)])
        groups[key] = group
    return groups


def diversify(
    ranked: Ranking, documents: Mapping[str, str], *, penalty: float, per_document: int, top_k: int
) -> Ranking:
    """The ``top_k`` best after demoting each further chunk of an already chosen document by
    ``(1 - penalty)`` per chunk chosen before it, and at most ``per_document`` chunks a document.
    ``documents`` maps each candidate to its cap group (``cap_groups``: a document or a section).

    With ``penalty=0`` this is the plain per-document cap over the ranking's order.
    """
    taken: dict[str, int] = {}
    chosen: Ranking = []
    pool = list(ranked)
    while pool and len(chosen) < top_k:
        best_i, best_score = -1, float("-inf")
        for i, (key, score) in enumerate(pool):
            n = taken.get(documents[key], 0)
            if n >= per_document:
                continue
            adjusted = score * (1.0 - penalty) ** n if score >= 0 else score
            if adjusted > best_score:
                best_i, best_score = i, adjusted
            if penalty == 0 or n == 0:
                break  # the pool is in score order: nothing later can beat an undemoted candidate
        if best_i < 0:
            break
        key, _ = pool.pop(best_i)
        taken[documents[key]] = taken.get(documents[key], 0) + 1
        chosen.append((key, best_score))
    return chosen
