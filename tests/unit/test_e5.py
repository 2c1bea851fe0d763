"""The multilingual-e5-small embedder (retrieval/e5.py) on the real bundled 4-bit model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, InvalidInput
from core.settings import EmbeddingSettings
from retrieval.e5 import MAX_POSITIONS, MODEL_ID, E5Embedder, is_e5, load_engine, uncovered_scripts
from retrieval.embedders import build_embedder
from retrieval.embedding import SentenceTransformerEmbedder


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return E5Embedder(batch_size=4)


def test_names_select_the_e5_embedder_and_others_stay_with_sentence_transformers(tmp_path: Path) -> None:
    assert is_e5("multilingual-e5-small") and is_e5(" Intfloat/Multilingual-E5-Small ") and is_e5(MODEL_ID)
    assert not is_e5("all-MiniLM-L6-v2")
    settings = EmbeddingSettings()
    assert isinstance(build_embedder("multilingual-e5-small", settings=settings, home=tmp_path), E5Embedder)
    assert isinstance(build_embedder("all-MiniLM-L6-v2", settings=settings, home=tmp_path), SentenceTransformerEmbedder)
    with pytest.raises(ConfigError, match="not available offline"):
        build_embedder("multilingual-e5-large", settings=EmbeddingSettings(), home=tmp_path)


def test_vectors_are_384_float32_unit_length(e5: E5Embedder) -> None:
    docs = e5.embed_documents(["Reset your password from the sign-in page.", "", "ok"] * 3)  # 9 texts, 3 batches
    queries = e5.embed_queries(["How do I reset my password?", "Wie setze ich mein Passwort zurück?"])
    assert e5.dimension == 384 and e5.model_id == MODEL_ID
    assert docs.shape == (9, 384) and docs.dtype == np.float32
    assert queries.shape == (2, 384) and e5.embed_query("hi").shape == (384,)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(docs[0], docs[3], atol=1e-6)  # batching changes nothing
    assert e5.embed_documents([]).shape == (0, 384) and e5.embed_queries([]).shape == (0, 384)


def test_queries_and_passages_get_their_own_prefix(e5: E5Embedder) -> None:
    text = "How do I reset my password?"
    engine = load_engine(None)
    query, passage = e5.embed_query(text), e5.embed_documents([text])[0]
    assert float(query @ passage) < 0.99  # different prefixes, different vectors
    np.testing.assert_allclose(query, engine.encode([text], True)[0], atol=1e-6)
    np.testing.assert_allclose(passage, engine.encode([text], False)[0], atol=1e-6)
    # the prefix is the engine's job: adding it again would change the vector
    assert float(e5.embed_query(f"query: {text}") @ query) < 0.999


def test_token_counts_match_what_the_model_reads_in_one_window(e5: E5Embedder) -> None:
    engine = load_engine(None)
    assert e5.max_tokens == MAX_POSITIONS - (engine.token_count("", False) - 1)
    assert e5.count_tokens("") == 0 and e5.count_tokens("   ") == 0
    for text in ["hello world", "Wie kündige ich mein Abonnement?", "apt-get install foo.deb", "日本語のテキスト"]:
        # the model reads special tokens + "passage: " + the text: a fixed overhead over the count
        assert engine.token_count(text, False) == e5.count_tokens(text) + MAX_POSITIONS - e5.max_tokens
    words = ["Paketverwaltung", "für", "Debian"]
    low, high = 1, 4 * e5.max_tokens  # the most words whose text still fits, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if e5.count_tokens(" ".join(words[i % 3] for i in range(mid))) <= e5.max_tokens:
            low = mid
        else:
            high = mid - 1
    fits = " ".join(words[i % 3] for i in range(low))
    too_long = " ".join(words[i % 3] for i in range(low + 1))
    assert e5.count_tokens(fits) <= e5.max_tokens < e5.count_tokens(too_long)
    assert engine.token_count(fits, False) <= MAX_POSITIONS < engine.token_count(too_long, False)
    assert e5.embed_documents([fits]).shape == (1, 384)
    with pytest.raises(ValueError, match="exceed the model's"):
        e5.embed_documents(["short", too_long])
    assert e5.embed_query(too_long).shape == (384,)  # a long query is windowed, not refused


def test_a_nul_character_does_not_cut_the_text(e5: E5Embedder) -> None:
    whole = e5.embed_documents(["cancel my subscription today"])[0]
    assert float(e5.embed_documents(["cancel\x00 my subscription today"])[0] @ whole) > 0.98
    assert float(e5.embed_documents(["cancel"])[0] @ whole) < 0.95


def test_questions_in_other_languages_land_on_the_matching_english_passage(e5: E5Embedder) -> None:
    passages = e5.embed_documents([
        "To reset your password, click 'Forgot password' on the sign-in page and follow the email link.",
        "Deliveries ship every Monday; you can skip a month from the subscription page.",
        "Invoices are available as PDF under Account > Billing.",
    ])
    questions = {  # (question, the same need asked in English, the passage that answers it)
        "Ich habe mein Passwort vergessen. Wie setze ich es zurück?": ("I forgot my password, how to reset it?", 0),
        "¿Puedo saltarme la entrega de este mes?": ("Can I skip this month's delivery?", 1),
        "Où puis-je télécharger mes factures ?": ("Where can I download my invoices?", 2),
        "Onde encontro minhas faturas em PDF?": ("Where do I find my invoices as PDF?", 2),
    }
    answers = [i for _, i in questions.values()]
    scores = e5.embed_queries(list(questions)) @ passages.T
    english = e5.embed_queries([en for en, _ in questions.values()]) @ passages.T
    assert [int(i) for i in scores.argmax(axis=1)] == answers
    # An English-only model (MiniLM) scores a German question against the English answer far below
    # the English question (0.13 against about 0.7); a multilingual one nearly as high.
    rows = range(len(answers))
    assert all(scores[r, answers[r]] > english[r, answers[r]] - 0.08 for r in rows), (scores, english)
    # a translation pair is closer than an unrelated pair in the same language
    de, en, other = e5.embed_queries(["Wie kündige ich mein Abo?", "How do I cancel my subscription?",
                                      "Wie spät ist es in Tokio?"])
    assert float(de @ en) > float(de @ other) + 0.05


def test_a_query_in_a_script_the_model_does_not_read_is_refused(e5: E5Embedder) -> None:
    assert uncovered_scripts("ᚺᚹᛖᚱ ᛁᛋ ᛗᛁ ᛈᚨᛋᚹᛟᚱᛞ") == ["RUNIC"]
    assert uncovered_scripts("𒀀𒀁𒀂 𒀃") == ["CUNEIFORM"]
    assert uncovered_scripts("Привет, how do I 重置 my パスワード?") == []  # mixed, all covered
    assert uncovered_scripts("1234 !!! ?") == []  # no letters: nothing to judge
    assert uncovered_scripts("reset password ᚠ") == []  # a stray rune in an English question
    with pytest.raises(InvalidInput, match="Runic script"):
        e5.embed_query("ᚺᚹᛖᚱ ᛁᛋ ᛗᛁ ᛈᚨᛋᚹᛟᚱᛞ")
    with pytest.raises(InvalidInput, match="Cuneiform"):
        e5.embed_queries(["fine", "𒀀𒀁𒀂 𒀃"])
    assert e5.embed_documents(["ᚺᚹᛖᚱ ᛁᛋ"]).shape == (1, 384)  # documents are indexed as they are


def test_mixed_language_text_embeds_near_both_languages(e5: E5Embedder) -> None:
    mixed, de, en, unrelated = e5.embed_queries([
        "Mein Passwort funktioniert nicht, I need to reset it",
        "Mein Passwort funktioniert nicht", "I need to reset my password", "Wann kommt meine Kaffeelieferung?"])
    assert min(float(mixed @ de), float(mixed @ en)) > float(mixed @ unrelated)
