"""BM25 sparse vectors: analysis (stop words, stemming, accents, codes) and weights."""

from __future__ import annotations

import math

import pytest

from retrieval.sparse import BM25Encoder, guess_languages, normalize_language, token_index, tokenize


@pytest.fixture(scope="module")
def bm25() -> BM25Encoder:
    return BM25Encoder()


def test_plural_and_singular_share_a_stem() -> None:
    assert tokenize("subscriptions", "en") == tokenize("subscription", "en") == ["subscript"]
    assert tokenize("Cancelling", "en") == tokenize("cancelled", "en")


def test_stop_words_and_single_letters_are_dropped() -> None:
    assert tokenize("How do I cancel the plan of a user?", "en") == ["cancel", "plan", "user"]
    assert tokenize("the and of", "en") == []


def test_german_is_stemmed_with_the_german_stemmer() -> None:
    assert tokenize("Rechnungen", "de") == tokenize("Rechnung", "de") == ["rechnung"]
    # German stop words go, English stemming would not have merged these forms.
    assert tokenize("Die Kündigung des Abonnements", "de") == ["kundig", "abonnement"]
    assert tokenize("Rechnungen", "en") != tokenize("Rechnung", "en")


def test_accents_are_folded_after_stemming() -> None:
    assert tokenize("café", "fr") == tokenize("cafe", "fr")
    assert tokenize("Kündigung", "de") == tokenize("Kundigung", "de")


def test_codes_are_kept_whole_and_split() -> None:
    terms = tokenize("Error E-12 after update v2.3", "en")
    assert "e-12" in terms and "12" in terms and "v2.3" in terms
    assert "e" not in terms  # single letters never index


def test_unknown_language_is_not_stemmed_but_still_tokenized() -> None:
    assert tokenize("Xyzzy plughs", "tlh") == ["xyzzy", "plughs"]
    assert normalize_language("pt-BR") == "pt"
    assert normalize_language(None) == "en"


def test_document_weights_follow_bm25_saturation(bm25: BM25Encoder) -> None:
    vector = bm25.encode_document("refund refund invoice", "en")
    weights = dict(zip(vector.indices, vector.values, strict=True))
    norm = 1.2 * (1 - 0.75 + 0.75 * 3 / 90.0)
    assert math.isclose(weights[token_index("refund")], 2 * 2.2 / (2 + norm))
    assert math.isclose(weights[token_index("invoic")], 1 * 2.2 / (1 + norm))
    assert vector.indices == sorted(vector.indices)


def test_query_is_the_union_over_languages_with_english(bm25: BM25Encoder) -> None:
    query = bm25.encode_query("Rechnungen subscriptions", ["de"])
    assert set(query.values) == {1.0}
    assert token_index("rechnung") in query.indices  # German stem
    assert token_index("subscript") in query.indices  # English always joins
    only_en = bm25.encode_query("subscriptions", [])
    assert only_en.indices == [token_index("subscript")]


def test_query_terms_match_document_terms(bm25: BM25Encoder) -> None:
    doc = bm25.encode_document("How to cancel a subscription", "en")
    query = bm25.encode_query("cancelling subscriptions", ["en"])
    assert set(query.indices) <= set(doc.indices)


def test_encoding_is_deterministic(bm25: BM25Encoder) -> None:
    text = "Refunds go to the original card. Refund status: see Orders > Refunds. E-12, E-13."
    first = bm25.encode_document(text, "en")
    assert all(bm25.encode_document(text, "en") == first for _ in range(3))
    assert BM25Encoder().encode_query(text, ["en", "de"]) == bm25.encode_query(text, ["de", "en"])


def test_empty_text_gives_an_empty_vector(bm25: BM25Encoder) -> None:
    assert bm25.encode_document("  the a of ", "en").indices == []
    assert bm25.encode_query("?!", ["en"]).indices == []


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        BM25Encoder(b=2.0)


@pytest.mark.parametrize(("text", "expected"), [
    ("Wie kann ich mein Abonnement pausieren?", ["de"]),
    ("¿Cómo puedo cancelar mi suscripción?", ["es"]),
    ("Como posso cancelar a minha assinatura?", ["pt"]),
    ("Comment puis-je annuler mon abonnement ?", ["fr"]),
    ("How do I cancel my subscription?", []),
    ("E-12", []),
    ("", []),
    ("I want to pause my Abo für die Maschine", []),  # mostly English: English stemming only
])
def test_query_language_is_guessed_from_its_stop_words(text: str, expected: list[str]) -> None:
    assert guess_languages(text) == expected


def test_a_query_without_language_filter_is_stemmed_in_its_own_language(bm25: BM25Encoder) -> None:
    from retrieval.search import SearchFilters

    doc = bm25.encode_document("So pausieren Sie Ihre Abonnements für einen Monat.", "de")
    text = "Wie kann ich mein Abonnement pausieren?"
    guessed = bm25.encode_query(text, SearchFilters().languages(text))
    english_only = bm25.encode_query(text, ["en"])
    assert len(set(guessed.indices) & set(doc.indices)) > len(set(english_only.indices) & set(doc.indices))
    assert token_index("abonnement") in guessed.indices  # German stem of "Abonnements"
    # A language filter is what the caller asked for: no guess on top of it.
    assert SearchFilters(language="fr").languages(text) == ["fr", "en"]
