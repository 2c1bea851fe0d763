"""Searches while Qdrant Edge optimises: in the serving process (``EdgeShard.optimize()``) against
beside it (``retrieval.edge_optimize.EdgeOptimizer``: a copy optimised in a child process, swapped in).

Two identical collections of N random 384-d points (``--points``, 20,000 by default, a quarter of
them then deleted). A thread keeps searching the second collection (dense nearest, top 5, one query
every 10 ms) while (1) nothing runs, (2) the first collection is optimised in this process, (2b) nothing runs, (3) the
second is optimised beside it. In (2b) and (3) another thread also writes 10 new points to the
second collection every 50 ms (a sync's writes), timing each write; after (3) the bench checks every
point written during the pass is in the swapped-in collection. Reported per phase: queries answered,
p50 / p95 / max latency, the longest gap without an answer, writes made and their p50 / max time, the
load average. Saved to ``bench/results/edge_optimize.json``.

Run: ``python -m bench.edge_optimize [--points N]``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from bench.common import percentiles, save
from retrieval.edge_optimize import EdgeOptimizer
from retrieval.edge_store import EdgeStore

DIM = 384


def fill(store: EdgeStore, name: str, points: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store.create(name, qe.EdgeConfig(vectors={"dense": qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)}))
    ids: list[int | uuid.UUID | str] = [str(uuid.UUID(int=int(rng.integers(0, 2**63)) + i)) for i in range(points)]
    with store.writing(name, points) as update:
        for start in range(0, points, 500):
            vectors = rng.standard_normal((min(500, points - start), DIM)).astype(np.float32)
            update(qe.UpdateOperation.upsert_points([
                qe.Point(id=ids[start + i], vector={"dense": v.tolist()}, payload={"n": start + i})
                for i, v in enumerate(vectors)]))
        update(qe.UpdateOperation.delete_points(ids[::4]))


def writing(store: EdgeStore, name: str, stop: threading.Event, latencies: list[float]) -> None:
    """Upsert 10 new points into ``name`` every 50 ms (a sync's writes) until ``stop``; each write's time."""
    rng = np.random.default_rng(3)
    while not stop.is_set():
        vectors = rng.standard_normal((10, DIM)).astype(np.float32)
        points = [qe.Point(id=str(uuid.uuid4()), vector={"dense": v.tolist()}, payload={"n": -1}) for v in vectors]
        started = time.perf_counter()
        with store.writing(name, len(points)) as update:
            update(qe.UpdateOperation.upsert_points(points))
        latencies.append(time.perf_counter() - started)
        time.sleep(0.05)


def searching(store: EdgeStore, name: str, during: Callable[[], Any], *, write: bool = False) -> dict[str, Any]:
    """Search ``name`` every 10 ms from a thread while ``during()`` runs here (and, with ``write``, write
    to it from another); the latencies."""
    rng = np.random.default_rng(1)
    latencies: list[float] = []
    answered_at: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            query = qe.QueryBatchRequest([qe.QueryRequest(limit=5, query=qe.Query.Nearest(
                rng.standard_normal(DIM).astype(np.float32).tolist(), using="dense"))])
            started = time.perf_counter()
            store.shard(name).query_batch(query)
            answered_at.append(time.perf_counter())
            latencies.append(answered_at[-1] - started)
            time.sleep(0.01)

    thread = threading.Thread(target=loop)
    writes: list[float] = []
    writer = threading.Thread(target=writing, args=(store, name, stop, writes)) if write else None
    began = time.perf_counter()
    thread.start()
    if writer is not None:
        writer.start()
    outcome = during()
    ended = time.perf_counter()
    stop.set()
    thread.join()
    if writer is not None:
        writer.join()
    marks = [began, *[t for t in answered_at if t <= ended], ended]
    stats = percentiles([x * 1000 for x in latencies]) if latencies else {}
    return {"seconds": round(ended - began, 2), "queries": sum(1 for t in answered_at if t <= ended),
            "p50_ms": round(stats.get("p50", 0.0), 1), "p95_ms": round(stats.get("p95", 0.0), 1),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "longest_gap_s": round(max(b - a for a, b in itertools.pairwise(marks)), 2),
            "load_1m_after": os.getloadavg()[0], "outcome": outcome,
            **({"writes": len(writes), "write_p50_ms": round(float(np.median(writes)) * 1000, 1),
                "write_max_ms": round(max(writes) * 1000, 1)} if writes else {})}


def main(points: int = 20_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(root=Path(tmp) / "edge")
        try:
            fill(store, "inside", points, 2)
            fill(store, "beside", points, 2)
            result: dict[str, Any] = {"points": points, "deleted": len(range(0, points, 4)),
                                      "load_at_start": os.getloadavg()}
            result["idle"] = searching(store, "beside", lambda: time.sleep(3))
            result["optimize_in_process"] = searching(store, "beside", lambda: bool(store.shard("inside").optimize()))
            optimizer = EdgeOptimizer(store=store, min_points=0)
            result["idle_writing"] = searching(store, "beside", lambda: time.sleep(3), write=True)
            before = store.shard("beside").info().points_count
            result["optimize_beside"] = searching(store, "beside", lambda: optimizer.optimize("beside"), write=True)
            info = store.shard("beside").info()
            result["after"] = {"points": info.points_count, "indexed": info.indexed_vectors_count,
                               "points_written_during_the_pass": info.points_count - before,
                               "every_write_kept": info.points_count - before
                               == result["optimize_beside"]["writes"] * 10}
        finally:
            store.close()
    for k, v in result.items():
        print(f"{k}: {v}")
    save("edge_optimize", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    main(parser.parse_args().points)
