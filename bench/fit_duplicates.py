"""Fit and test near-duplicate detection of resolution drafts (``app/resolutions/duplicates.py``).

    .venv/bin/python -m bench.fit_duplicates [--home DIR]

For every case of ``bench/data/resolutions.json`` the draft's title and answer are extracted as the
service does (``drafting.extract``) and checked against the quickstart's knowledge (sample help center,
training and files; a fresh home unless ``--home`` names one that holds it) by the steps of
``Resolutions.similar`` (the old rule is read off the same retrieval results).
A case with ``covered_by`` is a near-duplicate: it is found when the draft would be an edit of exactly
that article. Scored per part (fit: case number divisible by 3, as in ``bench.resolutions``; test: the
rest): precision (edits of the right article / edits proposed) and recall (edits of the right article /
near-duplicates), before (the best chunk cosine of the title's and the answer's retrieval >= 0.75, the
rule this replaces) and after (coverage >= the threshold). The threshold is chosen on the fit part only:
the coverage that maximises F1 there (ties: the higher one), printed beside ``duplicates.COVERAGE``;
the result goes to ``bench/results/fit_duplicates.json``. Locales are not judged here (every sample
article is English; ``placement`` decides for other locales).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.resolutions import drafting, duplicates
from app.runtime import Runtime
from bench.common import save
from bench.resolutions import CASES, WORKSPACE, is_fit
from core.settings import Settings

BEFORE = 0.75  # the whole-chunk cosine rule this replaces


def score(rows: list[dict[str, Any]], predict: str) -> dict[str, Any]:
    """Precision, recall and F1 of "near-duplicate -> edit of the right article" for one prediction."""
    proposed = [r for r in rows if r[predict]]
    right = [r for r in proposed if r[predict] == r["covered_by"]]
    wanted = [r for r in rows if r["covered_by"]]
    precision = len(right) / len(proposed) if proposed else 1.0
    recall = len(right) / len(wanted) if wanted else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"near_duplicates": len(wanted), "new": len(rows) - len(wanted), "edits_proposed": len(proposed),
            "right_edits": len(right), "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(f1, 3), "wrong": sorted(r["id"] for r in proposed if r[predict] != r["covered_by"]),
            "missed": sorted(r["id"] for r in wanted if r[predict] != r["covered_by"])}


def predict(rows: list[dict[str, Any]], threshold: float) -> None:
    for r in rows:
        r["after"] = r["best_slug"] if r["coverage"] >= threshold else None


def fit(rows: list[dict[str, Any]]) -> float:
    """The coverage threshold with the best F1 on ``rows`` (ties: the higher threshold)."""
    best, best_f1 = 1.0, -1.0
    for t in sorted({r["coverage"] for r in rows}, reverse=True):
        predict(rows, t)
        f1 = score(rows, "after")["f1"]
        if f1 > best_f1:
            best, best_f1 = t, f1
    return best


def measure(rt: Runtime, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case: the old rule's best article and cosine, and the new one's (``Resolutions.similar``'s steps,
    on the same retrieval results)."""
    rows = []
    for n, case in enumerate(cases, 1):
        ex = drafting.extract([case["question"]], [case["reply"]])
        found = {q: rt.resolutions.search(q, WORKSPACE) for q in duplicates.queries(ex.title, ex.answer)}
        old: dict[str, float] = {}
        for query in (ex.title, ex.answer):  # the rule this replaces: the title's and the answer's retrieval
            for hit in found.get(query, []):
                slug = hit.document_id.partition(":")[2].partition("/")[0]
                old[slug] = max(old.get(slug, 0.0), float(hit.dense_score or 0.0))
        top = max(old.items(), key=lambda kv: kv[1]) if old else ("", 0.0)
        candidates = duplicates.candidates([hit for hits in found.values() for hit in hits])
        covered = duplicates.coverage(ex.answer, candidates, rt.resolutions.embed)
        ranked = sorted(candidates, key=lambda c: (-covered.get(c.document_id, 0.0), -c.cosine))
        best = ranked[0] if ranked else None
        rows.append({"id": case["id"], "fit": is_fit(case), "covered_by": case.get("covered_by"),
                     "before": top[0] if top[1] >= BEFORE else None, "before_cosine": round(top[1], 4),
                     "best_slug": best.document_id.partition(":")[2].partition("/")[0] if best else None,
                     "coverage": covered.get(best.document_id, 0.0) if best else 0.0,
                     "candidates": {c.document_id: {"cosine": round(c.cosine, 4),
                                                    "coverage": covered.get(c.document_id, 0.0)} for c in ranked}})
        r = rows[-1]
        print(f"{n}/{len(cases)} {r['id']} {r['covered_by'] or 'new'}: before {r['before_cosine']} "
              f"after {r['best_slug']} {r['coverage']}", file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="a KNOWDESK_HOME holding the quickstart's knowledge")
    parser.add_argument("--rescore", type=Path, help="score the cases of an earlier result file again (the "
                        "threshold in code changed), without measuring")
    args = parser.parse_args()
    if args.rescore is not None:
        earlier = json.loads(args.rescore.read_text(encoding="utf-8"))
        report(earlier["cases"], earlier["seconds"], earlier["loadavg_before"], earlier["loadavg_after"])
        return
    cases = json.loads(CASES.read_text(encoding="utf-8"))["cases"]
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(home=args.home or Path(tmp) / "home"))
        if args.home is None:
            from bench.conflicts import quickstart_knowledge

            quickstart_knowledge(rt, WORKSPACE)
        load_before, started = os.getloadavg(), time.perf_counter()
        rows = measure(rt, cases)
        seconds = time.perf_counter() - started
        rt.qdrant.close()
    report(rows, seconds, load_before, os.getloadavg())


def report(rows: list[dict[str, Any]], seconds: float, load_before: Any, load_after: Any) -> None:
    fit_rows, test_rows = [r for r in rows if r["fit"]], [r for r in rows if not r["fit"]]
    fitted = fit(fit_rows)
    predict(rows, duplicates.COVERAGE)
    result: dict[str, Any] = {
        "procedure": __doc__, "fitted_threshold": fitted, "threshold_in_code": duplicates.COVERAGE,
        "before_rule": f"best chunk cosine of title/answer retrieval >= {BEFORE}",
        "after_rule": f"coverage >= {duplicates.COVERAGE}",
        **{part: {"before": score(part_rows, "before"), "after": score(part_rows, "after")}
           for part, part_rows in (("fit", fit_rows), ("test", test_rows), ("all", rows))},
        "seconds": round(seconds, 1), "seconds_per_case": round(seconds / len(rows), 2),
        "loadavg_before": load_before, "loadavg_after": load_after, "cases": rows,
    }
    path = save("fit_duplicates", result)
    t = result["test"]
    print(f"fitted threshold {fitted} (in code {duplicates.COVERAGE}); test: precision {t['before']['precision']} -> "
          f"{t['after']['precision']}, recall {t['before']['recall']} -> {t['after']['recall']} "
          f"({t['after']['near_duplicates']} near-duplicates, {t['after']['new']} new); {seconds:.0f} s; {path}")


if __name__ == "__main__":
    main()
