"""The extractive answer quotes the first hit's document: the retrieval's order (fused, or re-ranked by
the second stage) chooses the document, the units' match with the question chooses the sentences."""

from __future__ import annotations

import pytest

from agent.answering import ExtractiveAnswerer, lead_chunks, quotes_first_document
from agent.meaning import VectorCache
from core.models import DocumentKind, Hit
from core.settings import AgentSettings
from tests.fakes import HashEmbedder


def _hit(chunk: str, text: str, score: float, dense: float, title: str = "") -> Hit:
    document = chunk.split("#")[0]
    return Hit(chunk_id=chunk, document_id=document, source_id="help-center", title=title or document, uri=None,
               section=(), text=text, kind=DocumentKind.ARTICLE, language="en", topic=(), score=score,
               dense_score=dense)


RETURN_STEPS = _hit("returns#1", "Go to Account > Orders and select the order. Select Return items and then "
                    "Create return.", 0.97, 0.53, "How to return an item")
RETURN_INTRO = _hit("returns#0", "Most items can be returned within 30 days of delivery for a refund.", 0.74, 0.45,
                    "How to return an item")
# A neighbour whose sentence repeats the question's words ("send", "item", "back") without answering it.
REFUND = _hit("refunds#1", "We can send an item back to you instead of a partial refund if you ask us.", 0.64,
              0.35, "Refund processing times")


def _answerer() -> ExtractiveAnswerer:
    return ExtractiveAnswerer(cache=VectorCache(embedder=HashEmbedder()))


def test_the_lead_chunks_are_the_first_documents_in_order() -> None:
    hits = [RETURN_STEPS, REFUND, RETURN_INTRO]
    assert lead_chunks(hits, 3) == [RETURN_STEPS, RETURN_INTRO]
    assert lead_chunks(hits, 1) == [RETURN_STEPS]
    assert lead_chunks([], 3) == []


def test_a_neighbour_repeating_the_questions_words_is_not_cited_over_the_first_hit() -> None:
    question = "How do I send an item back?"
    embedder = HashEmbedder()
    answer = _answerer().answer(question, embedder.embed_query(question), [RETURN_STEPS, REFUND, RETURN_INTRO])
    assert answer is not None
    # Before: the refund page's sentence matched the question's words best and was quoted and cited.
    assert answer.documents == ["returns"]
    assert [c.document_id for c in answer.citations] == ["returns"]
    assert "partial refund" not in answer.reply


def test_the_order_not_the_wording_decides_the_document() -> None:
    question = "How do I send an item back?"
    embedder = HashEmbedder()
    answer = _answerer().answer(question, embedder.embed_query(question), [REFUND, RETURN_STEPS, RETURN_INTRO])
    assert answer is not None and answer.documents == ["refunds"]


def test_a_quoted_code_still_reads_the_lower_hit_that_is_keyed_by_it() -> None:
    question = "My Mill shows E-12, what now?"
    overview = _hit("mill#0", "The Mill shows an error code on its display when something is wrong.", 0.9, 0.6,
                    "Mill error codes")
    other = _hit("descale#0", "Descale the machine every month with the descaling tablets.", 0.5, 0.3, "Descaling")
    keyed = _hit("codes#4", "E-12 means the burrs are jammed: unplug the Mill and clear the burrs.", 0.4, 0.5,
                 "Burr errors")
    embedder = HashEmbedder()
    answer = _answerer().answer(question, embedder.embed_query(question), [overview, other, keyed])
    assert answer is not None and "unplug" in answer.reply and answer.documents == ["codes"]


def test_without_first_document_the_top_chunks_are_read_whichever_document() -> None:
    question = "How do I send an item back?"
    embedder = HashEmbedder()
    answerer = ExtractiveAnswerer(cache=VectorCache(embedder=HashEmbedder()), first_document=False)
    answer = answerer.answer(question, embedder.embed_query(question), [RETURN_STEPS, REFUND, RETURN_INTRO])
    assert answer is not None and answer.documents == ["refunds"]  # the behaviour before, kept for the fused order


def test_the_first_document_follows_the_second_stage_unless_configured() -> None:
    assert quotes_first_document(None, reranked=True)
    assert not quotes_first_document(None, reranked=False)
    assert quotes_first_document("first_document", reranked=False)
    assert not quotes_first_document("top_chunks", reranked=True)
    with pytest.raises(ValueError, match="answer_from"):
        quotes_first_document("best", reranked=True)
    assert AgentSettings().answer_from is None
    assert AgentSettings(answer_from="first_document").answer_from == "first_document"
