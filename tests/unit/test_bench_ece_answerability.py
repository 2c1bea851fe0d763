"""The calibration study of issue 23 (``bench.ece_answerability``): its fast ECE, its candidates' files."""

from __future__ import annotations

import numpy as np
import pytest

from agent.confidence import FEATURES
from bench.ece_answerability import CANDIDATES, LANG, Part, _calibrator, ece, ece_equal_mass, fit_candidate, value
from evaluation.calibration import expected_calibration_error


def test_the_fast_ece_is_the_evaluations() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 300)
    p[:5] = [0.0, 0.1, 0.5, 0.9999, 1.0]  # bin edges and both ends
    y = (rng.uniform(0, 1, 300) < p**2).astype(float)
    for bins in (10, 15):
        assert ece(p, y, bins) == pytest.approx(expected_calibration_error(p.tolist(), y.astype(bool).tolist(), bins))
    right = np.asarray([1.0] * 7 + [0.0] * 3)
    assert ece_equal_mass(np.full(10, 0.7), right, 1) == pytest.approx(0.0)
    assert ece_equal_mass(np.full(10, 0.7), right) == pytest.approx(0.42), "one case a bin: the mean |y - p|"


def test_a_product_feature_multiplies_its_signals() -> None:
    assert value({"same_language": 0.0, "top_cosine": 0.6}, "same_language*top_cosine") == 0.0
    assert value({"same_language": 1.0, "top_cosine": 0.6}, "same_language*top_cosine") == 0.6
    assert value({"top_cosine": 0.6}, "top_cosine") == 0.6


def _part(rng: np.random.Generator, n: int, over: float) -> Part:
    """Cases whose rightness rises with the signals; ``over`` lowers it where same_language is 0."""
    part = Part()
    for _ in range(n):
        s = {f: float(rng.uniform(0, 1)) for f in FEATURES} | {"same_language": float(rng.uniform() < 0.7)}
        z = 6 * (s["top_cosine"] - 0.5) - over * (1 - s["same_language"])
        part.signals.append(s)
        part.y.append(int(rng.uniform() < 1 / (1 + np.exp(-z))))
        part.language.append("en" if s["same_language"] else "de")
    return part


def test_every_candidate_writes_a_file_the_agent_loads_and_the_language_is_learned() -> None:
    rng = np.random.default_rng(23)
    sets = {"a": {"fit": _part(rng, 100, 3.0)}, "b": {"fit": _part(rng, 100, 0.0)}}
    for cand in (c for c in CANDIDATES if c.features == FEATURES + LANG and not c.sets_equal):  # one per post step
        fitted, figures = fit_candidate(cand, sets, "m")
        calibrator = _calibrator(fitted)
        assert calibrator.features == cand.features and 0 < calibrator.answer_threshold <= 1
        assert (fitted["isotonic"] is not None) == (cand.post == "isotonic")
        assert set(figures) == {"a", "b", "criterion"}
        if cand.post == "none":
            same = {f: 0.8 for f in FEATURES} | {"same_language": 1.0}
            assert calibrator(same) > calibrator(same | {"same_language": 0.0})
