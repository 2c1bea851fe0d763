"""Staged collections: a copy of the live collection that a held change is written into.

Knowledge CI (``app.knowledge_ci``) evaluates a change against the index the change would make
before it goes live. The staged collection starts as a point-for-point copy of the live one (the
stored vectors are copied, nothing is re-embedded), then receives the change's writes and
deletes. Searches reach it by its own name; the alias never points to it, so nothing a customer
asks is answered from it. It is dropped once the change is decided.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qdrant_client import models

from core.errors import ConfigError
from retrieval.edge_store import edge_errors, edge_filter, edge_sparse
from retrieval.generations import BuildIndex, EdgeBuildIndex
from retrieval.index import qdrant_errors
from retrieval.points import DENSE, SPARSE, workspace_filter
from retrieval.tokens import TokenStore

log = logging.getLogger(__name__)
STAGED_MARK = "__staged_"
_PAGE = 256


def staged_name(live: str, change_id: str) -> str:
    """The collection name of a change's staged copy of ``live``."""
    return f"{live}{STAGED_MARK}{change_id}"


def is_staged(collection: str) -> bool:
    return STAGED_MARK in collection


class StagedQdrantIndex(BuildIndex):
    """A ``BuildIndex`` under a staged name (qdrant-client: local mode or a server)."""

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection_name = name

    def copy_from(self, source: str, workspace: str) -> int:
        """Copy every point of ``workspace`` in ``source`` (vectors and payload) here; the count."""
        self.recreate()
        return self._copy(source, self.collection_name, workspace_filter(workspace, {}))

    def copy_into(self, target: str, workspace: str, document_ids: Sequence[str]) -> int:
        """Copy these documents' points from here into ``target`` (a held sync going live); the count.
        The target's earlier points of these documents are the caller's to delete first."""
        return sum(self._copy(self.collection_name, target, workspace_filter(workspace, {"document_id": batch}))
                   for batch in _batches(document_ids))

    def _copy(self, source: str, target: str, where: models.Filter) -> int:
        copied, offset = 0, None
        with qdrant_errors("copy points between collections"):
            while True:
                records, offset = self.client.scroll(source, scroll_filter=where, limit=_PAGE, offset=offset,
                                                     with_payload=True, with_vectors=True)
                points = [models.PointStruct(id=r.id, vector=r.vector, payload=r.payload) for r in records]
                if points:
                    self.client.upsert(target, points=points, wait=True)
                    _copy_tokens(self.tokens, source, target, [str(r.id) for r in records])
                copied += len(points)
                if offset is None:
                    return copied


class StagedEdgeIndex(EdgeBuildIndex):
    """An ``EdgeBuildIndex`` under a staged name (Qdrant Edge)."""

    def __init__(self, *, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection_name = name

    def copy_from(self, source: str, workspace: str) -> int:
        """Copy every point of ``workspace`` in ``source`` (vectors and payload) here; the count."""
        self.recreate()
        return self._copy(source, self.collection_name, workspace_filter(workspace, {}))

    def copy_into(self, target: str, workspace: str, document_ids: Sequence[str]) -> int:
        """Copy these documents' points from here into ``target`` (a held sync going live); the count.
        The target's earlier points of these documents are the caller's to delete first."""
        return sum(self._copy(self.collection_name, target, workspace_filter(workspace, {"document_id": batch}))
                   for batch in _batches(document_ids))

    def _copy(self, source: str, target: str, where: models.Filter) -> int:
        import qdrant_edge as qe

        src = self.store.shard(source)
        copied, offset = 0, None
        with edge_errors("copy points between collections"):
            while True:
                records, offset = src.scroll(qe.ScrollRequest(offset=offset, limit=_PAGE, filter=edge_filter(where),
                                                              with_payload=True, with_vector=True))
                points = [qe.Point(r.id, _edge_vectors(r.vector), r.payload) for r in records]
                if points:
                    with self.store.writing(target, len(points)) as update:
                        update(qe.UpdateOperation.upsert_points(points))
                    _copy_tokens(self.tokens, source, target, [str(r.id) for r in records])
                copied += len(points)
                if offset is None:
                    return copied


def _copy_tokens(tokens: TokenStore | None, source: str, target: str, point_ids: list[str]) -> None:
    """The copied points' stored token vectors go with them (the late stage ranks a staged copy as the
    live collection, and a held change going live keeps its chunks' vectors), under the collections'
    own names (an alias is resolved first: the vectors are kept per collection)."""
    if tokens is not None:
        tokens.copy_rows(source, target, point_ids)


def _batches(ids: Sequence[str], size: int = _PAGE) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + size] for i in range(0, len(unique), size)]


def _edge_vectors(vector: Any) -> dict[str, Any]:
    dense, sparse = vector[DENSE], vector[SPARSE]
    if isinstance(sparse, models.SparseVector):
        sparse = edge_sparse(sparse)
    return {DENSE: list(dense), SPARSE: sparse}



StagedIndex = StagedQdrantIndex | StagedEdgeIndex


def check_staged(name: str) -> None:
    """Raise ``ConfigError`` unless ``name`` is a staged collection name (never write into a live one)."""
    if not is_staged(name):
        raise ConfigError(f"{name!r} is not a staged collection; refusing to write into it")
