"""Confidence calibration: expected calibration error, reliability bins, AUROC, a suggested threshold.

``confidences[i]`` is the agent's confidence for a decision and ``correct[i]`` whether answering it
would have been right (see the runner for the label). The suggested handoff threshold is the lowest
confidence at which the answers at or above it reach the target precision, i.e. the threshold that
answers the most questions while keeping that precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field
from sklearn.metrics import roc_auc_score

from core.models import Frozen


class ReliabilityBin(Frozen):
    """One confidence bin: its range, size, mean confidence and accuracy (None when empty)."""

    lower: float
    upper: float
    count: int
    confidence: float | None = None
    accuracy: float | None = None


class ThresholdSuggestion(Frozen):
    """The lowest threshold reaching ``target_precision``: its precision and coverage there."""

    target_precision: float
    threshold: float | None
    precision: float | None = None
    coverage: float | None = None
    recall: float | None = None


class Calibration(Frozen):
    """Calibration of the agent's confidence over the decisions it scored."""

    n: int
    positives: int
    ece: float | None
    auroc: float | None
    bins: list[ReliabilityBin] = Field(default_factory=list)
    suggestion: ThresholdSuggestion | None = None


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[ReliabilityBin]:
    conf, ok = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # the last bin includes 1.0
    index = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(ReliabilityBin(
            lower=round(float(edges[b]), 2), upper=round(float(edges[b + 1]), 2), count=count,
            confidence=float(conf[mask].mean()) if count else None,
            accuracy=float(ok[mask].mean()) if count else None,
        ))
    return out


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Sum over equal-width bins of (bin share) x |accuracy - mean confidence|."""
    n = len(confidences)
    if n == 0:
        raise ValueError("ECE needs at least one decision")
    return float(sum(
        b.count / n * abs((b.accuracy or 0.0) - (b.confidence or 0.0))
        for b in reliability_bins(confidences, correct, bins) if b.count
    ))


def suggest_threshold(confidences: Sequence[float], correct: Sequence[bool], target: float) -> ThresholdSuggestion:
    conf, ok = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=bool)
    total_correct = int(ok.sum())
    for t in sorted(set(conf.tolist())):
        chosen = conf >= t
        precision = float(ok[chosen].mean())
        if precision >= target:
            return ThresholdSuggestion(
                target_precision=target, threshold=round(t, 4), precision=round(precision, 4),
                coverage=round(float(chosen.mean()), 4),
                recall=round(int(ok[chosen].sum()) / total_correct, 4) if total_correct else None,
            )
    return ThresholdSuggestion(target_precision=target, threshold=None)


def calibrate(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 10, target_precision: float = 0.9
) -> Calibration:
    """ECE, reliability bins, AUROC (scikit-learn; None unless both classes occur) and a threshold."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and labels differ in length")
    if not confidences:
        return Calibration(n=0, positives=0, ece=None, auroc=None)
    labels = [bool(c) for c in correct]
    auroc = float(roc_auc_score(labels, confidences)) if 0 < sum(labels) < len(labels) else None
    return Calibration(
        n=len(labels), positives=sum(labels), ece=expected_calibration_error(confidences, labels, bins), auroc=auroc,
        bins=reliability_bins(confidences, labels, bins),
        suggestion=suggest_threshold(confidences, labels, target_precision),
    )
