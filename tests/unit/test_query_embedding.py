"""The query cache and the micro-batcher in front of an encoder's ``embed_queries``."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from retrieval.query_embedding import BatcherClosed, QueryBatcher, QueryCache
from tests.fakes import HashEmbedder


class Recording(HashEmbedder):
    """A hash embedder that records each ``embed_queries`` call and can be held or made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_on: str | None = None

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(list(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"encoder failed on {self.fail_on}")
        return super().embed_queries(texts)


def test_cache_embeds_a_repeated_question_once() -> None:
    inner = Recording()
    cache = QueryCache(inner=inner, size=8)
    first = cache.embed_query("how do I reset my password")
    again = cache.embed_queries(["how do I reset my password", "where is my invoice"])
    assert inner.batches == [["how do I reset my password"], ["where is my invoice"]]
    assert np.array_equal(first, again[0])
    assert np.array_equal(again[1], inner.embed_query("where is my invoice"))
    assert (cache.hits, cache.misses) == (1, 2)


def test_cache_evicts_the_least_recently_used() -> None:
    inner = Recording()
    cache = QueryCache(inner=inner, size=2)
    cache.embed_queries(["a", "b"])
    cache.embed_query("a")  # b is now the oldest
    cache.embed_query("c")
    inner.batches.clear()
    cache.embed_queries(["a", "c", "b"])
    assert inner.batches == [["b"]]


def test_cache_vectors_cannot_be_changed_by_a_caller() -> None:
    cache = QueryCache(inner=Recording(), size=4)
    vector = cache.embed_query("refund")
    vector[0] = 42.0  # the caller's copy
    assert cache.embed_query("refund")[0] != 42.0


def test_cache_passes_duplicates_once_and_keeps_order() -> None:
    inner = Recording()
    cache = QueryCache(inner=inner, size=4)
    out = cache.embed_queries(["x", "y", "x"])
    assert inner.batches == [["x", "y"]]
    assert np.array_equal(out[0], out[2]) and out.shape == (3, inner.dimension)
    assert cache.embed_queries([]).shape == (0, inner.dimension)
    with pytest.raises(ValueError):
        QueryCache(inner=inner, size=0)


def _call_all(batcher: QueryBatcher, texts: list[list[str]]) -> tuple[dict[int, np.ndarray], dict[int, BaseException]]:
    results: dict[int, np.ndarray] = {}
    errors: dict[int, BaseException] = {}

    def one(i: int) -> None:
        try:
            results[i] = batcher.embed_queries(texts[i])
        except BaseException as exc:  # recorded for the assertion
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a caller never got its answer"
    return results, errors


def test_batcher_gives_each_caller_its_own_rows() -> None:
    inner = Recording()
    batcher = QueryBatcher(inner=inner, window=0.05, max_texts=64)
    inner.gate.clear()  # hold the first call so the others queue up behind it
    texts = [[f"question {i}", f"part {i}"] if i % 2 else [f"question {i}"] for i in range(12)]
    holder = threading.Thread(target=lambda: batcher.embed_query("first"))
    holder.start()
    assert inner.entered.wait(5)
    results_box: list[tuple[dict[int, np.ndarray], dict[int, BaseException]]] = []
    caller = threading.Thread(target=lambda: results_box.append(_call_all(batcher, texts)))
    caller.start()
    inner.gate.set()
    caller.join(10)
    holder.join(10)
    done, errors = results_box[0]
    assert not errors
    for i, asked in enumerate(texts):
        assert np.array_equal(done[i], inner.embed_documents(asked)), f"caller {i} got another caller's rows"
    assert len(inner.batches) < len(texts) + 1  # the queued callers shared calls
    batcher.close()


def test_batcher_hands_an_encoder_error_to_the_callers_of_that_batch_only() -> None:
    inner = Recording()
    inner.fail_on = "bad"
    batcher = QueryBatcher(inner=inner, window=0.0, max_texts=1)  # one text per call
    results, errors = _call_all(batcher, [["good"], ["bad"], ["fine"]])
    assert isinstance(errors[1], RuntimeError) and "bad" in str(errors[1])
    assert set(results) == {0, 2}
    assert batcher.embed_query("after").shape == (inner.dimension,)  # the worker survived
    batcher.close()


def test_batcher_close_fails_waiting_callers_and_does_not_hang() -> None:
    inner = Recording()
    batcher = QueryBatcher(inner=inner, window=0.0, max_texts=1)
    inner.gate.clear()
    box: dict[int, BaseException | np.ndarray] = {}

    def ask(i: int) -> None:
        try:
            box[i] = batcher.embed_query(f"q{i}")
        except BatcherClosed as exc:
            box[i] = exc

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    assert inner.entered.wait(5)  # the worker is inside the encoder with q0
    second = threading.Thread(target=ask, args=(1,))
    second.start()
    while not batcher._queue:  # q1 waits behind it
        second.join(0.01)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    inner.gate.set()
    for t in (closer, first, second):
        t.join(10)
        assert not t.is_alive()
    assert isinstance(box[0], np.ndarray)  # the call in progress completes
    assert isinstance(box[1], BatcherClosed)
    with pytest.raises(BatcherClosed):
        batcher.embed_query("late")


def test_batcher_close_without_use_and_twice() -> None:
    batcher = QueryBatcher(inner=Recording())
    batcher.close()
    batcher.close()
    with pytest.raises(ValueError):
        QueryBatcher(inner=Recording(), window=-1)
