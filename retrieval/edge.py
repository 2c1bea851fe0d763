"""The Qdrant Edge engine: the same index and hybrid search as ``index.py``/``search.py``, run by
Qdrant's Rust engine in-process (``qdrant-edge-py``) instead of qdrant-client's Python local mode.

Layout under the store's folder (``KNOWDESK_HOME/edge`` by default): one shard folder per
collection (named as ``QdrantIndex`` names collections) and, for each alias, a pointer file
``<alias>.alias`` holding the collection's name, replaced atomically (write a temp file, rename).
Points, payloads and point ids come from ``retrieval.points`` as ``QdrantIndex``'s do, so both
engines hold the same data; neither class builds on the other's.

Edge runs no background optimizer: writes land in appendable segments that are searched exactly,
with payload indexes; ``EdgeIndex.optimize()`` builds HNSW and vacuums deletes when asked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np
import qdrant_edge as qe
from qdrant_client import models

from core.models import Chunk, Document, Hit
from retrieval.candidates import ListQuery, to_hit
from retrieval.edge_store import (
    EdgeStore,
    close_edge_stores,
    edge_errors,
    edge_filter,
    edge_point,
    edge_schema,
    edge_sparse,
    open_edge_store,
)
from retrieval.points import (
    DENSE,
    KNOWLEDGE,
    PAYLOAD_INDEXES,
    SPARSE,
    UPSERT_BATCH,
    check_vectors,
    chunk_point,
    collection_name,
    other_collection,
    other_dimension,
    point_filter,
    surplus_ids,
    workspace_filter,
)
from retrieval.sparse import BM25Encoder
from retrieval.tokens import LATE_MODEL, KeptTokens, TokenStore

__all__ = ["EdgeCandidates", "EdgeIndex", "EdgeStore", "close_edge_stores", "edge_filter", "edge_sparse",
           "open_edge_store"]

logger = logging.getLogger(__name__)


class EdgeIndex(KeptTokens):
    """The ``Index`` on Qdrant Edge: the collection name, point ids, payloads and methods of
    ``QdrantIndex`` (``retrieval.points``).

    Args:
        store: from ``open_edge_store``.
        alias, model_id, dimension, chunker_version, sparse, use_alias_target, tokens: as ``QdrantIndex``.

    Raises:
        ConfigError: (from ``ensure_collection``) the alias points to another collection.

    Example::

        index = EdgeIndex(store=open_edge_store(home / "edge"), model_id="all-MiniLM-L6-v2",
                          dimension=384, chunker_version="1", sparse=BM25Encoder())
        index.replace_document(document, chunks, vectors)
    """

    def __init__(self, *, store: EdgeStore, alias: str = "knowdesk", model_id: str, dimension: int,
                 chunker_version: str, sparse: BM25Encoder, use_alias_target: bool = False,
                 tokens: TokenStore | None = None) -> None:
        self.store = store
        self.alias = alias
        self.dimension = dimension
        self.sparse = sparse
        self.collection_name = collection_name(alias, model_id, chunker_version, dimension)
        self._use_alias_target = use_alias_target
        self._target: str | None = None
        self.tokens = tokens if model_id == LATE_MODEL else None

    @property
    def target(self) -> str:
        """The collection writes go to (after ``ensure_collection``)."""
        if self._target is None:
            self.ensure_collection()
        assert self._target is not None
        return self._target

    @property
    def shard(self) -> qe.EdgeShard:
        return self.store.shard(self.target)

    def ensure_collection(self) -> None:
        """Create the shard, its payload indexes and the alias when missing. Idempotent."""
        current = self.store.alias_target(self.alias)
        if current is not None and current != self.collection_name:
            self._target = self._adopt(current)
            return
        self._create_shard()
        if current is None:
            self.store.set_alias(self.alias, self.collection_name)
        self._target = self.collection_name

    def _create_shard(self) -> None:
        """Create this index's shard (an existing one is opened) with its payload indexes."""
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        with self.store.writing(self.collection_name) as update, edge_errors("create payload indexes"):
            shard = self.store.create(self.collection_name, config)
            existing = shard.info().payload_schema
            for field, schema in PAYLOAD_INDEXES.items():
                if field not in existing:
                    update(qe.UpdateOperation.create_field_index(field, edge_schema(schema)))

    def _adopt(self, current: str) -> str:
        if not self._use_alias_target:
            raise other_collection(self.alias, current, self.collection_name)
        size = _dense_size(self.store, current)
        if size != self.dimension:
            raise other_dimension(current, size, self.dimension)
        logger.warning("writing into %s, the alias target, not %s", current, self.collection_name)
        return current

    def replace_document(
        self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray, previous_chunks: int | None = None
    ) -> None:
        """Replace the document's points with one point per chunk (see ``QdrantIndex.replace_document``)."""
        check_vectors(document, chunks, vectors, self.dimension)
        points = [edge_point(chunk_point(document, c, v, self.sparse)) for c, v in zip(chunks, vectors, strict=True)]
        with self.store.writing(self.target, len(points)) as update, edge_errors(f"write {document.id}"):
            if self.tokens is not None:
                self.tokens.delete_documents(self.target, document.workspace, [document.id])
            # Delete first: a document that shrank must leave no trailing chunks behind.
            if previous_chunks is None:
                flt = workspace_filter(document.workspace, {"document_id": document.id})
                update(qe.UpdateOperation.delete_points_by_filter(edge_filter(flt)))
            elif previous_chunks > len(chunks):
                update(qe.UpdateOperation.delete_points(surplus_ids(document, len(chunks), previous_chunks)))
            for start in range(0, len(points), UPSERT_BATCH):
                update(qe.UpdateOperation.upsert_points(points[start:start + UPSERT_BATCH]))
        logger.debug("wrote %d chunks of %s", len(points), document.id)

    def add_chunks(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Upsert one point per chunk, deleting nothing (a streamed document's later parts)."""
        check_vectors(document, chunks, vectors, self.dimension)
        points = [edge_point(chunk_point(document, c, v, self.sparse)) for c, v in zip(chunks, vectors, strict=True)]
        with self.store.writing(self.target, len(points)) as update, edge_errors(f"write {document.id}"):
            for start in range(0, len(points), UPSERT_BATCH):
                update(qe.UpdateOperation.upsert_points(points[start:start + UPSERT_BATCH]))

    def _delete(self, workspace: str, conditions: dict[str, str | Sequence[str] | None], what: str) -> None:
        flt = edge_filter(workspace_filter(workspace, conditions))
        with self.store.writing(self.target, 1) as update, edge_errors(f"delete {what}"):
            update(qe.UpdateOperation.delete_points_by_filter(flt))

    def delete_documents(self, workspace: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents in the workspace."""
        ids = list(dict.fromkeys(document_ids))
        for start in range(0, len(ids), 256):
            self._delete(workspace, {"document_id": ids[start:start + 256]}, "documents")
        if self.tokens is not None:
            self.tokens.delete_documents(self.target, workspace, ids)
        logger.debug("deleted %d documents in %s", len(ids), workspace)

    def delete_source(self, workspace: str, source_id: str) -> None:
        """Remove every point of one source in the workspace."""
        self._delete(workspace, {"source_id": source_id}, "a source")
        if self.tokens is not None:
            self.tokens.delete_source(self.target, workspace, source_id)

    def count(self, workspace: str, **filters: str | Sequence[str] | None) -> int:
        """Points in the workspace matching keyword filters (``kind="article"``, ``source_id=...``)."""
        with edge_errors("count points"):
            return int(self.shard.count(qe.CountRequest(exact=True,
                                                        filter=edge_filter(workspace_filter(workspace, filters)))))

    def _scroll(self, flt: models.Filter, payload: list[str] | bool, vectors: list[str] | bool) -> Iterator[qe.Record]:
        offset: Any = None
        with edge_errors("scroll points"):
            while True:
                records, offset = self.shard.scroll(qe.ScrollRequest(
                    offset=offset, limit=256, filter=edge_filter(flt), with_payload=payload, with_vector=vectors))
                yield from records
                if offset is None:
                    return

    def document_chunk_ids(self, workspace: str, document_id: str) -> list[str]:
        """Chunk ids of a document, in chunk order."""
        records = self._scroll(workspace_filter(workspace, {"document_id": document_id}),
                               ["chunk_id", "chunk_index"], False)
        found = [(int(r.payload["chunk_index"]), str(r.payload["chunk_id"])) for r in records if r.payload]
        return [chunk for _, chunk in sorted(found)]

    def stored_chunks(self, workspace: str, kinds: Sequence[str] = KNOWLEDGE
                      ) -> Iterator[tuple[Hit, np.ndarray]]:
        """Every chunk of these kinds with its dense vector (see ``QdrantIndex.stored_chunks``)."""
        if self.store.alias_target(self.alias) is None:
            return
        for r in self._scroll(workspace_filter(workspace, {"kind": list(kinds)}), True, [DENSE]):
            vector = r.vector.get(DENSE) if isinstance(r.vector, dict) else None
            if r.payload and vector is not None:
                yield to_hit(dict(r.payload), 0.0, None), np.asarray(vector, dtype=np.float32)

    def _has_collection(self) -> bool:
        return self.store.alias_target(self.alias) is not None

    def _point_id_pages(self, workspace: str | None, source_id: str | None) -> Iterator[list[str]]:
        flt = point_filter(workspace, source_id)
        offset: Any = None
        with edge_errors("list points"):
            while True:
                records, offset = self.shard.scroll(qe.ScrollRequest(
                    offset=offset, limit=1024, filter=edge_filter(flt) if flt is not None else None,
                    with_payload=False, with_vector=False))
                if records:
                    yield [str(r.id) for r in records]
                if offset is None:
                    return

    def _point_payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with edge_errors("read points"):
            records = self.shard.retrieve(list(point_ids), True, False)
        return {str(r.id): dict(r.payload) for r in records if r.payload}

    def existing_vectors(self, workspace: str, chunk_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Dense vectors already stored for these chunk hashes (see ``QdrantIndex.existing_vectors``)."""
        wanted = sorted(set(chunk_hashes))
        if not wanted or self.store.alias_target(self.alias) is None:
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 256):
            part = wanted[start:start + 256]
            for r in self._scroll(workspace_filter(workspace, {"chunk_hash": part}), ["chunk_hash"], [DENSE]):
                vector = r.vector.get(DENSE) if isinstance(r.vector, dict) else None
                if r.payload and vector is not None:
                    found[str(r.payload["chunk_hash"])] = np.asarray(vector, dtype=np.float32)
        return found

    def optimize(self) -> bool:
        """Build HNSW and vacuum deleted points (blocking; minutes at 50k chunks on 2 cores)."""
        with edge_errors("optimize"):
            return bool(self.shard.optimize())


def _dense_size(store: EdgeStore, collection: str) -> int | None:
    config = json.loads((store.root / collection / "edge_config.json").read_text(encoding="utf-8"))
    size = config.get("vectors", {}).get(DENSE, {}).get("size")
    return int(size) if size is not None else None


class EdgeCandidates:
    """The Qdrant Edge part of a search (``protocols.CandidateSearch``): the same candidate lists as
    ``QdrantCandidates``, run as one batch on the live shard.

    Args:
        store: from ``open_edge_store``.
        alias: an alias, or a collection's own name.
    """

    def __init__(self, *, store: EdgeStore, alias: str = "knowdesk") -> None:
        self.store = store
        self.alias = alias
        self._collection: str | None = None

    def exists(self) -> bool:
        """Whether the alias (or collection) exists; once resolved, the collection stays."""
        if self._collection is None:
            self._collection = self.store.resolve(self.alias)
        return self._collection is not None

    def run(self, lists: Sequence[ListQuery]) -> list[Sequence[Any]]:
        """The candidate lists as Edge requests, run as one batch on the live shard."""
        requests = [self._request(q) for q in lists]
        with edge_errors("search"):
            responses = self.store.shard(cast(str, self._collection)).query_batch(qe.QueryBatchRequest(requests))
        return [cast(Sequence[Any], points) for points in responses]

    @staticmethod
    def _request(q: ListQuery) -> qe.QueryRequest:
        vector = edge_sparse(q.query) if isinstance(q.query, models.SparseVector) else q.query
        return qe.QueryRequest(limit=q.limit, query=qe.Query.Nearest(cast(Any, vector), using=q.using),
                               filter=edge_filter(q.filter), with_payload=True, with_vector=[DENSE])
