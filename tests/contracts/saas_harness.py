"""Sync-level helpers shared by the SaaS connector tests (Zendesk, Confluence, Notion, ...).

``SyncHarness`` runs ``ingest.sync.run_sync`` with the HashEmbedder, an in-memory Qdrant and a
real state database against a connector factory; ``Sleeps`` is a recording ``sleep`` for
``RetryPolicy`` so a 429 burst costs no real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qdrant_client import QdrantClient

from core.db import Database
from core.ids import document_id
from core.models import RunReport, Source
from ingest.chunking import Chunker
from ingest.connectors.base import Connector, ConnectorContext
from ingest.connectors.http import RetryPolicy
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.index import QdrantIndex
from retrieval.sparse import BM25Encoder
from tests.fakes import HashEmbedder


class Sleeps:
    """A ``sleep`` that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fast_retry(sleeps: Sleeps, max_attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, sleep=sleeps)


class SyncHarness:
    """One source synced into an in-memory index, with the guards at their defaults."""

    def __init__(self, *, db: Database, qdrant: QdrantClient, source: Source,
                 connector: Callable[[], Connector], shrink_guard_ratio: float = 0.2) -> None:
        self.db, self.source, self.connector = db, source, connector
        self.embedder = HashEmbedder()
        self.chunker = Chunker(tokens=self.embedder, max_tokens=128, overlap_tokens=16)
        self.index = QdrantIndex(client=qdrant, alias="saas", model_id=self.embedder.model_id,
                                 dimension=self.embedder.dimension, chunker_version=self.chunker.version,
                                 sparse=BM25Encoder())
        self.options = SyncOptions(shrink_guard_ratio=shrink_guard_ratio)
        SourceStore(db=db).add(source)  # the cursor is kept on the source's row

    @property
    def state(self) -> SyncState:
        return SyncState(db=self.db, workspace=self.source.workspace, source=self.source.name)

    def sync(self, *, full: bool = False, force: bool = False) -> RunReport:
        pipeline = Pipeline(parser=Parser(), chunker=self.chunker, embedder=self.embedder, writer=self.index,
                            options=self.options)
        return run_sync(source=self.source, connector=self.connector(), state=self.state, pipeline=pipeline,
                        full=full, force=force)

    def indexed(self) -> set[str]:
        """Native ids of the documents the state says are indexed."""
        return set(self.state.indexed())

    def chunks(self, native_id: str) -> list[str]:
        return self.index.document_chunk_ids(self.source.workspace, f"{self.source.source_id}:{native_id}")

    def payload(self, native_id: str) -> dict[str, Any]:
        """The payload of a document's first point (empty when it has none)."""
        from retrieval.points import workspace_filter

        records, _ = self.index.client.scroll(
            self.index.target,
            scroll_filter=workspace_filter(self.source.workspace,
                                           {"document_id": f"{self.source.source_id}:{native_id}"}),
            limit=1, with_payload=True, with_vectors=False)
        return dict(records[0].payload or {}) if records else {}


class StoredContext:
    """What the runtime gives a connector beyond credentials: its store (in the state database) and the
    check whether a document is indexed, for the tests of incremental behaviour (attachments)."""

    def __init__(self, db: Database, *, workspace: str, source: str) -> None:
        SourceStore(db=db).ensure_workspace(workspace)
        self.source_id = source
        self.store = SqlConnectorStore(db=db, workspace=workspace, source=source)
        self.state = SyncState(db=db, workspace=workspace, source=source)

    def context(self) -> ConnectorContext:
        def indexed(native_id: str) -> bool:
            known = self.state.get(document_id(self.source_id, native_id))
            return known is not None and known.status == "done"

        return ConnectorContext(store=self.store, indexed=indexed)
