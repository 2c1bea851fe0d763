"""The late stage's token vectors stored at ingest (``retrieval.tokens``): written beside each engine's
points through the one document writer, read back per point, forgotten with their points, documents,
sources and collections, and only used when they were computed from the text the stage scores."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.ids import point_id
from core.models import Chunk, Document, DocumentKind
from ingest.write import DocumentWriter, WriteItem
from retrieval.edge import EdgeIndex, EdgeStore
from retrieval.embedding import Tokens, text_key
from retrieval.generations import EdgeBuildIndex
from retrieval.index import QdrantIndex, close_client, open_client
from retrieval.rerank import LateReranker
from retrieval.sparse import BM25Encoder
from retrieval.tokens import LATE_MODEL, StoredTokens, TokenStore, chunk_text, late_key
from tests.fakes import HashEmbedder, word_rows

WS = "acme"


class TokenHashEmbedder(HashEmbedder):
    """The hash embedder that also hands out token vectors (one hashed row per word) for its texts."""

    model_id = LATE_MODEL
    token_model = LATE_MODEL

    def __init__(self) -> None:
        super().__init__()
        self.token_calls = 0

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[Tokens | None]]:
        self.token_calls += 1
        return self.embed_documents(texts), [Tokens(text_key(t), word_rows(t)) for t in texts]


def document(native: str, source: str = "docs", title: str = "Billing") -> Document:
    return Document(workspace=WS, source_id=source, native_id=native, title=title, kind=DocumentKind.ARTICLE)


def chunks_of(doc: Document, bodies: list[str], section: tuple[str, ...] = ("Plans",)) -> list[Chunk]:
    out = []
    for n, body in enumerate(bodies):
        embed = chunk_text({"title": doc.title, "section": section, "text": body})
        out.append(Chunk(document_id=doc.id, index=n, text=body, embed_text=embed, section=section,
                         token_count=len(embed.split())))
    return out


@pytest.fixture(params=["edge", "local"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    tokens = TokenStore(root=tmp_path / "tokens")
    names = {"alias": "kd", "model_id": LATE_MODEL, "dimension": HashEmbedder().dimension, "chunker_version": "v1",
             "sparse": BM25Encoder(), "tokens": tokens}
    if request.param == "edge":
        store = EdgeStore(root=tmp_path / "edge")
        yield EdgeIndex(store=store, **names)
        store.close()
    else:
        client = open_client(url=None, api_key=None, path=tmp_path / "qdrant", timeout=10.0)
        yield QdrantIndex(client=client, **names)
        close_client(client)


def rows(index: Any, doc: Document, n: int) -> dict[str, Tokens]:
    return index.tokens.read(index.target, [point_id(WS, f"{doc.id}#{i}") for i in range(n)], model=LATE_MODEL)


def test_the_writer_keeps_tokens_from_the_embedding_call_and_deletes_them_with_the_points(index: Any) -> None:
    embedder = TokenHashEmbedder()
    writer = DocumentWriter(embedder=embedder, index=index, chunker_version="v1")
    a, b = document("a"), document("b", source="other")
    bodies = ["cancel your plan in billing settings", "refunds take five days", "invoices are monthly"]
    stats = writer.write([WriteItem(document=a, chunks=chunks_of(a, bodies)),
                          WriteItem(document=b, chunks=chunks_of(b, ["the other source"]))])
    assert stats.chunks_tokens == 4 and embedder.token_calls == 1  # one forward pass for vectors and tokens
    found = rows(index, a, 3)
    assert len(found) == 3
    for i, body in enumerate(bodies):
        stored = found[point_id(WS, f"{a.id}#{i}")]
        text = chunk_text({"title": a.title, "section": ("Plans",), "text": body})
        assert stored.key == text_key(text) and stored.vectors.dtype == np.float16
        assert np.allclose(stored.vectors.astype(np.float32), word_rows(text), atol=1e-3)

    # a document that shrinks leaves no rows of its old chunks
    writer.write([WriteItem(document=a, chunks=chunks_of(a, ["cancel your plan in billing settings"]),
                            previous_chunks=3)])
    assert list(rows(index, a, 3)) == [point_id(WS, f"{a.id}#0")]
    writer.delete(WS, [a.id])
    assert rows(index, a, 3) == {}
    assert len(rows(index, b, 1)) == 1
    index.delete_source(WS, "other")
    assert rows(index, b, 1) == {} and index.tokens.stats(index.target)["rows"] == 0


def test_reused_vectors_keep_their_tokens_without_a_forward_pass(index: Any) -> None:
    embedder = TokenHashEmbedder()
    writer = DocumentWriter(embedder=embedder, index=index, chunker_version="v1", reuse_vectors=True)
    a = document("a")
    writer.write([WriteItem(document=a, chunks=chunks_of(a, ["first part", "second part"]))])
    calls = embedder.token_calls
    # the same chunks again (a document rewritten without changes to these chunks): vectors and tokens reused
    stats = writer.write([WriteItem(document=a, chunks=chunks_of(a, ["first part", "second part"]))])
    assert stats.chunks_reused == 2 and embedder.token_calls == calls
    assert len(rows(index, a, 2)) == 2


def test_tokens_of_another_text_than_the_scored_one_are_not_kept(tmp_path: Path) -> None:
    store = TokenStore(root=tmp_path)
    doc = document("a")
    [chunk] = chunks_of(doc, ["body text"])
    # the chunker shortened the heading in what it embedded: the stage scores the full heading
    shortened = chunk.model_copy(update={"embed_text": "body text"})
    written = store.write("c", doc, [shortened], [Tokens(text_key("body text"), word_rows("body text"))],
                          model=LATE_MODEL)
    assert written == 0
    assert store.write("c", doc, [chunk], [Tokens(late_key(doc, chunk), word_rows("x y"))], model=LATE_MODEL) == 1
    assert store.read("c", [point_id(WS, chunk.id)], model="other-model") == {}


def test_an_index_of_another_model_keeps_no_tokens(tmp_path: Path) -> None:
    store = EdgeStore(root=tmp_path / "edge")
    try:
        index = EdgeIndex(store=store, alias="kd", model_id=f"{LATE_MODEL}-int8", dimension=64, chunker_version="v1",
                          sparse=BM25Encoder(), tokens=TokenStore(root=tmp_path / "tokens"))
        assert index.tokens is None and index.token_model is None
        writer = DocumentWriter(embedder=TokenHashEmbedder(), index=index, chunker_version="v1")
        doc = document("a")
        assert writer.write([WriteItem(document=doc, chunks=chunks_of(doc, ["x y"]))]).chunks_tokens == 0
    finally:
        store.close()


def test_a_dropped_build_drops_its_tokens(tmp_path: Path) -> None:
    store = EdgeStore(root=tmp_path / "edge")
    tokens = TokenStore(root=tmp_path / "tokens")
    try:
        build = EdgeBuildIndex(store=store, alias="kd", model_id=LATE_MODEL, dimension=64, chunker_version="v2",
                               sparse=BM25Encoder(), tokens=tokens)
        build.recreate()
        doc = document("a")
        DocumentWriter(embedder=TokenHashEmbedder(), index=build, chunker_version="v2").write(
            [WriteItem(document=doc, chunks=chunks_of(doc, ["x y"]))])
        assert tokens.path(build.collection_name).exists()
        build.drop()
        assert not tokens.path(build.collection_name).exists()
    finally:
        store.close()


class CountingTokens:
    """Token vectors computed at query time (the fallback), counted."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.texts += texts
        return [word_rows(t) for t in texts]


def test_the_reranker_reads_stored_vectors_and_computes_only_the_missing(tmp_path: Path) -> None:
    store = TokenStore(root=tmp_path)
    doc = document("a")
    chunks = chunks_of(doc, ["cancel your plan", "refund policy", "invoice dates"])
    store.write("c", doc, chunks[:2], [Tokens(late_key(doc, c), word_rows(chunk_text(payload(doc, c))))
                                       for c in chunks[:2]], model=LATE_MODEL)
    payloads = {c.id: payload(doc, c) for c in chunks}
    computed = CountingTokens()
    kept = {"how do i cancel": word_rows("how do i cancel")}
    stored = LateReranker(encoder=computed, cache=0, stored=StoredTokens(store=store, collection=lambda: "c"),
                          queries=kept.get)
    with_stored = stored.features("how do i cancel", payloads, list(payloads))
    assert computed.texts == [chunk_text(payloads[chunks[2].id])]  # only the chunk without stored vectors
    assert stored.sources["stored"] == 2 and stored.sources["computed"] == 1 and stored.sources["query kept"] == 1
    fallback = LateReranker(encoder=CountingTokens(), cache=0)
    computed_features = fallback.features("how do i cancel", payloads, list(payloads))
    for key, features in with_stored.items():
        assert computed_features[key] == pytest.approx(features, abs=1e-6)
    # a stored row of an older text of the chunk is not used
    changed = {k: {**p, "text": p["text"] + " changed"} for k, p in payloads.items()}
    stored.features("how do i cancel", changed, list(changed))
    assert stored.sources["stored"] == 2 and stored.sources["computed"] == 4


def payload(doc: Document, chunk: Chunk) -> dict[str, Any]:
    return {"workspace": doc.workspace, "chunk_id": chunk.id, "title": doc.title, "section": list(chunk.section),
            "text": chunk.text}


def test_maxsims_in_one_product_equal_maxsim_per_chunk() -> None:
    from retrieval.rerank import maxsim, maxsims

    rng = np.random.default_rng(3)
    query = rng.standard_normal((7, 16)).astype(np.float32)
    chunks = [rng.standard_normal((n, 16)).astype(np.float16) for n in (4, 0, 30, 1)]
    assert maxsims(query, chunks) == pytest.approx([maxsim(query, c) for c in chunks], abs=1e-5)
    assert maxsims(query[:0], chunks) == [0.0] * 4
