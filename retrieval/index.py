"""The qdrant-client engine: client, collections, per-document writes and deletes (``QdrantIndex``)
and the candidate lists of a search (``QdrantCandidates``), a Qdrant server or qdrant-client's
local mode. What it shares with the Edge engine (schema, points, filters) is in ``points.py``.

One collection per embedding model, chunker version and dimension, reached through an alias
(``knowdesk``) so a re-index can build a new collection and swap the alias. Every point carries
its workspace; every read and delete filters on it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.errors import ConfigError, IndexError_, StoreLocked
from core.ids import chunk_id, point_id
from core.models import Chunk, Document, Hit
from retrieval.candidates import ListQuery, to_hit
from retrieval.points import (
    DELETE_BATCH,
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

logger = logging.getLogger(__name__)

_LOCAL_INDEX_WARNING = "Payload indexes have no effect in the local Qdrant"

_clients: dict[tuple[str, ...], QdrantClient] = {}
_clients_lock = threading.Lock()


def open_client(*, url: str | None, api_key: str | None, path: Path | None, timeout: float) -> QdrantClient:
    """The process's client for a Qdrant server (``url``) or local storage folder (``path``).

    Cached per location, so the CLI, the API and retrieval share one client (local storage
    can only be opened once).

    Raises:
        ConfigError: neither or both of ``url`` and ``path`` given.
        StoreLocked: the local storage folder is open in another process.
    """
    if url and path is None:
        key: tuple[str, ...] = ("url", url, api_key or "")
    elif path is not None and not url:
        folder = Path(path).expanduser().resolve()
        key = ("path", str(folder))
    else:
        raise ConfigError("give either a Qdrant url or a local storage path, not both or neither")
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if url:
                logger.info("using the Qdrant server at %s", url)
                client = QdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout)))
            else:
                client = _open_local(folder)
            _clients[key] = client
        return client


def _store_locked(folder: Path) -> StoreLocked:
    return StoreLocked(
        f"the local index in {folder} is open in another knowdesk process (for example "
        "`knowdesk serve`). Stop that process, send the request through its HTTP API, or run "
        "a Qdrant server and set KNOWDESK_QDRANT__URL.",
        path=str(folder),
    )


def _probe_lock(folder: Path) -> None:
    # Probe the lock qdrant-client takes before it takes it: a client that fails half-way
    # leaks its open lock file, which surfaces later as a ResourceWarning.
    lock_path = folder / ".lock"
    if not lock_path.exists():
        return
    import portalocker

    with lock_path.open("r+") as handle:
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException as exc:
            raise _store_locked(folder) from exc
        portalocker.unlock(handle)


class _SerializedClient(QdrantClient):
    """A local-mode client whose public calls run one at a time. qdrant-client's local mode is not
    thread-safe: a search while another thread writes (the API answering during a background
    sync) can fail or crash the process. Server clients are not serialized."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        object.__setattr__(self, "_kd_lock", threading.RLock())

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name.startswith("_") or not callable(attr):
            return attr
        try:
            lock = super().__getattribute__("_kd_lock")
        except AttributeError:  # still in __init__
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)

        return call


def _open_local(folder: Path) -> QdrantClient:
    folder.mkdir(parents=True, exist_ok=True)
    _probe_lock(folder)
    try:
        return _SerializedClient(path=str(folder))
    except RuntimeError as exc:  # another process won the race since the probe
        if "already accessed by another instance" not in str(exc):
            raise
        raise _store_locked(folder) from exc


def close_client(client: QdrantClient) -> None:
    """Close one client and drop it from the cache (the next ``open_client`` reopens)."""
    with _clients_lock:
        for key in [k for k, v in _clients.items() if v is client]:
            del _clients[key]
    client.close()


@atexit.register
def close_clients() -> None:
    """Close every cached client (releases local storage locks); also runs at exit."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


@contextlib.contextmanager
def qdrant_errors(operation: str) -> Iterator[None]:
    """Turn transport and server errors into ``IndexError_`` (retryable)."""
    try:
        yield
    except (UnexpectedResponse, ResponseHandlingException) as exc:
        raise IndexError_(f"Qdrant failed to {operation}: {exc}", operation=operation) from exc


def alias_target(client: QdrantClient, alias: str) -> str | None:
    """The collection an alias points to, or None."""
    with qdrant_errors("list aliases"):
        aliases = client.get_aliases().aliases
    return next((a.collection_name for a in aliases if a.alias_name == alias), None)


class QdrantIndex(KeptTokens):
    """Writes and deletes chunks in Qdrant; satisfies ``ingest.protocols.IndexWriter``.

    Args:
        client: from ``open_client``.
        alias: the alias searches go through.
        model_id, dimension: the embedding model; with ``chunker_version`` they name the collection.
        sparse: computes the BM25 vector of each chunk.
        shards, replicas: server collection layout.
        on_disk: keep dense vectors on disk (server mode).
        use_alias_target: write into the collection the alias points to, even when it was built
            for another model or chunker (its vector size must still match).
        tokens: keeps the chunks' token vectors for the late stage (``retrieval.tokens``), when
            the model is the late stage's (``LATE_MODEL``); None keeps none.

    Raises:
        ConfigError: (from ``ensure_collection``) the alias points to another collection.

    Example::

        index = QdrantIndex(client=client, model_id="all-MiniLM-L6-v2", dimension=384,
                            chunker_version="1", sparse=BM25Encoder())
        index.ensure_collection()
        index.replace_document(document, chunks, vectors)
    """

    def __init__(
        self,
        *,
        client: QdrantClient,
        alias: str = "knowdesk",
        model_id: str,
        dimension: int,
        chunker_version: str,
        sparse: BM25Encoder,
        shards: int = 1,
        replicas: int = 1,
        on_disk: bool = False,
        use_alias_target: bool = False,
        tokens: TokenStore | None = None,
    ) -> None:
        self.client = client
        self.alias = alias
        self.dimension = dimension
        self.sparse = sparse
        self.collection_name = collection_name(alias, model_id, chunker_version, dimension)
        self._shards = shards
        self._replicas = replicas
        self._on_disk = on_disk
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

    def ensure_collection(self) -> None:
        """Create the collection, its payload indexes and the alias when missing. Idempotent."""
        with qdrant_errors("prepare the collection"):
            current = alias_target(self.client, self.alias)
            if current is not None and current != self.collection_name:
                self._target = self._adopt(current)
                return
            if not self.client.collection_exists(self.collection_name):
                self._create()
            self._create_payload_indexes()
            if current is None:
                self.client.update_collection_aliases(
                    change_aliases_operations=[
                        models.CreateAliasOperation(
                            create_alias=models.CreateAlias(
                                collection_name=self.collection_name, alias_name=self.alias
                            )
                        )
                    ]
                )
                logger.info("alias %s -> %s", self.alias, self.collection_name)
        self._target = self.collection_name

    def _adopt(self, current: str) -> str:
        if not self._use_alias_target:
            raise other_collection(self.alias, current, self.collection_name)
        vectors = self.client.get_collection(current).config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != self.dimension:
            raise other_dimension(current, size, self.dimension)
        logger.warning("writing into %s, the alias target, not %s", current, self.collection_name)
        return current

    def _create(self) -> None:
        logger.info("creating collection %s", self.collection_name)
        self.client.create_collection(
            self.collection_name,
            vectors_config={
                DENSE: models.VectorParams(
                    size=self.dimension, distance=models.Distance.COSINE, on_disk=self._on_disk or None
                )
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self._shards,
            replication_factor=self._replicas,
        )

    def _create_payload_indexes(self) -> None:
        existing = self.client.get_collection(self.collection_name).payload_schema
        for field, schema in PAYLOAD_INDEXES.items():
            if field in existing:
                continue
            # Local mode ignores payload indexes; create them anyway so both modes stay congruent.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_LOCAL_INDEX_WARNING, category=UserWarning)
                self.client.create_payload_index(self.collection_name, field, field_schema=schema)

    def replace_document(
        self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray, previous_chunks: int | None = None
    ) -> None:
        """Replace the document's points with one point per chunk (dense + BM25).

        ``previous_chunks``: how many chunks the document had when it was last fully written, if
        the caller knows (the sync state does). Point ids are deterministic, so the surplus ids
        ``len(chunks) .. previous_chunks-1`` are deleted by id and the rest overwritten. Without it,
        a lookup of the document's first point by id decides: absent (upserts land in order, so
        nothing of the document exists) means nothing to delete, present means every point of the
        document is deleted by filter first (a scan in local mode).

        Raises:
            ValueError: chunks and vectors differ in number, or a vector has the wrong size.
        """
        check_vectors(document, chunks, vectors, self.dimension)
        target = self.target
        points = [chunk_point(document, chunk, vector, self.sparse)
                  for chunk, vector in zip(chunks, vectors, strict=True)]
        if self.tokens is not None:
            self.tokens.delete_documents(target, document.workspace, [document.id])
        with qdrant_errors(f"write {document.id}"):
            # Delete first: a document that shrank must leave no trailing chunks behind.
            if previous_chunks is None and self._has_point(target, document.workspace, chunk_id(document.id, 0)):
                # unknown history: delete every point of the document (a scan in local mode)
                selector = models.FilterSelector(
                    filter=workspace_filter(document.workspace, {"document_id": document.id})
                )
                self.client.delete(target, points_selector=selector, wait=True)
            elif previous_chunks is not None and previous_chunks > len(chunks):
                surplus = surplus_ids(document, len(chunks), previous_chunks)
                self.client.delete(target, points_selector=models.PointIdsList(points=surplus), wait=True)
            for start in range(0, len(points), UPSERT_BATCH):
                self.client.upsert(target, points=points[start : start + UPSERT_BATCH], wait=True)
        logger.debug("wrote %d chunks of %s", len(points), document.id)

    def add_chunks(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Upsert one point per chunk, deleting nothing (a streamed document's later parts)."""
        check_vectors(document, chunks, vectors, self.dimension)
        target = self.target
        points = [chunk_point(document, chunk, vector, self.sparse)
                  for chunk, vector in zip(chunks, vectors, strict=True)]
        with qdrant_errors(f"write {document.id}"):
            for start in range(0, len(points), UPSERT_BATCH):
                self.client.upsert(target, points=points[start : start + UPSERT_BATCH], wait=True)

    def _has_point(self, target: str, workspace: str, chunk: str) -> bool:
        found = self.client.retrieve(target, ids=[point_id(workspace, chunk)], with_payload=False, with_vectors=False)
        return bool(found)

    def delete_documents(self, workspace: str, document_ids: Sequence[str]) -> None:
        """Remove every point of these documents in the workspace."""
        ids = list(dict.fromkeys(document_ids))
        target = self.target
        with qdrant_errors("delete documents"):
            for start in range(0, len(ids), DELETE_BATCH):
                batch = ids[start : start + DELETE_BATCH]
                self.client.delete(
                    target,
                    points_selector=models.FilterSelector(
                        filter=workspace_filter(workspace, {"document_id": batch})
                    ),
                    wait=True,
                )
        if self.tokens is not None:
            self.tokens.delete_documents(target, workspace, ids)
        logger.debug("deleted %d documents in %s", len(ids), workspace)

    def delete_source(self, workspace: str, source_id: str) -> None:
        """Remove every point of one source in the workspace."""
        with qdrant_errors("delete a source"):
            self.client.delete(
                self.target,
                points_selector=models.FilterSelector(
                    filter=workspace_filter(workspace, {"source_id": source_id})
                ),
                wait=True,
            )
        if self.tokens is not None:
            self.tokens.delete_source(self.target, workspace, source_id)

    def count(self, workspace: str, **filters: str | Sequence[str] | None) -> int:
        """Points in the workspace matching keyword filters (``kind="article"``, ``source_id=...``)."""
        with qdrant_errors("count points"):
            result = self.client.count(
                self.target, count_filter=workspace_filter(workspace, filters), exact=True
            )
        return int(result.count)

    def document_chunk_ids(self, workspace: str, document_id: str) -> list[str]:
        """Chunk ids of a document, in chunk order."""
        found: list[tuple[int, str]] = []
        offset: models.ExtendedPointId | None = None
        with qdrant_errors("list chunks"):
            while True:
                records, offset = self.client.scroll(
                    self.target,
                    scroll_filter=workspace_filter(workspace, {"document_id": document_id}),
                    limit=256,
                    offset=offset,
                    with_payload=["chunk_id", "chunk_index"],
                    with_vectors=False,
                )
                found += [
                    (int(r.payload["chunk_index"]), str(r.payload["chunk_id"])) for r in records if r.payload
                ]
                if offset is None:
                    break
        return [chunk for _, chunk in sorted(found)]

    def stored_chunks(self, workspace: str, kinds: Sequence[str] = KNOWLEDGE
                      ) -> Iterator[tuple[Hit, np.ndarray]]:
        """Every chunk of the workspace of these kinds with its dense vector, in pages of 256 (the
        offline passes over the whole index: conflicting facts). Nothing when no collection exists."""
        if alias_target(self.client, self.alias) is None:
            return
        offset: models.ExtendedPointId | None = None
        with qdrant_errors("list chunks"):
            while True:
                records, offset = self.client.scroll(
                    self.target, scroll_filter=workspace_filter(workspace, {"kind": list(kinds)}), limit=256,
                    offset=offset, with_payload=True, with_vectors=[DENSE])
                for r in records:
                    vector = r.vector.get(DENSE) if isinstance(r.vector, dict) else None
                    if r.payload and vector is not None:
                        yield to_hit(dict(r.payload), 0.0, None), np.asarray(vector, dtype=np.float32)
                if offset is None:
                    return

    def _has_collection(self) -> bool:
        return alias_target(self.client, self.alias) is not None

    def _point_id_pages(self, workspace: str | None, source_id: str | None) -> Iterator[list[str]]:
        flt = point_filter(workspace, source_id)
        offset: models.ExtendedPointId | None = None
        with qdrant_errors("list points"):
            while True:
                records, offset = self.client.scroll(self.target, scroll_filter=flt, limit=1024, offset=offset,
                                                     with_payload=False, with_vectors=False)
                if records:
                    yield [str(r.id) for r in records]
                if offset is None:
                    return

    def _point_payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with qdrant_errors("read points"):
            records = self.client.retrieve(self.target, ids=list(point_ids), with_payload=True, with_vectors=False)
        return {str(r.id): dict(r.payload) for r in records if r.payload}

    def existing_vectors(self, workspace: str, chunk_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Dense vectors already stored for these chunk hashes (the hash of a chunk's embed text),
        so a sync embeds only text it has not embedded before: an edit re-embeds the changed
        chunks, a move or rename embeds nothing. Empty when the collection does not exist yet."""
        wanted = sorted(set(chunk_hashes))
        if not wanted or alias_target(self.client, self.alias) is None:
            return {}
        found: dict[str, np.ndarray] = {}
        with qdrant_errors("read vectors"):
            for start in range(0, len(wanted), 256):
                part = wanted[start : start + 256]
                offset: models.ExtendedPointId | None = None
                while True:
                    records, offset = self.client.scroll(
                        self.target,
                        scroll_filter=workspace_filter(workspace, {"chunk_hash": part}),
                        limit=256,
                        offset=offset,
                        with_payload=["chunk_hash"],
                        with_vectors=["dense"],
                    )
                    for r in records:
                        vector = r.vector.get("dense") if isinstance(r.vector, dict) else None
                        if r.payload and vector is not None:
                            found[str(r.payload["chunk_hash"])] = np.asarray(vector, dtype=np.float32)
                    if offset is None or len(found) == len(part):
                        break
        return found


class QdrantCandidates:
    """The qdrant-client part of a search (``protocols.CandidateSearch``): the candidate lists as one
    batch request over an alias, or a collection's own name.

    Args:
        client: from ``open_client``.
        alias: the alias ``QdrantIndex`` maintains, or a collection's name.
    """

    def __init__(self, *, client: QdrantClient, alias: str = "knowdesk") -> None:
        self.client = client
        self.alias = alias
        self._ready = False

    def exists(self) -> bool:
        """Whether the alias (or collection) exists; once seen, it stays."""
        # Nothing ingested yet means no alias: an empty answer, not an error.
        if not self._ready:
            with qdrant_errors("look up the index"):
                self._ready = alias_target(self.client, self.alias) is not None or (
                    self.client.collection_exists(self.alias)
                )
        return self._ready

    def run(self, lists: Sequence[ListQuery]) -> list[Sequence[Any]]:
        """Execute the candidate lists (one batch request)."""
        requests = [
            models.QueryRequest(
                query=q.query, using=q.using, filter=q.filter, limit=q.limit, with_payload=True, with_vector=[DENSE]
            )
            for q in lists
        ]
        with qdrant_errors("search"):
            return [response.points for response in self.client.query_batch_points(self.alias, requests=requests)]
