"""The components bound to one live index generation, built from one spec and swapped as a whole.

Everything that embeds, chunks, writes or searches belongs to one generation of the index (a
collection built with one model and chunk bounds): the embedder, the chunker, the index writer,
the searcher and the ``Retrieve`` use case over it, and the features built on them (the agent,
actions, insights). A ``Components`` is made for one generation and never changes; when the live
generation changes (``knowdesk reindex --model ...``, here or in another process) the runtime
builds a new one and replaces the old in one assignment, so no part can keep answering from the
previous collection while another has moved on.

Members are built on first use (a CLI command that only lists sources loads no model), always
from this object's own ``live`` spec.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from actions.service import Actions
from agent.access import AccessStore
from agent.agent import Agent
from app.limits import BoundedEmbedder, EnsureOnce
from app.retrieve import Retrieve
from core.db import Database
from core.settings import Settings
from ingest.chunking import Chunker
from retrieval.embedders import DenseEncoder, build_embedder
from retrieval.factory import IndexEngine
from retrieval.generations import IndexSpec
from retrieval.protocols import Index
from retrieval.query_embedding import QueryBatcher, QueryCache
from retrieval.search import Searcher
from retrieval.sparse import BM25Encoder
from training.service import Training

if TYPE_CHECKING:
    from collections.abc import Callable

    from ingest.sync import Pipeline
    from insights.build import InsightsCsat


class Components:
    """One generation's embedder, chunker, index, searcher, retrieve, agent, actions and insights.

    Args:
        settings: the process's settings.
        db: the state database.
        engine: the index engine (``retrieval.factory``).
        live: (the live collection or None before the first write, its model and chunk bounds).
        sparse: the BM25 encoder (stateless, shared by every generation).
        training: the AI profile and scenarios (the agent's ``TrainingReader``).
        pipeline: returns the sync pipeline of the current generation (actions index through it).
        batch_queries: gather concurrent callers' query embeddings into shared encoder calls (the
            HTTP server; ``KNOWDESK_SERVER__BATCH_WINDOW_MS``).
        access: end-user access (``agent.access``): what each verified contact may see.
    """

    def __init__(self, *, settings: Settings, db: Database, engine: IndexEngine, live: tuple[str | None, IndexSpec],
                 sparse: BM25Encoder, training: Training, pipeline: Callable[[], Pipeline],
                 batch_queries: bool = False, access: AccessStore | None = None) -> None:
        self.settings = settings
        self.batch_queries = batch_queries
        self.db = db
        self.engine = engine
        self.live = live
        self.sparse = sparse
        self.training = training
        self._pipeline = pipeline
        self.access = access

    @property
    def spec(self) -> IndexSpec:
        return self.live[1]

    @cached_property
    def embedder(self) -> DenseEncoder:
        return build_embedder(self.spec.model, settings=self.settings.embedding, home=self.settings.home)

    @cached_property
    def batcher(self) -> QueryBatcher | None:
        """The micro-batcher of query embeddings (the HTTP server only), or None."""
        if not self.batch_queries:
            return None
        s = self.settings.server
        return QueryBatcher(inner=self.embedder, window=s.batch_window_ms / 1000, max_texts=s.batch_max)

    @cached_property
    def query_embedder(self) -> DenseEncoder:
        """The embedder for questions: the query cache, then the micro-batcher when serving."""
        inner: DenseEncoder = self.batcher or self.embedder
        size = self.settings.embedding.query_cache
        return QueryCache(inner=inner, size=size) if size else inner

    def close(self) -> None:
        """Stop the query batcher's worker (the server is stopping)."""
        if "batcher" in self.__dict__ and self.batcher is not None:
            self.batcher.close()

    @cached_property
    def bounded_embedder(self) -> BoundedEmbedder:
        """The embedder with calls bounded to the cores (concurrent syncs in one process)."""
        return BoundedEmbedder(inner=self.embedder)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(tokens=self.embedder, max_tokens=self.spec.max_tokens, overlap_tokens=self.spec.overlap_tokens)

    @cached_property
    def index(self) -> Index:
        return self.engine.index(model_id=self.embedder.model_id, dimension=self.embedder.dimension,
                                 chunker_version=self.chunker.version, sparse=self.sparse)

    @cached_property
    def ensured_index(self) -> EnsureOnce:
        """The index, prepared once per process however many syncs run at once."""
        return EnsureOnce(inner=self.index)

    @cached_property
    def searcher(self) -> Searcher:
        # Query the live collection itself when known: its model and this embedder always match,
        # even in the seconds before this process notices a switch made elsewhere.
        return self.engine.searcher(alias=self.live[0] or self.settings.qdrant.alias, embedder=self.query_embedder,
                                    sparse=self.sparse, config=self.settings.search)

    @cached_property
    def retrieve(self) -> Retrieve:
        """The one entrance to search of this generation."""
        return Retrieve(searcher=self.searcher)

    @cached_property
    def actions(self) -> Actions:
        """Actions (issue 9): imported OpenAPI operations the agent calls; its ``runner`` is the hook."""
        from actions.secrets import build_secret_box

        return Actions(db=self.db, pipeline=self._pipeline, retriever=self.retrieve, settings=self.settings.actions,
                       secrets=build_secret_box(self.settings.secrets.key, self.settings.home))

    @cached_property
    def agent(self) -> Agent:
        """The answering agent (issue 8): sessions, policy, grounded answers, handoffs."""
        from agent.build import build_agent
        from retrieval.stages import RankParams

        return build_agent(db=self.db, retriever=self.retrieve, embedder=self.query_embedder,
                           settings=self.settings.agent, llm=self.settings.llm, training=self.training,
                           actions=self.actions.runner, access=self.access,
                           reranked=RankParams.from_settings(self.settings.search, model_id=self.spec.model).rerank)

    @cached_property
    def insights(self) -> InsightsCsat:
        """Insights and CSAT (issue 11): themes of recent sessions, surveys, scores, the webhook."""
        from insights.build import build

        return build(db=self.db, embedder=self.embedder, retriever=self.retrieve, settings=self.settings.insights)
