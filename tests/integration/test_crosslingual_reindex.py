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


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    path = tmp_path / "helpcenter.json"
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    data["articles"] = data["articles"][:6]  # small enough for 2 shared cores
    path.write_text(json.dumps(data), encoding="utf-8")
    runtime = Runtime(Settings(home=tmp_path / "home"))
    source = Source(workspace="default", name="help", kind=SourceKind.HELPCENTER_EXPORT, options={"path": str(path)})
    runtime.sources.add(source)
    assert runtime.sync(source).status == "succeeded"
    yield runtime
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


@pytest.mark.xfail(strict=True, reason=(
    "the agent's meaning thresholds (human_request 0.62, scenario 0.72, topic 0.45...) are MiniLM cosines; "
    "e5's cosines of unrelated texts sit far higher, so this ordinary German question scores 0.84 as a "
    "request for a human and is handed off: recalibrate the thresholds per model before e5 serves the agent"))
def test_the_agent_answers_a_german_question_from_the_english_article_and_says_so(rt: Runtime) -> None:
    from agent.decision import Action

    run_reindex(rt, model="multilingual-e5-small")
    agent = rt.agent
    session = agent.store.create("default", channel="web")
    decision = agent.handle("default", session.id,
                            "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto. Was soll ich tun?")
    assert decision.trace.language == "de"
    assert decision.action == Action.ANSWER, decision.trace.notes
    assert decision.citations[0].document_id.rsplit(":", 1)[-1].startswith("reset-password/")
    assert decision.reply.endswith("Diese Antwort stammt aus einem Artikel auf Englisch.")
