"""The insights gate: identical concurrent requests computed once, a rate limit per workspace,
read keys never compute."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from core.errors import NotFound, TooManyRequests
from service.insights_gate import InsightsGate
from service.keys import Principal, Scope


def test_identical_concurrent_requests_are_computed_once() -> None:
    gate = InsightsGate(min_interval=3600)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "run-1"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(gate.run("w", "7d", compute))) for _ in range(8)]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)  # the others are waiting on the first computation
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["run-1"] * 8 and len(calls) == 1 and gate.computed == 1


def test_a_new_computation_within_the_interval_is_refused_with_retry_after() -> None:
    gate = InsightsGate(min_interval=60)
    assert gate.run("w", "7d", lambda: 1) == 1
    with pytest.raises(TooManyRequests) as refused:
        gate.run("w", "30d", lambda: 2)
    assert 0 < refused.value.retry_after <= 60 and refused.value.http_status == 429
    assert gate.run("other", "7d", lambda: 3) == 3  # per workspace


def test_read_keys_get_stored_runs_only() -> None:
    stored = {"7d": "stored-run"}
    computed: list[str] = []
    insights = SimpleNamespace(latest=lambda ws, since=None: stored.get(since),
                               refresh=lambda ws, since: computed.append(since) or f"new-{since}")
    rt = SimpleNamespace(insights=SimpleNamespace(insights=insights))
    reader = Principal(key_id="r", workspace="w", scopes=frozenset({Scope.READ}))
    writer = Principal(key_id="w", workspace="w", scopes=frozenset({Scope.READ, Scope.WRITE}))
    gate = InsightsGate(min_interval=0)
    assert gate.run_for(rt, reader, "7d") == "stored-run"
    with pytest.raises(NotFound, match="write key"):
        gate.run_for(rt, reader, "30d")
    assert gate.run_for(rt, writer, "30d") == "new-30d" and computed == ["30d"]
