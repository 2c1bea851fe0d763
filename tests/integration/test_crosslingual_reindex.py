"""Migrating a live MiniLM index to multilingual-e5-small with ``reindex --model`` (issue 21).

Real Qdrant local storage, the real bundled models: an English help center is synced with
MiniLM, rebuilt beside the live collection with e5, the alias switches, and a question in
German then finds the English article it asks about.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.reindex import run_reindex
from app.runtime import Runtime
from core.errors import InvalidInput
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.e5 import MODEL_ID, E5Embedder
from retrieval.generations import live_collection
from retrieval.index import close_clients

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples" / "helpcenter.json"
QUESTIONS = {  # written for this test, in the words of a customer
    "reset-password": "Ich habe mein Kennwort vergessen, wie bekomme ich ein neues?",
    "two-factor-authentication": "¿Cómo activo la verificación en dos pasos con una aplicación en el móvil?",
    "roast-and-grind-options": "Je voudrais un café moulu plus fin pour mon expresso, où est-ce que je change ça ?",
}


def _runtime(tmp_path: Path, *, translations: bool) -> Runtime:
    path = tmp_path / "helpcenter.json"
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    data["articles"] = data["articles"][:6]  # small enough for 2 shared cores
    if not translations:  # English-only knowledge: a German question can only be answered across languages
        for article in data["articles"]:
            article["translations"] = []
    path.write_text(json.dumps(data), encoding="utf-8")
    runtime = Runtime(Settings(home=tmp_path / "home"))
    source = Source(workspace="default", name="help", kind=SourceKind.HELPCENTER_EXPORT, options={"path": str(path)})
    runtime.sources.add(source)
    assert runtime.sync(source).status == "succeeded"
    return runtime


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    yield _runtime(tmp_path, translations=True)
    close_clients()


@pytest.fixture
def rt_english(tmp_path: Path) -> Iterator[Runtime]:
    yield _runtime(tmp_path, translations=False)
    close_clients()


def top_documents(rt: Runtime, question: str) -> list[str]:
    # help-center document ids end with "<article>/<locale>"
    return [h.document_id.rsplit(":", 1)[-1].split("/")[0] for h in rt.retrieve(question, workspace="default", top_k=3)]


def test_reindex_to_the_multilingual_model_switches_the_alias_and_answers_across_languages(rt: Runtime) -> None:
    before = live_collection(rt.qdrant, "knowdesk")
    chunks_before = rt.index.count("default")

    report = run_reindex(rt, model="multilingual-e5-small")

    assert report.status == "succeeded" and report.documents >= 6 and report.chunks > 0
    assert report.switched_from == before
    after = live_collection(rt.qdrant, "knowdesk")
    assert after != before and after is not None and "multilingual_e5_small_q4" in after
    assert rt.live[1].model == "multilingual-e5-small"
    assert isinstance(rt.embedder, E5Embedder) and rt.embedder.model_id == MODEL_ID
    assert rt.index.count("default") == report.chunks and chunks_before > 0
    for article, question in QUESTIONS.items():
        assert top_documents(rt, question)[0] == article, question


def test_a_question_in_an_unread_script_is_refused_clearly_after_the_switch(rt: Runtime) -> None:
    run_reindex(rt, model="multilingual-e5-small")
    with pytest.raises(InvalidInput, match="Runic"):
        rt.retrieve("ᚺᚹᛖᚱ ᛁᛋ ᛗᛁ ᛈᚨᛋᚹᛟᚱᛞ", workspace="default")
    # mixed-language text in covered scripts is fine
    assert top_documents(rt, "password vergessen, what now? necesito uno nuevo")[0] == "reset-password"


def test_under_e5_the_agent_reads_cosines_on_minilms_scale_and_answers_no_off_topic_question(
        rt_english: Runtime) -> None:
    """e5 puts unrelated texts near cosine 0.8, where MiniLM's thresholds read "very close": without
    the similarity scale (``retrieval/similarity.py``) every question got the full retrieval signal and
    was answered. On MiniLM's scale an off-topic question, in German or English, is not answered,
    and an English question about an article still is."""
    from agent.decision import Action

    rt = rt_english
    run_reindex(rt, model="multilingual-e5-small")
    agent = rt.agent
    for question in ("Wie hoch ist die Zugspitze und wann wurde sie erstbestiegen?", "What's the capital of Peru?"):
        session = agent.store.create("default", channel="web")
        off_topic = agent.handle("default", session.id, question)
        assert off_topic.action != Action.ANSWER, (question, off_topic.confidence, off_topic.reply)
        assert all((h.dense_score or 0.0) < 0.3 for h in off_topic.trace.retrieved), off_topic.trace.retrieved
    session = agent.store.create("default", channel="web")
    english = agent.handle("default", session.id, "I forgot my password, how do I get a new one?")
    assert english.action == Action.ANSWER, english.trace.notes
    assert english.citations[0].document_id.rsplit(":", 1)[-1] == "reset-password/en"


@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-07 on the six sample articles, English only: multilingual-e5-small (4-bit) gives "
    "German, Spanish and French password questions cosines of 0.11-0.35 on MiniLM's scale against the "
    "English article (English questions: 0.4-0.6), and ranks the two-factor article first for 4 of 7; "
    "the agent hands them off as low confidence rather than answer from the wrong article. Needs a "
    "better cross-lingual retriever (or a translated query) before the agent answers across languages"))
def test_the_agent_answers_a_german_question_from_the_english_article_and_says_so(rt_english: Runtime) -> None:
    from agent.decision import Action

    rt = rt_english
    run_reindex(rt, model="multilingual-e5-small")
    agent = rt.agent
    session = agent.store.create("default", channel="web")
    decision = agent.handle("default", session.id,
                            "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto. Was soll ich tun?")
    assert decision.trace.language == "de"
    assert decision.action == Action.ANSWER, decision.trace.notes
    assert decision.citations[0].document_id.rsplit(":", 1)[-1] == "reset-password/en"
    assert decision.reply.endswith("Diese Antwort stammt aus einem Artikel auf Englisch.")


def test_a_german_question_is_answered_from_the_german_translation_without_a_note(rt: Runtime) -> None:
    from agent.decision import Action

    run_reindex(rt, model="multilingual-e5-small")
    session = rt.agent.store.create("default", channel="web")
    decision = rt.agent.handle("default", session.id,
                               "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto. Was soll ich tun?")
    assert decision.action == Action.ANSWER, decision.trace.notes
    assert decision.citations[0].document_id.rsplit(":", 1)[-1] == "reset-password/de"
    assert "Artikel auf Englisch" not in decision.reply


def test_under_e5_the_handoff_classifier_is_its_own_and_reads_every_language() -> None:
    """MiniLM's classifiers read English only; e5's (``agent/fitted/intents-multilingual-e5-small-q4.json``,
    human requests only) read every language, and catch requests its phrase rules miss."""
    from agent.meaning import VectorCache
    from agent.policy import Triggers
    from core.settings import AgentSettings
    from evaluation.triggers import detect

    cache = VectorCache(embedder=E5Embedder())
    triggers = Triggers(cache=cache, settings=AgentSettings())
    assert triggers.model.model == MODEL_ID and triggers.model.languages is None
    assert set(triggers.model.reasons) == {"human_requested"}
    texts = ["talk 2 a human", "Por favor, escale mi caso a un agente humano.",
             "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto. Was soll ich tun?",
             "Can I see what your team wrote about refunds?"]
    found = detect(triggers, cache, texts)
    assert [d.reason for d in found] == ["human_requested", "human_requested", None, None], found
