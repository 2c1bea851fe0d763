"""Where a resolution draft goes: its locale (the conversation's when the help center has it) and whether
a near-duplicate in another locale can take it as a section; the reviewer's approve-as choices."""

from __future__ import annotations

import pytest

from app.resolutions.models import ApproveAs, DraftKind, Similar
from app.resolutions.placement import locale_for, place
from app.resolutions.scenarios import approve_as
from core.errors import InvalidInput

LOCALES = ("en", "de", "es", "fr", "pt-BR")


def test_the_conversation_language_is_the_locale_when_the_help_center_has_it() -> None:
    assert locale_for("de", LOCALES, "en") == ("de", "")
    assert locale_for("pt", LOCALES, "en") == ("pt-BR", "")  # a regional locale of the language
    assert locale_for(None, LOCALES, "en") == ("en", "")  # unsure: the default, nothing to explain
    locale, why = locale_for("it", LOCALES, "en")
    assert locale == "en" and "'it'" in why and "KNOWDESK_HELPCENTER__LOCALES" in why


def test_a_near_duplicate_takes_the_section_only_when_it_has_text_in_the_draft_locale() -> None:
    near = Similar(slug="payment-methods", locale="en", title="Payment methods", score=0.81)
    assert place(None, "de").kind is DraftKind.NEW
    assert place(near, "en").kind is DraftKind.EDIT and place(near, "en").slug == "payment-methods"
    german = place(near, "de", {"payment-methods": {"en", "de"}})
    assert (german.kind, german.slug, german.locale, german.note) == (DraftKind.EDIT, "payment-methods", "de", "")
    alone = place(near, "de", {"payment-methods": {"en"}})
    assert alone.kind is DraftKind.NEW and alone.locale == "de" and "payment-methods" in alone.note


def test_approve_as_accepts_article_and_scenario_only() -> None:
    assert approve_as("scenario") is ApproveAs.SCENARIO and approve_as(ApproveAs.ARTICLE) is ApproveAs.ARTICLE
    with pytest.raises(InvalidInput, match="article, scenario"):
        approve_as("faq")
