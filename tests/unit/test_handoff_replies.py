"""The handoff replies in the customer's language, with English for unknown or unshipped languages."""

from __future__ import annotations

import pytest

from agent.decision import HandoffReason
from agent.handoffs import REPLY_LANGUAGES, already_handed_off_reply, handoff_reply
from agent.language import NOTE_LANGUAGES


@pytest.mark.parametrize("reason", list(HandoffReason))
def test_every_reason_has_a_reply_with_the_ticket_in_every_shipped_language(reason: HandoffReason) -> None:
    replies = {language: handoff_reply(reason, 4711, language) for language in REPLY_LANGUAGES}
    assert all("#4711" in reply and "{" not in reply for reply in replies.values())
    assert len(set(replies.values())) == len(REPLY_LANGUAGES), "each language reads differently"


def test_the_reply_languages_are_those_of_the_other_templates() -> None:
    assert set(REPLY_LANGUAGES) == set(NOTE_LANGUAGES)


def test_unknown_or_regional_codes() -> None:
    low = HandoffReason.LOW_CONFIDENCE
    english = handoff_reply(low, 3)
    assert english.startswith("I couldn't find a reliable answer")
    assert handoff_reply(low, 3, None) == english and handoff_reply(low, 3, "ja") == english
    assert handoff_reply(low, 3, "pt-BR") == handoff_reply(low, 3, "pt") != english
    assert handoff_reply(low, 3, "FR").startswith("Je n'ai pas trouvé")
    assert already_handed_off_reply(9, "de") == (
        "Ihr Gespräch liegt bei unserem Team (Ticket #9); Sie erhalten die Antwort hier.")
