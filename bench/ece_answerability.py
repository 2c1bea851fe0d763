"""Why the answer confidence is miscalibrated on the answerability set, and whether a principled refit
fixes it without hurting the Debian FAQ set (issue 23, ``bench/results/ece-answerability-v3.json``).

Input: the ``results.jsonl`` of one ``knowdesk eval`` run per set with the second ranking stage on
(the default), which record every answer-path decision's signals:

    KNOWDESK_HOME=QS knowdesk eval evaluation/datasets/answerability.jsonl --report A
    KNOWDESK_HOME=FAQ knowdesk eval evaluation/datasets/debian-answers.jsonl --report D
    python -m bench.ece_answerability A/results.jsonl D/results.jsonl [--ship]

Every candidate is fitted on the fit parts of BOTH sets together (the cases tagged ``split:fit``,
fixed in the datasets before any fitting) and judged on the test parts. The candidate to ship is
chosen on the fit part only (lowest out-of-fold log loss, each set weighing half: a proper score, so
the choice does not look at the test parts), then it must pass the gate on the test parts
(``GATE``); ``--ship`` writes it to ``agent/fitted/confidence-late.json`` only when it does.

ECE is reported over 10 equal-width bins (the evaluation's), 15 bins and 10 equal-mass bins, with a
95 % bootstrap interval over the test cases and the "noise" ECE: what a perfectly calibrated
confidence would show on these cases by sampling alone (labels drawn from the confidences).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from agent.confidence import FEATURES, FITTED_LATE, Calibrator, english_signal
from evaluation.calibration import expected_calibration_error, reliability_bins
from evaluation.fit_confidence import BOUNDS, CS, SEED, threshold_for
from evaluation.results import CaseResult, ResultsFile

OUT = Path(__file__).parent / "results" / "ece-answerability-v3.json"
LANG = ("same_language",)
#: Whether the question is in English (``agent.confidence.english_signal``; derived here from the decision's
#: detected language for runs that predate it): the bundled MiniLM is English-only, so every non-English
#: question is retrieved less reliably, whether or not the knowledge holds an article in its language
#: (Brewly has German and Spanish ones; only its French and Portuguese questions, which fall back to those,
#: are flagged by ``same_language``).
ENGLISH = ("english_question",)
#: Products of two signals: the language signal scales the similarity signals it should discount.
CROSS = ("same_language*top_cosine", "same_language*answer_match")
FOLDS, REPEATS, BOOTSTRAP = 5, 5, 2000
#: The shipped calibration is replaced only when, on the test parts, the answerability ECE (10 bins)
#: falls and neither the Debian ECE nor either AUROC gets worse by more than these.
GATE = {"debian_ece_worse": 0.01, "auroc_worse": 0.01}


@dataclass
class Part:
    """One set's labelled answer-path cases of one split: signals, labels, languages."""

    signals: list[dict[str, float]] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    language: list[str] = field(default_factory=list)

    def matrix(self, features: Sequence[str]) -> np.ndarray:
        return np.asarray([[value(s, f) for f in features] for s in self.signals])


def value(signals: dict[str, float], name: str) -> float:
    """A signal, or the product of the signals named ``a*b``."""
    return float(np.prod([float(signals.get(part, 0.0)) for part in name.split("*")]))


def parts(path: Path) -> dict[str, Part]:
    out = {"fit": Part(), "test": Part()}
    for r in sorted(ResultsFile(path).load().values(), key=lambda r: r.id):
        split = next((t.split(":")[1] for t in r.tags if t.startswith("split:")), None)
        if split not in out or not _scored(r):
            continue
        assert r.last is not None and r.correct is not None
        out[split].signals.append(dict(r.last.signals) | english_signal(r.last.language))
        out[split].y.append(int(r.correct))
        out[split].language.append(r.language or "?")
    return out


def _scored(r: CaseResult) -> bool:
    return r.status == "scored" and r.correct is not None and r.last is not None \
        and all(f in r.last.signals for f in FEATURES + LANG)  # english_question: derived in ``parts``


# --- models: logistic regression on some signals, then optionally Platt or isotonic on its output ---

Predict = Callable[[np.ndarray], np.ndarray]


def _logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=w)


def _oof(x: np.ndarray, y: np.ndarray, w: np.ndarray, fitter: Callable[..., Predict],
         repeats: int = REPEATS) -> np.ndarray:
    p, folds = np.zeros(len(y)), min(FOLDS, int(np.bincount(y.astype(int)).min()))
    for r in range(repeats):
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=SEED + 100 * r).split(x, y):
            p[held] += fitter(x[train], y[train], w[train])(x[held]) / repeats
    return p


def _loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=w))


def method(c: float, post: str) -> Callable[..., Predict]:
    """A fitter: logistic regression (strength ``c``), then ``post``: none, platt (a logistic map of its
    logit, fitted on inner out-of-fold logits) or isotonic (bounded, on inner out-of-fold probabilities)."""

    def fitter(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Predict:
        base = _logistic(x, y, w, c)
        if post == "none":
            return lambda z: base.predict_proba(z)[:, 1]
        inner = _oof(x, y, w, lambda a, b, v: (lambda m: lambda z: m.decision_function(z))(_logistic(a, b, v, c)), 1)
        if post == "platt":
            step = LogisticRegression(C=1e4, max_iter=5000).fit(inner[:, None], y, sample_weight=w)
            return lambda z: step.predict_proba(base.decision_function(z)[:, None])[:, 1]
        iso = IsotonicRegression(y_min=BOUNDS[0], y_max=BOUNDS[1], out_of_bounds="clip").fit(
            1 / (1 + np.exp(-inner)), y, sample_weight=w)
        return lambda z: iso.predict(base.predict_proba(z)[:, 1])

    return fitter


# --- scores ---

def ece_equal_mass(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    order = np.argsort(p, kind="stable")
    return float(sum(len(b) / len(p) * abs(y[b].mean() - p[b].mean()) for b in np.array_split(order, bins) if len(b)))


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """``evaluation.calibration.expected_calibration_error`` in numpy (the same bins; checked equal in
    ``scores``), fast enough for the bootstrap."""
    index = np.clip(np.digitize(p, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, y, bins) - np.bincount(index, p, bins))
    return float(gap.sum() / len(p)) if count.any() else 0.0


def scores(p: np.ndarray, y: np.ndarray, seed: int = SEED) -> dict[str, object]:
    """AUROC, ECE (10, 15 bins, 10 equal-mass) with a 95 % bootstrap interval, and the noise ECE."""
    rng = np.random.default_rng(seed)
    reference = expected_calibration_error(p.tolist(), y.astype(bool).tolist(), 10)
    if abs(reference - ece(p, y)) > 1e-9:
        raise AssertionError(f"the fast ECE {ece(p, y)} differs from the evaluation's {reference}")
    boot: dict[int, list[float]] = {10: [], 15: []}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        for b in boot:
            boot[b].append(ece(p[i], y[i], b))
    noise = [ece(p, (rng.uniform(size=len(p)) < p).astype(float)) for _ in range(1000)]
    return {
        "cases": len(y), "correct": int(y.sum()), "mean_confidence": _r(p.mean()),
        "auroc": _r(roc_auc_score(y, p)),
        "ece_10": _r(ece(p, y)), "ece_10_interval95": [_r(np.percentile(boot[10], q)) for q in (2.5, 97.5)],
        "ece_15": _r(ece(p, y, 15)), "ece_15_interval95": [_r(np.percentile(boot[15], q)) for q in (2.5, 97.5)],
        "ece_10_equal_mass": _r(ece_equal_mass(p, y)),
        "noise_ece_10": _r(float(np.mean(noise))),
    }


def paired_gain(base: np.ndarray, new: np.ndarray, y: np.ndarray, seed: int = SEED) -> dict[str, object]:
    """ECE (10 bins) of ``new`` minus ``base`` on the same bootstrap resamples: the interval of the change."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        diffs.append(ece(new[i], y[i]) - ece(base[i], y[i]))
    return {"ece_10_change_interval95": [_r(np.percentile(diffs, q)) for q in (2.5, 97.5)],
            "share_of_resamples_lower": _r(float(np.mean(np.asarray(diffs) < 0)))}


def breakdown(p: np.ndarray, y: np.ndarray, language: Sequence[str]) -> dict[str, object]:
    """Per language: cases, correct, mean confidence, the gap, and its share of the 10-bin ECE; and the
    reliability diagram of English and non-English questions apart."""
    lang = np.asarray(language)
    bins = np.clip(np.digitize(p, np.linspace(0, 1, 11)[1:-1]), 0, 9)
    total = {b: (bins == b).sum() for b in range(10)}
    out: dict[str, object] = {}
    for name in sorted(set(language)):
        m = lang == name
        out[name] = {"cases": int(m.sum()), "correct": int(y[m].sum()), "mean_confidence": _r(p[m].mean()),
                     "accuracy": _r(y[m].mean()), "over_confidence": _r(p[m].mean() - y[m].mean())}
    diagrams = {}
    for group, m in (("en", lang == "en"), ("not_en", lang != "en")):
        diagrams[group] = [[b.lower, b.upper, b.count, _r(b.confidence), _r(b.accuracy)]
                           for b in reliability_bins(p[m].tolist(), y[m].astype(bool).tolist()) if b.count]
    # each bin's |gap| x share of all cases, and how much of the bin's signed gap the non-English cases make
    contribution = []
    for b in range(10):
        m = bins == b
        if not m.any():
            continue
        gap = p[m].mean() - y[m].mean()
        ne = m & (lang != "en")
        contribution.append({"bin": [b / 10, (b + 1) / 10], "cases": int(total[b]), "not_en": int(ne.sum()),
                             "gap": _r(gap), "ece_share": _r(abs(gap) * m.sum() / len(p)),
                             "not_en_signed_share": _r((p[ne] - y[ne]).sum() / m.sum()) if ne.any() else 0.0})
    return {"languages": out, "reliability_[lower,upper,count,confidence,accuracy]": diagrams,
            "ece_by_bin": contribution}


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


# --- candidates: fitted on both fit parts, chosen on them, judged on the test parts ---

@dataclass(frozen=True)
class Candidate:
    name: str
    features: tuple[str, ...]
    post: str  # none | platt | isotonic
    sets_equal: bool


CANDIDATES = tuple(
    Candidate(f"{fname}, {post}{', sets weighed equally' if eq else ''}", feats, post, eq)
    for fname, feats in (("6 signals", FEATURES), ("6 + same_language", FEATURES + LANG),
                         ("6 + same_language + its products", FEATURES + LANG + CROSS),
                         ("6 + same_language + english_question", FEATURES + LANG + ENGLISH))
    for post in ("none", "platt", "isotonic") for eq in (False, True))


_C: dict[tuple[object, ...], float] = {}


def fit_candidate(cand: Candidate, sets: dict[str, dict[str, Part]],
                  model_id: str) -> tuple[dict[str, object], dict[str, Any]]:
    """The fitted calibration file of ``cand`` and its fit-part figures (out-of-fold log loss per set)."""
    names = list(sets)
    x = np.vstack([sets[n]["fit"].matrix(cand.features) for n in names])
    y = np.concatenate([np.asarray(sets[n]["fit"].y) for n in names])
    which = np.concatenate([[n] * len(sets[n]["fit"].y) for n in names])
    size = {n: (which == n).sum() for n in names}
    w = np.asarray([len(y) / (len(names) * size[n]) for n in which]) if cand.sets_equal else np.ones(len(y))
    key = (cand.features, cand.sets_equal, len(y))
    if key not in _C:  # the regularisation of the logistic step, shared by its post steps
        _C[key] = min(CS, key=lambda k: _loss(y, _oof(x, y, w, method(k, "none")), w))
    c = _C[key]
    oof = _oof(x, y, w, method(c, cand.post))
    base = _logistic(x, y, w, c)
    weights, bias, isotonic = base.coef_[0], float(base.intercept_[0]), None
    if cand.post != "none":
        inner = _oof(x, y, w, lambda a, b, v: (lambda m: lambda z: m.decision_function(z))(_logistic(a, b, v, c)), 1)
        if cand.post == "platt":
            step = LogisticRegression(C=1e4, max_iter=5000).fit(inner[:, None], y, sample_weight=w)
            a, b0 = float(step.coef_[0][0]), float(step.intercept_[0])
            weights, bias = a * weights, a * bias + b0
        else:
            iso = IsotonicRegression(y_min=BOUNDS[0], y_max=BOUNDS[1], out_of_bounds="clip").fit(
                1 / (1 + np.exp(-inner)), y, sample_weight=w)
            isotonic = {"knots": [round(float(v), 6) for v in iso.X_thresholds_],
                        "values": [round(float(v), 6) for v in iso.y_thresholds_]}
    answer_at = threshold_for(oof, y, 0.9, w)
    fitted = {
        "model": model_id, "dataset": "answerability-v1, debian-answers-v1 (split:fit)", "cases": len(y),
        "positives": int(y.sum()), "features": list(cand.features),
        "weights": [round(float(v), 6) for v in weights], "bias": round(bias, 6), "c": c, "isotonic": isotonic,
        "post": cand.post, "sets_weighed_equally": cand.sets_equal, "target_precision": 0.9,
        "answer_threshold": answer_at, "clarify_threshold": min(answer_at, 0.5),
        "fitted_by": "python -m bench.ece_answerability (bench/results/ece-answerability-v3.json)",
    }
    fit_figures: dict[str, Any] = {}
    for n in names:
        m = which == n
        fit_figures[n] = {"cases": int(size[n]), "out_of_fold_log_loss": _r(_loss(y[m], oof[m], np.ones(size[n]))),
                          "out_of_fold_ece_10": _r(ece(oof[m], y[m].astype(float)))}
    fit_figures["criterion"] = _r(float(np.mean([fit_figures[n]["out_of_fold_log_loss"] for n in names])))
    return fitted, fit_figures


def confidences(calibrator: Calibrator, part: Part) -> np.ndarray:
    return np.asarray([calibrator(s) for s in part.signals])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ece_answerability", description=__doc__.split("\n")[0])
    parser.add_argument("answerability", type=Path, help="results.jsonl of the answerability run")
    parser.add_argument("debian", type=Path, help="results.jsonl of the debian-answers run")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--ship", action="store_true", help=f"write the chosen calibration to {FITTED_LATE} "
                        "when it passes the gate on the test parts")
    args = parser.parse_args(argv)
    for path in (args.answerability, args.debian):
        if not path.is_file():
            parser.error(f"{path} does not exist: run `knowdesk eval DATASET --report DIR` and give DIR/results.jsonl")
    began = time.time()
    sets = {"answerability": parts(args.answerability), "debian-answers": parts(args.debian)}
    shipped = Calibrator.load(FITTED_LATE)
    if shipped is None:
        raise SystemExit(f"{FITTED_LATE} is missing")
    y_test = {n: np.asarray(s["test"].y, dtype=float) for n, s in sets.items()}
    base = {n: confidences(shipped, s["test"]) for n, s in sets.items()}
    was = {n: scores(base[n], y_test[n]) for n in sets}
    report: dict[str, object] = {
        "what": __doc__.split("\n\n")[0].replace("\n", " "),
        "load_average_at_start": os.getloadavg(),
        "sizes": {n: {k: len(s[k].y) for k in ("fit", "test")} for n, s in sets.items()},
        "ece_bins": "ece_10: 10 equal-width bins (the evaluation's); ece_15: 15; ece_10_equal_mass: 10 bins of "
                    f"equal size; intervals: 95 % percentile bootstrap over the test cases ({BOOTSTRAP} resamples)",
        "gate": GATE,
        "shipped": {"file": FITTED_LATE.name, "test": was,
                    "answerability_test_breakdown": breakdown(base["answerability"], y_test["answerability"],
                                                              sets["answerability"]["test"].language)},
    }
    rows = []
    for cand in CANDIDATES:
        fitted, fit_figures = fit_candidate(cand, sets, shipped.model)
        calibrator = _calibrator(fitted)
        test = {n: confidences(calibrator, s["test"]) for n, s in sets.items()}
        rows.append((cand, fitted, fit_figures, test))
        print(json.dumps({"candidate": cand.name, "fit": fit_figures,
                          "test": {n: [_r(roc_auc_score(y_test[n], test[n])), _r(ece(test[n], y_test[n]))]
                                   for n in sets}}), flush=True)
    chosen = min(rows, key=lambda r: r[2]["criterion"])
    entries, passing = [], []
    for c, f_, figures, t in rows:
        now = {n: scores(t[n], y_test[n]) for n in sets}
        checks = gate(now, was)
        entries.append({"name": c.name, "fit_part": figures, "answer_threshold": f_["answer_threshold"],
                        "test": now, "gate": checks})
        if all(checks.values()) and c is not chosen[0]:
            passing.append({"name": c.name,
                            "paired_change_vs_shipped": {n: paired_gain(base[n], t[n], y_test[n]) for n in sets},
                            "answerability_test_breakdown": breakdown(t["answerability"], y_test["answerability"],
                                                                      sets["answerability"]["test"].language)})
    report["candidates"] = entries
    cand, fitted, fit_figures, test = chosen
    now = {n: scores(test[n], y_test[n]) for n in sets}
    checks = gate(now, was)
    passed = all(checks.values())
    report["chosen_on_fit_part"] = {
        "name": cand.name, "criterion": "lowest mean over the two sets of the fit part's out-of-fold log loss",
        "calibration": fitted, "test": now,
        "paired_change_vs_shipped": {n: paired_gain(base[n], test[n], y_test[n]) for n in sets},
        "answerability_test_breakdown": breakdown(test["answerability"], y_test["answerability"],
                                                  sets["answerability"]["test"].language),
        "gate": checks, "passes_gate": passed,
    }
    report["others_passing_the_gate"] = {
        "note": "found by looking at the test parts among all candidates, so their test figures are optimistic "
                "(a selection among many); never shipped by this script",
        "candidates": passing,
    }
    shipped_now = bool(args.ship and passed)
    if shipped_now:
        FITTED_LATE.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    report["shipped_new_calibration"] = shipped_now
    report["load_average_at_end"] = os.getloadavg()
    report["seconds"] = round(time.time() - began, 1)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"chosen": cand.name, "test": {n: [now[n]["auroc"], now[n]["ece_10"]] for n in sets},
                      "shipped": {n: [was[n]["auroc"], was[n]["ece_10"]] for n in sets},
                      "gate": checks, "written": shipped_now}))
    return 0


def gate(now: dict[str, dict[str, object]], was: dict[str, dict[str, object]]) -> dict[str, bool]:
    """``GATE`` on the test parts: the answerability ECE falls; the Debian ECE and both AUROCs hold."""
    def f(d: dict[str, object], k: str) -> float:
        return float(d[k])  # type: ignore[arg-type]

    return {
        "answerability_ece_lower": f(now["answerability"], "ece_10") < f(was["answerability"], "ece_10"),
        "debian_ece_within": f(now["debian-answers"], "ece_10")
        <= f(was["debian-answers"], "ece_10") + GATE["debian_ece_worse"],
        "auroc_within": all(f(now[n], "auroc") >= f(was[n], "auroc") - GATE["auroc_worse"] for n in now),
    }


def _calibrator(fitted: dict[str, object]) -> Calibrator:
    """The calibration as the agent would load it (its rounding, its isotonic map)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.json"
        path.write_text(json.dumps(fitted), encoding="utf-8")
        calibrator = Calibrator.load(path)
    assert calibrator is not None
    return calibrator


if __name__ == "__main__":
    raise SystemExit(main())
