"""The note that an answer comes from an article in another language (agent/language.py)."""

from __future__ import annotations

import pytest

from agent.language import NOTE_LANGUAGES, source_language_note


@pytest.mark.parametrize(("customer", "expected"), [
    ("de", "Diese Antwort stammt aus einem Artikel auf Englisch."),
    ("es", "Esta respuesta procede de un artículo en inglés."),
    ("fr", "Cette réponse provient d'un article en anglais."),
    ("pt-BR", "Esta resposta vem de um artigo em inglês."),
])
def test_the_note_is_in_the_customers_language_and_names_the_articles(customer: str, expected: str) -> None:
    assert source_language_note(customer, ["en"]) == expected


def test_no_note_when_a_cited_article_is_in_the_customers_language_or_nothing_is_known() -> None:
    assert source_language_note("de", ["en", "de"]) is None
    assert source_language_note("en", ["en-US"]) is None
    assert source_language_note(None, ["en"]) is None  # language not detected
    assert source_language_note("de", [None]) is None  # article language unknown
    assert source_language_note("ja", ["en"]) is None  # no template for Japanese: nothing added


def test_an_article_language_without_a_name_gets_the_generic_note() -> None:
    assert source_language_note("fr", ["sv"]) == "Cette réponse provient d'un article dans une autre langue."
    assert all(source_language_note(lang, ["xx-unknown"]) for lang in NOTE_LANGUAGES if lang != "xx")
