"""Confidence: a weighted mean of signals in [0, 1], with weights and thresholds in settings.

Signals (all in [0, 1]):

- ``retrieval``: the best dense (cosine) similarity of question and chunk, mapped linearly from
  ``retrieval_floor`` (0) to ``retrieval_ceiling`` (1);
- ``margin``: how clearly the best document beats the next one (0.15 cosine apart = 1);
- ``coverage``: the share of the question's content terms found in the retrieved text;
- ``support``: the share of the reply the cited text supports (1.0 for an extractive answer);
- ``scenario``: a matched scenario's similarity, which replaces the others when it answers.

The evaluation issue calibrates the weights and thresholds on labelled conversations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.models import Hit
from core.settings import AgentSettings

MARGIN_SCALE = 0.15


@dataclass(frozen=True, slots=True)
class Signals:
    retrieval: float
    margin: float
    coverage: float
    support: float

    def as_dict(self) -> dict[str, float]:
        return {
            k: round(v, 4)
            for k, v in (
                ("retrieval", self.retrieval),
                ("margin", self.margin),
                ("coverage", self.coverage),
                ("support", self.support),
            )
        }


def retrieval_signals(hits: Sequence[Hit], settings: AgentSettings) -> tuple[float, float]:
    """(retrieval, margin) from the hits' dense scores."""
    best_by_doc: dict[str, float] = {}
    for hit in hits:
        dense = hit.dense_score if hit.dense_score is not None else 0.0
        best_by_doc[hit.document_id] = max(best_by_doc.get(hit.document_id, -1.0), dense)
    ranked = sorted(best_by_doc.values(), reverse=True)
    if not ranked:
        return 0.0, 0.0
    span = max(1e-6, settings.retrieval_ceiling - settings.retrieval_floor)
    retrieval = _unit((ranked[0] - settings.retrieval_floor) / span)
    margin = _unit((ranked[0] - ranked[1]) / MARGIN_SCALE) if len(ranked) > 1 else 1.0
    return retrieval, margin


def combine(signals: Signals, settings: AgentSettings) -> float:
    """The weighted mean of the signals, in [0, 1]."""
    weights = (settings.weight_retrieval, settings.weight_margin, settings.weight_coverage, settings.weight_support)
    values = (signals.retrieval, signals.margin, signals.coverage, signals.support)
    total = sum(weights)
    if total <= 0:
        return 0.0
    return round(_unit(sum(w * v for w, v in zip(weights, values, strict=True)) / total), 4)


def scenario_confidence(similarity: float, threshold: float) -> float:
    """A matched scenario's confidence: its threshold maps to 0.6, a perfect match to 1."""
    if similarity < threshold:
        return round(_unit(similarity * 0.6 / max(threshold, 1e-6)), 4)
    return round(_unit(0.6 + 0.4 * (similarity - threshold) / max(1e-6, 1 - threshold)), 4)


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
