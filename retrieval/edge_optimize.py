"""Qdrant Edge optimisation off the serving path.

``EdgeShard.optimize()`` builds HNSW and vacuums deleted points, and holds the Python interpreter
for its whole duration (seconds per 10k points on 2 cores, minutes at 50k under load): run in the
serving process, every search waits for it. ``EdgeOptimizer`` instead copies the collection's
folder (writes wait for the copy, searches do not), optimises the copy in a child process (its
own interpreter, so this one keeps answering), replays on it the writes made to the live collection
meanwhile (``EdgeStore.start_journal``), and swaps the optimised folder in
(``EdgeStore.replace_shard``). Writes go on while the child works; they wait only for the copy and
for the replay and swap, and none is lost.

``EdgeOptimizer.after_writes(name)`` starts it in a background thread once ``min_points`` points
were written or deleted since the last optimisation (``KNOWDESK_QDRANT__OPTIMIZE_AFTER_POINTS``).

The child is ``python -m retrieval.edge_optimize FOLDER``: it prints one JSON line
(``{"changed": bool, "points": n, "indexed": n}``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import qdrant_edge as qe

from core.errors import IndexError_
from retrieval.edge_store import OPTIMIZING, EdgeStore, edge_errors

logger = logging.getLogger(__name__)

#: How the child is started; the folder is appended.
CHILD = (sys.executable, "-m", "retrieval.edge_optimize")
ROOT = Path(__file__).resolve().parents[1]


class EdgeOptimizer:
    """Optimises Edge collections in a child process, one at a time per store.

    Args:
        store: the process's ``EdgeStore``.
        min_points: points written or deleted since the last optimisation before ``after_writes``
            starts one (0: never automatically).
        command: the child's command before the folder (``CHILD``).

    Example::

        optimizer = EdgeOptimizer(store=store, min_points=20_000)
        optimizer.after_writes(index.target)   # after a sync: starts in the background when due
        optimizer.optimize(index.target)       # or now, waiting for it; searches go on meanwhile
    """

    def __init__(self, *, store: EdgeStore, min_points: int, command: Sequence[str] = CHILD) -> None:
        self.store = store
        self.min_points = min_points
        self.command = list(command)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Background passes started, and what the last one did (or its error).
        self.started = 0
        self.last: str | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def due(self, name: str) -> bool:
        return self.min_points > 0 and self.store.written(name) >= self.min_points

    def after_writes(self, name: str) -> bool:
        """Start optimising ``name`` in the background when due and none is running; True if started."""
        if not self.due(name):
            return False
        return self.start(name)

    def start(self, name: str) -> bool:
        """Start optimising ``name`` in a background thread; False when one is already running."""
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(target=self._background, args=(name,), daemon=True,
                                            name=f"edge-optimize-{name}")
            self._thread.start()
            self.started += 1
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running optimisation; True when none is left running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _background(self, name: str) -> None:
        try:
            self.last = self.optimize(name)
        except IndexError_ as exc:  # logged, not raised: no caller is waiting in a background thread
            self.last = str(exc)
            logger.error("background optimisation of %s failed: %s", name, exc)

    def optimize(self, name: str) -> str:
        """Optimise ``name`` through a copy in a child process and swap it in; says what was done.

        Raises:
            IndexError_: the child failed (the live collection is left as it was).
        """
        work = self.store.root / f".{name}{OPTIMIZING}"
        started = time.perf_counter()
        with self.store.writing(name):  # writes wait for the copy only
            self.store.copy_shard(name, work)
            self.store.start_journal(name)
        try:
            done = subprocess.run([*self.command, str(work)], capture_output=True, text=True, check=False,
                                  env=_child_env())
            if done.returncode != 0:
                raise IndexError_(f"optimising a copy of {name} failed (exit {done.returncode}): "
                                  f"{done.stderr.strip()[-500:]}", operation="optimize")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            with self.store.writing(name):  # writes wait for the replay and the swap
                journal = self.store.stop_journal(name)
                if not result["changed"]:
                    _remove(work)
                    self.store.optimized(name, written=journal.points)
                    return (f"nothing to optimize in {name} ({result['points']} points: its segments are "
                            "already optimal)")
                replay(work, journal.operations)
                if not self.store.replace_shard(name, work, written=journal.points):
                    return f"{name} was deleted (or the store closed) while it was optimised"
        except BaseException:
            self.store.stop_journal(name)
            _remove(work)
            raise
        seconds = time.perf_counter() - started
        logger.info("optimised %s beside the serving process in %.1f s", name, seconds)
        return f"optimized {name} ({result['points']} points, {result['indexed']} indexed) in {seconds:.1f} s"


def replay(folder: Path, operations: Sequence[qe.UpdateOperation]) -> None:
    """Apply the writes made to the live collection while its copy in ``folder`` was optimised.

    Raises:
        IndexError_: the copy does not open or refuses an operation (the caller drops the copy).
    """
    if not operations:
        return
    with edge_errors("replay the writes made during the optimisation on the optimised copy"):
        shard = qe.EdgeShard.load(str(folder))
        try:
            for operation in operations:
                shard.update(operation)
            shard.flush()
        finally:
            shard.close()
    logger.info("replayed %d write operations on the optimised copy", len(operations))


def _child_env() -> dict[str, str]:
    """This process's environment, with the code this module came from first on the import path
    (the child imports the same knowdesk as its parent, whatever the working directory)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    """The child: optimise the shard in ``argv[0]`` and print what it did as one JSON line."""
    if len(argv) != 1:
        print("usage: python -m retrieval.edge_optimize SHARD_FOLDER", file=sys.stderr)
        return 2
    shard = qe.EdgeShard.load(argv[0])
    try:
        changed = bool(shard.optimize())
        info = shard.info()
        print(json.dumps({"changed": changed, "points": info.points_count, "indexed": info.indexed_vectors_count}))
    finally:
        shard.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
