"""Limits that hold across threads and processes: one sync per source (a database lease) and
embedding bounded to the machine's cores."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, update

from app.tables import SourceLeaseRow
from core.db import Database, insert_ignore
from core.errors import Conflict
from core.tables import utcnow

T = TypeVar("T")

log = logging.getLogger(__name__)


def holder_name() -> str:
    """Who holds a lease: host, process and a random suffix (unique per acquisition)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _try_acquire(db: Database, workspace: str, source: str, holder: str, purpose: str, ttl: float) -> bool:
    now = utcnow()
    with db.session() as s:
        insert_ignore(s, SourceLeaseRow, workspace=workspace, source_name=source, holder="", purpose=purpose,
                      acquired_at=now, expires_at=now)
        # One UPDATE decides the race: only a free or expired lease changes hands.
        taken = s.execute(
            update(SourceLeaseRow)
            .where(SourceLeaseRow.workspace == workspace, SourceLeaseRow.source_name == source,
                   (SourceLeaseRow.holder == "") | (SourceLeaseRow.expires_at < now))
            .values(holder=holder, purpose=purpose, acquired_at=now, expires_at=now + timedelta(seconds=ttl))
        )
        return bool(getattr(taken, "rowcount", 0))


def _renew(db: Database, workspace: str, source: str, holder: str, ttl: float) -> None:
    with db.session() as s:
        s.execute(update(SourceLeaseRow)
                  .where(SourceLeaseRow.workspace == workspace, SourceLeaseRow.source_name == source,
                         SourceLeaseRow.holder == holder)
                  .values(expires_at=utcnow() + timedelta(seconds=ttl)))


def _release(db: Database, workspace: str, source: str, holder: str) -> None:
    with db.session() as s:
        s.execute(delete(SourceLeaseRow).where(SourceLeaseRow.workspace == workspace,
                                               SourceLeaseRow.source_name == source,
                                               SourceLeaseRow.holder == holder))


@contextmanager
def source_lease(db: Database, workspace: str, source: str, *, purpose: str = "sync", ttl: float = 60.0,
                 wait: float = 3600.0, poll: float = 0.5) -> Iterator[str]:
    """Hold the source's lease for the block: one sync (or re-index step) per source at a time,
    across threads, processes and machines sharing the state database.

    A second caller waits (polling) until the holder releases it or its lease expires (a killed
    holder stops renewing it; a live one renews it every ``ttl / 3`` seconds).

    Raises:
        Conflict: still held by another after ``wait`` seconds.
    """
    holder = holder_name()
    deadline = time.monotonic() + wait
    while not _try_acquire(db, workspace, source, holder, purpose, ttl):
        if time.monotonic() >= deadline:
            raise Conflict(f"source {source!r} is busy (another sync or re-index holds it); try again later",
                           source=source)
        time.sleep(poll)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(ttl / 3):
            _renew(db, workspace, source, holder, ttl)

    beat = threading.Thread(target=heartbeat, name=f"lease-{source}", daemon=True)
    beat.start()
    try:
        yield holder
    finally:
        stop.set()
        beat.join()
        _release(db, workspace, source, holder)


class BoundedEmbedder:
    """An embedder whose ``embed_documents`` runs at most ``slots`` at a time in this process.

    Each model call already uses every core (torch threads), so concurrent syncs queue here
    instead of oversubscribing the CPU. Everything else is delegated.
    """

    def __init__(self, *, inner: Any, slots: int | None = None) -> None:
        self.inner = inner
        self._slots = threading.BoundedSemaphore(slots or default_embed_slots())

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        with self._slots:
            result: np.ndarray = self.inner.embed_documents(texts)
            return result

    def embed_documents_with_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
        with self._slots:
            result: tuple[np.ndarray, list[Any]] = self.inner.embed_documents_with_tokens(texts)
            return result

    def bounded(self, call: Callable[[], T]) -> T:
        """``call()`` in one of the slots (another model call, such as the late stage's token encoder)."""
        with self._slots:
            return call()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def default_embed_slots() -> int:
    """One embedding call at a time per 4 cores (at least one): torch spreads each call over them."""
    return max(1, (os.cpu_count() or 1) // 4)


class EnsureOnce:
    """An index writer whose ``ensure_collection`` runs once per process, under a lock.

    Concurrent syncs (``sync-all``) would otherwise prepare the collection at the same time;
    Qdrant's local storage rewrites its metadata file on every preparation and is not safe for
    that. Everything else is delegated.
    """

    def __init__(self, *, inner: Any) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._done = False

    def ensure_collection(self) -> None:
        with self._lock:
            if not self._done:
                self.inner.ensure_collection()
                self._done = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
