"""The composition of knowdesk's parts from settings, shared by the CLI, the HTTP API and flows.

One ``Runtime`` per process: it opens the state database, the Qdrant client and the embedding
model lazily and once, so every command and request reuses them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from agent.actions.service import Actions
from agent.agent import Agent
from agent.training.service import Training
from core.db import Database, open_database
from core.ids import document_id
from core.models import Hit, RunReport, Source
from core.settings import Settings, get_settings
from flows.content import SqlContentStore
from flows.generations import Generations, IndexSpec
from flows.limits import BoundedEmbedder, EnsureOnce, source_lease
from ingest.authored.service import HelpCenter
from ingest.chunking import Chunker
from ingest.connectors.base import ConnectorContext
from ingest.connectors.registry import build_connector
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.index import QdrantIndex, open_client
from retrieval.search import Searcher, SearchFilters, knowledge_by_default
from retrieval.sparse import BM25Encoder

if TYPE_CHECKING:
    from agent.insights.build import InsightsCsat

log = logging.getLogger(__name__)


class Runtime:
    """Lazily built, process-wide objects. ``Runtime(settings)`` or ``get_runtime()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sync_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._live_checked = 0.0

    # -- stores ---------------------------------------------------------------------------------
    @cached_property
    def db(self) -> Database:
        return open_database(self.settings.resolved_database_url)

    @cached_property
    def sources(self) -> SourceStore:
        store = SourceStore(db=self.db)
        store.ensure_workspace(self.settings.default_workspace)
        return store

    def state(self, workspace: str, source: str) -> SyncState:
        return SyncState(db=self.db, workspace=workspace, source=source)

    # -- models and index -------------------------------------------------------------------------
    @cached_property
    def live(self) -> tuple[str | None, IndexSpec]:
        """(live collection, its model and chunk bounds): the recorded live generation, else settings."""
        recorded = Generations(db=self.db, alias=self.settings.qdrant.alias).live()
        return recorded if recorded else (None, IndexSpec.from_settings(self.settings))

    def refresh_index(self, *, force: bool = False) -> None:
        """Pick up a model switch made by another process (checked at most every few seconds)."""
        now = time.monotonic()
        if not force and now - self._live_checked < self.settings.orchestration.live_check_seconds:
            return
        self._live_checked = now
        recorded = Generations(db=self.db, alias=self.settings.qdrant.alias).live()
        if "live" in self.__dict__ and recorded is not None and recorded != self.live:
            log.info("the live index is now %s (%s)", recorded[0], recorded[1].model)
            for name in ("live", "embedder", "chunker", "index", "searcher", "bounded_embedder", "ensured_index"):
                self.__dict__.pop(name, None)

    @cached_property
    def embedder(self) -> SentenceTransformerEmbedder:
        e = self.settings.embedding
        return SentenceTransformerEmbedder(model=self.live[1].model, device=e.device, batch_size=e.batch_size,
                                           threads=e.threads)

    @cached_property
    def ensured_index(self) -> EnsureOnce:
        """The index, prepared once per process however many syncs run at once."""
        return EnsureOnce(inner=self.index)

    @cached_property
    def bounded_embedder(self) -> BoundedEmbedder:
        """The embedder with calls bounded to the cores (concurrent syncs in one process)."""
        return BoundedEmbedder(inner=self.embedder)

    @cached_property
    def chunker(self) -> Chunker:
        spec = self.live[1]
        return Chunker(tokens=self.embedder, max_tokens=spec.max_tokens, overlap_tokens=spec.overlap_tokens)

    @cached_property
    def parser(self) -> Parser:
        return Parser(max_bytes=self.settings.sync.max_file_bytes)

    @cached_property
    def sparse(self) -> BM25Encoder:
        return BM25Encoder()

    @cached_property
    def qdrant(self) -> Any:
        """The qdrant-client client, or with ``KNOWDESK_QDRANT__ENGINE=edge`` the ``EdgeStore``."""
        q = self.settings.qdrant
        if q.engine == "edge":
            from retrieval.edge import open_edge_store

            return open_edge_store((q.path or self.settings.home / "edge").resolve())
        return open_client(
            url=q.url,
            api_key=q.api_key.get_secret_value() if q.api_key else None,
            path=self.settings.qdrant_path,
            timeout=q.timeout,
        )

    @cached_property
    def index(self) -> QdrantIndex:
        q = self.settings.qdrant
        if q.engine == "edge":
            from retrieval.edge import EdgeIndex

            return EdgeIndex(store=self.qdrant, alias=q.alias, model_id=self.embedder.model_id,
                             dimension=self.embedder.dimension, chunker_version=self.chunker.version,
                             sparse=self.sparse)
        return QdrantIndex(
            client=self.qdrant,
            alias=q.alias,
            model_id=self.embedder.model_id,
            dimension=self.embedder.dimension,
            chunker_version=self.chunker.version,
            sparse=self.sparse,
            shards=q.shards,
            replicas=q.replicas,
        )

    @cached_property
    def searcher(self) -> Searcher:
        # Query the live collection itself when known: its model and this embedder always match,
        # even in the seconds before this process notices a switch made elsewhere.
        if self.settings.qdrant.engine == "edge":
            from retrieval.edge import EdgeSearcher

            return EdgeSearcher(store=self.qdrant, alias=self.live[0] or self.settings.qdrant.alias,
                                embedder=self.embedder, sparse=self.sparse, config=self.settings.search)
        return Searcher(
            client=self.qdrant, alias=self.live[0] or self.settings.qdrant.alias, embedder=self.embedder,
            sparse=self.sparse, config=self.settings.search
        )

    def pipeline(self) -> Pipeline:
        s = self.settings.sync
        return Pipeline(
            parser=self.parser,
            chunker=self.chunker,
            embedder=self.bounded_embedder,
            writer=self.ensured_index,
            options=SyncOptions(
                max_failure_ratio=s.max_failure_ratio,
                shrink_guard_ratio=s.shrink_guard_ratio,
                embed_batch_chunks=s.embed_batch_chunks,
            ),
            content=SqlContentStore(db=self.db),
        )

    @cached_property
    def helpcenter(self) -> HelpCenter:
        """The authored help center (issue 7): publishing indexes through ``pipeline()``."""
        from ingest.authored.models import HelpCenterRules
        from ingest.authored.publisher import HelpCenterPublisher, StateFactory
        from ingest.authored.store import HelpCenterStore

        h = self.settings.helpcenter
        store = HelpCenterStore(db=self.db, rules=HelpCenterRules(locales=h.locales, max_body_bytes=h.max_body_bytes))
        publisher = HelpCenterPublisher(pipeline=self.pipeline, state=StateFactory(db=self.db), base_url=h.base_url)
        return HelpCenter(store=store, publisher=publisher)

    @cached_property
    def training(self) -> Training:
        """The AI profile and training scenarios (issue 7); also the agent's ``TrainingReader``."""
        from agent.training.indexing import ScenarioIndexer
        from agent.training.store import TrainingStore

        return Training(store=TrainingStore(db=self.db), indexer=ScenarioIndexer(pipeline=self.pipeline, db=self.db))

    @cached_property
    def agent(self) -> Agent:
        """The answering agent (issue 8): sessions, policy, grounded answers, handoffs."""
        from agent.build import build_agent

        return build_agent(db=self.db, retriever=self.searcher, embedder=self.embedder, settings=self.settings.agent,
                           llm=self.settings.llm, training=self.training, actions=self.actions.runner)

    @cached_property
    def insights(self) -> InsightsCsat:
        """Insights and CSAT (issue 11): themes of recent sessions, surveys, scores, the webhook."""
        from agent.insights.build import build

        return build(db=self.db, embedder=self.embedder, retriever=self.searcher, settings=self.settings.insights)

    @cached_property
    def actions(self) -> Actions:
        """Actions (issue 9): imported OpenAPI operations the agent calls; its ``runner`` is the hook."""
        from agent.actions.secrets import build_secret_box
        from agent.actions.service import Actions

        return Actions(db=self.db, pipeline=self.pipeline, retriever=self.searcher, settings=self.settings.actions,
                       secrets=build_secret_box(self.settings.secrets.key, self.settings.home))

    def connector_context(self, source: Source | None = None, *, rebuild: bool = False) -> ConnectorContext:
        """What a connector gets: limits, secrets, its state store, and whether a document is indexed
        (so it never reports ``Unchanged`` for one that is not; during a rebuild nothing is)."""
        if source is None:
            return ConnectorContext(max_file_bytes=self.settings.sync.max_file_bytes,
                                    secrets=self.settings.connector_secrets())
        store = SqlConnectorStore(db=self.db, workspace=source.workspace, source=source.name)
        state = self.state(source.workspace, source.name)

        def indexed(native_id: str) -> bool:
            known = state.get(document_id(source.source_id, native_id))
            return not rebuild and known is not None and known.status == "done"

        return ConnectorContext(max_file_bytes=self.settings.sync.max_file_bytes, store=store,
                                secrets=self.settings.connector_secrets(), indexed=indexed)

    def index_lost_source(self, source: Source) -> bool:
        """True when the state has documents of ``source`` but the index has none of its points
        (a new or emptied index, another Qdrant server): skipping by the state would never write them."""
        state = self.state(source.workspace, source.name)
        if state.count() == 0:
            return False
        self.index.ensure_collection()
        return self.index.count(source.workspace, source_id=source.source_id) == 0

    # -- use cases --------------------------------------------------------------------------------
    def sync(
        self,
        source: Source,
        *,
        full: bool = False,
        force: bool = False,
        progress: Callable[[RunReport], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunReport:
        """Sync one source; a second sync of the same source (any process) waits for the first."""
        o = self.settings.orchestration
        self.refresh_index(force=True)
        with self._sync_lock(source.workspace, source.name), source_lease(
            self.db, source.workspace, source.name, ttl=o.lease_seconds, wait=o.lease_wait_seconds
        ):
            rebuild = self.index_lost_source(source)
            connector = build_connector(source, self.connector_context(source, rebuild=rebuild))
            return run_sync(
                source=source,
                connector=connector,
                state=self.state(source.workspace, source.name),
                pipeline=self.pipeline(),
                full=full,
                force=force,
                progress=progress,
                should_stop=should_stop,
                rebuild=rebuild,
            )

    def optimize_index(self) -> str:
        """Qdrant Edge maintenance: build HNSW and vacuum deleted points of the live collection.

        Edge runs no background optimizer, and ``optimize()`` holds the interpreter for its whole
        duration (seconds per 10k chunks on 2 cores): queries in this process wait meanwhile. A
        Qdrant server optimizes in the background and local mode has no optimizer, so there this
        only says so. Returns what was done.
        """
        if self.settings.qdrant.engine != "edge":
            where = "a Qdrant server optimizes in the background" if self.settings.qdrant.url else \
                "qdrant-client's local mode has no optimizer (set KNOWDESK_QDRANT__ENGINE=edge for a faster index)"
            return f"nothing to do: {where}"
        self.ensured_index.ensure_collection()
        started = time.perf_counter()
        changed = self.index.optimize()  # type: ignore[attr-defined]
        points = self.index.shard.info().points_count  # type: ignore[attr-defined]
        if changed:
            return f"optimized {self.index.target} ({points} points) in {time.perf_counter() - started:.1f} s"
        return f"nothing to optimize in {self.index.target} ({points} points: its segments are already optimal)"

    def retrieve(
        self, query: str, *, workspace: str, filters: SearchFilters | None = None, top_k: int = 5, per_document: int = 2
    ) -> list[Hit]:
        """Customer-facing retrieval: without a ``kind`` filter, knowledge only (see KNOWLEDGE_KINDS)."""
        self.refresh_index()
        return self.searcher.search(
            query, workspace=workspace, filters=knowledge_by_default(filters), top_k=top_k, per_document=per_document
        )

    def remove_source(self, workspace: str, name: str) -> int:
        """Remove a source and every point it indexed; returns the number of documents removed."""
        self.sources.get(workspace, name)
        state = self.state(workspace, name)
        docs = list(state.indexed().values())
        self.index.delete_source(workspace, name)
        state.forget(docs)
        SqlConnectorStore(db=self.db, workspace=workspace, source=name).clear()
        SqlContentStore(db=self.db).forget_source(workspace, name)
        self.sources.remove(workspace, name)
        return len(docs)

    def _sync_lock(self, workspace: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._sync_locks.setdefault((workspace, name), threading.Lock())


_runtime: Runtime | None = None
_runtime_guard = threading.Lock()


def get_runtime() -> Runtime:
    """The process's ``Runtime``, built from ``get_settings()`` on first use."""
    global _runtime
    with _runtime_guard:
        if _runtime is None:
            _runtime = Runtime(get_settings())
        return _runtime


def reset_runtime() -> None:
    """Forget the process's runtime (tests that change settings)."""
    global _runtime
    with _runtime_guard:
        _runtime = None
    get_settings.cache_clear()
