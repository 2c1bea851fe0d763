"""The sync engine on real parsing, chunking, Qdrant (in-memory local mode) and both SQL engines.

Only the embedder is a fake (it counts what it embeds), so these tests prove plumbing: what is
embedded, written, skipped and deleted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, Conflict, NotFound
from core.models import Source, SourceKind
from ingest.chunking import Chunker
from ingest.connectors.registry import build_connector
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.index import QdrantIndex
from retrieval.sparse import BM25Encoder
from tests.fakes import HashEmbedder


class CountingParser(Parser):
    """The real parser, counting its calls."""

    calls = 0

    def parse(self, document):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return super().parse(document)


class Env:
    def __init__(self, db: Database, client: QdrantClient, embedder: HashEmbedder, root: Path) -> None:
        self.db, self.client, self.embedder, self.root = db, client, embedder, root
        self.store = SourceStore(db=db)
        self.chunker = Chunker(tokens=embedder, max_tokens=64, overlap_tokens=8)
        self.index = QdrantIndex(
            client=client,
            alias="test",
            model_id=embedder.model_id,
            dimension=embedder.dimension,
            chunker_version=self.chunker.version,
            sparse=BM25Encoder(),
        )
        self.options = SyncOptions(max_failure_ratio=0.5, shrink_guard_ratio=0.2, embed_batch_chunks=16)
        self.source = self.store.add(
            Source(workspace="acme", name="docs", kind=SourceKind.FOLDER, options={"path": str(root)})
        )

    def pipeline(self, writer=None) -> Pipeline:  # type: ignore[no-untyped-def]
        return Pipeline(
            parser=CountingParser(),
            chunker=self.chunker,
            embedder=self.embedder,
            writer=writer or self.index,
            options=self.options,
        )

    def sync(self, *, full: bool = False, force: bool = False, writer=None, should_stop=None):  # type: ignore[no-untyped-def]
        return run_sync(
            source=self.source,
            connector=build_connector(self.source),
            state=SyncState(db=self.db, workspace="acme", source="docs"),
            pipeline=self.pipeline(writer),
            full=full,
            force=force,
            should_stop=should_stop,
        )

    def points(self, document_id: str) -> list[str]:
        return self.index.document_chunk_ids("acme", document_id)


def write(root: Path, name: str, body: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


def article(title: str, paragraphs: int, word: str = "coffee") -> str:
    parts = [f"# {title}"]
    for i in range(paragraphs):
        parts.append(f"## Part {i}\n\n" + " ".join(f"{word}{i} beans grind brew" for _ in range(12)) + ".")
    return "\n\n".join(parts)


@pytest.fixture
def env(db: Database, memory_qdrant: QdrantClient, hash_embedder: HashEmbedder, tmp_path: Path) -> Env:
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(4):
        write(root, f"guide-{i}.md", article(f"Guide {i}", 3))
    write(
        root, "notes/faq.txt", "Frequently asked questions\n\nHow do I grind beans? Use a burr grinder at setting 12."
    )
    return Env(db, memory_qdrant, hash_embedder, root)


def test_first_sync_writes_everything_and_second_embeds_nothing(env: Env) -> None:
    first = env.sync()
    assert (first.status, first.fetched, first.written, first.failed) == ("succeeded", 5, 5, 0)
    embedded_after_first = env.embedder.embedded
    assert embedded_after_first == first.chunks_embedded > 5

    CountingParser.calls = 0
    second = env.sync(full=True)
    assert CountingParser.calls == 0, "an unchanged document must be skipped before parsing"
    assert (second.status, second.written, second.unchanged, second.chunks_embedded) == ("succeeded", 0, 5, 0)
    assert env.embedder.embedded == embedded_after_first, "an unchanged re-sync must embed 0 chunks"

    third = env.sync()  # incremental, from the saved cursor
    assert third.mode == "incremental" and third.chunks_embedded == 0
    assert env.embedder.embedded == embedded_after_first


def test_changed_file_replaces_its_chunks_and_a_shrunk_one_leaves_no_stale_chunks(env: Env) -> None:
    env.sync()
    before = env.points("docs:guide-0.md")
    assert len(before) >= 3
    write(env.root, "guide-0.md", article("Guide 0", 1, word="espresso"))
    report = env.sync(full=True)
    assert (report.written, report.unchanged) == (1, 4)
    after = env.points("docs:guide-0.md")
    assert 1 <= len(after) < len(before)
    assert sorted(after) == [f"docs:guide-0.md#{i}" for i in range(len(after))]
    state = SyncState(db=env.db, workspace="acme", source="docs").get("docs:guide-0.md")
    assert state is not None and state.chunk_count == len(after) and state.status == "done"


def test_deleted_file_leaves_the_index_on_the_next_sync(env: Env) -> None:
    env.sync()
    (env.root / "guide-3.md").unlink()
    report = env.sync()  # incremental: deletions come from the id listing
    assert report.deleted == 1
    assert env.points("docs:guide-3.md") == []
    assert SyncState(db=env.db, workspace="acme", source="docs").get("docs:guide-3.md") is None


def test_bad_files_are_failures_and_the_run_goes_on(env: Env) -> None:
    (env.root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (env.root / "empty.md").write_bytes(b"")
    report = env.sync()
    assert report.status == "partial"
    assert report.written == 5 and report.failed == 2
    failed = {f.native_id: f for f in report.failures}
    assert set(failed) == {"broken.pdf", "empty.md"}
    assert all(f.stage == "parse" and f.message for f in failed.values())


def test_past_the_failure_ratio_the_run_fails_and_deletes_nothing(env: Env) -> None:
    env.sync()
    (env.root / "guide-2.md").unlink()
    for i in range(8):
        (env.root / f"bad-{i}.pdf").write_bytes(b"not a pdf")
    report = env.sync(full=True)
    assert report.status == "failed" and report.deleted == 0
    assert env.points("docs:guide-2.md"), "a failed run must not delete"
    assert any("nothing deleted" in n for n in report.notes)


def test_shrink_guard_keeps_documents_unless_forced(env: Env) -> None:
    for i in range(10):
        write(env.root, f"extra-{i}.md", article(f"Extra {i}", 1))
    env.sync()
    for i in range(6):
        (env.root / f"extra-{i}.md").unlink()
    guarded = env.sync()
    assert guarded.deleted == 0 and guarded.status == "partial"
    assert any("nothing deleted" in n for n in guarded.notes)
    assert env.points("docs:extra-0.md")
    forced = env.sync(force=True)
    assert forced.deleted == 6 and env.points("docs:extra-0.md") == []


class CrashingWriter:
    """The real index, but the process 'dies' (raises) on the n-th document write."""

    def __init__(self, index: QdrantIndex, crash_at: int) -> None:
        self.index, self.crash_at, self.writes = index, crash_at, 0

    def ensure_collection(self) -> None:
        self.index.ensure_collection()

    def replace_document(self, document, chunks, vectors, previous_chunks=None) -> None:  # type: ignore[no-untyped-def]
        self.writes += 1
        if self.writes == self.crash_at:
            # half-written: old points deleted, only some new ones upserted
            self.index.replace_document(document, chunks[:1], vectors[:1], previous_chunks)
            raise KeyboardInterrupt("killed")
        self.index.replace_document(document, chunks, vectors, previous_chunks)

    def delete_documents(self, workspace, document_ids) -> None:  # type: ignore[no-untyped-def]
        self.index.delete_documents(workspace, document_ids)

    def existing_vectors(self, workspace, chunk_hashes):  # type: ignore[no-untyped-def]
        return self.index.existing_vectors(workspace, chunk_hashes)


def test_a_run_killed_midway_and_rerun_leaves_no_duplicate_and_no_missing_chunk(env: Env) -> None:
    with pytest.raises(KeyboardInterrupt):
        env.sync(writer=CrashingWriter(env.index, crash_at=3))
    runs = SyncState(db=env.db, workspace="acme", source="docs").runs()
    assert runs[0]["status"] == "cancelled"
    assert "interrupted (KeyboardInterrupt)" in " ".join(runs[0]["report"]["notes"])
    rerun = env.sync()
    assert rerun.status == "succeeded"
    state = SyncState(db=env.db, workspace="acme", source="docs")
    total = 0
    for native, doc_id in state.indexed().items():
        st = state.get(doc_id)
        assert st is not None and st.status == "done", native
        ids = env.points(doc_id)
        assert sorted(ids) == sorted(f"{doc_id}#{i}" for i in range(st.chunk_count)), native
        total += st.chunk_count
    assert len(state.indexed()) == 5
    assert env.index.count("acme") == total


class BrokenWriter(CrashingWriter):
    """A writer with a bug: an unexpected exception on the n-th document write."""

    def replace_document(self, document, chunks, vectors, previous_chunks=None) -> None:  # type: ignore[no-untyped-def]
        self.writes += 1
        if self.writes == self.crash_at:
            raise ZeroDivisionError("a bug")
        self.index.replace_document(document, chunks, vectors, previous_chunks)


def test_an_unexpected_error_fails_the_run_record_instead_of_leaving_it_running(env: Env) -> None:
    with pytest.raises(ZeroDivisionError):
        env.sync(writer=BrokenWriter(env.index, crash_at=2))
    run = SyncState(db=env.db, workspace="acme", source="docs").runs()[0]
    assert run["status"] == "failed" and "unexpected ZeroDivisionError: a bug" in " ".join(run["report"]["notes"])
    assert env.sync().status == "succeeded"


def test_cancel_stops_early_and_deletes_nothing(env: Env) -> None:
    env.sync()
    (env.root / "guide-1.md").unlink()
    report = env.sync(full=True, should_stop=lambda: True)
    assert report.status == "cancelled" and report.deleted == 0
    assert env.points("docs:guide-1.md")


def test_unsupported_files_are_skipped_by_default_and_failures_when_included(env: Env) -> None:
    (env.root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    report = env.sync()
    assert report.failed == 0 and any(".png (1)" in n for n in report.notes)
    env.store.update("acme", "docs", options={"path": str(env.root), "include": "*"})
    env.source = env.store.get("acme", "docs")
    report = env.sync(full=True)
    assert [f.native_id for f in report.failures] == ["logo.png"]
    assert "unsupported file type .png" in report.failures[0].message


def test_source_store_errors(db: Database, tmp_path: Path) -> None:
    store = SourceStore(db=db)
    src = Source(workspace="acme", name="docs", kind=SourceKind.FOLDER, options={"path": str(tmp_path)})
    store.add(src)
    with pytest.raises(Conflict, match="already exists"):
        store.add(src)
    with pytest.raises(ConfigError, match="path"):
        store.add(Source(workspace="acme", name="other", kind=SourceKind.FOLDER, options={}))
    with pytest.raises(ConfigError, match="unknown"):
        store.add(Source(workspace="acme", name="x", kind=SourceKind.FOLDER, options={"path": ".", "colour": "red"}))
    with pytest.raises(NotFound, match="sources list"):
        store.get("acme", "nope")
    assert [s.name for s in store.list("acme")] == ["docs"]
    assert store.list("other-workspace") == []


def test_helpcenter_export_translations_topics_and_drafts(
    db: Database, memory_qdrant: QdrantClient, hash_embedder: HashEmbedder, tmp_path: Path
) -> None:
    export = {
        "default_locale": "en",
        "topics": [{"id": "billing", "name": "Billing"}, {"id": "refunds", "name": "Refunds", "parent": "billing"}],
        "articles": [
            {
                "id": "refund-window",
                "topic": "refunds",
                "title": "Refund window",
                "body": "## Window\n\nRefunds are possible for 30 days after delivery.",
                "updated_at": "2026-10-01T09:00:00Z",
                "translations": [
                    {
                        "locale": "de",
                        "title": "Rückgabefrist",
                        "body": "## Frist\n\nErstattungen sind 30 Tage nach Lieferung möglich.",
                    }
                ],
            },
            {"id": "secret", "topic": "billing", "title": "Draft", "body": "not yet", "status": "draft"},
            {"id": "broken", "topic": "billing"},
        ],
    }
    path = tmp_path / "hc.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    store = SourceStore(db=db)
    source = store.add(
        Source(
            workspace="acme",
            name="hc",
            kind=SourceKind.HELPCENTER_EXPORT,
            options={"path": str(path), "base_url": "https://help.example.com"},
        )
    )
    docs = list(build_connector(source).list_documents())
    documents = [d for d in docs if hasattr(d, "content")]
    assert sorted(d.native_id for d in documents) == ["refund-window/de", "refund-window/en"]
    de = next(d for d in documents if d.native_id.endswith("/de"))
    assert de.language == "de" and de.topic == ("Billing", "Refunds") and de.metadata["article_id"] == "refund-window"
    assert de.uri == "https://help.example.com/de/articles/refund-window"
    failures = [d for d in docs if type(d).__name__ == "FetchFailure"]
    assert len(failures) == 1 and "broken" in failures[0].message


def test_an_edit_reembeds_only_changed_chunks_and_a_move_embeds_nothing(env: Env) -> None:
    env.sync()
    before = env.embedder.embedded
    path = env.root / "guide-1.md"
    text = path.read_text()
    path.write_text(text.replace("coffee2 beans grind brew", "espresso beans tamp pull", 1))
    report = env.sync(full=True)
    assert report.written == 1 and 1 <= report.chunks_embedded < len(env.points("docs:guide-1.md"))
    assert report.chunks_reused >= 1
    assert env.embedder.embedded - before == report.chunks_embedded

    moved = env.root / "archive" / "guide-2.md"
    moved.parent.mkdir()
    (env.root / "guide-2.md").rename(moved)
    embedded = env.embedder.embedded
    report = env.sync(full=True)
    assert report.written == 1 and report.deleted == 1 and report.chunks_embedded == 0
    assert env.embedder.embedded == embedded
    hits = env.client.scroll(env.index.target, limit=100, with_payload=True)[0]
    moved_points = [p for p in hits if p.payload and p.payload["document_id"] == "docs:archive/guide-2.md"]
    assert moved_points and all(p.payload["topic"] == ["archive"] for p in moved_points)
    assert all(p.payload["uri"].endswith("/archive/guide-2.md") for p in moved_points)


def test_a_running_sync_shows_its_counts_in_the_runs_list(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.sync

    monkeypatch.setattr(ingest.sync, "LIVE_RUN_SECONDS", 0.0)
    for i in range(6):
        write(env.root, f"guide-{i}.md", article(f"Guide {i}", 3))
    state = SyncState(db=env.db, workspace="acme", source="docs")
    seen: list[tuple[str, int]] = []

    def stop_after_a_few() -> bool:  # polled between items: look at the run record while it runs
        [run] = state.runs(limit=1)
        seen.append((run["status"], int(run["report"]["fetched"])))
        return False

    env.sync(should_stop=stop_after_a_few)
    assert seen[0][0] == "running" and all(status == "running" for status, _ in seen)
    assert max(fetched for _, fetched in seen) >= 4  # counts grew while the run was still running
    assert state.runs(limit=1)[0]["status"] == "succeeded"


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    import io

    from rich.console import Console

    from core.models import RunReport
    from service.output import ProgressLines

    buffer = io.StringIO()
    lines = ProgressLines(Console(file=buffer, width=200), "docs", every=0.0)
    lines.update(RunReport(source="docs", workspace="acme", fetched=12, written=10))
    assert "sync docs:" in buffer.getvalue() and "fetched 12, written 10" in buffer.getvalue()


def test_progress_shows_the_total_and_the_time_left_when_the_source_knows_it() -> None:
    import io

    from rich.console import Console

    from core.models import RunReport
    from service.output import ProgressLines, eta

    buffer = io.StringIO()
    lines = ProgressLines(Console(file=buffer, width=200), "docs", every=0.0)
    lines.update(RunReport(source="docs", workspace="acme", fetched=12, written=10, unchanged=2, failed=1, total=20))
    assert "13/20 (65%)" in buffer.getvalue()
    assert eta(10.0, 5, 20) == "30s" and eta(60.0, 1, 3) == "2m00s" and eta(3600.0, 1, 3) == "2h00m"
    assert eta(5.0, 0, 20) is None and eta(5.0, 20, 20) is None


def test_a_folder_run_records_its_total_while_it_runs(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.sync

    monkeypatch.setattr(ingest.sync, "LIVE_RUN_SECONDS", 0.0)
    for i in range(5):
        write(env.root, f"guide-{i}.md", article(f"Guide {i}", 2))
    state = SyncState(db=env.db, workspace="acme", source="docs")
    totals: list[int | None] = []

    def look() -> bool:
        [run] = state.runs(limit=1)
        totals.append(run["report"].get("total"))
        return False

    report = env.sync(should_stop=look)
    assert report.total is not None and report.total >= 5 and report.total == report.done  # every file
    assert report.total in totals
    write(env.root, "guide-new.md", article("Guide new", 2))
    again = env.sync()  # incremental: the files changed since the cursor (and its overlap window)
    assert again.total is not None and 1 <= again.total == again.done
