"""The unit vectors of near-duplicate detection kept on disk (``KNOWDESK_HOME/cache/unit-vectors.sqlite3``),
so that another process (a second ``knowdesk`` command, a restarted server, a Prefect worker) does not
embed the same published units again.

One SQLite file of its own (a cache, whichever database holds the data): rows keyed by the model's id
and the sha256 of the text, each with its vector as float32 bytes and when it was last used. WAL and a
busy timeout let several processes read and write it at once; every write is one transaction, so a
reader never sees half of one. Bounded: past ``capacity`` rows the least recently used go. When the
model changes (a new ``model_id`` stores vectors), the rows of every other model are dropped: a vector
is only ever returned for the model that made it, and the old model's take no room. The file is an
optimisation: when it cannot be opened, read or written (a read-only home, a corrupt file) the reason
is logged once and the caller embeds as if nothing were kept.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from core.errors import InvalidInput

log = logging.getLogger(__name__)
#: Rows kept by default: 384 float32 (MiniLM) are 1.5 KB, so about 75 MB at most.
CAPACITY = 50_000
BUSY_SECONDS = 10.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS unit_vectors (model TEXT NOT NULL, text_sha256 TEXT NOT NULL, "
    "dimension INTEGER NOT NULL, vector BLOB NOT NULL, used REAL NOT NULL, PRIMARY KEY (model, text_sha256))",
    "CREATE INDEX IF NOT EXISTS unit_vectors_used ON unit_vectors (used)",
    "CREATE TABLE IF NOT EXISTS unit_vectors_model (id INTEGER PRIMARY KEY CHECK (id = 1), model TEXT NOT NULL)",
)
_BATCH = 500  # keys per IN (...) query, below SQLite's variable limit


class VectorFile:
    """Vectors by (model id, text sha256) in a SQLite file, shared by every process that opens it.

    Args:
        path: the file (its folder is created on first use).
        capacity: the most rows kept (least recently used dropped first); at least 1.

    Raises:
        InvalidInput: ``capacity`` below 1.

    Example::

        kept = VectorFile(Path(".knowdesk/cache/unit-vectors.sqlite3"))
        kept.put("all-MiniLM-L6-v2", {"9f86...": vector})
        kept.get("all-MiniLM-L6-v2", ["9f86..."], dimension=384)
    """

    def __init__(self, path: Path, *, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise InvalidInput(f"the unit vector file needs a capacity of at least 1, got {capacity}",
                               field="capacity")
        self.path = Path(path)
        self.capacity = capacity
        self._ready = False
        self._broken: str | None = None  # why the file is not used (logged once)
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=BUSY_SECONDS)) as con:
            if not self._ready:
                with self._lock:
                    con.execute("PRAGMA journal_mode=WAL")
                    with con:
                        for statement in _SCHEMA:
                            con.execute(statement)
                    self._ready = True
            with con:  # one transaction: committed whole or rolled back
                yield con

    def _failed(self, exc: Exception) -> None:
        if self._broken is None:
            self._broken = f"{type(exc).__name__}: {exc}"
            log.warning("unit vectors are not kept in %s (%s); they are embedded in each process", self.path,
                        self._broken)

    def get(self, model: str, hashes: Sequence[str], *, dimension: int) -> dict[str, np.ndarray]:
        """The kept vectors of ``model`` for these text hashes (read-only arrays); missing ones are absent."""
        if self._broken is not None or not hashes:
            return {}
        found: dict[str, np.ndarray] = {}
        try:
            unique = list(dict.fromkeys(hashes))
            with self._connect() as con:
                for i in range(0, len(unique), _BATCH):
                    batch = unique[i:i + _BATCH]
                    rows = con.execute(
                        f"SELECT text_sha256, vector FROM unit_vectors WHERE model = ? AND dimension = ? "
                        f"AND text_sha256 IN ({','.join('?' * len(batch))})", (model, dimension, *batch))
                    for sha, blob in rows:
                        vector = np.frombuffer(blob, dtype=np.float32)
                        if vector.shape == (dimension,):  # a row of another length is never returned
                            found[sha] = vector
                now = time.time()
                con.executemany("UPDATE unit_vectors SET used = ? WHERE model = ? AND text_sha256 = ?",
                                [(now, model, sha) for sha in found])
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return {}
        return found

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep these vectors of ``model``; drops every other model's rows, then the least recently used
        rows past ``capacity``."""
        if self._broken is not None or not vectors:
            return
        now = time.time()
        rows = [(model, sha, int(v.shape[-1]), np.asarray(v, dtype=np.float32).tobytes(), now)
                for sha, v in vectors.items()]
        try:
            with self._connect() as con:
                kept_model = con.execute("SELECT model FROM unit_vectors_model WHERE id = 1").fetchone()
                if kept_model is None or kept_model[0] != model:  # the model changed: the old vectors go
                    con.execute("DELETE FROM unit_vectors WHERE model != ?", (model,))
                    con.execute("INSERT OR REPLACE INTO unit_vectors_model (id, model) VALUES (1, ?)", (model,))
                con.executemany("INSERT OR REPLACE INTO unit_vectors (model, text_sha256, dimension, vector, used) "
                                "VALUES (?, ?, ?, ?, ?)", rows)
                over = con.execute("SELECT COUNT(*) FROM unit_vectors").fetchone()[0] - self.capacity
                if over > 0:
                    con.execute("DELETE FROM unit_vectors WHERE rowid IN (SELECT rowid FROM unit_vectors "
                                "ORDER BY used ASC LIMIT ?)", (over,))
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)

    def __len__(self) -> int:
        if self._broken is not None:
            return 0
        try:
            with self._connect() as con:
                return int(con.execute("SELECT COUNT(*) FROM unit_vectors").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return 0
