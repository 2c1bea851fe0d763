"""Fit the second ranking stage on the dev sets' FIT split: ``python -m bench.retrieval.fit_rerank
[--sets a,b] [--cache DIR] [--write]``.

The fit questions' candidates come from ``fit_ranking.prepare`` (the same cached pools); every
stage before and after the second ranking stage keeps its fitted value (``fusion.json``). The
stage's features (``retrieval.rerank``: late interaction over the bundled MiniLM's token vectors,
the query's content words in the heading, its word pairs in the text) are computed once per
question for its best ``max(DEPTHS)`` fused candidates; then every combination of ``GRID`` (the
fused score weighs 1) and depth is replayed through ``Searcher.rank`` and scored with the same
objective as ``fit_ranking`` (mean over sets of the mean over query types of original ->
(hit@1 + hit@5) / 2, paraphrase -> hit@5, multi -> recall@10). The stage is switched on by default
(``"rerank": "late"``) only with ``--on`` and when the best combination gains at least
``fit_ranking.MIN_GAIN`` over the stage off (``--on`` after checking that the bundled evaluation does not
drop). ``--write`` stores the result in ``retrieval/fitted/rerank.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import pickle
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.retrieval.fit_ranking import MIN_GAIN, Prepared, evaluate, fit_parser, fit_sets, prepare

FITTED = Path(__file__).resolve().parents[2] / "retrieval" / "fitted" / "rerank.json"
GRID: dict[str, list[float]] = {
    "late": [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
    "heading": [0.0, 0.25, 0.5, 1.0],
    "phrase": [0.0, 0.25, 0.5, 1.0, 2.0],
}
DEPTHS = [10, 20, 30]


def _features_file(p: Prepared, cache: Path) -> Path:
    key = hashlib.sha1(json.dumps([[q.id, q.question] for q in p.questions] + [max(DEPTHS), len(p.units)])
                       .encode()).hexdigest()[:12]
    return cache / f"{p.dev.name}-rerank-features-{key}.pkl"


def load_features(p: Prepared, cache: Path) -> bool:
    """The pools' features from an earlier fit (same questions, depth and index size), if kept."""
    path = _features_file(p, cache)
    if not path.is_file():
        return False
    for pool, features in zip(p.pools, pickle.loads(path.read_bytes()), strict=True):
        pool.features = features
    return True


def save_features(p: Prepared, cache: Path) -> None:
    _features_file(p, cache).write_bytes(pickle.dumps([pool.features for pool in p.pools]))


def main(argv: list[str] | None = None) -> int:
    from core.settings import SearchSettings
    from retrieval.stages import RankParams

    parser = fit_parser("fit_rerank", __doc__, FITTED, "switch the stage on by default when it gains on the fit "
                        "split (check the bundled evaluation first: its figures may not drop)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sets = fit_sets(args)
    config = SearchSettings()
    off = RankParams.from_settings(config).model_copy(update={"rerank": False})
    results: list[tuple[float, dict[str, Any]]] = []
    with ExitStack() as stack:
        prepared = [prepare(dev, args.cache, stack) for dev in sets]
        before, before_sets = evaluate(prepared, off)
        started = time.perf_counter()  # the features of every pool's best max(DEPTHS), once
        computed = [p for p in prepared if not load_features(p, args.cache)]
        evaluate(computed, off.model_copy(update={"rerank": True, "rerank_depth": max(DEPTHS), "rerank_late": 1.0}))
        for p in computed:
            save_features(p, args.cache)
        questions = sum(len(p.questions) for p in computed)
        feature_ms = (time.perf_counter() - started) * 1000 / max(questions, 1)
        print(f"features: {feature_ms:.0f} ms per question over {questions} ({max(DEPTHS)} candidates, cold "
              "token cache)", flush=True)
        for depth, combo in itertools.product(DEPTHS, itertools.product(*GRID.values())):
            weights = dict(zip(GRID, combo, strict=True))
            if not any(weights.values()):
                continue
            params = off.model_copy(update={"rerank": True, "rerank_depth": depth, "rerank_fused": 1.0,
                                            **{f"rerank_{k}": v for k, v in weights.items()}})
            value, _ = evaluate(prepared, params)
            results.append((value, {"depth": depth, **weights}))
        best_value, best = max(results, key=lambda r: r[0])
        params = off.model_copy(update={"rerank": True, "rerank_depth": best["depth"], "rerank_fused": 1.0,
                                        **{f"rerank_{k}": best[k] for k in GRID}})
        _, after_sets = evaluate(prepared, params)
    keep = best_value >= before + MIN_GAIN and args.on
    report = {
        "values": {"rerank": "late" if keep else "off", "depth": best["depth"], "fused": 1.0,
                   **{k: best[k] for k in GRID}},
        "objective": {"off": round(before, 4), "late (best)": round(best_value, 4), "kept": keep},
        "per_set": {name: {"off": before_sets[name], "late": after_sets[name]} for name in after_sets},
        "fit_questions": {p.dev.name: len(p.questions) for p in prepared},
        "feature_ms_per_question": round(feature_ms, 1) if questions else None,
        "procedure": "bench/retrieval/fit_rerank.py: grid over depth x late x heading x phrase weights (fused "
                     "weighs 1), fit split only, other stages at their fusion.json values; objective as "
                     "fit_ranking; on by default only with --on and a gain >= MIN_GAIN",
        "fitted_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
    }
    print(json.dumps(report, indent=2, default=lambda o: round(o, 4) if isinstance(o, float) else str(o)))
    top = sorted(results, key=lambda r: -r[0])[:8]
    print("best combinations:", *(f"  {v:.4f} {c}" for v, c in top), sep="\n")
    if args.write:
        FITTED.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"saved {FITTED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
