"""Fits the answer-confidence calibration (``agent/fitted/confidence.json``) on the fit part of the
answer-correctness sets (``evaluation/datasets/answerability.jsonl`` on the Brewly knowledge,
``debian-answers.jsonl`` on the Debian FAQ) and chooses the answer threshold from it.

The label is the evaluation's (``runner._correct``): would answering this question have been right,
i.e. cited (or ranked first) a document that answers it; never for a question the knowledge does not
answer. The model is Platt scaling with one weight per signal: an L2-regularised logistic regression
from the raw signals (``agent.confidence.FEATURES``) to that label, its strength chosen by
out-of-fold log loss. The answer threshold
is read off the calibration curve of out-of-fold probabilities (5 folds) of the fit part: the lowest
confidence at which the answers at or above it keep ``TARGET_PRECISION``. The clarify threshold is
``CLARIFY_AT`` on the calibrated scale: from there an answer is at least as likely right as wrong,
so asking once beats a ticket; below it the agent hands off. Only cases
tagged ``split:fit`` are read; the test part measures the result (``calibration.test.*`` in the
report of a run on the whole set).

    knowdesk eval evaluation/datasets/answerability.jsonl --report A     # records each turn's signals
    KNOWDESK_HOME=H knowdesk eval evaluation/datasets/debian-answers.jsonl --report D   # see build_answer_set
    python -m evaluation.fit_confidence A/results.jsonl D/results.jsonl  # rewrites agent/fitted/confidence.json

Then set ``AgentSettings.answer_threshold`` / ``clarify_threshold`` to the printed values (a unit
test keeps them equal to the file's).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from agent.confidence import FEATURES, FITTED
from core.errors import InvalidInput

from .calibration import calibrate
from .results import CaseResult, ResultsFile

TARGET_PRECISION = 0.9
CLARIFY_AT = 0.5
#: Regularisation strengths tried; the one with the lowest out-of-fold log loss on the fit part is kept.
CS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 5
SEED = 23
SPLIT = "split:fit"


def labelled(results: Sequence[CaseResult], split: str = SPLIT) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(signals, labels, ids) of the cases in ``split`` whose last turn was scored on the answer path."""
    xs, ys, ids = [], [], []
    for r in results:
        last = r.last
        if split not in r.tags or r.status != "scored" or r.correct is None or last is None:
            continue
        if not all(f in last.signals for f in FEATURES):
            continue
        xs.append([float(last.signals[f]) for f in FEATURES])
        ys.append(int(r.correct))
        ids.append(r.id)
    if len(set(ys)) < 2:
        raise InvalidInput(f"the {split} cases need both correct and wrong answers to fit on ({len(ys)} found)")
    return np.asarray(xs), np.asarray(ys), ids


def out_of_fold(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Each case's probability from a model fitted without its fold."""
    folds = min(FOLDS, int(np.bincount(y).min()))
    probabilities = np.zeros(len(y))
    for train, held in StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(x, y):
        model = LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train])
        probabilities[held] = model.predict_proba(x[held])[:, 1]
    return probabilities


def threshold_for(probabilities: np.ndarray, y: np.ndarray, target: float) -> float:
    """The lowest confidence (0.01 steps) whose answers at or above it reach ``target`` precision."""
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        chosen = probabilities >= t
        if chosen.any() and y[chosen].mean() >= target:
            return float(t)
    return 1.0


def fit(x: np.ndarray, y: np.ndarray, *, model_id: str, cases: int, dataset: str = "",
        target_precision: float = TARGET_PRECISION) -> dict[str, object]:
    runs = {c: out_of_fold(x, y, c) for c in CS}
    c = min(CS, key=lambda k: log_loss(y, np.clip(runs[k], 1e-6, 1 - 1e-6)))
    oof = runs[c]
    answer_at = threshold_for(oof, y, target_precision)
    clarify_at = min(answer_at, CLARIFY_AT)
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    check = calibrate(oof.tolist(), [bool(v) for v in y], target_precision=target_precision)
    return {
        "model": model_id,
        "dataset": f"{dataset} ({SPLIT})",
        "cases": cases,
        "positives": int(y.sum()),
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "c": c,
        "target_precision": target_precision,
        "answer_threshold": answer_at,
        "clarify_threshold": clarify_at,
        "fit_out_of_fold": {"ece": round(check.ece or 0.0, 4),
                            "auroc": round(check.auroc, 4) if check.auroc is not None else None,
                            "answered_share": round(float((oof >= answer_at).mean()), 4),
                            "precision": round(float(y[oof >= answer_at].mean()), 4) if (oof >= answer_at).any()
                            else None},
    }


def _dataset_name(results: Path) -> str:
    """The dataset a results file was played from (its report.json beside it), else the folder's name."""
    report = results.parent / "report.json"
    if report.is_file():
        return str(json.loads(report.read_text(encoding="utf-8")).get("dataset", {}).get("name", results.parent.name))
    return results.parent.name


def main(argv: Sequence[str] | None = None) -> int:
    from retrieval.embedding import DEFAULT_MODEL_ID

    parser = argparse.ArgumentParser(prog="python -m evaluation.fit_confidence", description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+",
                        help="results.jsonl of `knowdesk eval` runs (answerability, debian-answers)")
    parser.add_argument("--model", default=DEFAULT_MODEL_ID, help="the embedding model the run used")
    parser.add_argument("--out", type=Path, default=FITTED)
    parser.add_argument("--target-precision", type=float, default=TARGET_PRECISION,
                        help=f"precision the answers at or above the threshold keep (default {TARGET_PRECISION})")
    args = parser.parse_args(argv)
    if not 0.5 <= args.target_precision < 1.0:
        parser.error(f"--target-precision must be in [0.5, 1), not {args.target_precision}")
    results: list[CaseResult] = []
    for path in args.results:
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run `knowdesk eval DATASET --report DIR` first and give "
                             "DIR/results.jsonl")
        results += ResultsFile(path).load().values()
    x, y, ids = labelled(results)
    names = ", ".join(sorted({_dataset_name(p) for p in args.results}))
    fitted = fit(x, y, model_id=args.model, cases=len(ids), dataset=names, target_precision=args.target_precision)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: fitted[k] for k in ("cases", "positives", "c", "weights", "bias", "answer_threshold",
                                             "clarify_threshold", "fit_out_of_fold")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
