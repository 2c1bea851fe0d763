"""The one place that reads the index engine setting and builds what the engine serves.

``KNOWDESK_QDRANT__ENGINE`` chooses between qdrant-client (a Qdrant server at ``url``, or its
Python local mode under ``path``) and Qdrant Edge (the Rust engine in-process). Everything else
asks this factory for a store, an index writer, a searcher, a build index for a re-index, the
live collection of an alias or an optimisation pass, and never branches on the engine itself.

Example::

    engine = IndexEngine(settings=settings.qdrant, home=settings.home)
    index = engine.index(model_id=embedder.model_id, dimension=embedder.dimension,
                         chunker_version=chunker.version, sparse=BM25Encoder())
    searcher = engine.searcher(alias=settings.qdrant.alias, embedder=embedder, sparse=BM25Encoder())
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from core.settings import QdrantSettings, SearchSettings
from retrieval.edge import EdgeCandidates, EdgeIndex, open_edge_store
from retrieval.edge_optimize import EdgeOptimizer
from retrieval.generations import BuildIndex, EdgeBuildIndex, live_collection
from retrieval.index import QdrantCandidates, QdrantIndex, open_client
from retrieval.protocols import CandidateSearch, Index, NewIndex
from retrieval.search import QueryEmbedder, Searcher
from retrieval.sparse import BM25Encoder
from retrieval.staging import StagedEdgeIndex, StagedIndex, StagedQdrantIndex, check_staged
from retrieval.tokens import StoredTokens, TokenStore

log = logging.getLogger(__name__)


class IndexEngine:
    """The configured engine: one store per process, and the index objects over it.

    Args:
        settings: the ``qdrant`` settings (``engine``, ``url``, ``path``, ``alias``, layout).
        home: ``KNOWDESK_HOME``; embedded storage defaults to ``home/edge`` or ``home/qdrant``.
    """

    def __init__(self, *, settings: QdrantSettings, home: Path) -> None:
        self.settings = settings
        self.home = home
        #: The only read of the engine setting.
        self.edge = settings.engine == "edge"
        self._store: Any = None
        self._optimizer: EdgeOptimizer | None = None
        self._tokens: TokenStore | None = None
        self._guard = threading.Lock()

    @property
    def store(self) -> Any:
        """The qdrant-client client, or with ``KNOWDESK_QDRANT__ENGINE=edge`` the ``EdgeStore``
        (opened on first use, once per process)."""
        with self._guard:
            if self._store is None:
                q = self.settings
                if self.edge:
                    self._store = open_edge_store(self._edge_path())
                else:
                    path = None if q.url else (q.path or self.home / "qdrant").resolve()
                    self._store = open_client(url=q.url, api_key=q.api_key.get_secret_value() if q.api_key else None,
                                              path=path, timeout=q.timeout)
            return self._store

    def _edge_path(self) -> Path:
        return (self.settings.path or self.home / "edge").resolve()

    @property
    def token_store(self) -> TokenStore:
        """Chunks' token vectors for the late stage (``retrieval.tokens``), beside the embedded storage
        (``<storage>-tokens``) or, for a Qdrant server, under ``KNOWDESK_HOME/tokens`` (this host's:
        another host's searches compute them at query time)."""
        with self._guard:
            if self._tokens is None:
                q = self.settings
                if q.url and not self.edge:
                    root = self.home.resolve() / "tokens"
                else:
                    storage = self._edge_path() if self.edge else (q.path or self.home / "qdrant").resolve()
                    root = storage.with_name(f"{storage.name}-tokens")
                self._tokens = TokenStore(root=root)
            return self._tokens

    def index(self, *, model_id: str, dimension: int, chunker_version: str, sparse: BM25Encoder) -> Index:
        """The writer of the collection for this model and chunker, reached through the alias."""
        names = self._names(model_id=model_id, dimension=dimension, chunker_version=chunker_version, sparse=sparse)
        if self.edge:
            return EdgeIndex(store=self.store, tokens=self.token_store, **names)
        return QdrantIndex(client=self.store, shards=self.settings.shards, replicas=self.settings.replicas,
                           tokens=self.token_store, **names)

    def new_index(self, *, model_id: str, dimension: int, chunker_version: str, sparse: BM25Encoder) -> NewIndex:
        """A writer of a new collection beside the live one (a re-index); ``switch_alias`` makes it live."""
        names = self._names(model_id=model_id, dimension=dimension, chunker_version=chunker_version, sparse=sparse)
        if self.edge:
            return EdgeBuildIndex(store=self.store, tokens=self.token_store, **names)
        return BuildIndex(client=self.store, shards=self.settings.shards, replicas=self.settings.replicas,
                          tokens=self.token_store, **names)

    def staged_index(self, *, name: str, model_id: str, dimension: int, chunker_version: str,
                     sparse: BM25Encoder) -> StagedIndex:
        """A writer of a staged copy of the live collection (knowledge CI): never behind the alias."""
        check_staged(name)
        names = self._names(model_id=model_id, dimension=dimension, chunker_version=chunker_version, sparse=sparse)
        if self.edge:
            return StagedEdgeIndex(name=name, store=self.store, tokens=self.token_store, **names)
        return StagedQdrantIndex(name=name, client=self.store, shards=self.settings.shards,
                                 replicas=self.settings.replicas, tokens=self.token_store, **names)

    def _names(self, **names: Any) -> dict[str, Any]:
        return {"alias": self.settings.alias, **names}

    def searcher(self, *, alias: str, embedder: QueryEmbedder, sparse: BM25Encoder,
                 config: SearchSettings | None = None) -> Searcher:
        """The search pipeline over ``alias`` (an alias, or a collection's own name); ``config``: its
        stages (``Settings.search``)."""
        engine: CandidateSearch = (EdgeCandidates(store=self.store, alias=alias) if self.edge
                                   else QdrantCandidates(client=self.store, alias=alias))
        tokens = StoredTokens(store=self.token_store, collection=lambda: self._resolve(alias))
        return Searcher(engine=engine, embedder=embedder, sparse=sparse, config=config, tokens=tokens)

    def _resolve(self, alias: str) -> str | None:
        """The collection behind ``alias`` (an alias, or a collection's own name), None when neither exists."""
        if self.edge:
            found: str | None = self.store.resolve(alias)
            return found
        target = live_collection(self.store, alias)
        return target or (alias if self.store.collection_exists(alias) else None)

    def live_collection(self) -> str | None:
        """The collection the alias points to, or None before the first write."""
        return live_collection(self.store, self.settings.alias)

    def collection_exists(self, name: str) -> bool:
        """Whether a collection of this name exists (a held change's staged collection)."""
        return bool(self.store.collection_exists(name))

    def drop_collection(self, name: str) -> None:
        """Delete a collection (a retired generation) and its token vectors."""
        self.store.delete_collection(name)
        self.token_store.drop(name)

    @property
    def optimizer(self) -> EdgeOptimizer | None:
        """Qdrant Edge's optimiser (a child process per pass), None on the other engines."""
        if not self.edge:
            return None
        store = self.store
        with self._guard:
            if self._optimizer is None:
                self._optimizer = EdgeOptimizer(store=store, min_points=self.settings.optimize_after_points)
            return self._optimizer

    def optimize(self, index: Index) -> str:
        """Qdrant Edge maintenance: build HNSW and vacuum deleted points of the live collection.

        Edge runs no background optimizer, and ``EdgeShard.optimize()`` holds the interpreter for its
        whole duration, so it runs on a copy in a child process (``retrieval.edge_optimize``) and the
        copy is swapped in: searches go on meanwhile, writes wait. A Qdrant server optimizes in the
        background and local mode has no optimizer, so there this only says so. Call it on a
        prepared index (``ensure_collection``). Returns what was done.
        """
        optimizer = self.optimizer
        if optimizer is None or not isinstance(index, EdgeIndex):
            where = "a Qdrant server optimizes in the background" if self.settings.url else \
                "qdrant-client's local mode has no optimizer (set KNOWDESK_QDRANT__ENGINE=edge for a faster index)"
            return f"nothing to do: {where}"
        return optimizer.optimize(index.target)

    def after_writes(self, index: Index) -> bool:
        """After a sync: start optimising the index's collection in the background once
        ``optimize_after_points`` points were written since the last pass (Edge only); True if started."""
        optimizer = self.optimizer
        if optimizer is None or not isinstance(index, EdgeIndex):
            return False
        return optimizer.after_writes(index.target)
