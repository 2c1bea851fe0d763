"""The fitted answer-confidence calibration: the file, its use by the agent's settings, and the fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.confidence import (
    EVIDENCE,
    FITTED,
    FITTED_LATE,
    SIGNALS,
    Calibrator,
    calibration_for,
    english_signal,
    evidence_signals,
    language_signal,
    monotone,
)
from core.errors import ConfigError
from core.models import DocumentKind, Hit
from core.settings import AgentSettings
from evaluation.fit_confidence import fit, labelled, select, threshold_for
from evaluation.results import CaseResult, TurnResult


def test_the_settings_use_the_thresholds_chosen_at_fitting() -> None:
    settings = AgentSettings()
    assert settings.calibration is None and settings.answer_threshold is None and settings.clarify_threshold is None
    for path in (FITTED, FITTED_LATE):
        fitted = json.loads(path.read_text(encoding="utf-8"))
        calibrator = Calibrator.load(path)
        assert calibrator is not None and calibrator.fits(fitted["model"])
        assert calibrator.fits(fitted["model"] + "-int8")
        assert not calibrator.fits("intfloat/multilingual-e5-small")
        assert (calibrator.answer_threshold, calibrator.clarify_threshold) == (
            fitted["answer_threshold"], fitted["clarify_threshold"])
        assert fitted["target_precision"] == 0.9


def test_the_default_calibration_is_the_one_fitted_with_the_ranking_stage_in_force() -> None:
    from agent.build import _calibrator

    model = json.loads(FITTED_LATE.read_text(encoding="utf-8"))["model"]
    assert calibration_for(True) == FITTED_LATE and calibration_for(False) == FITTED
    assert _calibrator(model, AgentSettings(), reranked=True) == Calibrator.load(FITTED_LATE)
    assert _calibrator(model, AgentSettings(), reranked=False) == Calibrator.load(FITTED)
    named = _calibrator(model, AgentSettings(calibration="confidence.json"), reranked=True)
    assert named == Calibrator.load(FITTED), "a calibration named in the settings wins over the stage's"
    with pytest.raises(ConfigError, match="KNOWDESK_AGENT__CALIBRATION"):
        _calibrator(model, AgentSettings(calibration="missing.json"), reranked=True)
    assert _calibrator("intfloat/multilingual-e5-small", AgentSettings(), reranked=True) is None


def test_the_calibrated_confidence_rises_with_the_evidence() -> None:
    calibrator = Calibrator.load()
    assert calibrator is not None
    weak = {"retrieval": 0.1, "margin": 0.0, "coverage": 0.2, "support": 1.0, "answer_match": 0.2, "top_cosine": 0.35}
    strong = {"retrieval": 1.0, "margin": 1.0, "coverage": 1.0, "support": 1.0, "answer_match": 0.8, "top_cosine": 0.8}
    weak |= {"cited_coverage": 0.2, "rare_support": 0.1, "reply_coverage": 0.1, "lead": 0.0, "dense_agrees": 0.0,
             "cited_top": 0.0}
    strong |= dict.fromkeys(EVIDENCE, 1.0)
    assert 0.0 <= calibrator(weak) < calibrator.answer_threshold <= calibrator(strong) <= 1.0


def test_a_broken_file_says_how_to_rebuild_it(tmp_path: Path) -> None:
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps({"features": ["retrieval"], "weights": [1.0], "bias": 0.0}), encoding="utf-8")
    with pytest.raises(ConfigError, match="fit_confidence"):
        Calibrator.load(path)
    assert Calibrator.load(tmp_path / "missing.json") is None
    good = {"features": ["retrieval", "lead"], "weights": [3.0, 3.0], "bias": -3.0, "answer_threshold": 0.6,
            "target_precision": 0.9, "model": "m"}
    for broken in ({"features": ["retrieval", "shoe_size"]}, {"weights": [1.0]},
                   {"isotonic": {"knots": [0.0, 1.0], "values": [0.8, 0.2]}},
                   {"isotonic": {"knots": [0.0, 0.5, 1.0], "values": [0.1, 0.9]}}):
        path.write_text(json.dumps(good | broken), encoding="utf-8")
        with pytest.raises(ConfigError, match="fit_confidence"):
            Calibrator.load(path)
    path.write_text(json.dumps(good | {"isotonic": {"knots": [0.2, 0.8], "values": [0.1, 0.7]}}), encoding="utf-8")
    calibrator = Calibrator.load(path)
    assert calibrator is not None and calibrator.features == ("retrieval", "lead")
    assert calibrator({"retrieval": 0.0, "lead": 0.0}) == 0.1  # sigmoid(-3) = 0.05, before the first knot
    assert calibrator({"retrieval": 1.0, "lead": 0.0}) == 0.4  # sigmoid(0) = 0.5, halfway between the knots
    assert calibrator({"retrieval": 1.0, "lead": 1.0}) == 0.7  # sigmoid(3) = 0.95, past the last knot


def test_the_isotonic_map_is_linear_between_knots_and_flat_outside() -> None:
    knots, values = (0.2, 0.4, 0.8), (0.1, 0.5, 0.6)
    assert [monotone(x, knots, values) for x in (0.0, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)] == pytest.approx(
        [0.1, 0.1, 0.3, 0.5, 0.55, 0.6, 0.6])


def test_the_threshold_is_the_lowest_reaching_the_precision() -> None:
    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    assert threshold_for(p, y, 0.8) == 0.51  # >= 0.51: 4 of 5 right; >= 0.5 would be 4 of 6
    assert threshold_for(p, y, 1.0) == 0.71
    assert threshold_for(np.array([0.2]), np.array([0]), 0.9) == 1.0


def _case(i: int, split: str, correct: bool, signal: float) -> CaseResult:
    signals = dict.fromkeys(SIGNALS, signal)
    turn = TurnResult(message="q", action="answer", reply="r", confidence=0.5, latency_ms=1.0, signals=signals)
    return CaseResult(id=f"c{i}", fingerprint="f", tags=[f"split:{split}"], turns=[turn], correct=correct)


def test_fitting_reads_only_the_fit_part_and_separates_the_labels() -> None:
    rng = np.random.default_rng(23)
    cases = [_case(i, "fit", bool(i % 2), float(np.clip((0.7 if i % 2 else 0.3) + rng.normal(0, 0.1), 0, 1)))
             for i in range(40)]
    cases.append(_case(99, "test", True, 0.0))
    x, y, ids = labelled(cases)
    assert "c99" not in ids and len(ids) == 40
    fitted = fit(x, y, model_id="m", cases=len(ids))
    assert fitted["features"] == list(SIGNALS)
    assert all(w > 0 for w in fitted["weights"])  # type: ignore[union-attr]
    assert fitted["fit_out_of_fold"]["auroc"] > 0.9  # type: ignore[index]
    assert 0 < fitted["clarify_threshold"] <= fitted["answer_threshold"] < 1  # type: ignore[operator]


def test_the_isotonic_step_is_kept_only_when_it_lowers_the_out_of_fold_loss() -> None:
    rng = np.random.default_rng(5)
    # right half the time below 0.5, nearly always above: two plateaus no logistic curve follows
    signal = rng.uniform(0, 1, 400)
    right = rng.uniform(0, 1, 400) < np.where(signal < 0.5, 0.5, 0.95)
    cases = [_case(i, "fit", bool(r), float(v)) for i, (v, r) in enumerate(zip(signal, right, strict=True))]
    x, y, ids = labelled(cases)
    stepped = fit(x, y, model_id="m", cases=len(ids))
    plain = fit(x, y, model_id="m", cases=len(ids), isotonic=False)
    assert plain["isotonic"] is None and stepped["isotonic"] is not None
    losses = stepped["fit_out_of_fold_log_loss"]
    assert losses["chosen"] < losses["platt"]  # type: ignore[index]
    assert min(stepped["isotonic"]["values"]) >= 0.02 and max(stepped["isotonic"]["values"]) <= 0.98  # type: ignore[index]


def test_forward_selection_keeps_the_informative_signals_only() -> None:
    rng = np.random.default_rng(11)
    y = (rng.uniform(0, 1, 1000) < 0.5).astype(int)
    informative = np.clip(0.4 + 0.2 * y + rng.normal(0, 0.15, 1000), 0, 1)
    noise = rng.uniform(0, 1, (1000, 2))
    assert select(np.column_stack([noise[:, 0], informative, noise[:, 1]]), y, ["a", "b", "c"]) == ["b"]


def test_a_lower_target_precision_answers_more_and_a_bad_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from evaluation.fit_confidence import main

    rng = np.random.default_rng(7)
    cases = [_case(i, "fit", bool(i % 3), float(np.clip((0.65 if i % 3 else 0.35) + rng.normal(0, 0.2), 0, 1)))
             for i in range(90)]
    x, y, ids = labelled(cases)
    strict = fit(x, y, model_id="m", cases=len(ids), target_precision=0.95)
    loose = fit(x, y, model_id="m", cases=len(ids), target_precision=0.7)
    assert strict["target_precision"] == 0.95 and loose["target_precision"] == 0.7
    assert loose["answer_threshold"] < strict["answer_threshold"]  # type: ignore[operator]
    with pytest.raises(SystemExit):
        main(["results.jsonl", "--target-precision", "1.5"])
    assert "--target-precision must be in [0.5, 1)" in capsys.readouterr().err


def _hit(document: str, text: str, score: float, dense: float) -> Hit:
    return Hit(chunk_id=f"{document}#0", document_id=document, source_id="s", title=document.title(), uri=None,
               section=(), text=text, kind=DocumentKind.ARTICLE, language="en", topic=(), score=score,
               dense_score=dense)


def test_the_evidence_signals_tell_the_cited_article_from_its_neighbour() -> None:
    hits = [
        _hit("plans", "Our plans: Classic, Explorer and Roaster's Choice. Each plan ships monthly.", 0.9, 0.8),
        _hit("change-plan", "To change your plan, open Subscription and pick another plan. Upgrades apply "
                            "from the next box.", 0.6, 0.7),
        _hit("gift-cards", "Gift cards never expire.", 0.2, 0.3),
    ]
    question = "How do I upgrade my plan to Explorer from the next box?"
    right = evidence_signals(question, hits, ["change-plan"], "Upgrades apply from the next box.")
    wrong = evidence_signals(question, hits, ["plans"], "Our plans: Classic, Explorer and Roaster's Choice.")
    assert set(right) == set(EVIDENCE) and all(0.0 <= v <= 1.0 for v in (*right.values(), *wrong.values()))
    assert right["rare_support"] > wrong["rare_support"] and right["reply_coverage"] > wrong["reply_coverage"]
    assert right["cited_top"] == 0.0 and wrong["cited_top"] == 1.0
    assert right["lead"] == wrong["lead"] == round((0.9 - 0.6) / 0.9, 4)
    assert right["dense_agrees"] == 1.0
    assert evidence_signals("the", hits, ["plans"], "") == dict.fromkeys(EVIDENCE, 0.0)
    assert evidence_signals(question, [], [], "") == dict.fromkeys(EVIDENCE, 0.0)


def test_the_language_signal_says_whether_the_cited_document_is_in_the_customers_language() -> None:
    assert language_signal("de", ["de"]) == {"same_language": 1.0}
    assert language_signal("de", ["en"]) == {"same_language": 0.0}
    assert language_signal("pt-BR", ["en", "pt"]) == {"same_language": 1.0}, "any cited document in it counts"
    assert language_signal("DE", ["de-AT"]) == {"same_language": 1.0}, "primary subtags, any case"
    assert language_signal(None, ["en"]) == {"same_language": 1.0}, "an undetected language says nothing against it"
    assert language_signal("fr", [None]) == {"same_language": 1.0}
    assert language_signal("en", []) == {"same_language": 0.0}, "nothing cited"
    assert "same_language" in SIGNALS


def test_the_english_signal_flags_a_question_the_english_only_model_reads_less_well() -> None:
    assert english_signal("en") == english_signal("EN-gb") == {"english_question": 1.0}
    assert english_signal(None) == {"english_question": 1.0}, "an undetected language says nothing against it"
    assert english_signal("es") == english_signal("pt-BR") == {"english_question": 0.0}
    assert "english_question" in SIGNALS


def test_the_evidence_calibration_is_chosen_by_setting_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    from agent.build import _calibrator

    evidence = FITTED.parent / "confidence-evidence.json"
    fitted = json.loads(evidence.read_text(encoding="utf-8"))
    settings = AgentSettings(calibration="confidence-evidence.json", answer_threshold=fitted["answer_threshold"])
    calibrator = _calibrator(fitted["model"], settings)
    assert calibrator is not None and calibrator.features == tuple(fitted["features"])
    assert set(calibrator.features) & set(EVIDENCE), "it weighs the cited document's own evidence"
    neighbour = {"answer_match": 0.7, "top_cosine": 0.6, "lead": 0.0, "cited_top": 0.0}
    assert calibrator(neighbour) < calibrator(neighbour | {"lead": 0.5, "cited_top": 1.0})
    default = _calibrator(fitted["model"], AgentSettings())
    assert default is not None and default.features != calibrator.features
    with pytest.raises(ConfigError, match="KNOWDESK_AGENT__CALIBRATION"):
        _calibrator(fitted["model"], AgentSettings(calibration=str(tmp_path / "nope.json")))


def test_weighing_the_sets_equally_gives_the_smaller_set_its_share() -> None:
    from evaluation.fit_confidence import set_weights

    w = set_weights(["a", "b", "b", "b"])
    assert w.tolist() == pytest.approx([2.0, 2 / 3, 2 / 3, 2 / 3]) and w.mean() == pytest.approx(1.0)
    # set "a": right only at high signals; set "b" (three times larger): right at any signal
    rng = np.random.default_rng(3)
    cases, sets = [], []
    for i in range(240):
        small = i % 4 == 0
        signal = float(rng.uniform(0, 1))
        right = signal > 0.5 if small else bool(rng.uniform() < 0.8)
        cases.append(_case(i, "fit", right, signal))
        sets.append("a" if small else "b")
    x, y, ids = labelled(cases)
    order = {c.id: s for c, s in zip(cases, sets, strict=True)}
    weighed = fit(x, y, model_id="m", cases=len(ids), weights=set_weights([order[i] for i in ids]), isotonic=False)
    plain = fit(x, y, model_id="m", cases=len(ids), isotonic=False)
    assert weighed["sets_weighed_equally"] and not plain["sets_weighed_equally"]
    assert sum(weighed["weights"]) > sum(plain["weights"])  # type: ignore[arg-type]  # the small set's slope counts more


def test_a_feature_named_a_times_b_weighs_the_product_of_two_signals(tmp_path: Path) -> None:
    path = tmp_path / "confidence.json"
    good = {"features": ["top_cosine", "same_language*top_cosine"], "weights": [0.0, 4.0], "bias": -2.0,
            "answer_threshold": 0.6, "target_precision": 0.9, "model": "m"}
    path.write_text(json.dumps(good), encoding="utf-8")
    calibrator = Calibrator.load(path)
    assert calibrator is not None
    assert calibrator({"top_cosine": 0.5, "same_language": 1.0}) == 0.5  # sigmoid(4 * 0.5 - 2)
    assert calibrator({"top_cosine": 0.5, "same_language": 0.0}) == pytest.approx(0.1192, abs=1e-4)  # sigmoid(-2)
    path.write_text(json.dumps(good | {"features": ["top_cosine", "same_language*shoe_size"]}), encoding="utf-8")
    with pytest.raises(ConfigError, match="fit_confidence"):
        Calibrator.load(path)
