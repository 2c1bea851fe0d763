"""Fit the search stages' numbers on the dev sets' FIT split: ``python -m bench.retrieval.fit_ranking
[--sets a,b] [--cache DIR] [--write]``.

For every set, the fit questions' candidates (a dense and a BM25 list for the question and each of
its sentences, ``SearchSettings.candidates`` deep) are fetched once through knowdesk's own searcher;
then the stages after them (``Searcher.rank``: fusion, sentence combination, diversification, the
per-document cap) are replayed for each candidate value, and scored with the harness's metrics.

Objective, so that no set and no query type dominates: the mean over sets of the mean over the
set's query types of original -> (hit@1 + hit@5) / 2, paraphrase -> hit@5, multi -> recall@10.
Search: coordinate ascent over a grid (fusion kind, dense weight, diversity, the sentence
combination's weight and constant, the default cap's scope and size), then the keyword-weak
switch's threshold and weight together (``JOINT``), two rounds; a value is taken only when it
gains ``MIN_GAIN``.
``--write`` stores the values in ``retrieval/fitted/fusion.json`` with the objective before/after.

``--keyword``: instead, fit only the keyword-weak rule on top of the values in use, the second ranking
stage ON (its features are replayed through ``Searcher.rank``): for each signal of ``KEYWORD`` (the
best BM25 score per query term, ``bm25_strong``; the share of the query's terms its best BM25
candidates hold, ``bm25_cover``, for queries of up to ``bm25_cover_terms`` terms), its threshold and
``weak_dense_weight`` together, then the stage's fused weight for a weak query
(``weak_rerank_fused``); the better signal is reported. ``--write`` adds the result to
``fusion.json`` under ``keyword``; its values replace the rule's in ``values`` only with ``--on`` and
a gain of at least ``MIN_GAIN`` (switch it on after checking the test split and the bundled evaluation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import pickle
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.retrieval import knowdesk
from bench.retrieval.__main__ import CACHE
from bench.retrieval.configs import Config
from bench.retrieval.metrics import score
from bench.retrieval.sets import DevSet, Question, discover, ensure_package

FITTED = Path(__file__).resolve().parents[2] / "retrieval" / "fitted" / "fusion.json"
GRID: dict[str, list[Any]] = {
    "fusion": ["weighted", "rrf"],
    "dense_weight": [round(0.05 * i, 2) for i in range(21)],
    "rrf_k": [2.0, 10.0, 30.0, 60.0],
    "heading_weight": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    "diversity": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
    "split_weight": [0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
    "split_k": [5.0, 10.0, 30.0, 60.0],
    "cap_scope": ["document", "section"],
    "cap": [1, 2, 3, 5, 10],
    "bm25_strong": [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
    "weak_dense_weight": [round(0.5 + 0.05 * i, 2) for i in range(11)],
}
#: Coordinates searched together: a threshold for a keyword-weak query means nothing without its weight.
JOINT = [("bm25_strong", "weak_dense_weight")]
#: ``--keyword``: each signal's threshold grid (searched with ``weak_dense_weight`` of ``KEYWORD_WEIGHTS``),
#: then the second stage's fused weight for a weak query (None: the stage's own).
KEYWORD: dict[str, list[float]] = {
    "bm25_strong": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    "bm25_cover": [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
}
KEYWORD_WEIGHTS = [0.6, 0.7, 0.8, 0.9, 1.0]
#: ``bm25_cover_terms`` searched with the cover rule (0: any length).
COVER_TERMS = [0, 8, 12]
WEAK_FUSED: list[float | None] = [None, 0.0, 0.25, 0.5, 2.0]
#: The rule's values when it is off.
KEYWORD_OFF = {"bm25_strong": 0.0, "bm25_cover": 0.0, "bm25_cover_terms": 0, "weak_dense_weight": 0.5,
               "weak_rerank_fused": None}
OBJECTIVE = {"original": ("hit@1", "hit@5"), "paraphrase": ("hit@5",), "multi": ("recall@10",)}
BATCH = 16
#: A value replaces the current one only when the objective gains at least this much (~one question in
#: 200): a stage earns its place by more than noise, and the bundled evaluation set is not tuned against.
MIN_GAIN = 0.005


class Prepared:
    """One set's fit questions with their candidate pools and the units their hits map to."""

    def __init__(self, dev: DevSet, questions: list[Question], pools: list[Any], units: dict[str, Any],
                 searcher: Any) -> None:
        self.dev, self.questions, self.pools, self.units, self.searcher = dev, questions, pools, units, searcher

    def metrics(self, params: Any, lists: str = "both", per_document: int | None = None) -> dict[str, dict[str, float]]:
        """Mean metrics per query type with these ranking parameters (``lists``: keep one list only,
        ranked in its own order, as ``KNOWDESK_SEARCH__LISTS`` does; ``per_document``: a caller's
        document cap, unset: the parameters' ``cap`` per ``cap_scope`` as retrieve's default)."""
        rows: dict[str, list[dict[str, float]]] = {}
        for q, pool in zip(self.questions, self.pools, strict=True):
            if lists != "both":
                pool = one_list(pool, lists)
                params = params.model_copy(update={"fusion": "rrf", "heading_weight": 0.0})
            hits = self.searcher.rank(pool, knowdesk.TOP_K, per_document, params)
            rows.setdefault(q.type, []).append(score(q, [self.units[h.chunk_id] for h in hits
                                                         if h.chunk_id in self.units]))
        return {t: {m: sum(r[m] for r in rs) / len(rs) for m in rs[0]} | {"n": len(rs)} for t, rs in rows.items()}


def one_list(pool: Any, lists: str) -> Any:
    """The pool as if only the dense (or only the BM25) list had been fetched."""
    keep = (lambda c: c.dense_rank is not None) if lists == "dense" else (lambda c: c.sparse_rank is not None)
    kept = type(pool)(pool.payloads, pool.vectors, [[c for c in items if keep(c)] for items in pool.scored],
                      pool.queries, pool.terms)
    kept.has_headings = pool.has_headings
    # what the later stages read of the query (without its text the second stage would not run)
    kept.text, kept.texts, kept.languages, kept.features = pool.text, pool.texts, pool.languages, pool.features
    return kept


def objective(by_type: dict[str, dict[str, float]]) -> float:
    parts = [sum(by_type[t][m] for m in ms) / len(ms) for t, ms in OBJECTIVE.items() if t in by_type]
    return sum(parts) / len(parts) if parts else 0.0


def prepare(dev: DevSet, cache: Path, stack: ExitStack, split: str = "fit") -> Prepared:
    """One set's questions of ``split`` with their candidates (the runtime is closed by ``stack``)."""
    from retrieval.search import knowledge_by_default
    from retrieval.stages import analyze

    ensure_package(dev)
    home, _ = knowdesk.ingest(dev, Config(name="knowdesk"), cache, fresh=False)
    # a private copy, so a benchmark run holding the cached index does not lock the fitting out
    rt = knowdesk.open_runtime(stack.enter_context(knowdesk.working_copy(home)), {"KNOWDESK_SEARCH__SPLIT": "true"})
    stack.callback(knowdesk.close, rt)
    questions = [q for q in dev.questions if q.split == split]
    searcher, config = rt.searcher, rt.settings.search
    units = {u.chunk_id: u for u in knowdesk.indexed_units(rt)}
    # the candidates depend on the index, the questions and the candidate settings only: kept beside the index
    key = hashlib.sha1(json.dumps([[q.id, q.question] for q in questions] + [config.model_dump()],
                                  sort_keys=True).encode()).hexdigest()[:12]
    saved = home / f"fit-ranking-pools-t-{split}-{key}.pkl"
    if saved.is_file():
        pools: list[Any] = pickle.loads(saved.read_bytes())
        for pool in pools:
            pool.has_headings = True  # computed with headings=True below
    else:
        pools = []
        for start in range(0, len(questions), BATCH):
            part = questions[start:start + BATCH]
            analyses = [analyze(q.question, max_chars=config.max_query_chars, split=True,
                                min_sentences=config.split_min_sentences) for q in part]
            pools += searcher.candidates(analyses, [knowledge_by_default(None)] * len(part), knowdesk.WORKSPACE,
                                         headings=True)
        saved.write_bytes(pickle.dumps(pools))
    for q, pool in zip(questions, pools, strict=True):  # the second stage reads it (older pickles lack it)
        pool.text = analyze(q.question, max_chars=config.max_query_chars, split=False, min_sentences=2).text
    print(f"{dev.name}: {len(questions)} {split} questions, {len(units)} chunks", flush=True)
    return Prepared(dev, questions, pools, units, searcher)


def evaluate(prepared: Sequence[Prepared], params: Any,
             per_document: int | None = None) -> tuple[float, dict[str, Any]]:
    per_set = {p.dev.name: p.metrics(params, per_document=per_document) for p in prepared}
    return sum(objective(m) for m in per_set.values()) / len(per_set), per_set


def ascend(prepared: Sequence[Prepared], start: Any, rounds: int = 2,
           log: Callable[[str], None] = print) -> tuple[Any, float]:
    best, best_value = start, evaluate(prepared, start)[0]
    for _ in range(rounds):
        for name, values in GRID.items():
            for value in values:
                candidate = best.model_copy(update={name: value})
                got = evaluate(prepared, candidate)[0]
                if got > best_value + MIN_GAIN:
                    best, best_value = candidate, got
            log(f"  {name} -> {getattr(best, name)} (objective {best_value:.4f})")
        for names in JOINT:
            for combo in itertools.product(*(GRID[n] for n in names)):
                candidate = best.model_copy(update=dict(zip(names, combo, strict=True)))
                got = evaluate(prepared, candidate)[0]
                if got > best_value + MIN_GAIN:
                    best, best_value = candidate, got
            log(f"  {', '.join(f'{n} -> {getattr(best, n)}' for n in names)} (objective {best_value:.4f})")
    return best, best_value


def fit_parser(module: str, description: str | None, fitted: Path, on_help: str) -> argparse.ArgumentParser:
    """The arguments every fitting script takes: ``--sets``, ``--cache``, ``--write`` (into ``fitted``)
    and ``--on`` (use the fitted values by default; ``on_help`` says when)."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.retrieval.{module}", description=description)
    parser.add_argument("--sets", help="comma-separated set names (default: every set present)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--write", action="store_true", help=f"store the fitted values in {fitted}")
    parser.add_argument("--on", action="store_true", help=on_help)
    return parser


def fit_sets(args: argparse.Namespace) -> list[DevSet]:
    """The dev sets ``--sets`` names (every set present by default)."""
    return discover([s.strip() for s in args.sets.split(",")] if args.sets else None)


def main(argv: list[str] | None = None) -> int:
    from retrieval.stages import RankParams

    parser = fit_parser("fit_ranking", __doc__, FITTED, "with --keyword --write: use the fitted rule by default "
                        "when it gains on the fit split (check the test split and the bundled evaluation first)")
    parser.add_argument("--ablation", choices=("fit", "test"),
                        help="instead of fitting: each stage's contribution on this split, with the fitted values")
    parser.add_argument("--keyword", action="store_true", help="fit only the keyword-weak rule (stage on)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sets = fit_sets(args)
    if args.ablation:
        return ablation(sets, args.cache, args.ablation)
    if args.keyword:
        return fit_keyword(sets, args.cache, write=args.write, on=args.on)
    with ExitStack() as stack:
        prepared = [prepare(dev, args.cache, stack) for dev in sets]
        before = RankParams(fusion="rrf", dense_weight=0.5, rrf_k=2.0, split=False, diversity=0.0,
                            cap_scope="document", cap=2)
        before_value, before_sets = evaluate(prepared, before)
        start = RankParams(fusion="rrf", dense_weight=0.5, split=True, split_weight=0.0, diversity=0.0,
                           cap_scope="section", cap=2)
        fitted, value = ascend(prepared, start)
        _, after_sets = evaluate(prepared, fitted)
        # what a caller's document cap (retrieve's per_document) costs with the fitted values
        caps = {cap: round(evaluate(prepared, fitted, cap)[0], 4) for cap in (1, 2, 3, 5, 10)}
    report = {
        "values": {k: getattr(fitted, k) for k in GRID},
        "objective": {"before (rrf, no split, no diversity)": round(before_value, 4), "fitted": round(value, 4)},
        "per_set": {name: {"before": before_sets[name], "fitted": after_sets[name]} for name in after_sets},
        "fit_questions": {p.dev.name: len(p.questions) for p in prepared},
        "objective_by_per_document_cap": caps,
        "procedure": "bench/retrieval/fit_ranking.py: coordinate ascent over GRID, 2 rounds, fit split only; "
                     "objective = mean over sets of mean over types (original (hit@1+hit@5)/2, paraphrase "
                     "hit@5, multi recall@10)",
        "fitted_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
    }
    print(json.dumps(report, indent=2, default=lambda o: round(o, 4) if isinstance(o, float) else str(o)))
    if args.write:
        FITTED.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"saved {FITTED}")
    return 0


def fit_keyword(sets: Sequence[DevSet], cache: Path, *, write: bool, on: bool) -> int:
    """``--keyword``: the keyword-weak rule fitted per signal over the values in use with the stage on."""
    from core.settings import SearchSettings
    from retrieval.stages import RankParams

    in_use = RankParams.from_settings(SearchSettings()).model_copy(update=KEYWORD_OFF)
    report: dict[str, Any] = {"signals": {}}
    with ExitStack() as stack:
        prepared = [prepare(dev, cache, stack) for dev in sets]
        started = dt.datetime.now(dt.UTC)
        before, before_sets = evaluate(prepared, in_use)
        print(f"rule off (values in use, stage {'on' if in_use.rerank else 'off'}): {before:.4f}", flush=True)
        best_params, best_value, best_signal = in_use, before, "off"
        for signal, thresholds in KEYWORD.items():
            found, value = in_use, before
            lengths = COVER_TERMS if signal == "bm25_cover" else [0]
            for threshold, weight, most in itertools.product(thresholds, KEYWORD_WEIGHTS, lengths):
                candidate = in_use.model_copy(update={signal: threshold, "weak_dense_weight": weight,
                                                      "bm25_cover_terms": most})
                got = evaluate(prepared, candidate)[0]
                if got > value + MIN_GAIN / 10:  # a tie keeps the lower threshold and weight
                    found, value = candidate, got
            fused_value = value
            for fused in WEAK_FUSED[1:]:
                candidate = found.model_copy(update={"weak_rerank_fused": fused})
                got = evaluate(prepared, candidate)[0]
                if got > fused_value + MIN_GAIN:
                    found, fused_value = candidate, got
            rule = {k: getattr(found, k) for k in KEYWORD_OFF}
            report["signals"][signal] = {"values": rule, "objective": round(fused_value, 4),
                                         "objective_without_stage_weight": round(value, 4)}
            print(f"  {signal}: {rule} -> {fused_value:.4f} (weight alone {value:.4f})", flush=True)
            if fused_value > best_value:
                best_params, best_value, best_signal = found, fused_value, signal
        _, after_sets = evaluate(prepared, best_params)
    gained = best_value >= before + MIN_GAIN
    report |= {
        "best": best_signal, "fitted": {k: getattr(best_params, k) for k in KEYWORD_OFF},
        "objective": {"off": round(before, 4), "fitted": round(best_value, 4), "gained": gained, "on": gained and on},
        "per_set": {name: {"off": before_sets[name], "fitted": after_sets[name]} for name in after_sets},
        "fit_questions": {p.dev.name: len(p.questions) for p in prepared},
        "procedure": "bench/retrieval/fit_ranking.py --keyword: per signal, grid over threshold x weak_dense_weight "
                     "(KEYWORD, KEYWORD_WEIGHTS; the cover rule also x COVER_TERMS), then weak_rerank_fused "
                     "(WEAK_FUSED, kept when it gains MIN_GAIN); "
                     "other values as in use, second stage on; fit split only; objective as the full fit",
        "fitted_at": started.strftime("%Y-%m-%dT%H:%MZ"),
    }
    print(json.dumps(report, indent=2, default=lambda o: round(o, 4) if isinstance(o, float) else str(o)))
    if write:
        document = json.loads(FITTED.read_text(encoding="utf-8"))
        document["keyword"] = report
        if gained and on:
            document["values"] |= report["fitted"]
        FITTED.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"saved {FITTED} (rule {'on' if gained and on else 'not switched on'} by default)")
    return 0


def keyword_fitted(signal: str | None = None) -> dict[str, Any]:
    """The keyword-weak rule's values fitted by ``--keyword`` (``signal``: that signal's; None: the best
    one's), empty before it ran."""
    document = json.loads(FITTED.read_text(encoding="utf-8")).get("keyword", {})
    if signal is None:
        return dict(document.get("fitted", {}))
    return dict(document.get("signals", {}).get(signal, {}).get("values", {}))


def variants() -> dict[str, tuple[Any, str]]:
    """The ablation rows: (ranking parameters, lists), each adding one stage to the one before."""
    from core.settings import SearchSettings
    from retrieval.stages import RankParams

    fitted = RankParams.from_settings(SearchSettings())
    rrf = fitted.model_copy(update={"fusion": "rrf", "dense_weight": 0.5, "rrf_k": 2.0, "split": False,
                                    "diversity": 0.0, "heading_weight": 0.0})
    weighted = fitted.model_copy(update={"fusion": "weighted", "split": False, "diversity": 0.0,
                                         "heading_weight": 0.0})
    return {
        "dense only": (rrf, "dense"),
        "sparse only": (rrf, "sparse"),
        "hybrid rrf (before)": (rrf, "both"),
        "hybrid weighted": (weighted, "both"),
        "hybrid fitted fusion": (fitted.model_copy(update={"split": False, "diversity": 0.0, "heading_weight": 0.0,
                                                           "bm25_strong": 0.0}), "both"),
        "fitted fusion + weak-BM25 switch": (
            fitted.model_copy(update={"split": False, "diversity": 0.0, "heading_weight": 0.0}), "both"),
        "fitted fusion + headings": (fitted.model_copy(update={"split": False, "diversity": 0.0}), "both"),
        "rrf + split": (rrf.model_copy(update={"split": True}), "both"),
        "fitted fusion + split": (fitted.model_copy(update={"split": True, "diversity": 0.0}), "both"),
        "fitted fusion + diversify": (
            fitted.model_copy(update={"split": False, "diversity": max(fitted.diversity, 0.2)}), "both"),
        "fitted, second stage off": (fitted.model_copy(update={"rerank": False}), "both"),
        "fitted + second stage (late)": (fitted.model_copy(update={"rerank": True}), "both"),
        "knowdesk (fitted, all stages)": (fitted, "both"),
        "dense list + stage": (fitted.model_copy(update={"rerank": True, **KEYWORD_OFF}), "dense"),
        **{f"stage + keyword rule ({signal})": (fitted.model_copy(update={"rerank": True, **KEYWORD_OFF, **rule}),
                                                "both")
           for signal in KEYWORD if (rule := keyword_fitted(signal))},
    }


def ablation(sets: Sequence[DevSet], cache: Path, split: str) -> int:
    """Every variant's metrics per set and query type on ``split`` (same candidates for all rows)."""
    from bench.common import save

    rows: dict[str, Any] = {}
    lines = [f"Split: {split}.", "", "| set | type | n | variant | hit@1 | hit@5 | MRR@10 | recall@10 |",
             "|" + "---|" * 8]
    for dev in sets:
        with ExitStack() as stack:
            prepared = prepare(dev, cache, stack, split)
            rows[dev.name] = {name: prepared.metrics(params, lists) for name, (params, lists) in variants().items()}
        for qtype in ("original", "paraphrase", "multi"):
            for name, by_type in rows[dev.name].items():
                if qtype in by_type:
                    m = by_type[qtype]
                    lines.append(f"| {dev.name} | {qtype} | {m['n']} | {name} | {m['hit@1']:.2f} | {m['hit@5']:.2f} "
                                 f"| {m['mrr@10']:.2f} | {m['recall@10']:.2f} |")
    print("\n".join(lines))
    path = save(f"retrieval_ablation_{split}", {"split": split, "sets": rows, "table": "\n".join(lines)})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
