"""Staged collections: a copy of the live collection that a held change is written into.

Knowledge CI (``app.knowledge_ci``) evaluates a change against the index the change would make
before it goes live. The staged collection starts as a point-for-point copy of the live one (the
stored vectors are copied, nothing is re-embedded), then receives the change's writes and
deletes. Searches reach it by its own name; the alias never points to it, so nothing a customer
asks is answered from it. It is dropped once the change is decided.
"""

from __future__ import annotations

import logging
from typing import Any

from qdrant_client import models

from core.errors import ConfigError
from retrieval.edge_store import edge_errors, edge_filter, edge_sparse
from retrieval.generations import BuildIndex, EdgeBuildIndex
from retrieval.index import qdrant_errors
from retrieval.points import DENSE, SPARSE, workspace_filter

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
        copied, offset = 0, None
        with qdrant_errors("copy the live collection"):
            while True:
                records, offset = self.client.scroll(source, scroll_filter=workspace_filter(workspace, {}), limit=_PAGE,
                                                     offset=offset, with_payload=True, with_vectors=True)
                points = [models.PointStruct(id=r.id, vector=r.vector, payload=r.payload)
                          for r in records]
                if points:
                    self.client.upsert(self.collection_name, points=points, wait=True)
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
        import qdrant_edge as qe

        self.recreate()
        live = self.store.shard(source)
        copied, offset = 0, None
        with edge_errors("copy the live collection"):
            while True:
                records, offset = live.scroll(qe.ScrollRequest(
                    offset=offset, limit=_PAGE, filter=edge_filter(workspace_filter(workspace, {})), with_payload=True,
                    with_vector=True))
                points = [qe.Point(r.id, _edge_vectors(r.vector), r.payload) for r in records]
                if points:
                    with self.store.writing(self.collection_name, len(points)) as update:
                        update(qe.UpdateOperation.upsert_points(points))
                copied += len(points)
                if offset is None:
                    return copied


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
