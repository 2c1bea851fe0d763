"""Chunks' token vectors for the second ranking stage, stored at ingest beside the index (a sidecar).

The late stage (``retrieval.rerank``) scores a candidate by MaxSim over the bundled MiniLM's token
vectors of its text. Ingest already runs that forward pass to embed each chunk (the dense vector is
the mean of the same token vectors), so the embedder hands them over (``SentenceTransformerEmbedder.
embed_documents_with_tokens``) and the index keeps them here: float16, one row per point, with the
model that wrote them and a key of the text they were computed from (``text_key``). The stage reads
a candidate's row only when both match what it would compute itself; otherwise (an index written
before this store, a changed heading) the search ranks that query without the stage, or computes the
vectors at query time when asked to (``SearchSettings.rerank_missing``; the default for the int8 and e5
encoders, which offer none). ``KeptTokens.fill_tokens`` fills an index's missing rows from its points'
stored text (``knowdesk reindex --tokens``, the end of every sync: ``app.tokens``).

Storage: one SQLite file per collection under the engine's token folder (``IndexEngine.token_store``):
Qdrant's own multivectors would need the schema of every existing collection changed (a re-index)
and float16 multivectors on both embedded engines; a sidecar keeps old indexes working as they are.
Rows are deleted with their points (``replace_document``, ``delete_documents``, ``delete_source``) and
the file with its collection.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.ids import point_id
from core.models import Chunk, Document
from retrieval.candidates import heading_text
from retrieval.embedding import DEFAULT_MODEL_ID, Tokens, text_key

__all__ = ["LATE_MODEL", "KeptTokens", "StoredTokens", "TokenCoverage", "TokenFill", "TokenRow", "TokenStore",
           "TokenVectors", "Tokens", "chunk_text", "late_key", "text_key"]
logger = logging.getLogger(__name__)

#: The model whose token vectors the late stage scores (``retrieval.rerank.MiniLMTokens``).
LATE_MODEL = DEFAULT_MODEL_ID
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    point_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    document_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    chunk_hash TEXT NOT NULL,
    text_key TEXT NOT NULL,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vectors BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_document ON tokens (workspace, document_id);
CREATE INDEX IF NOT EXISTS tokens_source ON tokens (workspace, source_id);
CREATE INDEX IF NOT EXISTS tokens_hash ON tokens (workspace, chunk_hash);
"""


def chunk_text(payload: Mapping[str, Any]) -> str:
    """The text the late stage scores for a point: its heading (title, section path), then its text."""
    head = heading_text(payload)
    body = str(payload.get("text") or "")
    return f"{head}\n\n{body}" if head else body


def late_key(document: Document, chunk: Chunk) -> str:
    """``text_key`` of the text the late stage scores for this chunk (``chunk_text`` of its payload)."""
    return text_key(chunk_text({"title": document.title, "section": chunk.section, "text": chunk.text}))


class TokenRow(NamedTuple):
    """One point's token vectors as the store keeps them."""

    point_id: str
    workspace: str
    document_id: str
    source_id: str
    chunk_hash: str
    tokens: Tokens


class TokenStore:
    """Token vectors per point id, one SQLite file per collection under ``root`` (created on first write).

    Thread-safe (one connection per thread and collection; WAL, so searches read while ingest writes).

    Args:
        root: the folder of the files.

    Example::

        store = TokenStore(root=home / "edge-tokens")
        store.write("knowdesk__all_minilm_l6_v2__heading_v1__d384", document, chunks, tokens, model=LATE_MODEL)
        found = store.read("knowdesk__...", ["3f2c..."], model=LATE_MODEL)  # {point id: Tokens}
    """

    def __init__(self, *, root: Path) -> None:
        self.root = root
        self._local = threading.local()

    def path(self, collection: str) -> Path:
        if not _SAFE.match(collection):
            raise ValueError(f"not a collection name: {collection!r}")
        return self.root / f"{collection}.sqlite"

    def _db(self, collection: str, *, create: bool) -> sqlite3.Connection | None:
        conns: dict[str, sqlite3.Connection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(collection)
        path = self.path(collection)
        if conn is not None and path.exists():
            return conn
        if conn is not None:  # the file was dropped (by another thread or process)
            conn.close()
            del conns[collection]
        if not create and not path.exists():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        conns[collection] = conn
        return conn

    def write(self, collection: str, document: Document, chunks: Sequence[Chunk],
              tokens: Sequence[Tokens | None], *, model: str) -> int:
        """Keep each chunk's token vectors (float16) whose text is the one the late stage scores
        (``late_key``); others are left to the stage's query-time path. Returns the rows written."""
        rows = [TokenRow(point_id(document.workspace, chunk.id), document.workspace, document.id, document.source_id,
                         chunk.hash, found)
                for chunk, found in zip(chunks, tokens, strict=True)
                if found is not None and found.key == late_key(document, chunk)]
        return self.write_rows(collection, rows, model=model)

    def write_rows(self, collection: str, rows: Sequence[TokenRow], *, model: str) -> int:
        """Keep these points' token vectors (float16), replacing what a point had. Returns the rows written."""
        values = []
        for row in rows:
            vectors = np.ascontiguousarray(row.tokens.vectors, dtype=np.float16)
            values.append((row.point_id, row.workspace, row.document_id, row.source_id, row.chunk_hash,
                           row.tokens.key, model, int(vectors.shape[1]) if vectors.ndim == 2 else 0,
                           vectors.tobytes()))
        return self._insert(collection, values)

    def _insert(self, collection: str, values: Sequence[tuple[Any, ...]]) -> int:
        """Write whole rows (the table's column order), replacing what a point had. The count."""
        if not values:
            return 0
        conn = self._db(collection, create=True)
        assert conn is not None
        with conn:
            conn.executemany("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        return len(values)

    def copy_rows(self, source: str, target: str, point_ids: Iterable[str]) -> int:
        """Copy these points' rows (every model's) from ``source``'s file into ``target``'s, replacing
        what a point had there: a staged copy of a collection, a held change going live. The count."""
        ids = list(dict.fromkeys(point_ids))
        conn = self._db(source, create=False)
        if conn is None or not ids:
            return 0
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            rows.extend(conn.execute(
                "SELECT point_id, workspace, document_id, source_id, chunk_hash, text_key, model, dim, vectors "
                f"FROM tokens WHERE point_id IN ({','.join('?' * len(part))})", part).fetchall())
        return self._insert(target, rows)

    def kept(self, collection: str, point_ids: Iterable[str], *, model: str) -> set[str]:
        """Which of these points have token vectors of ``model`` (their ids; no vectors read)."""
        ids = list(dict.fromkeys(point_ids))
        conn = self._db(collection, create=False)
        if conn is None or not ids:
            return set()
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            found.update(pid for (pid,) in conn.execute(
                f"SELECT point_id FROM tokens WHERE model = ? AND point_id IN ({marks})", [model, *part]))
        return found

    def read(self, collection: str, point_ids: Iterable[str], *, model: str) -> dict[str, Tokens]:
        """The stored token vectors (float16) of these points that ``model`` wrote."""
        ids = list(dict.fromkeys(point_ids))
        conn = self._db(collection, create=False)
        if conn is None or not ids:
            return {}
        found: dict[str, Tokens] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for pid, key, dim, blob in conn.execute(
                    f"SELECT point_id, text_key, dim, vectors FROM tokens WHERE model = ? AND point_id IN ({marks})",
                    [model, *part]):
                found[pid] = Tokens(key, _array(blob, dim))
        return found

    def count(self, collection: str, workspace: str, *, source_id: str | None = None, model: str) -> int:
        """Rows of ``model`` (of one workspace, of one of its sources)."""
        conn = self._db(collection, create=False)
        if conn is None:
            return 0
        query = "SELECT COUNT(*) FROM tokens WHERE model = ? AND workspace = ?"
        args = [model, workspace]
        if source_id is not None:
            query += " AND source_id = ?"
            args.append(source_id)
        return int(conn.execute(query, args).fetchone()[0])

    def by_hash(self, collection: str, workspace: str, chunk_hashes: Iterable[str], *, model: str) -> dict[str, Tokens]:
        """Stored token vectors by chunk hash (a sync reusing an unchanged chunk's vectors keeps its tokens)."""
        hashes = list(dict.fromkeys(chunk_hashes))
        conn = self._db(collection, create=False)
        if conn is None or not hashes:
            return {}
        found: dict[str, Tokens] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start:start + 500]
            marks = ",".join("?" * len(part))
            for chunk_hash, key, dim, blob in conn.execute(
                    f"SELECT chunk_hash, text_key, dim, vectors FROM tokens WHERE workspace = ? AND model = ? "
                    f"AND chunk_hash IN ({marks})", [workspace, model, *part]):
                found[chunk_hash] = Tokens(key, _array(blob, dim))
        return found

    def delete_documents(self, collection: str, workspace: str, document_ids: Sequence[str]) -> None:
        """Forget every point of these documents."""
        conn = self._db(collection, create=False)
        ids = list(dict.fromkeys(document_ids))
        if conn is None or not ids:
            return
        with conn:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                conn.execute(f"DELETE FROM tokens WHERE workspace = ? AND document_id IN ({','.join('?' * len(part))})",
                             [workspace, *part])

    def delete_source(self, collection: str, workspace: str, source_id: str) -> None:
        """Forget every point of one source."""
        conn = self._db(collection, create=False)
        if conn is not None:
            with conn:
                conn.execute("DELETE FROM tokens WHERE workspace = ? AND source_id = ?", [workspace, source_id])

    def stats(self, collection: str) -> dict[str, float]:
        """Rows, bytes of vectors, and bytes per row (vectors) and on disk per row (file size)."""
        conn = self._db(collection, create=False)
        if conn is None:
            return {"rows": 0, "vector_bytes": 0, "bytes_per_chunk": 0.0, "file_bytes_per_chunk": 0.0}
        rows, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(vectors)), 0) FROM tokens").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        disk = self.path(collection).stat().st_size
        return {"rows": rows, "vector_bytes": size, "bytes_per_chunk": round(size / rows, 1) if rows else 0.0,
                "file_bytes_per_chunk": round(disk / rows, 1) if rows else 0.0}

    def drop(self, collection: str) -> None:
        """Delete the collection's file (its collection was dropped)."""
        conns: dict[str, sqlite3.Connection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.pop(collection, None)
        if conn is not None:
            conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path(collection)}{suffix}").unlink(missing_ok=True)
        logger.debug("dropped the token vectors of %s", collection)


def _array(blob: bytes, dim: int) -> np.ndarray:
    flat = np.frombuffer(blob, dtype=np.float16)
    return flat.reshape(-1, dim) if dim else flat.reshape(0, 0)


class StoredTokens:
    """The late stage's reader of one searched collection's stored token vectors.

    Args:
        store: the sidecar.
        collection: returns the collection the searcher's alias points to (None before any write).
        model: the late stage's token model.
    """

    def __init__(self, *, store: TokenStore, collection: Any, model: str = LATE_MODEL) -> None:
        self.store = store
        self._collection = collection
        self.model = model
        self._resolved: str | None = None

    def get(self, payloads: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str]) -> dict[str, np.ndarray]:
        """The stored vectors of the candidates ``keys`` (candidate key -> ``text_key`` of the text the
        stage scores) whose stored row was computed from that very text."""
        if self._resolved is None:
            self._resolved = self._collection()
            if self._resolved is None:
                return {}
        ids = {key: point_id(str(payloads[key].get("workspace", "")), str(payloads[key].get("chunk_id", key)))
               for key in keys}
        rows = self.store.read(self._resolved, ids.values(), model=self.model)
        return {key: row.vectors for key, pid in ids.items()
                if (row := rows.get(pid)) is not None and row.key == keys[key]}


class TokenCoverage(BaseModel):
    """How many of an index's chunks (points) have stored token vectors for the late stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kept: int = Field(ge=0)
    total: int = Field(ge=0)

    @property
    def complete(self) -> bool:
        return self.kept >= self.total

    def describe(self) -> str:
        share = f" ({100 * self.kept / self.total:.1f}%)" if self.total else ""
        return f"{self.kept} of {self.total} chunks{share}"


class TokenFill(BaseModel):
    """What ``KeptTokens.fill_tokens`` did: the coverage before and after, the chunks it filled, and
    whether it was stopped before the end (a later run goes on from there)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    before: TokenCoverage
    after: TokenCoverage
    filled: int = 0
    seconds: float = 0.0
    stopped: bool = False


class TokenVectors(Protocol):
    """Token vectors of texts as the late stage computes them (``retrieval.rerank.MiniLMTokens``)."""

    def token_vectors(self, texts: Sequence[str]) -> list[np.ndarray]: ...


class KeptTokens:
    """The token-vector side of an index (``QdrantIndex``, ``EdgeIndex``): keeps its chunks' token
    vectors in ``tokens`` (None: it keeps none) under its ``target`` collection, reports how many of
    its chunks have them (``token_coverage``) and fills the missing ones (``fill_tokens``: an index
    written before they were stored). The engines list their points (``_point_id_pages``) and read
    payloads by id (``_point_payloads``)."""

    tokens: TokenStore | None

    @property
    def target(self) -> str:
        raise NotImplementedError

    def _has_collection(self) -> bool:
        raise NotImplementedError

    def count(self, workspace: str, **filters: str | Sequence[str] | None) -> int:
        raise NotImplementedError

    def _point_id_pages(self, workspace: str | None, source_id: str | None) -> Iterator[list[str]]:
        """The ids of the points (of one workspace, of one source), a page at a time."""
        raise NotImplementedError

    def _point_payloads(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The payloads of these points (a point deleted meanwhile is absent)."""
        raise NotImplementedError

    def _missing_tokens(self, workspace: str | None, source_id: str | None) -> tuple[list[str], int]:
        """The points without stored token vectors, and how many points there are."""
        if self.tokens is None or not self._has_collection():
            return [], 0
        if workspace:  # the common case, complete, from two counts (rows go with their points)
            points = self.count(workspace, source_id=source_id)
            if points == self.tokens.count(self.target, workspace, source_id=source_id, model=LATE_MODEL):
                return [], points
        missing: list[str] = []
        total = 0
        for page in self._point_id_pages(workspace, source_id):
            total += len(page)
            have = self.tokens.kept(self.target, page, model=LATE_MODEL)
            missing += [pid for pid in page if pid not in have]
        return missing, total

    def token_coverage(self, workspace: str | None = None, source_id: str | None = None) -> TokenCoverage | None:
        """How many chunks (of one workspace, of one source) have stored token vectors; None when this
        index keeps none (another model than ``LATE_MODEL``). Reads point ids only (~1 s per 100k)."""
        if self.tokens is None:
            return None
        missing, total = self._missing_tokens(workspace, source_id)
        return TokenCoverage(kept=total - len(missing), total=total)

    def fill_tokens(self, encoder: TokenVectors, *, workspace: str | None = None, source_id: str | None = None,
                    batch: int = 64, progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> TokenFill | None:
        """Compute and keep the token vectors of the chunks that have none (an index written before they
        were stored), ``batch`` chunks per forward pass, from each point's stored text; the dense and
        BM25 vectors are not touched. Every batch is committed, so a stopped run (``should_stop``, an
        interrupt) loses at most one batch and the next run goes on with what is still missing.

        ``progress(filled, missing)`` after each batch. None when this index keeps no token vectors."""
        if self.tokens is None:
            return None
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        started = time.monotonic()
        missing, total = self._missing_tokens(workspace, source_id)
        before = TokenCoverage(kept=total - len(missing), total=total)
        filled = 0
        stopped = False
        for start in range(0, len(missing), batch):
            if should_stop is not None and should_stop():
                stopped = True
                break
            payloads = self._point_payloads(missing[start:start + batch])
            ids = list(payloads)
            texts = [chunk_text(payloads[pid]) for pid in ids]
            vectors = encoder.token_vectors(texts) if texts else []
            rows = [TokenRow(pid, str(payloads[pid].get("workspace", "")), str(payloads[pid].get("document_id", "")),
                             str(payloads[pid].get("source_id", "")), str(payloads[pid].get("chunk_hash", "")),
                             Tokens(text_key(text), found))
                    for pid, text, found in zip(ids, texts, vectors, strict=True)]
            filled += self.tokens.write_rows(self.target, rows, model=LATE_MODEL)
            if progress is not None:
                progress(filled, len(missing))
        after = TokenCoverage(kept=min(total, before.kept + filled), total=total)
        if filled:
            logger.info("filled the token vectors of %d chunks of %s (%s now)", filled, self.target, after.describe())
        return TokenFill(before=before, after=after, filled=filled, seconds=round(time.monotonic() - started, 2),
                         stopped=stopped)

    @property
    def token_model(self) -> str | None:
        """The model whose token vectors this index keeps (``write_tokens``); None when it keeps none."""
        return LATE_MODEL if self.tokens is not None else None

    #: Computes the token vectors of a chunk whose captured ones are of another text than the one the late
    #: stage scores (``MiniLMTokens``, built on first need; a test sets its own).
    late_encoder: TokenVectors | None = None

    def write_tokens(self, document: Document, chunks: Sequence[Chunk], tokens: Sequence[Tokens | None]) -> None:
        """Keep the chunks' token vectors (after ``replace_document`` or ``add_chunks`` wrote their points).

        A chunk whose captured vectors come from another text than the one the stage scores (a trigger phrase
        embedded on its own, a heading the chunker shortened to fit the window) gets them computed from the
        scored text here (``late_encoder``), so every chunk this index writes has them stored and the search
        never meets a fresh chunk without (``SearchSettings.rerank_missing``)."""
        if self.tokens is None:
            return
        self.tokens.write(self.target, document, chunks, tokens, model=LATE_MODEL)
        other = [chunk for chunk, found in zip(chunks, tokens, strict=True)
                 if found is None or found.key != late_key(document, chunk)]
        if not other:
            return
        if self.late_encoder is None:
            from retrieval.rerank import MiniLMTokens  # the stage's own encoder (imports this module)

            self.late_encoder = MiniLMTokens()
        texts = [chunk_text({"title": document.title, "section": chunk.section, "text": chunk.text}) for chunk in other]
        rows = [TokenRow(point_id(document.workspace, chunk.id), document.workspace, document.id, document.source_id,
                         chunk.hash, Tokens(text_key(text), vectors))
                for chunk, text, vectors in zip(other, texts, self.late_encoder.token_vectors(texts), strict=True)]
        self.tokens.write_rows(self.target, rows, model=LATE_MODEL)

    def existing_tokens(self, workspace: str, chunk_hashes: Sequence[str]) -> dict[str, Tokens]:
        """Token vectors already kept for these chunk hashes, for reuse with their dense vectors."""
        if self.tokens is None:
            return {}
        return self.tokens.by_hash(self.target, workspace, chunk_hashes, model=LATE_MODEL)
