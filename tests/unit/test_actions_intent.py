"""How-to questions vs. requests to act (actions/intent.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.intent import how_to_question, identifiers_in_message
from actions.openapi import parse_spec
from actions.params import ParameterFiller

SAMPLE = Path(__file__).resolve().parents[2] / "service" / "samples" / "brewly-api.yaml"
BREWLY = {a.id: a for a in parse_spec(SAMPLE.read_bytes(), workspace="default", name="brewly").actions}


@pytest.mark.parametrize("message", [
    "How do I skip next month's delivery?", "What's the deadline to skip a box?", "Is there a fee for cancelling?",
    "How long can I pause my subscription?", "Where can I find the tracking number for my parcel?",
    "I cancelled on the 27th, will I still get a box?", "What amounts can I buy a gift card for?",
    "Hi! How many boxes can I skip in advance?", "Can I end my pause early?", "Do you ship to Norway?",
])
def test_how_to_questions(message: str) -> None:
    assert how_to_question(message)


@pytest.mark.parametrize("message", [
    "Please skip my next box", "Where is my order?", "Can you send me my invoice?", "Pause my subscription for two "
    "months", "I want to skip next month's box", "When is my next box coming?", "Where is my parcel? I ordered it "
    "last week", "box", "What a joke. My coffee never arrives.",
])
def test_requests_to_act_or_look_up(message: str) -> None:
    assert not how_to_question(message)


def test_an_identifier_in_the_message_makes_a_question_a_lookup() -> None:
    fill = ParameterFiller().fill
    card = BREWLY["gift_card_balance"]
    asked = "What's the balance on gift card BRW-7K2M-9QXP-4TZD?"
    assert how_to_question(asked) and identifiers_in_message(card, fill(card, asked)) == ["code"]
    skip = BREWLY["skip_delivery"]
    generic = "How do I skip next month's delivery?"  # "next" is an enum word, not an identifier
    assert identifiers_in_message(skip, fill(skip, generic)) == []
