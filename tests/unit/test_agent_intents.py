"""Per-language handoff rules, pleasantries and the fitted classifier's scale (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.classifier import FITTED, IntentModel, ReasonModel
from agent.courtesy import _REPLIES, _WELCOME_GOODBYE, Courtesy, pleasantry
from agent.intents import frustration_score, human_rule, is_guarded
from core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("could someone call me back", "en"),
        ("Ich möchte bitte mit einer echten Person sprechen.", "de"),
        ("¿Me pueden devolver la llamada, por favor?", "es"),
        ("Mettez-moi en relation avec un conseiller.", "fr"),
        ("Posso falar com um atendente, por favor?", "pt"),
    ],
)
def test_a_request_for_a_person_is_found_in_each_language(text: str, language: str) -> None:
    assert human_rule(text).language == language


@pytest.mark.parametrize(
    "text",
    [
        "I talked to a human last week and they said I could skip two boxes. How do I do that?",
        "No need for a human, just tell me how to skip a delivery",
        "Can I speak to the Mill with Alexa?",
        "Ich habe schon mit jemandem gesprochen, alles erledigt.",
        "Is your support team available on public holidays?",
        "When is your chat support available?",
    ],
)
def test_people_mentioned_without_a_request_are_not_a_request(text: str) -> None:
    assert human_rule(text).language is None


def test_a_guard_marks_a_negated_request() -> None:
    assert is_guarded("don't transfer me, I only have a quick question")
    assert not is_guarded("transfer me please")


@pytest.mark.parametrize(
    ("text", "frustrated"),
    [
        ("Your app is garbage, it logged me out five times today.", True),
        ("Estoy furioso, el molinillo se rompió en una semana.", True),
        ("I ASKED HOW TO GET MY MONEY BACK", True),
        ("WHAT IS THE RETURN WINDOW FOR THE MILL", False),
        ("Damn, I missed the cutoff. What happens now?", False),
        ("How many times do you retry a failed payment?", False),
    ],
)
def test_frustration_words_count_by_strength(text: str, frustrated: bool) -> None:
    assert (frustration_score(text)[0] >= 0.5) is frustrated


@pytest.mark.parametrize(
    ("text", "kind", "language"),
    [
        ("ok great, thanks", Courtesy.THANKS, "en"),
        ("Hallo", Courtesy.GREETING, "de"),
        ("Ok ça marche", Courtesy.ACKNOWLEDGEMENT, "fr"),
        ("Até logo", Courtesy.GOODBYE, "pt"),
        ("Thanks 🙏", Courtesy.THANKS, "en"),
    ],
)
def test_pleasantries_are_recognised_with_kind_and_language(text: str, kind: Courtesy, language: str) -> None:
    found = pleasantry(text)
    assert found is not None and found.kind == kind and found.language == language and found.reply


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("bye", "en"),
        ("thanks, that's all", "en"),
        ("That’s everything, cheers", "en"),
        ("nope that's it", "en"),
        ("Das war's, danke!", "de"),
        ("Tschüss", "de"),
        ("Eso es todo, gracias", "es"),
        ("Adiós", "es"),
        ("C'est tout, merci", "fr"),
        ("Au revoir !", "fr"),
        ("É só isso, obrigado", "pt"),
        ("Tchau", "pt"),
    ],
)
def test_goodbyes_close_the_conversation_with_a_goodbye_in_their_language(text: str, language: str) -> None:
    found = pleasantry(text)
    assert found is not None and found.closes and found.language == language
    assert found.reply in (_REPLIES[Courtesy.GOODBYE][language], _WELCOME_GOODBYE[language])


@pytest.mark.parametrize("text", ["Thank you!", "ok great, thanks", "Hello", "Alles klar, danke.", "Merci", "👍"])
def test_thanks_greetings_and_acknowledgements_leave_the_conversation_open(text: str) -> None:
    found = pleasantry(text)
    assert found is not None and not found.closes
    assert found.reply == _REPLIES[found.kind][found.language]


@pytest.mark.parametrize("text", ["Thanks for nothing.", "Hi, how do I skip a box?", "yes", "", "🔥🔥"])
def test_anything_else_is_not_a_pleasantry(text: str) -> None:
    assert pleasantry(text) is None


def test_the_fitted_threshold_lands_on_the_trigger_threshold() -> None:
    weights = np.zeros(4, dtype=np.float32)
    model = IntentModel(reasons={"x": ReasonModel(weights=weights, bias=0.0, threshold=0.5)}, model="m")
    probability, score = model.score("x", np.ones(4, dtype=np.float32), trigger_threshold=0.62)  # type: ignore[misc]
    assert probability == 0.5 and score == 0.62
    assert model.score("x", np.ones(3, dtype=np.float32), trigger_threshold=0.62) is None
    assert model.score("other", np.ones(4, dtype=np.float32), trigger_threshold=0.62) is None


def test_the_shipped_fit_loads_and_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    shipped = IntentModel.load(FITTED)
    assert set(shipped.reasons) == {"human_requested", "frustration"} and shipped.model == "all-MiniLM-L6-v2"
    assert IntentModel.load(tmp_path / "missing.json").reasons == {}
    broken = tmp_path / "intents.json"
    broken.write_text(json.dumps({"reasons": {"x": {}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="fit_intents"):
        IntentModel.load(broken)


def test_the_fit_applies_to_its_model_and_that_model_s_int8_encoder_only() -> None:
    model = IntentModel(reasons={}, model="all-MiniLM-L6-v2")
    assert model.fits("all-MiniLM-L6-v2") and model.fits("all-MiniLM-L6-v2-int8")
    assert not model.fits("multilingual-e5-small") and not model.fits(None) and not model.fits("")
    assert not IntentModel(reasons={}, model="").fits("all-MiniLM-L6-v2")


def test_each_model_has_its_own_fitted_file_and_languages() -> None:
    from agent.classifier import fitted_path

    assert fitted_path("all-MiniLM-L6-v2") == FITTED and fitted_path("all-MiniLM-L6-v2-int8") == FITTED
    assert fitted_path(None) == FITTED
    assert fitted_path("multilingual-e5-small-q4").name == "intents-multilingual-e5-small-q4.json"
    assert fitted_path("../../etc/passwd").parent == FITTED.parent, "a model name never leaves the folder"
    english = IntentModel(reasons={}, model="m")
    assert english.reads("en") and english.reads(None) and not english.reads("de")
    every = IntentModel(reasons={}, model="m", languages=None)
    assert every.reads("de") and every.reads("pt") and every.reads(None)
    assert IntentModel.load(FITTED).languages == ("en",), "MiniLM's classifiers read English only"


def test_a_fitted_file_with_bad_languages_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "intents.json"
    good = {"model": "m", "reasons": {"x": {"weights": [0.0], "bias": 0.0, "threshold": 0.5}}}
    path.write_text(json.dumps(good | {"languages": None}), encoding="utf-8")
    assert IntentModel.load(path).languages is None
    path.write_text(json.dumps(good), encoding="utf-8")
    assert IntentModel.load(path).languages == ("en",), "files from before the field read English only"
    path.write_text(json.dumps(good | {"languages": "de"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="languages must be a list"):
        IntentModel.load(path)
