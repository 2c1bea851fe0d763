"""One sync per source across processes (a lease row in SQLite and PostgreSQL) and bounded embedding."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from app.limits import BoundedEmbedder, source_lease
from app.runtime import Runtime
from app.tables import SourceLeaseRow
from core.db import Database, insert_ignore
from core.errors import Conflict
from core.models import Source, SourceKind
from core.settings import Settings
from core.tables import utcnow
from retrieval.index import close_clients
from tests.fakes import HashEmbedder


def test_a_held_lease_makes_the_second_caller_wait_then_fail(db: Database) -> None:
    with source_lease(db, "default", "docs", wait=0):
        with pytest.raises(Conflict, match="busy"), source_lease(db, "default", "docs", wait=0.3, poll=0.05):
            pass
        with source_lease(db, "default", "other", wait=0):  # other sources are independent
            pass
    with source_lease(db, "default", "docs", wait=0):  # released at the end of the block
        pass


def test_an_expired_lease_of_a_dead_holder_is_taken_over(db: Database) -> None:
    with db.session() as s:
        insert_ignore(s, SourceLeaseRow, workspace="default", source_name="docs", holder="dead:1:x",
                      purpose="sync", acquired_at=utcnow(), expires_at=utcnow() - timedelta(seconds=1))
    with source_lease(db, "default", "docs", wait=0) as holder:
        assert holder != "dead:1:x"


class Overlap:
    """The most threads seen inside ``inside()`` at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._guard = threading.Lock()

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._guard:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            threading.Event().wait(0.02)  # long enough for another thread to get in, if it can
            yield
        finally:
            with self._guard:
                self.now -= 1


def run_threads(n: int, target: Callable[[], object]) -> None:
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_only_one_of_many_racing_threads_holds_the_lease(db: Database) -> None:
    overlap = Overlap()

    def work() -> None:
        with source_lease(db, "default", "docs", wait=30, poll=0.01), overlap.inside():
            pass

    run_threads(6, work)
    assert overlap.most == 1


def test_bounded_embedder_runs_one_call_at_a_time_with_one_slot() -> None:
    inner = HashEmbedder()
    bounded = BoundedEmbedder(inner=inner, slots=1)
    overlap = Overlap()
    original = inner.embed_documents

    def slow(texts):  # type: ignore[no-untyped-def]
        with overlap.inside():
            return original(texts)

    inner.embed_documents = slow  # type: ignore[method-assign]
    run_threads(4, lambda: bounded.embed_documents(["a b c"]))
    assert overlap.most == 1 and inner.embedded == 4
    assert bounded.model_id == "hash-embedder" and bounded.dimension == 64


@pytest.mark.slow
def test_a_sync_waits_for_the_lease_held_by_another_process(tmp_path: Path) -> None:
    rt = Runtime(Settings(home=tmp_path / "home"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nAlpha beta gamma.", encoding="utf-8")
    source = Source(workspace="default", name="docs", kind=SourceKind.FOLDER, options={"path": str(folder)})
    rt.sources.add(source)
    done = threading.Event()
    try:
        with source_lease(rt.db, "default", "docs"):  # as another worker would
            worker = threading.Thread(target=lambda: (rt.sync(source), done.set()))
            worker.start()
            assert not done.wait(2.0)
            assert rt.state("default", "docs").runs() == []  # it has not started
        worker.join(timeout=120)
        assert done.is_set()
        assert rt.state("default", "docs").runs()[0]["status"] == "succeeded"
    finally:
        close_clients()
