"""The sync: read a source, skip what is unchanged, parse, chunk, embed, write, prune.

Flow of one run (see ARCHITECTURE.md):

1. Items stream from the connector: a full listing, or an incremental read since the saved
   cursor. A producer thread fetches, compares fingerprints with the sync state, parses and
   chunks; the calling thread embeds chunks in batches across documents (the model is the
   bottleneck, so it is kept busy) and writes each document (delete-then-upsert).
2. A document is 'pending' in the state while its write is under way and 'done' after, so a
   run killed midway redoes exactly the documents it had not finished.
3. At a ``Checkpoint`` everything before it is written, then its cursor is saved.
4. After a complete read, documents missing from the complete id listing are deleted, unless
   the run failed (failure ratio), was cancelled, or the listing shrank suspiciously (shrink
   guard), in which case nothing is deleted and the report says why.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import KnowdeskError, ParseError
from core.ids import document_id
from core.models import Chunk, Document, FetchFailure, ParsedDocument, RunReport, Source
from ingest.chunking import Chunker
from ingest.connectors.base import Checkpoint, Connector, IdLister, IncrementalReader, Item, Unchanged
from ingest.parsing import Parser
from ingest.protocols import Embedder, IndexWriter
from ingest.state import SyncState
from ingest.write import ContentStore, DocumentWriter, WriteItem, WriteStats, indexed_hash

log = logging.getLogger(__name__)

#: Below this many indexed documents the shrink guard does not apply (small sources).
SHRINK_GUARD_MIN_DOCUMENTS = 10

Progress = Callable[[RunReport], None]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Guards and batch sizes of a run (from settings)."""

    max_failure_ratio: float = 0.5
    shrink_guard_ratio: float = 0.2
    embed_batch_chunks: int = 256


@dataclass(slots=True)
class Pipeline:
    """Everything a sync needs besides the source: parse, chunk, embed, write."""

    parser: Parser
    chunker: Chunker
    embedder: Embedder
    writer: IndexWriter
    options: SyncOptions = field(default_factory=SyncOptions)
    #: Keeps each written document's parsed content, so a re-index needs no fetch (optional).
    content: ContentStore | None = None

    def document_writer(self, state: SyncState | None, *, chunker_version: str | None = None,
                        keep_content: bool = True, reuse_vectors: bool = False) -> DocumentWriter:
        """The one document writer (``ingest.write``) over this pipeline's embedder and index."""
        return DocumentWriter(embedder=self.embedder, index=self.writer,
                              chunker_version=chunker_version or self.chunker.version, state=state,
                              content=self.content if keep_content else None,
                              batch_chunks=self.options.embed_batch_chunks, reuse_vectors=reuse_vectors)


@dataclass(slots=True)
class _Prepared:
    document: Document
    parsed: ParsedDocument | None  # None for a streamed document's parts (the last one keeps it all)
    chunks: list[Chunk]
    fingerprint: str  # of the document as the connector gave it, before title/language were filled in
    content_hash: str  # parsed text plus everything that reaches the index (title, uri, topic...)
    previous_chunks: int | None  # chunk count of the last complete write; None when unknown (pending, new)
    first: bool = True  # a large document arrives in parts: its first ...
    last: bool = True  # ... and its last
    done_kib: int = 0  # a large document's part: KiB of the document read once this part is written ...
    of_kib: int = 0  # ... and the document's size (0: a document in one part, no progress of its own)


@dataclass(frozen=True, slots=True)
class _Abandoned:
    """A streamed document failed after some of its parts were handed on: its points go."""

    document: Document
    failure: FetchFailure


class _End:
    pass


class SyncCancelled(KnowdeskError):
    code = "cancelled"
    http_status = 409


#: How often a running sync saves its counts to its run record (seen by `knowdesk runs`, /runs).
LIVE_RUN_SECONDS = 2.0


def run_sync(
    *,
    source: Source,
    connector: Connector,
    state: SyncState,
    pipeline: Pipeline,
    full: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    rebuild: bool = False,
) -> RunReport:
    """Run one sync of ``source`` and return its report (also stored as a run record).

    Args:
        full: read everything (still skipping unchanged documents) instead of reading since the
            saved cursor.
        force: delete even when the listing shrank past the shrink guard.
        progress: called with the report after every item.
        should_stop: polled between items; when it returns True the run ends as 'cancelled'
            after finishing the documents in flight, and deletes nothing.
        rebuild: the index lost this source's points (the state still lists them): read
            everything and write every document again, whatever the state says.

    Raises:
        KnowdeskError: the source or the index failed as a whole (the report, stored with
            status 'failed', says so too).
    """
    cursor = None if full or rebuild else state.cursor()
    incremental = cursor is not None and isinstance(connector, IncrementalReader)
    report = RunReport(
        source=source.name,
        workspace=source.workspace,
        mode="incremental" if incremental else "full",
        started_at=datetime.now(UTC),
    )
    run_id = state.start_run(report)
    started = time.perf_counter()

    last_saved = [time.monotonic()]
    streaming: dict[str, int] = {}  # a large document's progress: KiB written of its size (``_Run._show_part``)

    def tick(r: RunReport) -> None:  # a connector with live counters (a crawl) exposes `progress`
        live = getattr(connector, "progress", None)
        if live or streaming or r.progress:
            r.progress = {**dict(live or {}), **streaming}
        if (expected := getattr(connector, "expected", None)) is not None:  # e.g. a folder's file count
            r.total = int(expected)
        if progress:
            progress(r)
        if time.monotonic() - last_saved[0] >= LIVE_RUN_SECONDS:  # live counts in `runs` and /runs
            last_saved[0] = time.monotonic()
            state.update_run(run_id, r)

    runner = _Run(
        source=source,
        state=state,
        pipeline=pipeline,
        report=report,
        progress=tick,
        should_stop=should_stop or (lambda: False),
        rebuild=rebuild,
        live=streaming,
    )
    if rebuild:
        report.notes.append("the index has none of this source's documents (a new or emptied index): "
                            "every document is read and written again")
    try:
        pipeline.writer.ensure_collection()
        if incremental and cursor is not None and isinstance(connector, IncrementalReader):
            items = connector.read_since(cursor)
        else:
            items = connector.list_documents()
        completed = runner.consume(items)
        skipped = getattr(connector, "skipped", None)
        if skipped:
            report.notes.append(
                "skipped unsupported files: " + ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items()))
            )
        if dead := getattr(connector, "dead_links", None):  # e.g. a crawl's broken links
            shown = ", ".join(dead[:10]) + (f" and {len(dead) - 10} more" if len(dead) > 10 else "")
            report.notes.append(f"{len(dead)} dead link(s) (not found or failing; not counted as pages): {shown}")
        if not completed:
            report.status = "cancelled"
            report.notes.append("cancelled: nothing deleted, cursor not advanced")
        elif runner.failure_ratio() > pipeline.options.max_failure_ratio:
            report.status = "failed"
            report.notes.append(
                f"{report.failed} of {runner.attempted} items failed (ratio {runner.failure_ratio():.2f} > "
                f"{pipeline.options.max_failure_ratio}); nothing deleted, cursor not advanced"
            )
        elif incomplete := getattr(connector, "incomplete", None):  # e.g. a crawl that hit its page cap
            report.status = "partial"
            report.notes.append(f"incomplete read ({incomplete}): nothing deleted, cursor not advanced")
        else:
            _prune(connector, runner, force=force)
            if runner.cursor is not None:
                state.save_cursor(runner.cursor)
            if report.status == "running":
                report.status = "partial" if report.failed else "succeeded"
    except KnowdeskError as exc:
        report.status = "failed"
        report.notes.append(f"{type(exc).__name__}: {exc.message}")
        raise
    except Exception as exc:  # a bug or an unexpected library error: the run record must not stay 'running'
        report.status = "failed"
        report.notes.append(f"unexpected {type(exc).__name__}: {exc}; the next sync resumes where this one stopped")
        raise
    except BaseException as exc:  # interrupted: Ctrl-C, SIGTERM, a cancelled flow run's process
        report.status = "cancelled"
        report.notes.append(f"interrupted ({type(exc).__name__}); the next sync resumes where this one stopped")
        raise
    finally:
        report.seconds = round(time.perf_counter() - started, 3)
        tick(report)
        state.finish_run(run_id, report)
    return report


class _Budget:
    """Chunks in flight between the producer and the index (prepared, embedding, being written):
    the producer waits while ``limit`` are, so a sync's memory does not grow with a document's size.
    One item larger than the limit still passes when nothing else is in flight."""

    def __init__(self, limit: int, stop: threading.Event) -> None:
        self.limit = limit
        self.in_flight = 0
        self.peak = 0
        self._stop = stop
        self._cond = threading.Condition()

    def acquire(self, n: int) -> bool:
        """Wait for room for ``n`` chunks; False when the run stopped meanwhile."""
        with self._cond:
            while self.in_flight and self.in_flight + n > self.limit:
                if self._stop.is_set():
                    return False
                self._cond.wait(0.1)
            self.in_flight += n
            self.peak = max(self.peak, self.in_flight)
            return True

    def release(self, n: int) -> None:
        with self._cond:
            self.in_flight -= n
            self._cond.notify_all()


class _Run:
    """One run's pipeline, three stages overlapping:

    producer thread: fetch, skip unchanged, parse and chunk (a large document as a stream, in parts)
        -> queue ->
    calling thread: gather ``embed_batch_chunks`` chunks across documents, embed them
        -> queue (two batches) ->
    writer thread: per document, in order, mark pending, replace its points, mark done.

    So the model (the bottleneck) is kept busy while the next documents are parsed and the last
    batch is written. At a checkpoint every earlier document is written before its cursor is saved.
    """

    def __init__(
        self,
        *,
        source: Source,
        state: SyncState,
        pipeline: Pipeline,
        report: RunReport,
        progress: Progress | None,
        should_stop: Callable[[], bool],
        rebuild: bool = False,
        live: dict[str, int] | None = None,
    ) -> None:
        self.rebuild = rebuild
        self.source = source
        self.state = state
        self.p = pipeline
        self.report = report
        self.progress = progress
        self.should_stop = should_stop
        self.seen: set[str] = set()
        self.cursor: dict[str, Any] | None = None
        self.attempted = 0
        self._batch: list[_Prepared] = []
        self._batch_chunks = 0
        self.writer = pipeline.document_writer(state, reuse_vectors=True)
        self.stats = WriteStats()
        #: progress of a streamed document: KiB parsed and its size (shown with the run's counts)
        self.live = live if live is not None else {}
        self._stop = threading.Event()
        self.budget = _Budget(3 * pipeline.options.embed_batch_chunks, self._stop)
        self._writes: queue.Queue[tuple[list[_Prepared], list[Any]] | _Abandoned | None] = queue.Queue(maxsize=2)
        self._write_error: BaseException | None = None
        self._write_failed = False  # stays set: after a failed write nothing more is written
        self._streaming: Document | None = None  # a streamed document whose last part is not written yet

    def failure_ratio(self) -> float:
        return self.report.failed / self.attempted if self.attempted else 0.0

    # -- consumer (calling thread): embedding ---------------------------------------------------
    def consume(self, items: Iterator[Item]) -> bool:
        """Process every item; False when stopped early."""
        q: queue.Queue[_Prepared | _Abandoned | FetchFailure | Checkpoint | Document | Unchanged | _End
                       | BaseException] = queue.Queue(maxsize=1024)
        producer = threading.Thread(target=self._produce, args=(items, q), name="sync-producer", daemon=True)
        writer = threading.Thread(target=self._write_loop, name="sync-writer", daemon=True)
        producer.start()
        writer.start()
        completed = True
        try:
            while True:
                item = q.get()
                if isinstance(item, _End):
                    break
                if isinstance(item, BaseException):
                    raise item
                if self.should_stop():
                    completed = False
                    self._stop.set()
                    if isinstance(item, _Prepared):
                        self.budget.release(len(item.chunks))
                    break
                if isinstance(item, _Prepared) and item.first:
                    if item.of_kib and "stream_of_kib" not in self.live:  # a large document: 0 written yet
                        self.live.update(stream_kib=0, stream_of_kib=item.of_kib, stream_chunks=0)
                    if self.progress:
                        self.progress(self.report)  # a document is fetched: shown before its embedding
                self._handle(item)
                if self.progress:
                    self.progress(self.report)
            self._flush()
            self._drain()
            if not completed and self._streaming is not None:
                self.report.notes.append(f"{self._streaming.native_id} was being written when the run stopped: "
                                         "the next sync writes it again")
        finally:
            self._stop.set()
            with contextlib.suppress(queue.Full):
                self._writes.put_nowait(None)
            while producer.is_alive():  # drain so a blocked producer can finish
                with contextlib.suppress(queue.Empty):
                    q.get(timeout=0.1)
            producer.join()
            while writer.is_alive():
                with contextlib.suppress(queue.Full):
                    self._writes.put(None, timeout=0.1)
            writer.join()
            self._show_part(None)
        self._raise_write_error()
        return completed

    def _handle(self, item: _Prepared | _Abandoned | FetchFailure | Checkpoint | Document | Unchanged) -> None:
        if isinstance(item, Checkpoint):
            self._flush()
            self._drain()
            self.cursor = dict(item.cursor)
            if self.report.failed == 0:
                # resumable: everything before this checkpoint is written and nothing failed
                self.state.save_cursor(self.cursor)
        elif isinstance(item, _Abandoned):
            self._flush()
            self._put(item)
            self.report.failed += 1
            self.report.failures.append(item.failure)
        elif isinstance(item, FetchFailure):
            self.report.failed += 1
            self.report.failures.append(item)
        elif isinstance(item, Document | Unchanged):  # unchanged (skipped by hash, or said by the source)
            self.report.unchanged += 1
        else:
            self._batch.append(item)
            self._batch_chunks += len(item.chunks)
            if self._batch_chunks >= self.p.options.embed_batch_chunks:
                self._flush()

    def _flush(self) -> None:
        """Embed the gathered batch (one model call; a rewritten document reuses the vectors of
        chunks whose text is unchanged) and hand it to the writer thread."""
        if not self._batch:
            return
        batch, self._batch, self._batch_chunks = self._batch, [], 0
        before = self.stats.chunks_embedded, self.stats.chunks_reused
        vectors = self.writer.embed([self._write_item(p) for p in batch], self.stats)
        self.report.chunks_embedded += self.stats.chunks_embedded - before[0]
        self.report.chunks_reused += self.stats.chunks_reused - before[1]
        self._put((batch, vectors))

    def _put(self, work: tuple[list[_Prepared], list[Any]] | _Abandoned) -> None:
        while True:
            self._raise_write_error()
            try:
                self._writes.put(work, timeout=0.1)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        """Wait until the writer thread wrote everything handed to it."""
        while self._writes.unfinished_tasks:
            self._raise_write_error()
            time.sleep(0.01)
        self._raise_write_error()

    def _raise_write_error(self) -> None:
        if self._write_error is not None:
            error, self._write_error = self._write_error, None
            raise error

    @staticmethod
    def _write_item(p: _Prepared) -> WriteItem:
        return WriteItem(document=p.document, chunks=p.chunks, content_hash=p.content_hash, parsed=p.parsed,
                         fingerprint=p.fingerprint, previous_chunks=p.previous_chunks, first=p.first, last=p.last)

    # -- writer (its own thread): index and state writes, in order ------------------------------
    def _write_loop(self) -> None:
        while True:
            work = self._writes.get()
            try:
                if work is None:
                    return
                if self._write_failed:
                    continue  # the run is failing: write nothing more
                if isinstance(work, _Abandoned):
                    self.writer.delete(work.document.workspace, [work.document.id])
                    self._streaming = None
                    self._show_part(None)
                    continue
                batch, vectors = work
                written = self.stats.written
                self.writer.store([self._write_item(p) for p in batch], vectors, self.stats)
                self.report.written += self.stats.written - written
                for p in batch:
                    self._streaming = None if p.last else p.document
                    if p.of_kib:
                        self._show_part(None if p.last else p)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
                self._write_failed = True
                self._write_error = exc
            finally:
                if isinstance(work, tuple):
                    self.budget.release(sum(len(p.chunks) for p in work[0]))
                self._writes.task_done()

    def _show_part(self, part: _Prepared | None) -> None:
        """The run's progress of a large document: KiB of it written so far, its size and its chunks
        written (``stream_kib N stream_of_kib M stream_chunks C``, beside the run's counts); gone once
        its last part is written. A streamed document's KiB advance a parsed block (256 KB) at a time,
        its chunks every part."""
        if part is None:
            for key in ("stream_kib", "stream_of_kib", "stream_chunks"):
                self.live.pop(key, None)
        else:
            self.live.update(stream_kib=part.done_kib, stream_of_kib=part.of_kib,
                             stream_chunks=part.chunks[-1].index + 1)

    # -- producer (its own thread): fetch, parse, chunk -------------------------------------------
    def _produce(self, items: Iterator[Item], q: queue.Queue[Any]) -> None:
        try:
            for item in items:
                if self._stop.is_set():
                    return
                for prepared in self._prepare(item):
                    if isinstance(prepared, _Prepared) and not self.budget.acquire(len(prepared.chunks)):
                        return
                    q.put(prepared)
            q.put(_End())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put(exc)

    def _prepare(self, item: Item) -> Iterator[_Prepared | _Abandoned | FetchFailure | Checkpoint | Document
                                               | Unchanged]:
        if isinstance(item, Checkpoint):
            yield item
            return
        if isinstance(item, Unchanged):
            self.attempted += 1
            self.seen.add(item.native_id)
            known = self.state.get(document_id(self.source.source_id, item.native_id))
            if self.rebuild or known is None or known.status != "done":
                yield FetchFailure(
                    source_id=self.source.source_id, native_id=item.native_id, stage="fetch",
                    message=f"{item.native_id}: the source reported it unchanged, but it is not indexed; "
                    f"run `knowdesk sync {self.source.name} --full`",
                )
                return
            yield item
            return
        if isinstance(item, FetchFailure):
            self.attempted += 1
            if item.native_id:
                self.seen.add(item.native_id)
            yield item
            return
        doc = item
        self.attempted += 1
        self.report.fetched += 1
        self.seen.add(doc.native_id)
        known = None if self.rebuild else self.state.get(doc.id)
        versions = {"chunker_version": self.p.chunker.version, "model_id": self.p.embedder.model_id}
        if known and known.is_current(**versions) and known.fingerprint == doc.fingerprint:
            yield doc
            return
        previous = known.chunk_count if known and known.status == "done" else None
        if self.p.parser.streams(doc):
            yield from self._stream(doc, previous)
            return
        try:
            parsed = self.p.parser.parse(doc)
            doc = _filled(doc, parsed.title, parsed.language)
            content_hash = indexed_hash(doc, parsed)
            if known and known.is_current(**versions) and known.content_hash == content_hash:
                self.state.touch_fingerprint(item)
                yield item
                return
            chunks = self.p.chunker.chunk(doc.id, parsed)
            if not chunks:
                raise ParseError(f"{doc.native_id}: no text to index after parsing", document_id=doc.id)
        except ParseError as exc:
            yield _parse_failure(doc, exc)
            return
        size = self.p.options.embed_batch_chunks
        if len(chunks) <= size:
            yield _Prepared(document=doc, parsed=parsed, chunks=chunks, fingerprint=item.fingerprint,
                            content_hash=content_hash, previous_chunks=previous)
            return
        # a large document goes on in parts of one batch, as a streamed one does: what is in flight
        # (its vectors, and the token vectors of the same forward pass) stays bounded by the budget
        of_kib = max(1, len(item.content) // 1024)
        for start in range(0, len(chunks), size):
            end = min(len(chunks), start + size)
            last = end == len(chunks)
            yield _Prepared(document=doc, parsed=parsed if last else None, chunks=chunks[start:end],
                            fingerprint=item.fingerprint, content_hash=content_hash, previous_chunks=previous,
                            first=start == 0, last=last, done_kib=of_kib * end // len(chunks), of_kib=of_kib)

    def _stream(self, item: Document, previous: int | None) -> Iterator[_Prepared | _Abandoned | FetchFailure]:
        """A large document in parts of ``embed_batch_chunks`` chunks, parsed and chunked as it is
        read (``ingest.streaming``): its first part replaces its points, its last marks it done."""
        from ingest.streaming import ParsedStream

        doc = item
        size = self.p.options.embed_batch_chunks
        handed = False
        of_kib = max(1, len(item.content) // 1024)
        try:
            stream = ParsedStream(parser=self.p.parser, document=item, keep=self.p.content is not None)
            doc = _filled(item, stream.title, stream.language)
            chunks = self.p.chunker.chunk_stream(doc.id, stream.title, stream.sections())
            part: list[Chunk] = []
            ahead = next(chunks, None)
            if ahead is None:
                raise ParseError(f"{doc.native_id}: no text to index after parsing", document_id=doc.id)
            while ahead is not None:
                part.append(ahead)
                ahead = next(chunks, None)
                if len(part) < size and ahead is not None:
                    continue
                last = ahead is None
                parsed = stream.parsed() if last and self.p.content is not None else None
                content_hash = indexed_hash(doc, parsed) if parsed is not None else ""
                # the text partitioned so far, less the chunks the chunker still holds back: about
                # what is read once this part is written
                done_kib = of_kib * stream.read_chars // max(1, stream.total_chars)
                yield _Prepared(document=doc, parsed=parsed, chunks=part, fingerprint=item.fingerprint,
                                content_hash=content_hash, previous_chunks=previous, first=not handed, last=last,
                                done_kib=of_kib if last else done_kib, of_kib=of_kib)
                handed, part = True, []
        except ParseError as exc:
            failure = _parse_failure(doc, exc)
            yield _Abandoned(document=doc, failure=failure) if handed else failure


def _filled(doc: Document, title: str, language: str | None) -> Document:
    """The document with the title and language parsing found, where the connector gave none."""
    if not doc.title and title:
        doc = doc.model_copy(update={"title": title})
    if doc.language is None and language:
        doc = doc.model_copy(update={"language": language})
    return doc


def _parse_failure(doc: Document, exc: ParseError) -> FetchFailure:
    return FetchFailure(source_id=doc.source_id, native_id=doc.native_id, uri=doc.uri, stage="parse",
                        message=exc.message)


def _prune(connector: Connector, run: _Run, *, force: bool) -> None:
    report = run.report
    indexed = run.state.indexed()
    if report.mode == "full":
        present = run.seen
    elif isinstance(connector, IdLister):
        present = set(connector.list_ids())
    else:
        report.notes.append("this source has no id listing: deletions are found by full syncs only")
        return
    missing = [doc_id for native, doc_id in indexed.items() if native not in present]
    if not missing:
        return
    ratio = len(missing) / len(indexed)
    guard = run.p.options.shrink_guard_ratio
    if not force and len(indexed) >= SHRINK_GUARD_MIN_DOCUMENTS and ratio > guard:
        report.notes.append(
            f"the listing has {len(indexed) - len(missing)} of {len(indexed)} indexed documents "
            f"({ratio:.0%} fewer, guard {guard:.0%}): nothing deleted; re-run with --force if that is right"
        )
        report.status = "partial"
        return
    run.writer.delete(report.workspace, missing)
    report.deleted += len(missing)
