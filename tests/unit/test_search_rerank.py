"""The second ranking stage: its pure parts (features, the weighted re-ordering), its plumbing through
``Searcher`` with a recording feature source, and MaxSim over the bundled MiniLM's token vectors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from core.settings import SearchSettings
from retrieval.index import QdrantCandidates
from retrieval.rerank import LateReranker, MiniLMTokens, heading_cover, maxsim, phrase_cover, words
from retrieval.search import Searcher
from retrieval.sparse import BM25Encoder
from retrieval.stages import Features, RankParams, fitted_values, rerank
from tests.fakes import HashEmbedder, hash_indexed

PARAMS = RankParams(rerank=True, rerank_depth=3, rerank_fused=0.0, rerank_phrase=1.0)
NONE = Features(late=0.0, heading=0.0, phrase=0.0)


def test_rerank_orders_the_head_by_the_weighted_features_and_keeps_the_tail_below() -> None:
    ranked = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), ("e", 0.5)]
    features = {"a": NONE, "b": NONE._replace(phrase=0.5), "c": NONE._replace(phrase=1.0)}
    out = rerank(ranked, features, PARAMS)
    assert [k for k, _ in out] == ["c", "b", "a", "d", "e"]
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True) and out[0][1] == pytest.approx(1.0)
    # only the fused score weighs: the order and the scores stay as they were
    assert rerank(ranked, features, PARAMS.model_copy(update={"rerank_fused": 1.0, "rerank_phrase": 0.0})) == ranked
    # half fused, half phrase: "a" (best fused, no phrase) ties "c" (worst fused of the head, full phrase)
    mixed = dict(rerank(ranked, features, PARAMS.model_copy(update={"rerank_fused": 1.0})))
    assert mixed["a"] == pytest.approx(mixed["c"]) == pytest.approx(0.5) and mixed["b"] == pytest.approx(0.5)


def test_rerank_late_scores_are_normalized_over_the_head() -> None:
    ranked = [("a", 0.9), ("b", 0.8)]
    features = {"a": NONE._replace(late=0.61), "b": NONE._replace(late=0.64)}
    params = PARAMS.model_copy(update={"rerank_phrase": 0.0, "rerank_late": 2.0})
    assert rerank(ranked, features, params) == [("b", 1.0), ("a", 0.0)]


def test_word_features() -> None:
    question = words("How do I configure a different editor?")
    assert heading_cover(question, "gitfaq\nConfiguration > Different editor") == pytest.approx(2 / 3)
    assert heading_cover(words("how do I"), "How do I") == 0.0  # stop words only: nothing to cover
    text = "Configuration\nHow do I configure a different editor? Set core.editor to the program."
    assert phrase_cover(question, text) == 1.0
    assert phrase_cover(question, "the editor is different; configure it") == 0.0
    assert 0.0 < phrase_cover(question, "to configure a proxy") < 1.0


def test_maxsim_takes_each_query_tokens_best_match() -> None:
    query = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    chunk = np.array([[1.0, 0.0], [0.6, 0.8]], dtype=np.float16)
    assert maxsim(query, chunk) == pytest.approx((1.0 + 0.8) / 2, abs=1e-3)
    assert maxsim(query, np.zeros((0, 2), dtype=np.float16)) == 0.0


def test_params_take_the_fitted_stage_unless_a_setting_says() -> None:
    fitted = fitted_values("rerank.json")
    assert {"rerank", "fused", "late", "heading", "phrase"} <= set(fitted)
    assert RankParams.from_settings(SearchSettings(rerank="off")).rerank is False
    on = RankParams.from_settings(SearchSettings(rerank="late", rerank_depth=40))
    assert on.rerank and on.rerank_depth == 40
    assert on.rerank_late == pytest.approx(float(fitted["late"]))  # type: ignore[arg-type]
    assert RankParams.from_settings(SearchSettings()).rerank == (fitted["rerank"] == "late")


# -- through the Searcher -------------------------------------------------------------------------
class Recording:
    """Features that favour chunks holding ``favour``; records what it was asked."""

    def __init__(self, favour: str) -> None:
        self.favour = favour
        self.calls: list[tuple[str, list[str]]] = []

    def features(self, query: str, payloads: Mapping[str, Mapping[str, Any]],
                 keys: Iterable[str]) -> dict[str, Features]:
        keys = list(keys)
        self.calls.append((query, keys))
        return {k: NONE._replace(phrase=1.0 if self.favour in str(payloads[k]["text"]) else 0.0) for k in keys}


CHUNKS = {"printer": ["printer paper jam clearing", "printer toner low"],
          "wifi": ["wifi password reset", "wifi drops every hour"]}


@pytest.fixture
def engine() -> Iterator[QdrantCandidates]:
    client = QdrantClient(location=":memory:")
    hash_indexed(client, CHUNKS)
    yield QdrantCandidates(client=client, alias="kd")
    client.close()


def test_searcher_runs_the_stage_when_on_and_skips_it_when_off(engine: QdrantCandidates) -> None:
    recording = Recording(favour="toner")
    on = Searcher(engine=engine, embedder=HashEmbedder(), sparse=BM25Encoder(),
                  config=SearchSettings(rerank="late", rerank_depth=4, split=False, cap=5), reranker=recording)
    on.params = on.params.model_copy(update={"rerank_fused": 0.1, "rerank_late": 0.0, "rerank_heading": 0.0,
                                             "rerank_phrase": 1.0})
    hits = on.search("  printer paper jam  ", workspace="w", top_k=3)
    assert hits[0].text == "printer toner low"
    [(query, keys)] = recording.calls
    assert query == "printer paper jam" and 1 <= len(keys) <= 4
    off = Searcher(engine=engine, embedder=HashEmbedder(), sparse=BM25Encoder(),
                   config=SearchSettings(rerank="off", split=False, cap=5), reranker=recording)
    assert off.search("printer paper jam", workspace="w", top_k=3)[0].text == "printer paper jam clearing"
    assert len(recording.calls) == 1


def test_a_keyword_weak_query_gets_the_stages_own_fused_weight(engine: QdrantCandidates) -> None:
    recording = Recording(favour="toner")
    searcher = Searcher(engine=engine, embedder=HashEmbedder(), sparse=BM25Encoder(),
                        config=SearchSettings(rerank="late", rerank_depth=4, split=False, cap=5, bm25_cover=0.6,
                                              weak_dense_weight=0.5, weak_rerank_fused=0.0), reranker=recording)
    # the fused score outweighs the phrase feature, except for a query whose BM25 list is weak
    searcher.params = searcher.params.model_copy(update={"rerank_fused": 100.0, "rerank_late": 0.0,
                                                         "rerank_heading": 0.0, "rerank_phrase": 1.0})
    assert searcher.search("printer paper jam", workspace="w", top_k=3)[0].text == "printer paper jam clearing"
    # no chunk holds more than two of its four terms (printer, paper): weak, so the phrase feature decides
    assert searcher.search("printer paper smudge streaks", workspace="w", top_k=3)[0].text == "printer toner low"
    unset = searcher.params.model_copy(update={"weak_rerank_fused": None})
    searcher.params = unset
    assert searcher.search("printer paper smudge streaks", workspace="w", top_k=3)[0].text != "printer toner low"


def test_part_rerank_runs_the_stage_on_each_sentence_with_its_own_text(engine: QdrantCandidates) -> None:
    recording = Recording(favour="toner")
    question = "My printer jams every morning again. The wifi drops every hour at home. Both started last week."
    settings = dict(rerank="late", rerank_depth=4, split_weight=0.0, group_weight=1.0, cap=5)
    each = Searcher(engine=engine, embedder=HashEmbedder(), sparse=BM25Encoder(),
                    config=SearchSettings(**settings, part_rerank=True), reranker=recording)
    each.search(question, workspace="w", top_k=3)
    asked = [query for query, _ in recording.calls]
    assert asked[0] == question and asked[1:] == ["My printer jams every morning again.",
                                                  "The wifi drops every hour at home.", "Both started last week."]
    recording.calls.clear()
    after = Searcher(engine=engine, embedder=HashEmbedder(), sparse=BM25Encoder(),
                     config=SearchSettings(**settings, part_rerank=False), reranker=recording)
    after.search(question, workspace="w", top_k=3)
    assert [query for query, _ in recording.calls] == [question]  # once, on the combined candidates


# -- the bundled model ----------------------------------------------------------------------------
def test_minilm_token_vectors_match_a_reworded_question_better_than_an_unrelated_chunk() -> None:
    tokens = MiniLMTokens()
    [q] = tokens.token_vectors(["my internet keeps disconnecting"])
    assert q.ndim == 2 and q.shape[1] == 384 and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    reranker = LateReranker(encoder=tokens, cache=1)
    payloads = {"net": {"title": "Network", "text": "The wireless connection drops every few minutes."},
                "bill": {"title": "Billing", "text": "Change the address printed on your invoice."}}
    got = reranker.features("my internet keeps disconnecting", payloads, ["net", "bill"])
    assert got["net"].late > got["bill"].late
    assert len(reranker._cache) == 1  # bounded by its size
