"""Query-side wrappers of an encoder: an LRU cache of query vectors and a micro-batcher.

- ``QueryCache``: repeated questions (the same text) are embedded once; thread-safe.
- ``QueryBatcher``: concurrent callers' query embeddings are gathered for a few milliseconds and
  embedded in one call by one worker thread, so a server under load makes one batched encoder
  call (using every core once) instead of many single calls fighting over the cores.

Both pass everything else (``embed_documents``, ``count_tokens``...) to the wrapped encoder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import KnowdeskError

log = logging.getLogger(__name__)


class BatcherClosed(KnowdeskError):
    """The query batcher was shut down (the server is stopping)."""

    retryable = True
    http_status = 503
    code = "shutting_down"


class DelegatingEncoder:
    """Delegates what is not about queries to the wrapped encoder (``inner``); a subclass adds what
    it does to queries (a cache, a batcher) or to documents (a count)."""

    inner: Any

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        result: np.ndarray = self.inner.embed_documents(texts)
        return result

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_queries([text])[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def query_tokens(self, text: str) -> np.ndarray | None:
        """The token vectors the wrapped encoder kept when it embedded ``text`` as a query (None: none)."""
        find = getattr(self.inner, "query_tokens", None)
        found: np.ndarray | None = find(text) if find is not None else None
        return found


class QueryCache(DelegatingEncoder):
    """An LRU cache of query vectors in front of ``inner.embed_queries``.

    Args:
        inner: the encoder (or a ``QueryBatcher``).
        size: the most query texts kept (at least 1).
    """

    def __init__(self, *, inner: Any, size: int) -> None:
        if size < 1:
            raise ValueError("a query cache holds at least one entry")
        self.inner = inner
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
            missing = list(dict.fromkeys(t for t in texts if t not in found))
            self.hits += sum(1 for t in texts if t in found)
            self.misses += len(missing)
        if missing:
            fresh = np.asarray(self.inner.embed_queries(missing), dtype=np.float32)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    vector = vector.copy()
                    vector.flags.writeable = False  # shared by every later caller
                    found[text] = vector
                    self._vectors[text] = vector
                    self._vectors.move_to_end(text)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])


class _Request:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None


class QueryBatcher(DelegatingEncoder):
    """Gathers concurrent ``embed_queries`` calls into one encoder call (a micro-batch).

    The first waiting request opens a window of ``window`` seconds; every request arriving in it
    (up to ``max_texts`` texts) joins the same encoder call, run by one worker thread; each caller
    gets its own rows back, or the encoder's exception. ``close()`` stops the worker and fails
    the requests still waiting with ``BatcherClosed``.

    Args:
        inner: the encoder.
        window: seconds to wait for more requests once one arrived (0: take what is queued).
        max_texts: the most texts in one encoder call.
    """

    def __init__(self, *, inner: Any, window: float = 0.003, max_texts: int = 64) -> None:
        if window < 0 or max_texts < 1:
            raise ValueError("window must be >= 0 and max_texts >= 1")
        self.inner = inner
        self.window = window
        self.max_texts = max_texts
        self._queue: list[_Request] = []
        self._cond = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None
        self.batches = 0
        self.texts = 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        request = _Request(list(texts))
        with self._cond:
            if self._closed:
                raise BatcherClosed("the query batcher is shut down (the server is stopping); try again")
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="query-batcher", daemon=True)
                self._worker.start()
            self._queue.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _take(self) -> list[_Request] | None:
        """The next batch (waiting out the window), or None once closed."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            deadline = time.monotonic() + self.window
            while sum(len(r.texts) for r in self._queue) < self.max_texts and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch: list[_Request] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].texts) <= self.max_texts):
                request = self._queue.pop(0)
                batch.append(request)
                count += len(request.texts)
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            texts = [t for r in batch for t in r.texts]
            try:
                vectors = np.asarray(self.inner.embed_queries(texts), dtype=np.float32)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of this batch
                for r in batch:
                    r.error = exc
                    r.done.set()
                continue
            self.batches += 1
            self.texts += len(texts)
            at = 0
            for r in batch:
                r.result = vectors[at:at + len(r.texts)]
                at += len(r.texts)
                r.done.set()
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        with self._cond:
            waiting, self._queue = self._queue, []
        for r in waiting:
            r.error = BatcherClosed("the query batcher shut down before this query was embedded; try again")
            r.done.set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (after its current encoder call) and fail the requests still queued."""
        with self._cond:
            self._closed = True
            worker = self._worker
            self._cond.notify_all()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        self._fail_waiting()
