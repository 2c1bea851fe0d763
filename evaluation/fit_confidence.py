"""Fits the answer-confidence calibration (``agent/fitted/confidence.json``) on the fit part of the
answer-correctness sets (``evaluation/datasets/answerability.jsonl`` on the Brewly knowledge,
``debian-answers.jsonl`` on the Debian FAQ) and chooses the answer threshold from it.

The label is the evaluation's (``runner._correct``): would answering this question have been right,
i.e. cited (or ranked first) a document that answers it; never for a question the knowledge does not
answer. The model is Platt scaling with one weight per signal: an L2-regularised logistic regression
from the recorded signals (``agent.confidence.SIGNALS``, or those named by ``--features``) to that
label, its strength chosen by out-of-fold log loss; then a bounded isotonic step (values within
``BOUNDS``) fitted on those out-of-fold probabilities, kept only when, itself fitted out of fold, it
lowers their log loss (``--no-isotonic`` skips it). ``--select`` keeps only the signals a forward
selection by out-of-fold log loss on the fit part adds (``select``). The answer threshold
is read off the calibration curve of out-of-fold probabilities (5 folds, averaged over 5 fold
assignments; cases in id order) of the fit part: the lowest
confidence at which the answers at or above it keep ``TARGET_PRECISION``. The clarify threshold is
``CLARIFY_AT`` on the calibrated scale: from there an answer is at least as likely right as wrong,
so asking once beats a ticket; below it the agent hands off. Only cases
tagged ``split:fit`` are fitted on; the test part measures the result: printed per results file after
fitting (from the signals its cases recorded), and ``calibration.test.*`` in the report of a run.

    knowdesk eval evaluation/datasets/answerability.jsonl --report A     # records each turn's signals
    KNOWDESK_HOME=H knowdesk eval evaluation/datasets/debian-answers.jsonl --report D   # see build_answer_set
    python -m evaluation.fit_confidence A/results.jsonl D/results.jsonl  # rewrites agent/fitted/confidence.json

The agent reads the thresholds from the file it uses (``AgentSettings.answer_threshold`` /
``clarify_threshold`` unset). With the second ranking stage on it uses ``confidence-late.json``: fit it
from runs with the stage on, ``--features retrieval,margin,coverage,support,answer_match,top_cosine
--out agent/fitted/confidence-late.json`` (README "Answer confidence"). ``--weigh-sets`` makes each
results file's fit part count equally.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from agent.confidence import FITTED, SIGNALS, Calibrator
from core.errors import InvalidInput

from .calibration import calibrate
from .results import CaseResult, ResultsFile

TARGET_PRECISION = 0.9
CLARIFY_AT = 0.5
#: Regularisation strengths tried; the one with the lowest out-of-fold log loss on the fit part is kept.
CS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 5
REPEATS = 5
SEED = 23
SPLIT = "split:fit"
TEST = "split:test"
#: The isotonic step never says "surely right" or "surely wrong" from a few hundred cases.
BOUNDS = (0.02, 0.98)
#: Forward selection stops when the next signal lowers the out-of-fold log loss by less than this.
SELECT_GAIN = 0.005


def labelled(results: Sequence[CaseResult], split: str = SPLIT,
             features: Sequence[str] = SIGNALS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(signals, labels, ids) of the cases in ``split`` whose last turn was scored on the answer path."""
    xs, ys, ids = [], [], []
    for r in sorted(results, key=lambda r: r.id):  # the folds must not depend on the order runs finished in
        last = r.last
        if split not in r.tags or r.status != "scored" or r.correct is None or last is None:
            continue
        if not all(f in last.signals for f in features):
            continue
        xs.append([float(last.signals[f]) for f in features])
        ys.append(int(r.correct))
        ids.append(r.id)
    if len(set(ys)) < 2:
        raise InvalidInput(f"the {split} cases need both correct and wrong answers to fit on ({len(ys)} found)")
    return np.asarray(xs), np.asarray(ys), ids


def out_of_fold(x: np.ndarray, y: np.ndarray, c: float, w: np.ndarray | None = None) -> np.ndarray:
    """Each case's probability from models fitted without its fold, averaged over ``REPEATS`` fold
    assignments: with one assignment the threshold read off these moved by 0.08 between two orders of
    the same cases. ``w``: each case's weight in the fit (``set_weights``)."""
    folds = min(FOLDS, int(np.bincount(y).min()))
    probabilities = np.zeros(len(y))
    for repeat in range(REPEATS):
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED + 100 * repeat).split(x, y)
        for train, held in split:
            model = LogisticRegression(C=c, max_iter=5000).fit(
                x[train], y[train], sample_weight=None if w is None else w[train])
            probabilities[held] += model.predict_proba(x[held])[:, 1] / REPEATS
    return probabilities


def select(x: np.ndarray, y: np.ndarray, names: Sequence[str], gain: float = SELECT_GAIN) -> list[str]:
    """Forward selection on the fit part: add the signal that lowers the out-of-fold log loss most
    (best regularisation each time) while it lowers it by more than ``gain``."""
    chosen: list[str] = []
    current = float("inf")
    while len(chosen) < len(names):
        trials = {n: min(_loss(y, out_of_fold(x[:, [names.index(f) for f in (*chosen, n)]], y, c)) for c in CS)
                  for n in names if n not in chosen}
        name = min(trials, key=lambda n: trials[n])
        if trials[name] > current - gain:
            break
        chosen.append(name)
        current = trials[name]
    return chosen


def isotonic_out_of_fold(probabilities: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Each case's probability after a bounded isotonic map fitted on the other folds' probabilities
    (themselves out of fold): what the isotonic step would do to cases it never saw."""
    folds = min(FOLDS, int(np.bincount(y).min()))
    mapped = np.zeros(len(y))
    for train, held in StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED + 1).split(probabilities, y):
        iso = _isotonic().fit(probabilities[train], y[train], sample_weight=None if w is None else w[train])
        mapped[held] = iso.predict(probabilities[held])
    return mapped


def _isotonic() -> IsotonicRegression:
    return IsotonicRegression(y_min=BOUNDS[0], y_max=BOUNDS[1], increasing=True, out_of_bounds="clip")


def _loss(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    return float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1], sample_weight=w))


def set_weights(sets: Sequence[str]) -> np.ndarray:
    """Weights under which every set counts as much as every other in the fit (mean weight 1): the
    Debian FAQ's fit part has 2.5 times the Brewly set's cases, and fitted alone on their sum the
    calibration is over-confident on the Brewly knowledge."""
    names = sorted(set(sets))
    size = {n: sum(1 for s in sets if s == n) for n in names}
    return np.asarray([len(sets) / (len(names) * size[s]) for s in sets])


def threshold_for(probabilities: np.ndarray, y: np.ndarray, target: float, w: np.ndarray | None = None) -> float:
    """The lowest confidence (0.01 steps) whose answers at or above it reach ``target`` precision
    (weighted by ``w`` when given)."""
    w = np.ones(len(y)) if w is None else w
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        chosen = probabilities >= t
        if chosen.any() and np.average(y[chosen], weights=w[chosen]) >= target:
            return float(t)
    return 1.0


def fit(x: np.ndarray, y: np.ndarray, *, model_id: str, cases: int, dataset: str = "",
        target_precision: float = TARGET_PRECISION, features: Sequence[str] = SIGNALS,
        isotonic: bool = True, weights: np.ndarray | None = None) -> dict[str, object]:
    """Platt scaling over ``features``, then (when ``isotonic`` and it lowers the out-of-fold log loss
    of the fit part) a bounded isotonic map fitted on the out-of-fold probabilities. ``weights``: each
    case's weight in the fit, the losses and the threshold's precision (``set_weights``)."""
    w = weights
    runs = {c: out_of_fold(x, y, c, w) for c in CS}
    c = min(CS, key=lambda k: _loss(y, runs[k], w))
    platt = runs[c]
    oof, step = platt, None
    if isotonic:
        mapped = isotonic_out_of_fold(platt, y, w)
        if _loss(y, mapped, w) < _loss(y, platt, w):
            oof = mapped
            iso = _isotonic().fit(platt, y, sample_weight=w)
            step = {"knots": [round(float(v), 6) for v in iso.X_thresholds_],
                    "values": [round(float(v), 6) for v in iso.y_thresholds_]}
    answer_at = threshold_for(oof, y, target_precision, w)
    clarify_at = min(answer_at, CLARIFY_AT)
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=w)
    check = calibrate(oof.tolist(), [bool(v) for v in y], target_precision=target_precision)
    return {
        "model": model_id,
        "dataset": f"{dataset} ({SPLIT})",
        "cases": cases,
        "positives": int(y.sum()),
        "features": list(features),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "c": c,
        "isotonic": step,
        "sets_weighed_equally": w is not None,
        "fit_out_of_fold_log_loss": {"platt": round(_loss(y, platt, w), 4), "chosen": round(_loss(y, oof, w), 4)},
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
    parser.add_argument("--features", default="",
                        help=f"comma-separated signals to weigh (default all: {','.join(SIGNALS)})")
    parser.add_argument("--select", action="store_true",
                        help="forward-select among the signals by the fit part's out-of-fold log loss")
    parser.add_argument("--no-isotonic", action="store_true", help="Platt scaling only, no isotonic step")
    parser.add_argument("--weigh-sets", action="store_true",
                        help="every results file's fit part counts as much as every other's (set_weights)")
    args = parser.parse_args(argv)
    if not 0.5 <= args.target_precision < 1.0:
        parser.error(f"--target-precision must be in [0.5, 1), not {args.target_precision}")
    results: list[CaseResult] = []
    set_of: dict[str, str] = {}
    for path in args.results:
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run `knowdesk eval DATASET --report DIR` first and give "
                             "DIR/results.jsonl")
        loaded = list(ResultsFile(path).load().values())
        results += loaded
        set_of |= {r.id: str(path) for r in loaded}
    features = tuple(args.features.split(",")) if args.features else SIGNALS
    unknown = [f for f in features if f not in SIGNALS]
    if unknown:
        parser.error(f"--features: {unknown} are not signals; choose from {','.join(SIGNALS)}")
    x, y, ids = labelled(results, features=features)
    if args.select:
        features = tuple(select(x, y, features))
        x, y, ids = labelled(results, features=features)
    names = ", ".join(sorted({_dataset_name(p) for p in args.results}))
    weights = set_weights([set_of[i] for i in ids]) if args.weigh_sets else None
    fitted = fit(x, y, model_id=args.model, cases=len(ids), dataset=names, target_precision=args.target_precision,
                 features=features, isotonic=not args.no_isotonic, weights=weights)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: fitted[k] for k in ("cases", "positives", "c", "weights", "bias", "answer_threshold",
                                             "clarify_threshold", "fit_out_of_fold", "fit_out_of_fold_log_loss")}))
    calibrator = Calibrator.load(args.out)
    if calibrator is None:
        raise SystemExit(f"{args.out} was not written")
    for path in args.results:
        print(json.dumps({"test": _dataset_name(path)} | measure(ResultsFile(path).load().values(), calibrator)))
    return 0


def measure(results: Iterable[CaseResult], calibrator: Calibrator, split: str = TEST) -> dict[str, object]:
    """ECE and AUROC of ``calibrator`` on the ``split`` cases' recorded signals (the test part: never fitted on)."""
    x, y, _ = labelled(list(results), split, calibrator.features)
    p = [calibrator(dict(zip(calibrator.features, row, strict=True))) for row in x.tolist()]
    check = calibrate(p, [bool(v) for v in y], target_precision=calibrator.target_precision)
    answered = np.asarray(p) >= calibrator.answer_threshold
    return {"cases": len(y), "ece": round(check.ece or 0.0, 4),
            "auroc": round(check.auroc, 4) if check.auroc is not None else None,
            "answered_share": round(float(answered.mean()), 4),
            "precision": round(float(y[answered].mean()), 4) if answered.any() else None}


if __name__ == "__main__":
    raise SystemExit(main())
