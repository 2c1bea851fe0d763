"""One sync per source across processes (a lease row in SQLite and PostgreSQL) and bounded embedding."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from core.db import Database, insert_ignore
from core.errors import Conflict
from core.models import Source, SourceKind
from core.settings import Settings
from core.tables import utcnow
from flows.limits import BoundedEmbedder, source_lease
from flows.runtime import Runtime
from flows.tables import SourceLeaseRow
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


def test_only_one_of_many_racing_threads_holds_the_lease(db: Database) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with source_lease(db, "default", "docs", wait=30, poll=0.01):
            with guard:
                inside += 1
                most = max(most, inside)
            threading.Event().wait(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_bounded_embedder_runs_one_call_at_a_time_with_one_slot() -> None:
    inner = HashEmbedder()
    bounded = BoundedEmbedder(inner=inner, slots=1)
    active = 0
    most = 0
    guard = threading.Lock()
    original = inner.embed_documents

    def slow(texts):  # type: ignore[no-untyped-def]
        nonlocal active, most
        with guard:
            active += 1
            most = max(most, active)
        threading.Event().wait(0.02)
        with guard:
            active -= 1
        return original(texts)

    inner.embed_documents = slow  # type: ignore[method-assign]
    threads = [threading.Thread(target=bounded.embed_documents, args=(["a b c"],)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1 and inner.embedded == 4
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
