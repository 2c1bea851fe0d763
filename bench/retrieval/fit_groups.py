"""Fit the per-group combination of a long question's sentences (``retrieval.stages.combine_groups``) on the
dev sets' FIT split: ``python -m bench.retrieval.fit_groups [--sets a,b] [--cache DIR] [--write [--on]]``.

The candidates of every fit question (a dense and a BM25 list for the question and each of its sentences)
are fetched once through knowdesk's own searcher (``fit_ranking.prepare``); then ``Searcher.rank`` is
replayed, with the values in use for every other stage (the second ranking stage on, as by default), for
each point of ``GRID``: the sentences' weight beside the whole question (``group_weight``; 0 is the
per-chunk combination in use before), the RRF constant (``group_k``), and whether the second ranking stage
re-ranks each sentence's candidates with that sentence before they are combined (``part_rerank``).

Objective: ``fit_ranking``'s (mean over sets of the mean over query types: original (hit@1 + hit@5) / 2,
paraphrase hit@5, multi recall@10). A point replaces the best so far only when it gains ``MIN_GAIN`` and
no set's objective falls more than ``MAX_SET_LOSS`` below the combination switched off, so no single set
carries it. ``--write`` stores the result in ``retrieval/fitted/groups.json``: ``fitted`` always, and
``values`` (what the search uses when the settings leave them unset) only with ``--on`` and a gain
(switch it on after checking the test split and the bundled evaluation set).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.retrieval.fit_ranking import MIN_GAIN, evaluate, fit_parser, fit_sets, objective, prepare

FITTED = Path(__file__).resolve().parents[2] / "retrieval" / "fitted" / "groups.json"
GRID: dict[str, list[Any]] = {
    "group_weight": [0.25, 0.5, 1.0],
    "group_k": [5.0, 10.0, 30.0],
    "part_rerank": [False, True],
}
#: The combination switched off (the per-chunk ``combine`` with the fitted ``split_weight``).
OFF = {"group_weight": 0.0, "group_k": 10.0, "part_rerank": False}
#: Most a set's objective may fall below ``OFF`` for a point to be taken.
MAX_SET_LOSS = 0.01


def _multi(per_set: dict[str, Any]) -> dict[str, float]:
    return {name: round(m["multi"]["recall@10"], 4) for name, m in per_set.items() if "multi" in m}


def main(argv: list[str] | None = None) -> int:
    from core.settings import SearchSettings
    from retrieval.stages import RankParams

    parser = fit_parser("fit_groups", __doc__, FITTED, "with --write: use the fitted values by default when they "
                        "gain on the fit split (check the test split and the bundled evaluation first)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sets = fit_sets(args)
    in_use = RankParams.from_settings(SearchSettings())
    off = in_use.model_copy(update={**OFF, "split": True})
    grid: dict[str, Any] = {}
    with ExitStack() as stack:
        prepared = [prepare(dev, args.cache, stack) for dev in sets]
        started = dt.datetime.now(dt.UTC)
        before, before_sets = evaluate(prepared, off)
        floor = {name: objective(m) - MAX_SET_LOSS for name, m in before_sets.items()}
        print(f"off: objective {before:.4f}, multi recall@10 {_multi(before_sets)}", flush=True)
        best, best_value, best_sets = off, before, before_sets
        for combo in itertools.product(*GRID.values()):
            point = dict(zip(GRID, combo, strict=True))
            candidate = off.model_copy(update=point)
            clock = time.perf_counter()
            got, per_set = evaluate(prepared, candidate)
            held = all(objective(m) >= floor[name] for name, m in per_set.items())
            grid[json.dumps(point)] = {"objective": round(got, 4), "multi_recall@10": _multi(per_set),
                                       "every_set_held": held}
            print(f"  {point}: {got:.4f} multi {_multi(per_set)}{'' if held else ' (a set falls)'} "
                  f"[{time.perf_counter() - clock:.1f} s]", flush=True)
            if held and got > best_value + MIN_GAIN:
                best, best_value, best_sets = candidate, got, per_set
    fitted = {k: getattr(best, k) for k in OFF}
    gained = best_value >= before + MIN_GAIN
    report = {
        "values": fitted if gained and args.on else dict(OFF),
        "fitted": fitted,
        "objective": {"off": round(before, 4), "fitted": round(best_value, 4), "gained": gained,
                      "on": gained and args.on},
        "per_set": {name: {"off": before_sets[name], "fitted": best_sets[name]} for name in best_sets},
        "grid": grid,
        "fit_questions": {p.dev.name: len(p.questions) for p in prepared},
        "procedure": "bench/retrieval/fit_groups.py: grid over GRID (group_weight x group_k x part_rerank), other "
                     "stages as in use (second stage on), fit split only; objective as fit_ranking's; a point is "
                     f"taken when it gains {MIN_GAIN} and no set's objective falls more than {MAX_SET_LOSS}",
        "fitted_at": started.strftime("%Y-%m-%dT%H:%MZ"),
    }
    print(json.dumps({k: report[k] for k in ("values", "fitted", "objective")}, indent=2))
    if args.write:
        FITTED.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"saved {FITTED} (combination {'on' if report['objective']['on'] else 'not switched on'} by default)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
