"""Filter parsing and search plumbing, with a hash embedder on in-memory Qdrant."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient

from core.errors import InvalidInput
from core.models import Chunk, Document, DocumentKind
from retrieval.index import QdrantCandidates, QdrantIndex
from retrieval.search import Searcher, SearchFilters, parse_filters
from retrieval.sparse import BM25Encoder

DIM = 32


class HashEmbedder:
    """Bag of hashed words, normalized: enough to exercise plumbing, says nothing of quality."""

    model_id = "hash"
    dimension = DIM
    max_tokens = 256

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(DIM, dtype=np.float32)
        for word in text.lower().split():
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_documents(texts)


def test_pairs_parse_to_filters() -> None:
    filters = parse_filters(["kind=article", "language=en, de", "topic=Billing", "topic=Plans"])
    assert filters == SearchFilters(kind="article", language=["en", "de"], topic=["Billing", "Plans"])
    assert filters.languages() == ["en", "de"]
    assert parse_filters([]) == SearchFilters()
    assert parse_filters(None).conditions() == {}


def test_mapping_parses_to_filters() -> None:
    filters = parse_filters({"kind": ["article", "page"], "source_id": "help", "audience": None})
    assert filters.conditions() == {"kind": ["article", "page"], "source_id": "help"}
    assert filters.languages() == ["en"]


def test_unknown_key_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filters(["colour=blue"])
    assert "colour" in info.value.message
    for key in ("source_id", "kind", "language", "topic", "document_id", "audience"):
        assert key in info.value.message


@pytest.mark.parametrize("pair", ["kind", "=article", ""])
def test_malformed_pairs_are_invalid_input(pair: str) -> None:
    with pytest.raises(InvalidInput, match="key=value"):
        parse_filters([pair])


def test_bad_values_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="unknown kind 'manual'"):
        parse_filters(["kind=manual"])
    with pytest.raises(InvalidInput, match="at least one"):
        parse_filters({"topic": []})


def test_filters_are_frozen_and_closed() -> None:
    filters = SearchFilters(kind="page")
    with pytest.raises(ValidationError):
        filters.kind = "article"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SearchFilters(colour="blue")  # type: ignore[call-arg]


@pytest.fixture
def client() -> Iterator[QdrantClient]:
    client = QdrantClient(location=":memory:")
    yield client
    client.close()


def _write(index: QdrantIndex, embedder: HashEmbedder, workspace: str, name: str, kind: DocumentKind) -> None:
    document = Document(workspace=workspace, source_id="help", native_id=name, title=name, kind=kind)
    texts = [f"{name} refund policy", f"{name} shipping times"]
    chunks = [Chunk(document_id=document.id, index=i, text=t, embed_text=t, token_count=3) for i, t in enumerate(texts)]
    index.replace_document(document, chunks, embedder.embed_documents(texts))


def test_search_plumbing(client: QdrantClient) -> None:
    embedder = HashEmbedder()
    searcher = Searcher(engine=QdrantCandidates(client=client, alias="kd"), embedder=embedder, sparse=BM25Encoder())
    assert searcher.search("refund", workspace="w1") == []  # nothing ingested yet
    assert searcher.search_many([("refund", None, 3)], "w1") == [[]]

    index = QdrantIndex(
        client=client, alias="kd", model_id="hash", dimension=DIM, chunker_version="t", sparse=BM25Encoder()
    )
    index.ensure_collection()
    _write(index, embedder, "w1", "faq", DocumentKind.ARTICLE)
    _write(index, embedder, "w1", "flow", DocumentKind.SCENARIO)
    _write(index, embedder, "w2", "secret", DocumentKind.ARTICLE)

    hits = searcher.search("refund policy", workspace="w1", top_k=10)
    assert {h.document_id for h in hits} == {"help:faq", "help:flow"}
    assert all(h.dense_score is not None and -1.0 <= h.dense_score <= 1.0 for h in hits)
    scenario = searcher.search("refund", workspace="w1", filters=SearchFilters(kind="scenario"))
    assert scenario and {h.kind for h in scenario} == {DocumentKind.SCENARIO}
    capped = searcher.search("refund", workspace="w1", top_k=10, per_document=1)
    assert len(capped) == 2
    batch = searcher.search_many([("refund", None, 1), ("shipping", SearchFilters(kind="article"), 5)], "w1")
    assert [len(b) for b in batch] == [1, 2]
    assert searcher.search("secret", workspace="w2")[0].document_id == "help:secret"


@pytest.mark.parametrize(("query", "top_k"), [("", 5), ("   ", 5), ("refund", 0), ("refund", 201)])
def test_bad_queries_are_invalid_input(client: QdrantClient, query: str, top_k: int) -> None:
    searcher = Searcher(engine=QdrantCandidates(client=client, alias="kd"),
                        embedder=HashEmbedder(), sparse=BM25Encoder())
    with pytest.raises(InvalidInput):
        searcher.search(query, workspace="w1", top_k=top_k)


def test_an_unknown_language_code_is_refused_with_the_code_named() -> None:
    assert parse_filters(["language=pt-BR,deu,zh_Hant"]).language == ["pt-BR", "deu", "zh_Hant"]
    for bad in ("xx", "english", "de,zz", "d", "en-"):
        with pytest.raises(InvalidInput, match="unknown language code"):
            parse_filters([f"language={bad}"])
    with pytest.raises(InvalidInput, match="'qq'"):
        parse_filters({"language": ["en", "qq"]})
