"""The sync's pipeline (producer -> embedding -> writer thread) with a large streamed document:
parts, bounded chunks in flight, order of pending/points/done, a failure midway, the size cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from bench.ingest import prose
from core.db import Database
from core.errors import ParseError
from core.models import Document
from ingest.connectors.base import Checkpoint, ConnectorContext
from ingest.connectors.registry import build_connector
from ingest.parsing import Parser
from ingest.state import SyncState
from ingest.sync import Pipeline, run_sync
from tests.fakes import HashEmbedder
from tests.unit import test_sync
from tests.unit.test_sync import Env, article, write

env = test_sync.env  # the shared fixture: five small documents in a folder source

BIG = 600_000  # bytes of prose: ~1,000 chunks of 64 tokens, streamed (stream_bytes below)


class Recorder:
    """The real index and sync state, recording the order of what reaches them."""

    def __init__(self, env: Env) -> None:
        self.env, self.events = env, []  # type: ignore[var-annotated]

    def ensure_collection(self) -> None:
        self.env.index.ensure_collection()

    def replace_document(self, document, chunks, vectors, previous_chunks=None) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("replace", document.id, chunks[0].index, len(chunks), self._status(document.id)))
        self.env.index.replace_document(document, chunks, vectors, previous_chunks)

    def add_chunks(self, document, chunks, vectors) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("add", document.id, chunks[0].index, len(chunks), self._status(document.id)))
        self.env.index.add_chunks(document, chunks, vectors)

    def delete_documents(self, workspace, document_ids) -> None:  # type: ignore[no-untyped-def]
        self.events.append(("delete", tuple(document_ids)))
        self.env.index.delete_documents(workspace, document_ids)

    def existing_vectors(self, workspace, chunk_hashes):  # type: ignore[no-untyped-def]
        return self.env.index.existing_vectors(workspace, chunk_hashes)

    def _status(self, document_id: str) -> str | None:
        st = SyncState(db=self.env.db, workspace="acme", source="docs").get(document_id)
        return st.status if st else None


class CountingEmbedder(HashEmbedder):
    """Records the largest call and how many chunks the chunker had made but the index had not
    received when each call came: the chunks alive in the pipeline."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0
        self.alive: list[int] = []
        self.made = 0
        self.written = 0

    def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        self.largest = max(self.largest, len(texts))
        self.alive.append(self.made - self.written)
        return super().embed_documents(texts)


@pytest.fixture
def big(env: Env) -> Env:
    write(env.root, "handbook.txt", prose(BIG, markdown=False, seed=5))
    return env


def pipeline(env: Env, writer: Any = None, parser: Parser | None = None, embedder: Any = None) -> Pipeline:
    return Pipeline(parser=parser or Parser(spacy="never", stream_bytes=100_000), chunker=env.chunker,
                    embedder=embedder or env.embedder, writer=writer or env.index, options=env.options)


def sync(env: Env, p: Pipeline, **kw: Any) -> Any:
    return run_sync(source=env.source, connector=build_connector(env.source),
                    state=SyncState(db=env.db, workspace="acme", source="docs"), pipeline=p, **kw)


def check_index_matches_state(env: Env) -> int:
    state = SyncState(db=env.db, workspace="acme", source="docs")
    total = 0
    for native, doc_id in state.indexed().items():
        st = state.get(doc_id)
        assert st is not None and st.status == "done", native
        assert env.points(doc_id) == [f"{doc_id}#{i}" for i in range(st.chunk_count)], native
        total += st.chunk_count
    assert env.index.count("acme") == total
    return total


def test_a_large_file_is_written_in_parts_pending_until_its_last(big: Env) -> None:
    recorder = Recorder(big)
    report = sync(big, pipeline(big, writer=recorder))
    assert report.status == "succeeded" and report.written == 6 and report.failed == 0
    parts = [e for e in recorder.events if e[1] == "docs:handbook.txt"]
    assert parts[0][0] == "replace" and {e[0] for e in parts[1:]} == {"add"} and len(parts) > 20
    assert all(e[4] == "pending" for e in parts), "the document is pending while any part is written"
    starts = [e[2] for e in parts]
    assert starts == sorted(starts) and starts[0] == 0
    assert all(e[3] <= big.options.embed_batch_chunks for e in parts)
    assert check_index_matches_state(big) > 1000
    whole = Parser(spacy="never").parse(Document(workspace="acme", source_id="docs", native_id="handbook.txt",
                                                 media_type="text/plain",
                                                 content=(big.root / "handbook.txt").read_bytes()))
    assert len(big.points("docs:handbook.txt")) == len(big.chunker.chunk("docs:handbook.txt", whole))


def test_chunks_in_flight_stay_bounded_whatever_the_file_size(big: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = CountingEmbedder()
    chunker = big.chunker
    real_stream = chunker.chunk_stream

    def counted(document_id: str, title: str, sections: Any) -> Iterator[Any]:
        for chunk in real_stream(document_id, title, sections):
            embedder.made += 1
            yield chunk

    class Counting(Recorder):
        def add_chunks(self, document, chunks, vectors) -> None:  # type: ignore[no-untyped-def]
            super().add_chunks(document, chunks, vectors)
            embedder.written += len(chunks)

        def replace_document(self, document, chunks, vectors, previous_chunks=None) -> None:  # type: ignore[no-untyped-def]
            super().replace_document(document, chunks, vectors, previous_chunks)
            embedder.written += len(chunks)

    monkeypatch.setattr(chunker, "chunk_stream", counted)
    report = sync(big, pipeline(big, writer=Counting(big), embedder=embedder))
    batch = big.options.embed_batch_chunks
    assert report.status == "succeeded" and embedder.made > 50 * batch
    assert embedder.largest < 2 * batch  # a batch is flushed once it reaches embed_batch_chunks
    # chunks made and not yet written: the budget (3 batches) plus the part in the producer's hands
    # and the chunk it looked ahead at, never the whole file
    assert max(embedder.alive) <= 4 * batch + 1, max(embedder.alive)


MEDIUM = 60_000  # bytes of prose: ~100 chunks of 64 tokens, parsed whole (below stream_bytes)


def test_a_large_document_parsed_whole_is_embedded_and_written_in_bounded_parts(env: Env) -> None:
    write(env.root, "manual.txt", prose(MEDIUM, markdown=False, seed=7))
    embedder, recorder = CountingEmbedder(), Recorder(env)
    shown: list[dict[str, int]] = []
    report = sync(env, pipeline(env, writer=recorder, embedder=embedder), progress=lambda r: shown.append(r.progress))
    batch = env.options.embed_batch_chunks
    parts = [e for e in recorder.events if e[1] == "docs:manual.txt"]
    assert report.status == "succeeded" and report.written == 6
    assert len(parts) > 4 and parts[0][0] == "replace" and {e[0] for e in parts[1:]} == {"add"}
    assert all(e[3] <= batch for e in parts) and all(e[4] == "pending" for e in parts)
    assert embedder.largest < 2 * batch, "the whole document's chunks went to the model at once"
    assert check_index_matches_state(env) > 5 * batch
    # the run's progress shows how much of the document is written while it is written, then nothing
    size_kib = (env.root / "manual.txt").stat().st_size // 1024
    kib = [p["stream_kib"] for p in shown if "stream_kib" in p]
    assert len(set(kib)) >= 3 and kib == sorted(kib) and max(kib) <= size_kib
    assert {p["stream_of_kib"] for p in shown if "stream_of_kib" in p} == {size_kib}
    chunks = [p["stream_chunks"] for p in shown if "stream_chunks" in p]
    assert len(set(chunks)) >= 3 and chunks == sorted(chunks) and all(n % batch == 0 for n in chunks)
    assert "stream_kib" not in shown[-1]
    # unchanged: skipped whole; shrunk: no trailing chunk of the longer version is left
    assert sync(env, pipeline(env), full=True).unchanged == 6
    (env.root / "manual.txt").write_text(prose(MEDIUM // 3, markdown=False, seed=7), encoding="utf-8")
    again = sync(env, pipeline(env), full=True)
    assert again.written == 1 and again.status == "succeeded"
    check_index_matches_state(env)


def test_a_streamed_document_shows_what_of_it_is_written_as_it_goes(big: Env) -> None:
    shown: list[dict[str, int]] = []
    report = sync(big, pipeline(big), progress=lambda r: shown.append(r.progress))
    assert report.status == "succeeded"
    kib = [p["stream_kib"] for p in shown if "stream_kib" in p]
    chunks = [p["stream_chunks"] for p in shown if "stream_chunks" in p]
    size_kib = (big.root / "handbook.txt").stat().st_size // 1024
    assert len(set(kib)) >= 3 and kib == sorted(kib) and kib[0] == 0 and max(kib) <= size_kib  # per block
    assert len(set(chunks)) > 10 and chunks == sorted(chunks) and chunks[0] == 0  # per part
    assert "stream_kib" not in shown[-1] and "stream_chunks" not in shown[-1]


def test_killed_midway_through_a_streamed_document(big: Env) -> None:
    class KillAtPart(Recorder):
        def add_chunks(self, document, chunks, vectors) -> None:  # type: ignore[no-untyped-def]
            if chunks[0].index >= 10 * big.options.embed_batch_chunks:
                raise KeyboardInterrupt("killed")
            super().add_chunks(document, chunks, vectors)

    with pytest.raises(KeyboardInterrupt):
        sync(big, pipeline(big, writer=KillAtPart(big)))
    state = SyncState(db=big.db, workspace="acme", source="docs")
    handbook = state.get("docs:handbook.txt")
    assert handbook is not None and handbook.status == "pending"
    done_before = {d for d in state.indexed().values() if (s := state.get(d)) and s.status == "done"}
    recorder = Recorder(big)
    rerun = sync(big, pipeline(big, writer=recorder))
    assert rerun.status == "succeeded"
    rewritten = {e[1] for e in recorder.events if e[0] in ("replace", "add")}
    assert "docs:handbook.txt" in rewritten and not rewritten & done_before
    check_index_matches_state(big)


def test_a_streamed_document_failing_midway_is_removed_and_the_run_goes_on(big: Env) -> None:
    class FailsAtBlock(Parser):
        blocks = 0

        def partition_text(self, document, media_type, text, grouper=None):  # type: ignore[no-untyped-def]
            type(self).blocks += 1
            if type(self).blocks == 3:
                raise ParseError("cannot parse 'handbook.txt': corrupt text file (boom)", document_id=document.id)
            return super().partition_text(document, media_type, text, grouper)

    from ingest import streaming

    recorder = Recorder(big)
    report = sync(big, pipeline(big, writer=recorder, parser=FailsAtBlock(spacy="never", stream_bytes=100_000)))
    assert streaming.BLOCK_CHARS < BIG, "the file must span several blocks"
    assert report.status == "partial" and report.written == 5 and report.failed == 1
    assert report.failures[0].native_id == "handbook.txt" and "corrupt" in report.failures[0].message
    assert ("delete", ("docs:handbook.txt",)) in recorder.events, "its parts already written are removed"
    assert big.points("docs:handbook.txt") == []
    assert SyncState(db=big.db, workspace="acme", source="docs").get("docs:handbook.txt") is None
    check_index_matches_state(big)


def test_a_file_over_the_size_cap_fails_alone_naming_its_size_and_the_setting(env: Env) -> None:
    write(env.root, "huge.md", article("Huge", 200))
    size = (env.root / "huge.md").stat().st_size
    connector = build_connector(env.source, ConnectorContext(max_file_bytes=size - 1))
    report = run_sync(source=env.source, connector=connector, pipeline=pipeline(env),
                      state=SyncState(db=env.db, workspace="acme", source="docs"))
    assert report.written == 5 and report.failed == 1 and report.status == "partial"
    message = report.failures[0].message
    assert report.failures[0].native_id == "huge.md"
    assert f"{size:,} bytes" in message and "sync.max_file_bytes" in message
    assert "KNOWDESK_SYNC__MAX_FILE_BYTES" in message


class OneDocument:
    """A connector without a size check of its own (a rendered page, an API's article)."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def check(self) -> str:
        return "ok"

    def list_documents(self) -> Iterator[Any]:
        yield self.doc
        yield Document(workspace="acme", source_id="docs", native_id="small.md", media_type="text/markdown",
                       content=b"# Small\n\nA small page about grinding coffee beans at home.")
        yield Checkpoint(cursor={})


def test_the_size_cap_holds_for_connectors_that_do_not_check_it(env: Env) -> None:
    big_doc = Document(workspace="acme", source_id="docs", native_id="page-1", media_type="text/html",
                       content=b"<p>" + b"coffee " * 20_000 + b"</p>")
    report = run_sync(source=env.source, connector=OneDocument(big_doc),  # type: ignore[arg-type]
                      pipeline=pipeline(env, parser=Parser(max_bytes=100_000)),
                      state=SyncState(db=env.db, workspace="acme", source="docs"))
    assert report.written == 1 and report.failed == 1
    assert "140,007 bytes" in report.failures[0].message and "sync.max_file_bytes" in report.failures[0].message


def test_checkpoint_cursor_is_saved_only_after_earlier_documents_are_written(
        db: Database, memory_qdrant: QdrantClient, hash_embedder: HashEmbedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    env = Env(db, memory_qdrant, hash_embedder, root)
    for i in range(30):
        write(root, f"a-{i}.md", article(f"A {i}", 2))
    recorder = Recorder(env)
    state = SyncState(db=env.db, workspace="acme", source="docs")
    saved_at: list[int] = []
    real_save = SyncState.save_cursor

    def save(self: SyncState, cursor: dict[str, Any]) -> None:
        saved_at.append(len({e[1] for e in recorder.events if e[0] == "replace"}))
        real_save(self, cursor)

    monkeypatch.setattr(SyncState, "save_cursor", save)
    report = run_sync(source=env.source, connector=build_connector(env.source), state=state,
                      pipeline=pipeline(env, writer=recorder))
    assert report.written == 30 and saved_at and saved_at[0] == 30

