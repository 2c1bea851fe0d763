"""The search pipeline's stages: pure functions, then their plumbing through ``Searcher`` with a
hash embedder on in-memory Qdrant (plumbing only: quality is measured in bench/retrieval)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from core.errors import InvalidInput
from core.settings import SearchSettings
from retrieval.index import QdrantCandidates
from retrieval.search import MAX_TOP_K, Searcher
from retrieval.sparse import BM25Encoder, term_cover
from retrieval.stages import (
    RankParams,
    Scored,
    analyze,
    bm25_strength,
    cap_groups,
    combine,
    combine_groups,
    dense_weight,
    diversify,
    fitted_values,
    fuse,
    keyword_weak,
    sentences,
    stage_params,
)
from tests.fakes import hash_indexed

WEIGHTED = RankParams(fusion="weighted", dense_weight=0.5, diversity=0.0)


def test_long_query_is_cut_at_a_word_with_a_note() -> None:
    query = "word " * 3000
    analysis = analyze(query, max_chars=10_000, split=False, min_sentences=3)
    assert len(analysis.text) <= 10_000 and analysis.text.endswith("word")
    assert analysis.notes and "15000 characters" in analysis.notes[0]
    assert analyze("short one", max_chars=10_000, split=False, min_sentences=3).notes == ()


def test_long_questions_split_into_sentences_short_ones_do_not() -> None:
    text = ("Hi. My laptop will not boot after the upgrade to the new release. I also cannot find where the "
            "mirrors are configured! And how do I report this bug to the developers?")
    assert sentences(text) == [
        "Hi. My laptop will not boot after the upgrade to the new release.",
        "I also cannot find where the mirrors are configured!",
        "And how do I report this bug to the developers?",
    ]
    assert len(analyze(text, max_chars=10_000, split=True, min_sentences=3).parts) == 3
    assert analyze(text, max_chars=10_000, split=True, min_sentences=4).parts == ()
    assert analyze(text, max_chars=10_000, split=False, min_sentences=3).parts == ()


def test_weighted_fusion_follows_the_weight() -> None:
    items = [Scored("semantic", 0.9, 0.0, 0, None), Scored("keyword", 0.3, 12.0, 5, 0),
             Scored("both", 0.7, 8.0, 2, 1)]
    assert fuse(items, WEIGHTED.model_copy(update={"dense_weight": 1.0}))[0][0] == "semantic"
    assert fuse(items, WEIGHTED.model_copy(update={"dense_weight": 0.0}))[0][0] == "keyword"
    ranked = dict(fuse(items, WEIGHTED))  # cosine min-max normalized, BM25 over the best one
    assert ranked == pytest.approx({"both": 2 / 3, "semantic": 0.5, "keyword": 0.5})
    # a query without keywords (no BM25 list) ranks by the dense side alone
    dense_only = [Scored("a", 0.2, 0.0, 1, None), Scored("b", 0.7, 0.0, 0, None)]
    assert fuse(dense_only, WEIGHTED)[0][0] == "b"


def test_rrf_fusion_uses_ranks_only() -> None:
    items = [Scored("a", 0.9, 1.0, 0, 3), Scored("b", 0.1, 9.0, 1, 0)]
    ranked = dict(fuse(items, RankParams(fusion="rrf", dense_weight=0.5, rrf_k=2)))
    assert ranked["a"] == pytest.approx(1 / 2 + 1 / 5) and ranked["b"] == pytest.approx(1 / 3 + 1 / 2)


def test_combine_lets_a_sentence_bring_in_its_own_chunk() -> None:
    whole = [("w1", 1.0), ("w2", 0.9), ("w3", 0.8), ("w4", 0.7)]
    part = [("only-part", 1.0), ("w3", 0.5)]
    combined = [k for k, _ in combine(whole, [part], RankParams(split_weight=1.0, split_k=10))]
    assert combined.index("only-part") < combined.index("w4")
    assert combine(whole, [part], RankParams(split_weight=0.0)) == whole


def test_combine_groups_scores_each_group_by_its_best_rank_per_sentence() -> None:
    # the whole question's list is filled by one document; each sentence's best document is another one
    whole = [("a#0", 1.0), ("a#1", 0.9), ("a#2", 0.8), ("b#0", 0.7), ("c#0", 0.6), ("c#1", 0.5)]
    needs = [[("b#0", 1.0), ("a#0", 0.5)], [("c#1", 1.0), ("c#0", 0.9), ("a#1", 0.5)]]
    groups = {k: k.split("#")[0] for k, _ in whole}
    params = RankParams(group_weight=1.0, group_k=10)
    ranked = combine_groups(whole, needs, groups, params)
    order = [k for k, _ in ranked]
    # each group's best chunk first, its further chunks after: a, b and c lead
    assert {groups[k] for k in order[:3]} == {"a", "b", "c"}
    scores = dict(ranked)
    # a: 1st group of the whole (1/11), 2nd of the first sentence (1/12), 2nd of the second (1/12)
    assert scores["a#0"] == pytest.approx(1 / 11 + 1 / 12 + 1 / 12)
    # c's best chunk (c#1: ranked 6th, then 1st) carries c's group score: 3rd group, absent, 1st group
    assert scores["c#1"] == pytest.approx(1 / 13 + 1 / 11)
    # a further chunk keeps its chunk-level sum, never above its group's
    assert scores["c#0"] == pytest.approx(1 / 15 + 1 / 12)
    assert scores["c#0"] < scores["c#1"]
    assert scores["a#2"] == pytest.approx(1 / 13)
    # per chunk, a's second chunk would take the third place and c's need would wait
    per_chunk = [k for k, _ in combine(whole, needs, RankParams(split_weight=1.0, split_k=10))]
    assert {groups[k] for k in per_chunk[:3]} == {"a", "b"}


def test_combine_groups_is_off_without_weight_or_sentences() -> None:
    whole = [("a#0", 1.0), ("b#0", 0.5)]
    groups = {"a#0": "a", "b#0": "b", "c#0": "c"}
    assert combine_groups(whole, [[("c#0", 1.0)]], groups, RankParams(group_weight=0.0)) == whole
    assert combine_groups(whole, [], groups, RankParams(group_weight=1.0)) == whole


def test_group_settings_switch_the_split_on_and_override_the_fitted_values() -> None:
    params = RankParams.from_settings(SearchSettings(split_weight=0.0, group_weight=0.5, group_k=5.0,
                                                     part_rerank=True))
    assert params.split and params.group_weight == 0.5 and params.group_k == 5.0 and params.part_rerank
    off = RankParams.from_settings(SearchSettings(split_weight=0.0, group_weight=0.0))
    assert not off.split and off.group_weight == 0.0
    with pytest.raises(ValueError, match="group_k"):
        SearchSettings(group_k=0.0)


def test_diversify_demotes_a_documents_further_chunks_and_caps() -> None:
    ranked = [("a#0", 1.0), ("a#1", 0.99), ("a#2", 0.98), ("b#0", 0.9), ("c#0", 0.5)]
    docs = {k: k.split("#")[0] for k, _ in ranked}
    plain = diversify(ranked, docs, penalty=0.0, per_document=2, top_k=4)
    assert [k for k, _ in plain] == ["a#0", "a#1", "b#0", "c#0"]
    spread = diversify(ranked, docs, penalty=0.2, per_document=2, top_k=4)
    assert [k for k, _ in spread] == ["a#0", "b#0", "a#1", "c#0"]
    assert spread[2][1] == pytest.approx(0.99 * 0.8)
    assert [k for k, _ in diversify(ranked, docs, penalty=0.5, per_document=1, top_k=10)] == ["a#0", "b#0", "c#0"]


def test_a_section_cap_keeps_a_documents_other_sections_and_drops_a_sections_pieces() -> None:
    payloads = {
        "faq#0": {"document_id": "faq", "section": ["Install", "Disk"]},
        "faq#1": {"document_id": "faq", "section": ["Install", "Disk"]},  # the same long section, next piece
        "faq#2": {"document_id": "faq", "section": ["Install", "Network"]},
        "faq#3": {"document_id": "faq", "section": []},
        "other#0": {"document_id": "other"},
    }
    ranked = [(k, 1.0 - i / 10) for i, k in enumerate(payloads)]
    by_section = cap_groups(payloads, payloads, "section")
    assert len(set(by_section.values())) == 4
    assert [k for k, _ in diversify(ranked, by_section, penalty=0.0, per_document=1, top_k=10)] == [
        "faq#0", "faq#2", "faq#3", "other#0"]
    by_document = cap_groups(payloads, payloads, "document")
    assert set(by_document.values()) == {"faq", "other"}
    assert [k for k, _ in diversify(ranked, by_document, penalty=0.0, per_document=1, top_k=10)] == [
        "faq#0", "other#0"]


def test_the_default_cap_follows_settings_and_a_callers_per_document_counts_documents(searcher: Searcher) -> None:
    by_section = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(),
                          config=SearchSettings(diversity=0.0, cap_scope="section", cap=1, split=False))
    assert by_section.params.cap_scope == "section" and by_section.params.cap == 1
    # the fixture's chunks have no section: one section per document, so one chunk each
    hits = by_section.search("printer paper jam", workspace="w", top_k=5)
    assert len(hits) == len({h.document_id for h in hits})
    many = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(),
                    config=SearchSettings(diversity=0.0, cap_scope="document", cap=3, split=False))
    printer = [h for h in many.search("printer paper jam", workspace="w", top_k=5) if h.document_id == "kb:printer"]
    assert len(printer) == 3
    assert len([h for h in many.search("printer paper jam", workspace="w", top_k=5, per_document=1)
                if h.document_id == "kb:printer"]) == 1


def test_params_take_settings_over_fitted_values() -> None:
    fitted = fitted_values()
    assert {"dense_weight", "split_weight", "diversity"} <= set(fitted)
    params = RankParams.from_settings(SearchSettings())
    assert params.dense_weight == pytest.approx(float(fitted["dense_weight"]))  # type: ignore[arg-type]
    assert RankParams.from_settings(SearchSettings(dense_weight=0.9, diversity=0.0)).dense_weight == 0.9


# -- through the Searcher -------------------------------------------------------------------------
@pytest.fixture
def searcher() -> Iterator[Searcher]:
    client = QdrantClient(location=":memory:")
    embedder = hash_indexed(client, {
        "printer": ["printer paper jam clearing", "printer paper jam clearing steps", "printer paper jam again"],
        "wifi": ["wifi password reset router", "wifi drops every hour"],
        "billing": ["invoice address change billing", "refund of a double charge"],
    })
    yield Searcher(engine=QdrantCandidates(client=client, alias="kd"), embedder=embedder, sparse=BM25Encoder(),
                   config=SearchSettings(diversity=0.5, rerank="off"))  # the stages before the last look
    client.close()


def test_retrieve_reports_distinct_documents_and_diversifies(searcher: Searcher) -> None:
    result = searcher.retrieve("printer paper jam wifi", workspace="w", top_k=3, per_document=3)
    assert result.documents == len({h.document_id for h in result.hits}) >= 2
    assert result.hits[0].document_id == "kb:printer" and result.hits[1].document_id != "kb:printer"


def test_multi_need_question_reaches_each_need(searcher: Searcher) -> None:
    question = ("My printer shows a paper jam every morning. Also the wifi drops every hour at home. "
                "And I was charged twice, so I want a refund of the double charge.")
    hits = searcher.search(question, workspace="w", top_k=5, per_document=1)
    assert {h.document_id for h in hits} == {"kb:printer", "kb:wifi", "kb:billing"}


def test_group_combination_reaches_each_need_through_the_searcher(searcher: Searcher) -> None:
    # the whole question leans on the printer: its chunks fill the top when ranked per chunk
    question = ("My printer paper jam clearing steps fail, printer paper jam again. The wifi drops every hour at "
                "home. I want a refund of the double charge.")

    def documents(group_weight: float) -> list[str]:
        settings = SearchSettings(diversity=0.0, rerank="off", split_weight=0.0, group_weight=group_weight,
                                  cap_scope="document", cap=3)
        one = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(), config=settings)
        return [h.document_id for h in one.search(question, workspace="w", top_k=3)]

    assert documents(0.0).count("kb:printer") == 2
    assert sorted(documents(1.0)) == ["kb:billing", "kb:printer", "kb:wifi"]


def test_one_list_settings(searcher: Searcher) -> None:
    for lists in ("dense", "sparse"):
        one = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(),
                       config=SearchSettings(lists=lists))
        assert one.search("wifi password", workspace="w")[0].document_id == "kb:wifi"


def test_long_query_is_answered_with_a_note(searcher: Searcher) -> None:
    result = searcher.retrieve("wifi password " + "x" * 20_000, workspace="w")
    assert result.hits and result.notes and "answered from its first" in result.notes[0]


@pytest.mark.parametrize(("query", "top_k"), [("", 5), (" \n\t", 5), ("wifi", 0), ("wifi", MAX_TOP_K + 1)])
def test_bad_input_is_a_clear_error(searcher: Searcher, query: str, top_k: int) -> None:
    with pytest.raises(InvalidInput, match=r"query is empty|top_k must be between 1 and 200"):
        searcher.retrieve(query, workspace="w", top_k=top_k)
    assert searcher.search("wifi", workspace="w", top_k=MAX_TOP_K)  # the bound itself is allowed


def test_weighted_rrf_leans_to_the_heavier_list() -> None:
    items = [Scored("dense-first", 0.9, 1.0, 0, 5), Scored("bm25-first", 0.1, 9.0, 5, 0)]
    assert fuse(items, RankParams(fusion="rrf", dense_weight=0.8, rrf_k=10))[0][0] == "dense-first"
    assert fuse(items, RankParams(fusion="rrf", dense_weight=0.2, rrf_k=10))[0][0] == "bm25-first"


def test_heading_similarity_reorders_by_its_weight() -> None:
    items = [Scored("body-match", 0.9, 5.0, 0, 0, heading=0.1), Scored("heading-match", 0.5, 1.0, 1, 1, heading=0.9)]
    for fusion in ("weighted", "rrf"):
        params = RankParams(fusion=fusion, dense_weight=0.5, rrf_k=2)
        assert fuse(items, params)[0][0] == "body-match"
        assert fuse(items, params.model_copy(update={"heading_weight": 0.9}))[0][0] == "heading-match"


def test_heading_vectors_are_computed_once_and_used(searcher: Searcher) -> None:
    with_headings = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(),
                             config=SearchSettings(heading_weight=0.5))
    [pool] = with_headings.candidates([analyze("wifi", max_chars=100, split=False, min_sentences=3)], [None], "w")
    assert not pool.has_headings and with_headings._headings == {}  # computed by rank, for its best candidates
    assert with_headings.rank(pool, 3, 2)[0].document_id == "kb:wifi"
    assert pool.has_headings and any(c.heading > 0 for c in pool.scored[0])  # "wifi" the title matches "wifi"
    assert "wifi" in with_headings._headings and len(with_headings._headings) == 3  # one per document title
    [every] = with_headings.candidates([analyze("wifi", max_chars=100, split=False, min_sentences=3)], [None], "w",
                                       headings=True)
    assert every.has_headings


def test_a_weak_bm25_list_gives_the_dense_list_its_own_weight() -> None:
    # the BM25 list's best score is 3.0 over 3 query terms: 1.0 a term
    items = [Scored("dense-first", 0.8, 1.0, 0, 4), Scored("bm25-first", 0.2, 3.0, 4, 0)]
    assert bm25_strength(items, 3) == pytest.approx(1.0) and bm25_strength(items, 0) is None
    params = RankParams(fusion="rrf", dense_weight=0.3, rrf_k=2, bm25_strong=1.5, weak_dense_weight=0.9)
    assert dense_weight(items, params, 3) == 0.9  # weak (1.0 < 1.5): the weak weight
    assert dense_weight(items, params, 1) == 0.3  # strong (3.0 a term): the usual weight
    assert dense_weight(items, params, 0) == 0.3  # unknown term count: the usual weight
    assert dense_weight(items, params.model_copy(update={"bm25_strong": 0.0}), 3) == 0.3  # off
    assert fuse(items, params, 3)[0][0] == "dense-first"
    assert fuse(items, params, 1)[0][0] == "bm25-first"
    assert fuse(items, params)[0][0] == "bm25-first"


def test_the_searcher_counts_each_querys_bm25_terms(searcher: Searcher) -> None:
    from core.models import PUBLIC
    from retrieval.search import SearchFilters

    question = "My printer shows a paper jam every morning. Also the wifi drops every hour. I want a refund."
    [analysis] = [analyze(question, max_chars=10_000, split=True, min_sentences=3)]
    [pool] = searcher.candidates([analysis], [SearchFilters()], "w", viewer=PUBLIC)
    texts = [analysis.text, *analysis.parts]
    assert pool.terms == [len(BM25Encoder().encode_query(t).indices) for t in texts]
    assert all(n > 0 for n in pool.terms)


def test_bm25_strength_settings_override_the_fitted_values() -> None:
    params = RankParams.from_settings(SearchSettings(bm25_strong=2.5, weak_dense_weight=0.85))
    assert (params.bm25_strong, params.weak_dense_weight) == (2.5, 0.85)


# -- the keyword weight by term cover ----------------------------------------------------------------
def test_term_cover_is_the_best_candidates_share_of_the_query_terms() -> None:
    # "configure", "mirror", "upgrade" after stemming and stop words: the first candidate holds two of three
    docs = [("Configuring the mirrors", "en"), ("Upgrading a release", "en"), ("Nothing alike", "en")]
    assert term_cover("How do I configure the mirrors before an upgrade?", ["en"], docs) == pytest.approx(2 / 3)
    assert term_cover("How do I configure the mirrors before an upgrade?", ["en"], docs[2:]) == 0.0
    assert term_cover("configure mirrors upgrade", [], [("upgrade the configured mirror", "en")]) == 1.0
    assert term_cover("how do I", ["en"], docs) == 0.0  # stop words only: no terms to cover
    assert term_cover("configure mirrors", ["en"], []) == 0.0
    # a German query is measured against its German stems, not diluted by the English analysis of it
    german = term_cover("Wie kündige ich mein Abonnement?", ["de"], [("Abonnement kündigen", "de")])
    assert german == 1.0


def test_a_low_term_cover_makes_the_bm25_list_weak() -> None:
    items = [Scored("dense-first", 0.8, 5.0, 0, 4), Scored("bm25-first", 0.2, 9.0, 4, 0)]
    params = RankParams(fusion="rrf", dense_weight=0.3, rrf_k=2, bm25_cover=0.6, weak_dense_weight=0.9)
    assert keyword_weak(items, params, 3, 1 / 3) and dense_weight(items, params, 3, 1 / 3) == 0.9
    assert not keyword_weak(items, params, 3, 2 / 3) and dense_weight(items, params, 3, 2 / 3) == 0.3
    assert not keyword_weak(items, params, 3, 0.6)  # at the threshold: strong
    assert not keyword_weak(items, params, 3, None)  # unknown cover: the usual weight
    assert not keyword_weak(items, params, 0, 0.0)  # no BM25 terms: nothing to weigh
    assert not keyword_weak(items, params.model_copy(update={"bm25_cover": 0.0}), 3, 0.0)  # off
    # either rule makes it weak: a strong cover does not undo a weak score per term
    both = params.model_copy(update={"bm25_strong": 4.0})
    assert keyword_weak(items, both, 3, 1.0)  # 9 / 3 = 3 a term < 4
    assert fuse(items, params, 3, 1 / 3)[0][0] == "dense-first"
    assert fuse(items, params, 3, 1.0)[0][0] == "bm25-first"
    # a long question's terms spread over several documents: past bm25_cover_terms the cover rule is silent
    capped = params.model_copy(update={"bm25_cover_terms": 3})
    assert keyword_weak(items, capped, 3, 1 / 3) and not keyword_weak(items, capped, 4, 1 / 4)


def test_the_stage_weighs_the_fused_score_by_its_own_weight_for_a_weak_query() -> None:
    params = RankParams(rerank=True, rerank_fused=1.0, rerank_late=4.0, weak_rerank_fused=0.25)
    assert stage_params(params, True).rerank_fused == 0.25
    assert stage_params(params, False).rerank_fused == 1.0
    assert stage_params(params.model_copy(update={"weak_rerank_fused": None}), True).rerank_fused == 1.0


def test_keyword_rule_settings_are_validated_and_override_the_fitted_values() -> None:
    params = RankParams.from_settings(SearchSettings(bm25_cover=0.7, bm25_cover_terms=12, weak_dense_weight=1.0,
                                                     weak_rerank_fused=0.5))
    assert (params.bm25_cover, params.bm25_cover_terms, params.weak_dense_weight, params.weak_rerank_fused) == (
        0.7, 12, 1.0, 0.5)
    fitted = fitted_values()
    default = RankParams.from_settings(SearchSettings())
    assert default.bm25_cover == float(fitted.get("bm25_cover", 0.0))  # type: ignore[arg-type]
    for bad in ({"bm25_cover": 1.5}, {"bm25_cover": -0.1}, {"bm25_cover_terms": -1}, {"weak_rerank_fused": -1.0}):
        with pytest.raises(ValueError, match=r"bm25_cover|weak_rerank_fused"):
            SearchSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only one list"):
        SearchSettings(lists="dense", bm25_cover=0.5)


def test_the_searcher_weighs_the_bm25_list_by_its_term_cover(searcher: Searcher) -> None:
    def ranking(query: str, **settings: object) -> list[str]:
        config = SearchSettings(split=False, diversity=0.0, cap=10, rerank="off", fusion="rrf", **settings)
        one = Searcher(engine=searcher.engine, embedder=searcher.embedder, sparse=BM25Encoder(), config=config)
        return [h.chunk_id for h in one.search(query, workspace="w", top_k=7)]

    # dense weight 0 ranks by the BM25 list alone; a weak query gets the dense list alone (weight 1)
    rule = {"dense_weight": 0.0, "bm25_cover": 0.6, "weak_dense_weight": 1.0}
    covered = "wifi drops hour modem"  # three terms of four in one BM25 candidate: strong
    assert ranking(covered, **rule) == ranking(covered, dense_weight=0.0) != ranking(covered, dense_weight=1.0)
    partial = "refund toner smudge printer"  # one term of four in any candidate: weak
    assert ranking(partial, **rule) == ranking(partial, dense_weight=1.0) != ranking(partial, dense_weight=0.0)
    # the same queries under the best-score-per-term rule alone keep the BM25 list (the cover decides here)
    assert ranking(partial, dense_weight=0.0, bm25_cover=0.0) == ranking(partial, dense_weight=0.0)
    [pool] = searcher.candidates([analyze(partial, max_chars=100, split=False, min_sentences=3)], [None], "w")
    assert pool.term_covers() == [pytest.approx(1 / 4)]
    [full] = searcher.candidates([analyze(covered, max_chars=100, split=False, min_sentences=3)], [None], "w")
    assert full.term_covers() == [pytest.approx(3 / 4)]
