"""Qdrant Edge storage for ``retrieval.edge``: the shard folders and alias pointer files of one
folder, a process-wide cache of them, and the translation of qdrant-client models to Edge's.

Layout: one shard folder per collection and, per alias, ``<alias>.alias`` holding the collection's
name, replaced atomically (temp file + rename). The folder is locked against other processes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import portalocker
import qdrant_edge as qe
from qdrant_client import models

from core.errors import ConfigError, IndexError_, StoreLocked
from retrieval.points import DENSE, SPARSE

logger = logging.getLogger(__name__)

ALIAS_SUFFIX = ".alias"
#: Suffixes of the hidden folders an optimisation pass uses beside a collection's (``.NAME<suffix>``).
OPTIMIZING, RETIRED = ".optimizing", ".retired"
#: The file (in the store's folder) that keeps each collection's write count since its last optimisation.
WRITTEN = ".written.json"


#: Applies one update operation to a shard (see ``EdgeStore.writing``).
Update = Callable[[qe.UpdateOperation], None]


@dataclass
class Journal:
    """Writes made to a collection while a copy of it is optimised: replayed on the copy."""

    operations: list[qe.UpdateOperation] = field(default_factory=list)
    points: int = 0


@contextlib.contextmanager
def edge_errors(operation: str) -> Iterator[None]:
    """Turn the engine's errors (plain ``Exception``/``ValueError`` from Rust) into ``IndexError_``."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, IndexError_ | ConfigError | StoreLocked):
            raise
        raise IndexError_(f"Qdrant Edge failed to {operation}: {exc}", operation=operation) from exc


class EdgeStore:
    """The Edge shards and alias pointer files under one folder; one instance per process and folder.

    Args:
        root: the folder (created when missing).

    Raises:
        StoreLocked: another process has the folder open.
    """

    def __init__(self, *, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._guard = threading.RLock()
        self._writes = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._retired: list[tuple[qe.EdgeShard, Path]] = []
        self._lock_file: IO[str] | None = self._lock()
        self._recover()
        #: Points written or deleted per collection since its last optimisation, kept in ``WRITTEN`` so
        #: a restart does not forget them (or a server restarted more often than ``optimize_after_points``
        #: writes would never optimise).
        self._written: dict[str, int] = self._load_written()
        #: Writes to collections whose copy is being optimised, replayed on the copy before the swap.
        self._journals: dict[str, Journal] = {}

    def _recover(self) -> None:
        """Finish what a process stopped mid-optimisation left: a live folder moved aside and not
        replaced is put back; copies being optimised and retired folders are removed."""
        for path in self.root.glob(".*"):
            if path.name.endswith(RETIRED) and path.is_dir():
                live = self.root / path.name[1:-len(RETIRED)]
                if live.exists():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    logger.warning("restoring %s, moved aside by an interrupted optimisation", live.name)
                    os.replace(path, live)
            elif path.name.endswith(OPTIMIZING) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def _lock(self) -> IO[str]:
        handle = (self.root / ".lock").open("a+")
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException as exc:
            handle.close()
            raise StoreLocked(
                f"the Edge index in {self.root} is open in another knowdesk process (for example "
                "`knowdesk serve`). Stop that process, or send the request through its HTTP API.",
                path=str(self.root),
            ) from exc
        return handle

    def _folder(self, name: str) -> Path:
        if not name or "/" in name or name.startswith(".") or name.endswith(ALIAS_SUFFIX):
            raise ValueError(f"invalid collection name {name!r}")
        return self.root / name

    def collection_exists(self, name: str) -> bool:
        """True when a shard folder of that name exists."""
        return (self._folder(name) / "edge_config.json").is_file()

    def shard(self, name: str) -> qe.EdgeShard:
        """The open shard of a collection (opened on first use).

        Raises:
            IndexError_: no such collection, or the engine failed to open it.
        """
        with self._guard:
            shard = self._shards.get(name)
            if shard is None:
                if not self.collection_exists(name):
                    raise IndexError_(f"the Edge collection {name!r} does not exist", collection=name)
                with edge_errors(f"open the collection {name}"):
                    shard = qe.EdgeShard.load(str(self._folder(name)))
                self._shards[name] = shard
            return shard

    def create(self, name: str, config: qe.EdgeConfig) -> qe.EdgeShard:
        """Create a collection's shard (an existing one is opened as it is)."""
        with self._guard:
            if self.collection_exists(name):
                return self.shard(name)
            logger.info("creating Edge collection %s", name)
            with edge_errors(f"create the collection {name}"):
                shard = qe.EdgeShard.create(str(self._folder(name)), config)
            self._shards[name] = shard
            return shard

    @contextlib.contextmanager
    def writing(self, name: str, points: int = 0) -> Iterator[Update]:
        """Hold while changing a shard, and change it through the yielded ``update(operation)``:
        ``copy_shard`` waits for it, and it waits for a copy being taken or swapped in (searches never
        take it). While a copy is optimised (``start_journal``), each operation also goes to the
        journal that is replayed on the copy before the swap. ``points`` counts towards ``written``."""
        with self._writes:
            def update(operation: qe.UpdateOperation) -> None:
                self.shard(name).update(operation)
                journal = self._journals.get(name)
                if journal is not None:
                    journal.operations.append(operation)

            yield update
            if points:
                self._count(name, self._written.get(name, 0) + points)
                if name in self._journals:
                    self._journals[name].points += points

    def start_journal(self, name: str) -> None:
        """Record the operations of later writes to ``name`` (call while holding ``writing``, right
        after ``copy_shard``): the copy misses them until ``stop_journal``'s are replayed on it."""
        with self._writes:
            self._journals[name] = Journal()

    def stop_journal(self, name: str) -> Journal:
        """Stop recording ``name``'s writes; the operations since ``start_journal`` (empty if none)."""
        with self._writes:
            return self._journals.pop(name, None) or Journal()

    def written(self, name: str) -> int:
        """Points written to or deleted from a collection since it was last optimised (kept across
        restarts in the store's folder)."""
        return self._written.get(name, 0)

    def optimized(self, name: str, written: int = 0) -> None:
        """Note that a pass found nothing to do: ``written`` starts again from the points written meanwhile."""
        with self._writes:
            self._count(name, written)

    def _load_written(self) -> dict[str, int]:
        """The saved counts of existing collections; an unreadable file counts from 0 (logged)."""
        path = self.root / WRITTEN
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring %s (%s): write counts start from 0", path, exc)
            return {}
        if not isinstance(saved, dict):
            logger.warning("ignoring %s (not an object): write counts start from 0", path)
            return {}
        return {name: count for name, count in saved.items()
                if isinstance(count, int) and count > 0 and (self.root / name / "edge_config.json").is_file()}

    def _count(self, name: str, points: int) -> None:
        """Set a collection's count and save the counts atomically (callers hold ``_writes``)."""
        if points:
            self._written[name] = points
        else:
            self._written.pop(name, None)
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=f"{WRITTEN}.", delete=False,
                                         encoding="utf-8") as tmp:
            json.dump(self._written, tmp, sort_keys=True)
        os.replace(tmp.name, self.root / WRITTEN)

    def copy_shard(self, name: str, dest: Path) -> None:
        """Flush a collection and copy its folder to ``dest`` (replaced); hold ``writing`` meanwhile."""
        shard = self.shard(name)
        with edge_errors(f"flush the collection {name}"):
            shard.flush()
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self._folder(name), dest)

    def replace_shard(self, name: str, folder: Path, written: int = 0) -> bool:
        """Make ``folder`` (a changed copy from ``copy_shard``) the collection's shard; False (and the
        copy dropped) when the collection was deleted or the store closed meanwhile. ``written``: the points
        written since the copy was taken (replayed on it, so not optimised yet). Searches that already hold the old
        shard finish on it: it is closed, and its folder removed, on the next replacement or ``close``."""
        with self._writes, self._guard:
            self._drop_retired()
            live = self._folder(name)
            if self._lock_file is None or not self.collection_exists(name):  # closed, or deleted meanwhile
                shutil.rmtree(folder, ignore_errors=True)
                return False
            retired = self.root / f".{name}{RETIRED}"
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(live, retired)
            os.replace(folder, live)
            old = self._shards.pop(name, None)
            try:
                self.shard(name)
            except IndexError_:  # the copy does not open: put the live folder and shard back
                shutil.rmtree(live, ignore_errors=True)
                os.replace(retired, live)
                if old is not None:
                    self._shards[name] = old
                raise
            if old is not None:
                self._retired.append((old, retired))
            else:
                shutil.rmtree(retired, ignore_errors=True)
            self._count(name, written)
            return True

    def _drop_retired(self) -> None:
        for shard, folder in self._retired:
            shard.close()
            shutil.rmtree(folder, ignore_errors=True)
        self._retired.clear()

    def delete_collection(self, name: str) -> None:
        """Close and remove a collection's shard folder (no error when missing)."""
        with self._writes, self._guard:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._folder(name), ignore_errors=True)
            if name in self._written:
                self._count(name, 0)

    def alias_target(self, alias: str) -> str | None:
        """The collection an alias points to, or None."""
        path = self.root / f"{alias}{ALIAS_SUFFIX}"
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def set_alias(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection`` atomically: readers see the old or the new target."""
        self._folder(collection)
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=f".{alias}.", delete=False,
                                         encoding="utf-8") as tmp:
            tmp.write(collection)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, self.root / f"{alias}{ALIAS_SUFFIX}")
        logger.info("alias %s -> %s", alias, collection)

    def resolve(self, name: str) -> str | None:
        """The collection behind an alias, or the collection of that name, or None."""
        target = self.alias_target(name)
        if target is not None:
            return target
        return name if self.collection_exists(name) else None

    def close(self) -> None:
        """Flush and close every shard and release the folder's lock."""
        with self._guard:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            self._drop_retired()
            if self._lock_file is not None:
                portalocker.unlock(self._lock_file)
                self._lock_file.close()
                self._lock_file = None


_stores: dict[Path, EdgeStore] = {}
_stores_lock = threading.Lock()


def open_edge_store(path: Path) -> EdgeStore:
    """The process's ``EdgeStore`` for a folder (cached: a folder is opened once per process)."""
    folder = Path(path).expanduser().resolve()
    with _stores_lock:
        store = _stores.get(folder)
        if store is None or store._lock_file is None:
            store = _stores[folder] = EdgeStore(root=folder)
        return store


@atexit.register
def close_edge_stores() -> None:
    """Close every cached store (releases the folder locks); also runs at exit."""
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


# -- qdrant-client models -> Edge ------------------------------------------------------------------
def edge_filter(flt: models.Filter) -> qe.Filter:
    """The Edge form of a qdrant-client filter (the subset ``index``/``search`` build)."""

    def conditions(items: Any) -> list[Any] | None:
        if items is None:
            return None
        return [edge_condition(c) for c in (items if isinstance(items, list) else [items])]

    return qe.Filter(must=conditions(flt.must), should=conditions(flt.should), must_not=conditions(flt.must_not))


def edge_condition(condition: Any) -> Any:
    """One condition: keyword match, any-of, text match, is-empty, or a nested filter."""
    if isinstance(condition, models.Filter):
        return edge_filter(condition)
    if isinstance(condition, models.IsEmptyCondition):
        return qe.IsEmptyCondition(key=condition.is_empty.key)
    if isinstance(condition, models.FieldCondition):
        m = condition.match
        if isinstance(m, models.MatchValue):
            return qe.FieldCondition(key=condition.key, match=qe.MatchValue(m.value))
        if isinstance(m, models.MatchAny):
            return qe.FieldCondition(key=condition.key, match=qe.MatchAny(cast(Any, list(m.any))))
        if isinstance(m, models.MatchText):
            return qe.FieldCondition(key=condition.key, match=qe.MatchText(m.text))
    raise NotImplementedError(f"no Edge form for the condition {condition!r}")


def edge_sparse(vector: models.SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def edge_point(point: models.PointStruct) -> qe.Point:
    vectors = cast(dict[str, Any], point.vector)
    return qe.Point(str(point.id), {
        DENSE: vectors[DENSE],
        SPARSE: edge_sparse(vectors[SPARSE]),
    }, point.payload)


def edge_schema(schema: models.PayloadSchemaType | models.KeywordIndexParams) -> Any:
    if isinstance(schema, models.KeywordIndexParams):
        return qe.KeywordIndexParams(is_tenant=schema.is_tenant)
    return getattr(qe.PayloadSchemaType, schema.value.capitalize())
