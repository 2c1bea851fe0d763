"""Cosine similarities on one scale, whichever model embedded the texts.

The agent's thresholds (a request for a human at 0.62, a scenario at 0.72, a topic at 0.45, the
confidence's floor and ceiling...), the actions' matching and the insights' article threshold are
cosines of all-MiniLM-L6-v2, the reference model. Another model spreads its cosines differently:
multilingual-e5-small puts unrelated texts near 0.75 and related ones near 0.9, so MiniLM's 0.62
would call almost every message a request for a human. A ``SimilarityScale`` maps a model's cosine
to the reference's (monotone, piecewise linear), fitted by quantile matching on the same text
pairs embedded by both models (``python -m bench.fit_similarity``), one map per kind of pair; the result is kept in
``retrieval/fitted/similarity.json`` with the procedure and the pairs' provenance. Rankings never
change (the map is monotone): only the similarities reported beside them (``Hit.dense_score``)
and the agent's phrase matches are read on the reference scale.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np

log = logging.getLogger(__name__)

FITTED = Path(__file__).with_name("fitted") / "similarity.json"
#: The model whose cosines the thresholds are written in, and the models that share its scale.
REFERENCE = "all-MiniLM-L6-v2"
SAME_SCALE = frozenset({REFERENCE, "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8"})


@dataclass(frozen=True)
class SimilarityScale:
    """A monotone map from one model's cosine to the reference model's (identity without knots).

    Args:
        model: the model whose cosines are mapped.
        knots: ``(cosine of model, cosine of reference)`` pairs, both increasing; between knots
            the map is linear, outside them it continues with the end segments' slope and is
            clipped to [-1, 1].
    """

    model: str
    knots: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        xs = [x for x, _ in self.knots]
        ys = [y for _, y in self.knots]
        if self.knots and (len(self.knots) < 2 or any(b <= a for a, b in itertools.pairwise(xs))
                           or any(b < a for a, b in itertools.pairwise(ys))):
            raise ValueError(f"similarity scale of {self.model}: knots must be at least two, with increasing x "
                             "and non-decreasing y")

    @property
    def identity(self) -> bool:
        return not self.knots

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Knots as arrays and the end segments' slopes, built once (the map runs on every search)."""
        xs = np.array([x for x, _ in self.knots], dtype=np.float64)
        ys = np.array([y for _, y in self.knots], dtype=np.float64)
        return xs, ys, (ys[1] - ys[0]) / (xs[1] - xs[0]), (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])

    @overload
    def __call__(self, cosine: float) -> float: ...

    @overload
    def __call__(self, cosine: np.ndarray) -> np.ndarray: ...

    def __call__(self, cosine: float | np.ndarray) -> float | np.ndarray:
        """``cosine`` (a float or an array) on the reference model's scale."""
        if not self.knots:
            return cosine
        xs, ys, low_slope, high_slope = self._arrays
        values = np.asarray(cosine, dtype=np.float64)
        mapped = np.interp(values, xs, ys)
        mapped = np.where(values < xs[0], ys[0] + (values - xs[0]) * low_slope, mapped)
        mapped = np.where(values > xs[-1], ys[-1] + (values - xs[-1]) * high_slope, mapped)
        mapped = np.clip(mapped, -1.0, 1.0)
        if isinstance(cosine, np.ndarray):
            out: np.ndarray = mapped.astype(cosine.dtype if cosine.dtype.kind == "f" else np.float32)
            return out
        return float(mapped)


def fit_quantiles(model: Sequence[float], reference: Sequence[float], *, knots: int = 41) -> SimilarityScale:
    """Quantile matching: the model's q-th quantile maps to the reference's q-th quantile, at
    ``knots`` evenly spaced quantiles of the same pairs' cosines under both models."""
    if len(model) != len(reference) or len(model) < knots:
        raise ValueError(f"need the same pairs under both models, at least {knots} of them")
    qs = np.linspace(0.0, 1.0, knots)
    xs = np.quantile(np.asarray(model, dtype=np.float64), qs)
    ys = np.quantile(np.asarray(reference, dtype=np.float64), qs)
    points: list[tuple[float, float]] = []
    for x, y in zip(xs, ys, strict=True):
        if points and x <= points[-1][0] + 1e-6:  # ties in the model's cosines: keep the first
            continue
        points.append((round(float(x), 5), round(float(max(y, points[-1][1] if points else y)), 5)))
    return SimilarityScale(model="", knots=tuple(points))


#: What a cosine compares: a query with a query or a sentence embedded as one (the agent's phrase
#: matching), or a query with an indexed chunk (a hit's ``dense_score``). Models spread them differently.
KINDS = ("query-query", "query-passage")


@functools.lru_cache(maxsize=16)
def scale_for(model_id: str, kind: str = "query-passage") -> SimilarityScale:
    """The fitted scale of ``model_id`` for ``kind`` of pair (identity for the reference model and
    its int8 copy; for a model never fitted, identity with a warning: its thresholds may need
    re-fitting)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if model_id in SAME_SCALE:
        return SimilarityScale(model=model_id)
    fitted = json.loads(FITTED.read_text(encoding="utf-8")) if FITTED.is_file() else {}
    entry = fitted.get("models", {}).get(model_id, {}).get(kind)
    if entry is None:
        log.warning("no %s similarity scale fitted for %s: its cosines are read as %s's (python -m "
                    "bench.fit_similarity --model %s --write fits one)", kind, model_id, REFERENCE, model_id)
        return SimilarityScale(model=model_id)
    return SimilarityScale(model=model_id, knots=tuple((float(x), float(y)) for x, y in entry["knots"]))
