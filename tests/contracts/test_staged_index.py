"""Staged collections (knowledge CI) on every embedded engine: a copy of one workspace's live points
that takes writes and deletes, is searched by its own name, never moves the alias, and is dropped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import QdrantSettings
from ingest.write import DocumentWriter, WriteItem
from retrieval.edge_store import close_edge_stores
from retrieval.factory import IndexEngine
from retrieval.index import close_clients
from retrieval.sparse import BM25Encoder
from retrieval.staging import staged_name
from tests.contracts.test_index_backends import DistinctEmbedder, chunks_of, document

WS, OTHER = "acme", "globex"


@pytest.fixture(params=["local", "edge"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexEngine]:
    settings = QdrantSettings(engine=request.param, path=tmp_path / request.param, alias="kd")
    yield IndexEngine(settings=settings, home=tmp_path)
    close_clients()
    close_edge_stores()


def _write(writer: DocumentWriter, workspace: str, native: str, texts: list[str]) -> None:
    doc = document(workspace, "help", native, language="en")
    writer.write([WriteItem(document=doc, chunks=chunks_of(doc, texts))])


def test_a_staged_copy_takes_the_change_and_the_live_collection_stays_as_it_was(engine: IndexEngine) -> None:
    embedder, sparse = DistinctEmbedder(), BM25Encoder()
    names = {"model_id": embedder.model_id, "dimension": embedder.dimension, "chunker_version": "v1",
             "sparse": sparse}
    live_writer = DocumentWriter(embedder=embedder, index=engine.index(**names), chunker_version="v1")
    _write(live_writer, WS, "refunds", ["Refunds are paid within 14 days of the return."])
    _write(live_writer, WS, "shipping", ["Parcels to Austria take 2 to 3 business days."])
    _write(live_writer, OTHER, "refunds", ["Globex refunds take 60 days."])
    live = engine.live_collection()
    assert live is not None

    with pytest.raises(ConfigError, match="not a staged collection"):
        engine.staged_index(name=live, **names)
    staged = engine.staged_index(name=staged_name(live, "kc1"), **names)
    assert staged.copy_from(live, WS) == 2  # the workspace's points only
    writer = DocumentWriter(embedder=embedder, index=staged, chunker_version="v1", reuse_vectors=True)
    _write(writer, WS, "refunds", ["Refunds are paid within 30 days of the return."])
    writer.delete(WS, ["help:shipping"])

    def texts(alias: str) -> list[str]:
        searcher = engine.searcher(alias=alias, embedder=embedder, sparse=sparse)
        return [h.text for h in searcher.search("refunds paid days return Austria parcels", workspace=WS, top_k=10)]

    assert texts(staged.collection_name) == ["Refunds are paid within 30 days of the return."]
    assert sorted(texts("kd")) == ["Parcels to Austria take 2 to 3 business days.",
                                   "Refunds are paid within 14 days of the return."]
    assert engine.live_collection() == live
    staged.drop()
    assert engine.live_collection() == live and len(texts("kd")) == 2
