"""The similarity scale that reads another model's cosines on MiniLM's scale (retrieval/similarity.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.similarity import FITTED, SimilarityScale, fit_quantiles, scale_for


def test_the_reference_model_and_its_int8_copy_keep_their_cosines() -> None:
    for model in ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8"):
        scale = scale_for(model)
        assert scale.identity and scale(0.62) == 0.62


def test_a_scale_is_monotone_and_extends_past_its_knots() -> None:
    scale = SimilarityScale(model="m", knots=((0.7, 0.1), (0.8, 0.4), (0.9, 0.8)))
    xs = np.linspace(0.5, 1.0, 51)
    ys = scale(xs)
    assert np.all(np.diff(ys) >= 0)
    assert scale(0.75) == pytest.approx(0.25)
    assert scale(0.95) == pytest.approx(1.0)  # slope 4 past 0.9, clipped at 1
    assert scale(0.6) == pytest.approx(-0.2)  # slope 3 before 0.7
    assert ys.dtype == xs.dtype


def test_bad_knots_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        SimilarityScale(model="m", knots=((0.8, 0.1), (0.7, 0.4)))
    with pytest.raises(ValueError, match="at least two"):
        SimilarityScale(model="m", knots=((0.8, 0.1),))


def test_quantile_matching_maps_one_distribution_onto_the_other() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.2, 0.15, 5000)
    squeezed = 0.75 + 0.3 * (reference - 0.2) + rng.normal(0, 0.002, 5000)  # same order, e5-like range
    scale = fit_quantiles(squeezed.tolist(), reference.tolist())
    mapped = scale(squeezed)
    assert abs(float(np.median(mapped)) - float(np.median(reference))) < 0.01
    assert abs(float(np.quantile(mapped, 0.95)) - float(np.quantile(reference, 0.95))) < 0.02
    with pytest.raises(ValueError):
        fit_quantiles([0.1, 0.2], [0.1])


def test_the_fitted_multilingual_scale_puts_unrelated_e5_cosines_low() -> None:
    fitted = json.loads(FITTED.read_text(encoding="utf-8"))
    assert fitted["reference"] == "all-MiniLM-L6-v2" and "procedure" in fitted
    scale = scale_for("multilingual-e5-small-q4")
    assert not scale.identity
    # e5's cosine of unrelated texts (about 0.75) reads as an unrelated MiniLM cosine, its
    # near-paraphrases (0.93) as a close MiniLM match
    assert scale(0.75) < 0.3 < 0.6 < scale(0.93)
