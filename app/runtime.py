"""The composition root: knowdesk's parts built from settings, shared by the CLI, the HTTP API and flows,
and the use cases they call (sync a source, retrieve, remove a source; re-index is ``app.reindex``).

One ``Runtime`` per process: it opens the state database and the index engine lazily and once, so
every command and request reuses them. Everything bound to the live index generation (embedder,
chunker, index, searcher, agent, actions, insights) is one ``app.components.Components``, replaced
whole when the live generation changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from actions.service import Actions
from agent.access import AccessStore
from agent.agent import Agent
from agent.sessions import SessionStore
from app.components import Components
from app.content import SqlContentStore
from app.limits import BoundedEmbedder, EnsureOnce, source_lease
from core.db import Database, open_database
from core.errors import InvalidInput
from core.ids import document_id
from core.models import PUBLIC, Hit, RunReport, Source, Viewer
from core.settings import Settings, get_settings, knowdesk_env
from helpcenter.service import HelpCenter
from ingest.chunking import Chunker
from ingest.connectors.base import ConnectorContext
from ingest.connectors.registry import build_connector
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.embedders import DenseEncoder
from retrieval.factory import IndexEngine
from retrieval.generations import Generations, IndexSpec
from retrieval.protocols import Index
from retrieval.search import Searcher, SearchFilters
from retrieval.sparse import BM25Encoder
from training.service import Training

if TYPE_CHECKING:
    from app.knowledge_ci.service import KnowledgeCI
    from app.resolutions.service import Resolutions
    from insights.build import InsightsCsat

log = logging.getLogger(__name__)


class Runtime:
    """Lazily built, process-wide objects. ``Runtime(settings)`` or ``get_runtime()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sync_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._live_checked = 0.0
        self._components: Components | None = None
        self._components_guard = threading.RLock()
        self._batch_queries = False

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

    @cached_property
    def access(self) -> AccessStore:
        """End-user access (``agent.access``): group -> audience mappings and identity secrets."""
        from actions.secrets import build_secret_box

        return AccessStore(db=self.db, cipher=build_secret_box(self.settings.secrets.key, self.settings.home))

    def viewer(self, workspace: str, *, session_id: str | None = None, identity_token: str | None = None) -> Viewer:
        """Whom a retrieval is for: a session's verified contact, or the contact a signed identity
        token names (the two together must be the same contact's); public documents only with neither.

        Raises:
            NotFound: no such session. IdentityRejected: the token fails a check (never public instead).
            InvalidInput: a token for another contact than the session's.
        """
        identity = None
        if session_id is not None:
            identity = SessionStore(db=self.db).get(workspace, session_id).identity
        if identity_token is not None:
            verified = self.access.verify(workspace, identity_token)
            if identity is not None and (verified.subject, verified.email) != (identity.subject, identity.email):
                raise InvalidInput("the identity token names another contact than the session's; give one of the two")
            identity = verified
        return self.access.get(workspace).viewer(identity) if identity is not None else PUBLIC

    # -- the live generation's components ------------------------------------------------------
    @cached_property
    def engine(self) -> IndexEngine:
        """The index engine (``KNOWDESK_QDRANT__ENGINE``): the only reader of that setting."""
        return IndexEngine(settings=self.settings.qdrant, home=self.settings.home)

    @property
    def components(self) -> Components:
        """The components of the live index generation: built on first use, and swapped whole
        (``refresh_index``, at most every ``KNOWDESK_ORCHESTRATION__LIVE_CHECK_SECONDS``) once another
        generation is live, here or in another process. Read it once per operation."""
        self.refresh_index()
        with self._components_guard:
            if self._components is None:
                self._components = self._build_components(self._recorded_live())
            return self._components

    def _recorded_live(self) -> tuple[str | None, IndexSpec]:
        """(live collection, its model and chunk bounds): the recorded live generation, else settings."""
        recorded = Generations(db=self.db, alias=self.settings.qdrant.alias).live()
        return recorded if recorded else (None, IndexSpec.from_settings(self.settings))

    def _build_components(self, live: tuple[str | None, IndexSpec]) -> Components:
        return Components(settings=self.settings, db=self.db, engine=self.engine, live=live, sparse=self.sparse,
                          training=self.training, pipeline=self.pipeline, batch_queries=self._batch_queries,
                          access=self.access)

    def batch_queries(self) -> None:
        """Serve many callers at once (the HTTP API): concurrent query embeddings share encoder calls
        (``retrieval.query_embedding.QueryBatcher``). Components built before are rebuilt with it."""
        with self._components_guard:
            if not self._batch_queries:
                self._batch_queries = True
                self._components = None

    def stop_batching(self) -> None:
        """The server is stopping: stop the query batcher; later callers embed their queries directly."""
        with self._components_guard:
            if self._components is not None:
                self._components.close()
            self._batch_queries = False
            self._components = None

    def refresh_index(self, *, force: bool = False) -> None:
        """Pick up a model switch made here or by another process (checked at most every few
        seconds unless ``force``): the components of the new generation replace the old ones whole."""
        now = time.monotonic()
        if not force and now - self._live_checked < self.settings.orchestration.live_check_seconds:
            return
        self._live_checked = now
        recorded = Generations(db=self.db, alias=self.settings.qdrant.alias).live()
        with self._components_guard:
            current = self._components
            if current is not None and recorded is not None and recorded != current.live:
                log.info("the live index is now %s (%s)", recorded[0], recorded[1].model)
                self._components = self._build_components(recorded)

    @property
    def live(self) -> tuple[str | None, IndexSpec]:
        return self.components.live

    @property
    def embedder(self) -> DenseEncoder:
        return self.components.embedder

    @property
    def bounded_embedder(self) -> BoundedEmbedder:
        return self.components.bounded_embedder

    @property
    def chunker(self) -> Chunker:
        return self.components.chunker

    @property
    def index(self) -> Index:
        return self.components.index

    @property
    def ensured_index(self) -> EnsureOnce:
        return self.components.ensured_index

    @property
    def searcher(self) -> Searcher:
        return self.components.searcher

    @property
    def agent(self) -> Agent:
        """The answering agent of the live generation."""
        return self.components.agent

    @property
    def insights(self) -> InsightsCsat:
        """Insights and CSAT of the live generation."""
        return self.components.insights

    @property
    def actions(self) -> Actions:
        """Actions of the live generation (its ``runner`` is the agent's hook)."""
        return self.components.actions

    @cached_property
    def parser(self) -> Parser:
        s = self.settings.sync
        return Parser(max_bytes=s.max_file_bytes, spacy=s.spacy, stream_bytes=s.stream_bytes)

    @cached_property
    def sparse(self) -> BM25Encoder:
        return BM25Encoder()

    @property
    def qdrant(self) -> Any:
        """The qdrant-client client, or with ``KNOWDESK_QDRANT__ENGINE=edge`` the ``EdgeStore``."""
        return self.engine.store

    def pipeline(self) -> Pipeline:
        """The sync pipeline of the live generation (read once per sync or publish)."""
        c = self.components
        s = self.settings.sync
        return Pipeline(
            parser=self.parser,
            chunker=c.chunker,
            embedder=c.bounded_embedder,
            writer=c.ensured_index,
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
        from helpcenter.models import HelpCenterRules
        from helpcenter.publisher import HelpCenterPublisher, StateFactory
        from helpcenter.store import HelpCenterStore

        h = self.settings.helpcenter
        store = HelpCenterStore(db=self.db, rules=HelpCenterRules(locales=h.locales, max_body_bytes=h.max_body_bytes))
        publisher = HelpCenterPublisher(pipeline=self.pipeline, state=StateFactory(db=self.db), base_url=h.base_url)
        helpcenter = HelpCenter(store=store, publisher=publisher)
        from app.knowledge_ci.hooks import wire_helpcenter

        wire_helpcenter(self.knowledge_ci, helpcenter)
        return helpcenter

    @cached_property
    def resolutions(self) -> Resolutions:
        """Drafts from human resolutions (issue 20, item 2): approved ones publish through ``helpcenter``."""
        from app.resolutions.service import Resolutions
        from app.resolutions.store import DraftStore
        from app.resolutions.vector_file import VectorFile
        from app.resolutions.vectors import UnitVectors
        from core.models import DocumentKind, Viewer
        from training.indexing import SOURCE_ID as TRAINING_SOURCE

        articles = SearchFilters(source_id=self.helpcenter.publisher.source_id)

        scenarios = SearchFilters(source_id=TRAINING_SOURCE, kind=DocumentKind.SCENARIO.value)

        def search(query: str, workspace: str) -> list[Hit]:
            return self.retrieve(query, workspace=workspace, filters=articles, top_k=5, viewer=Viewer.everyone())

        def search_scenarios(query: str, workspace: str) -> list[Hit]:
            return self.retrieve(query, workspace=workspace, filters=scenarios, top_k=3, per_document=1,
                                 viewer=Viewer.everyone())

        return Resolutions(sessions=SessionStore(db=self.db), drafts=DraftStore(db=self.db),
                           helpcenter=self.helpcenter, search=search,
                           embed=UnitVectors(encoder=lambda: self.embedder, kept=VectorFile(
                               self.settings.home / "cache" / "unit-vectors.sqlite3")),
                           locale=self.settings.helpcenter.default_locale,
                           training=self.training, scenarios=search_scenarios,
                           scenario_threshold=self.settings.agent.scenario_threshold)

    @cached_property
    def knowledge_ci(self) -> KnowledgeCI:
        """Knowledge CI (issue 20): reviews publishes against ``KNOWDESK_KNOWLEDGE_CI__DATASET``."""
        from app.knowledge_ci.hooks import wire_appliers
        from app.knowledge_ci.service import KnowledgeCI

        ci = KnowledgeCI(self)
        # an accept in a process that has not published yet (the CLI) builds the service it needs
        wire_appliers(ci, helpcenter=lambda: self.helpcenter, training=lambda: self.training)
        return ci

    @cached_property
    def training(self) -> Training:
        """The AI profile and training scenarios (issue 7); also the agent's ``TrainingReader``."""
        from app.knowledge_ci.hooks import wire_training
        from training.indexing import ScenarioIndexer
        from training.store import TrainingStore

        training = Training(store=TrainingStore(db=self.db),
                            indexer=ScenarioIndexer(pipeline=self.pipeline, db=self.db))
        wire_training(self.knowledge_ci, training)
        return training

    def connector_context(self, source: Source | None = None, *, rebuild: bool = False) -> ConnectorContext:
        """What a connector gets: limits, the ``KNOWDESK_*`` variables its credentials come from (read
        now), its state store, and whether a document is indexed (so it never reports ``Unchanged``
        for one that is not; during a rebuild nothing is)."""
        if source is None:
            return ConnectorContext(max_file_bytes=self.settings.sync.max_file_bytes, env=knowdesk_env())
        store = SqlConnectorStore(db=self.db, workspace=source.workspace, source=source.name)
        state = self.state(source.workspace, source.name)

        def indexed(native_id: str) -> bool:
            known = state.get(document_id(source.source_id, native_id))
            return not rebuild and known is not None and known.status == "done"

        return ConnectorContext(max_file_bytes=self.settings.sync.max_file_bytes, store=store,
                                env=knowdesk_env(), indexed=indexed)

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

            def run(pipeline: Pipeline) -> RunReport:
                return run_sync(source=source, connector=connector, state=self.state(source.workspace, source.name),
                                pipeline=pipeline, full=full, force=force, progress=progress,
                                should_stop=should_stop, rebuild=rebuild)

            # the gate's settings without building knowledge CI (and importing evaluation) when it is unused
            built = self.__dict__.get("knowledge_ci")
            gate = built.settings if built is not None else self.settings.knowledge_ci
            if gate.gates_sync(source.name) and not rebuild:
                from app.knowledge_ci.syncs import gated_sync

                report = gated_sync(self, self.knowledge_ci, source, run)  # reviewed before it goes live
            else:
                report = run(self.pipeline())
            from app.tokens import fill_after_sync

            fill_after_sync(self, source, report, should_stop)  # an index written before token vectors were kept
        self.engine.after_writes(self.index)
        return report

    def optimize_index(self) -> str:
        """Qdrant Edge maintenance of the live collection (``retrieval.factory.IndexEngine.optimize``)."""
        self.ensured_index.ensure_collection()
        return self.engine.optimize(self.index)

    def retrieve(
        self, query: str, *, workspace: str, filters: SearchFilters | None = None, top_k: int = 5,
        per_document: int | None = None, viewer: Viewer = PUBLIC,
    ) -> list[Hit]:
        """The retrieve use case (``app.retrieve``) on the live generation: without a ``kind`` filter,
        knowledge only; without a ``viewer``, public documents only."""
        self.refresh_index()
        return self.components.retrieve.search(query, workspace=workspace, filters=filters, top_k=top_k,
                                               per_document=per_document, viewer=viewer)

    def retrieve_many(self, queries: Sequence[tuple[str, SearchFilters | None, int]], *, workspace: str,
                      per_document: int | None = None, viewer: Viewer = PUBLIC) -> list[list[Hit]]:
        """Several retrievals (query, filters, top_k) in one batch (``knowdesk retrieve --batch``)."""
        self.refresh_index()
        return self.components.retrieve.search_many(queries, workspace=workspace, per_document=per_document,
                                                    viewer=viewer)

    def remove_source(self, workspace: str, name: str) -> int:
        """Remove a source, every point it indexed, its sync state and its run records (a source added
        again under the name starts with no runs); returns the number of documents removed."""
        self.sources.get(workspace, name)
        state = self.state(workspace, name)
        docs = list(state.indexed().values())
        self.index.delete_source(workspace, name)
        state.forget(docs)
        state.forget_runs()
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
