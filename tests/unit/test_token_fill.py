"""An index written before token vectors were stored (issue 17's upgrade gap), on both embedded engines:
the writer fills the tokens of reused chunks from its forward pass, ``fill_tokens`` fills the rest from the
points' stored text (bounded batches, resumable, per source), coverage counts them, and the search ranks a
query whose candidates lack them without the second stage instead of computing them at query time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.ids import point_id
from core.models import Chunk, Document, DocumentKind
from core.settings import SearchSettings
from ingest.write import DocumentWriter, WriteItem
from retrieval.edge import EdgeCandidates, EdgeIndex, EdgeStore
from retrieval.embedding import Tokens, text_key
from retrieval.index import QdrantCandidates, QdrantIndex, close_client, open_client
from retrieval.rerank import LateReranker
from retrieval.search import Searcher
from retrieval.sparse import BM25Encoder
from retrieval.tokens import LATE_MODEL, StoredTokens, TokenCoverage, TokenStore, chunk_text
from tests.fakes import HashEmbedder, word_rows

WS = "acme"


class TokenHashEmbedder(HashEmbedder):
    """The hash embedder that also hands out token vectors (one hashed row per word), counting the texts."""

    model_id = LATE_MODEL
    token_model = LATE_MODEL

    def __init__(self) -> None:
        super().__init__()
        self.token_texts: list[list[str]] = []

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[Tokens | None]]:
        self.token_texts.append(list(texts))
        # negated: a reused chunk that took this vector instead of its stored one would show it
        return -self.embed_documents(texts), [Tokens(text_key(t), word_rows(t)) for t in texts]


class CountingTokens:
    """The late stage's token encoder (``MiniLMTokens``' role), counting the texts it encodes."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.texts += texts
        return [word_rows(t) for t in texts]


def document(native: str, source: str = "docs") -> Document:
    return Document(workspace=WS, source_id=source, native_id=native, title="Billing", kind=DocumentKind.ARTICLE)


def chunks_of(doc: Document, bodies: list[str]) -> list[Chunk]:
    out = []
    for n, body in enumerate(bodies):
        embed = chunk_text({"title": doc.title, "section": ("Plans",), "text": body})
        out.append(Chunk(document_id=doc.id, index=n, text=body, embed_text=embed, section=("Plans",),
                         token_count=len(embed.split())))
    return out


BODIES = {"a": ["cancel your plan in billing settings", "refunds take five days", "invoices are monthly"],
          "b": ["reset the thermostat", "replace both batteries"]}


@pytest.fixture(params=["edge", "local"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    tokens = TokenStore(root=tmp_path / "tokens")
    names = {"alias": "kd", "model_id": LATE_MODEL, "dimension": HashEmbedder().dimension, "chunker_version": "v1",
             "sparse": BM25Encoder(), "tokens": tokens}
    if request.param == "edge":
        store = EdgeStore(root=tmp_path / "edge")
        found: Any = EdgeIndex(store=store, **names)
        found.candidates = EdgeCandidates(store=store, alias="kd")
        yield found
        store.close()
    else:
        client = open_client(url=None, api_key=None, path=tmp_path / "qdrant", timeout=10.0)
        found = QdrantIndex(client=client, **names)
        found.candidates = QdrantCandidates(client=client, alias="kd")
        yield found
        close_client(client)


def written_without_tokens(index: Any) -> dict[str, Document]:
    """Documents written the way an index was before token vectors were stored (an embedder without them)."""
    docs = {"a": document("a"), "b": document("b", source="other")}
    writer = DocumentWriter(embedder=HashEmbedder(), index=index, chunker_version="v1")
    writer.write([WriteItem(document=doc, chunks=chunks_of(doc, BODIES[name])) for name, doc in docs.items()])
    assert index.tokens.stats(index.target)["rows"] == 0
    return docs


def test_reused_chunks_without_tokens_get_them_from_the_same_forward_pass(index: Any) -> None:
    docs = written_without_tokens(index)
    a = docs["a"]
    before = {pid: v for pid, v in index.existing_vectors(WS, [c.hash for c in chunks_of(a, BODIES["a"])]).items()}
    embedder = TokenHashEmbedder()
    writer = DocumentWriter(embedder=embedder, index=index, chunker_version="v1", reuse_vectors=True)
    # the document rewritten with one chunk changed: two vectors reused, one embedded, one forward pass
    bodies = [*BODIES["a"][:2], "invoices are sent every month"]
    stats = writer.write([WriteItem(document=a, chunks=chunks_of(a, bodies), previous_chunks=3)])
    assert stats.chunks_reused == 2 and stats.chunks_embedded == 1 and stats.chunks_tokens_filled == 2
    assert len(embedder.token_texts) == 1 and len(embedder.token_texts[0]) == 3
    assert stats.chunks_tokens == 3
    chunks = chunks_of(a, bodies)
    rows = index.tokens.read(index.target, [point_id(WS, c.id) for c in chunks], model=LATE_MODEL)
    assert {r.key for r in rows.values()} == {text_key(c.embed_text) for c in chunks}
    after = index.existing_vectors(WS, [c.hash for c in chunks[:2]])
    for key, vector in after.items():  # the reused dense vectors are the stored ones, not recomputed
        assert np.allclose(vector, before[key], atol=1e-5)
    assert index.token_coverage(WS) == TokenCoverage(kept=3, total=5)
    assert index.token_coverage(WS, "docs") == TokenCoverage(kept=3, total=3)


def test_fill_tokens_fills_what_is_missing_in_batches_resumably_and_per_source(index: Any) -> None:
    written_without_tokens(index)
    assert index.token_coverage() == TokenCoverage(kept=0, total=5)
    assert index.token_coverage(WS, "other") == TokenCoverage(kept=0, total=2)

    one_source = CountingTokens()
    done = index.fill_tokens(one_source, workspace=WS, source_id="other", batch=10)
    assert done.filled == 2 and done.after == TokenCoverage(kept=2, total=2) and not done.stopped
    assert sorted(one_source.texts) == sorted(chunk_text({"title": "Billing", "section": ["Plans"], "text": t})
                                              for t in BODIES["b"])

    # stopped after its first batch of two: those stay filled, the next run does only the rest
    calls = iter([False, True])
    first = CountingTokens()
    stopped = index.fill_tokens(first, workspace=WS, batch=2, should_stop=lambda: next(calls))
    assert stopped.stopped and stopped.filled == 2 and len(first.texts) == 2
    assert stopped.before == TokenCoverage(kept=2, total=5) and stopped.after == TokenCoverage(kept=4, total=5)
    progress: list[tuple[int, int]] = []
    rest = CountingTokens()
    done = index.fill_tokens(rest, batch=2, progress=lambda filled, missing: progress.append((filled, missing)))
    assert done.filled == 1 and len(rest.texts) == 1 and progress == [(1, 1)]
    assert index.token_coverage(WS) == TokenCoverage(kept=5, total=5)
    # complete: nothing encoded
    assert index.fill_tokens(CountingTokens(), workspace=WS).filled == 0

    # every row is what the late stage reads for the point: keyed by the text it scores
    for name, doc in {"a": document("a"), "b": document("b", source="other")}.items():
        for chunk in chunks_of(doc, BODIES[name]):
            [row] = index.tokens.read(index.target, [point_id(WS, chunk.id)], model=LATE_MODEL).values()
            text = chunk_text({"title": doc.title, "section": list(chunk.section), "text": chunk.text})
            assert row.key == text_key(text) and np.allclose(row.vectors.astype(np.float32), word_rows(text),
                                                             atol=1e-3)
    with pytest.raises(ValueError, match="batch"):
        index.fill_tokens(CountingTokens(), batch=0)


def test_an_index_without_a_collection_or_without_tokens_reports_so(tmp_path: Path) -> None:
    store = EdgeStore(root=tmp_path / "edge")
    try:
        names = {"alias": "kd", "dimension": 8, "chunker_version": "v1", "sparse": BM25Encoder()}
        fresh = EdgeIndex(store=store, model_id=LATE_MODEL, tokens=TokenStore(root=tmp_path / "t"), **names)
        assert fresh.token_coverage(WS) == TokenCoverage(kept=0, total=0)
        other = EdgeIndex(store=store, model_id="other-model", tokens=TokenStore(root=tmp_path / "t"), **names)
        assert other.token_coverage(WS) is None and other.fill_tokens(CountingTokens()) is None
    finally:
        store.close()


def ranked(searcher: Searcher, query: str) -> list[str]:
    return [h.chunk_id for h in searcher.search(query, workspace=WS, top_k=5)]


def test_a_query_whose_candidates_lack_tokens_is_ranked_without_the_stage_not_computed(index: Any) -> None:
    written_without_tokens(index)
    stored = StoredTokens(store=index.tokens, collection=lambda: index.target)
    config = SearchSettings(rerank="late", rerank_depth=5, split=False, cap=5)
    embedder = TokenHashEmbedder()
    on = Searcher(engine=index.candidates, embedder=embedder, sparse=BM25Encoder(), config=config, tokens=stored)
    off = Searcher(engine=index.candidates, embedder=embedder, sparse=BM25Encoder(),
                   config=config.model_copy(update={"rerank": "off"}))
    assert on.computes_missing_tokens is False  # this index keeps token vectors: never computed inline
    encoder = CountingTokens()
    reranker = on.reranker
    assert isinstance(reranker, LateReranker) and reranker.compute is False
    reranker.encoder = encoder
    question = "how do I cancel my plan"
    assert ranked(on, question) == ranked(off, question)  # the fused order, as with the stage off
    assert on.rerank_skipped == 1 and encoder.texts == [] and reranker.sources["missing"] > 0

    index.fill_tokens(CountingTokens())
    assert ranked(on, question)
    # the stage ran on the stored vectors; only the query's own were computed (this embedder keeps none)
    assert on.rerank_skipped == 1 and encoder.texts == [question] and reranker.sources["stored"] > 0

    # the explicit opt-in computes instead; an index of another model (int8, e5) computes by default
    opted = Searcher(engine=index.candidates, embedder=embedder, sparse=BM25Encoder(),
                     config=config.model_copy(update={"rerank_missing": "compute"}), tokens=stored)
    assert opted.computes_missing_tokens is True
    assert Searcher(engine=index.candidates, embedder=HashEmbedder(), sparse=BM25Encoder(), config=config,
                    tokens=stored).computes_missing_tokens is (HashEmbedder().model_id != LATE_MODEL)
    assert Searcher(engine=index.candidates, embedder=embedder, sparse=BM25Encoder(),
                    config=config).computes_missing_tokens is True  # no stored vectors to read at all


def test_a_chunk_embedded_from_another_text_than_the_scored_one_gets_its_tokens_at_write(index: Any) -> None:
    doc = document("phrases")
    # a trigger phrase embedded on its own: what ingest captures is not the text the stage scores
    phrase = Chunk(document_id=doc.id, index=0, text="where is my order", embed_text="where is my order",
                   token_count=4)
    [whole] = chunks_of(doc, ["track a parcel"])
    whole = whole.model_copy(update={"index": 1})
    encoder = CountingTokens()
    index.late_encoder = encoder
    writer = DocumentWriter(embedder=TokenHashEmbedder(), index=index, chunker_version="v1")
    assert writer.write([WriteItem(document=doc, chunks=[phrase, whole])]).written == 1
    scored = chunk_text({"title": doc.title, "section": [], "text": "where is my order"})
    assert encoder.texts == [scored]  # only the phrase: the other chunk's captured vectors are of its scored text
    rows = index.tokens.read(index.target, [point_id(WS, phrase.id), point_id(WS, whole.id)], model=LATE_MODEL)
    assert rows[point_id(WS, phrase.id)].key == text_key(scored)
    assert index.token_coverage(WS) == TokenCoverage(kept=2, total=2)


@pytest.fixture(params=["edge", "local"])
def staged_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A live index with token vectors and a staged copy of it (knowledge CI's), on one engine."""
    from retrieval.staging import StagedEdgeIndex, StagedQdrantIndex, staged_name

    tokens = TokenStore(root=tmp_path / "tokens")
    names = {"alias": "kd", "model_id": LATE_MODEL, "dimension": HashEmbedder().dimension, "chunker_version": "v1",
             "sparse": BM25Encoder(), "tokens": tokens}
    if request.param == "edge":
        store = EdgeStore(root=tmp_path / "edge")
        live: Any = EdgeIndex(store=store, **names)
        live.ensure_collection()
        yield live, StagedEdgeIndex(name=staged_name(live.target, "kc1"), store=store, **names)
        store.close()
    else:
        client = open_client(url=None, api_key=None, path=tmp_path / "qdrant", timeout=10.0)
        live = QdrantIndex(client=client, **names)
        live.ensure_collection()
        yield live, StagedQdrantIndex(name=staged_name(live.target, "kc1"), client=client, **names)
        close_client(client)


def test_a_staged_copy_keeps_the_token_vectors_and_a_change_going_live_brings_its_own(
        staged_pair: tuple[Any, Any]) -> None:
    live, staged = staged_pair
    docs = {name: document(name) for name in BODIES}
    DocumentWriter(embedder=TokenHashEmbedder(), index=live, chunker_version="v1").write(
        [WriteItem(document=doc, chunks=chunks_of(doc, BODIES[name])) for name, doc in docs.items()])
    assert live.token_coverage(WS) == TokenCoverage(kept=5, total=5)

    assert staged.copy_from(live.target, WS) == 5
    # the late stage ranks the staged copy as it ranks the live collection: nothing missing, nothing computed
    assert staged.token_coverage(WS) == TokenCoverage(kept=5, total=5)
    ids = [point_id(WS, c.id) for c in chunks_of(docs["a"], BODIES["a"])]
    assert {k: v.key for k, v in staged.tokens.read(staged.target, ids, model=LATE_MODEL).items()} == \
        {k: v.key for k, v in live.tokens.read(live.target, ids, model=LATE_MODEL).items()}

    # the change rewrites document a in the staged copy; going live, its new chunks' vectors go with it
    a = docs["a"]
    bodies = [*BODIES["a"][:2], "invoices are sent every month"]
    DocumentWriter(embedder=TokenHashEmbedder(), index=staged, chunker_version="v1", reuse_vectors=True).write(
        [WriteItem(document=a, chunks=chunks_of(a, bodies), previous_chunks=3)])
    live.delete_documents(WS, [a.id])
    assert staged.copy_into(live.target, WS, [a.id]) == 3
    assert live.token_coverage(WS) == TokenCoverage(kept=5, total=5)
    new = chunks_of(a, bodies)[2]
    kept = live.tokens.read(live.target, [point_id(WS, new.id)], model=LATE_MODEL)
    assert [t.key for t in kept.values()] == [text_key(new.embed_text)]
