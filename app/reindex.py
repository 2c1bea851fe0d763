"""Re-index from stored content: re-chunk and re-embed without fetching the sources again.

- ``reindex_source``: rebuild one source's documents in the live collection (after a chunker
  change, or to repair the index).
- ``migrate_index``: build a new collection for another model or chunk setting beside the live
  one, catch up with syncs that ran meanwhile, then switch the alias atomically. Queries are
  answered from the old collection until the switch and from the new one right after; a failed
  build drops its partial collection and leaves the live one untouched.

Documents synced before content was stored are re-fetched once by a full sync first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import select

from actions.indexing import CHUNKER_VERSION as PHRASES_VERSION
from actions.indexing import SOURCE_ID as ACTIONS
from actions.indexing import action_document
from actions.indexing import phrases as action_phrases
from app.content import SqlContentStore, StoredDocument
from app.limits import source_lease
from core.errors import ConfigError, InvalidInput, KnowdeskError
from core.models import Source
from core.tables import DocumentRow, SourceRow, utcnow
from helpcenter.publisher import SOURCE_ID as HELP_CENTER
from ingest.chunking import Chunker
from ingest.protocols import Embedder, IndexWriter
from ingest.write import DocumentWriter, WriteItem
from retrieval.embedders import build_embedder
from retrieval.generations import Generations, IndexSpec
from retrieval.protocols import NewIndex
from training.indexing import CHUNKER_VERSION as TRIGGERS_VERSION
from training.indexing import SOURCE_ID as TRAINING
from training.indexing import scenario_document
from training.models import ScenarioKind

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

#: Phrase documents the service writes itself (one chunk per trigger or phrasing) keep their indexer's
#: chunker version.
PHRASE_VERSIONS = {TRAINING: TRIGGERS_VERSION, ACTIONS: PHRASES_VERSION}


class ReindexReport(BaseModel):
    """What a re-index did."""

    target: str
    collection: str
    model: str
    status: str = "running"
    sources: list[str] = Field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    refetched: int = 0
    switched_from: str | None = None
    dropped_old: bool = False
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)


def all_sources(rt: Runtime, workspace: str | None = None) -> list[Source]:
    """Every enabled source (of one workspace, or of all)."""
    with rt.db.session() as s:
        query = select(SourceRow.workspace).distinct()
        workspaces = [workspace] if workspace else sorted(s.scalars(query))
    return [src for ws in workspaces for src in rt.sources.list(ws) if src.enabled]


def rebuild(stored: Iterable[StoredDocument], *, chunker: Chunker, embedder: Embedder, writer: IndexWriter,
            batch_chunks: int = 256) -> dict[str, int]:
    """Chunk, embed (in batches across documents) and write stored documents; id -> chunk count.

    No sync state is touched: the documents are already 'done' there (the versions are recorded
    by the caller once the collection is complete)."""
    items = (WriteItem(document=item.document, chunks=chunker.chunk(item.document.id, item.parsed))
             for item in stored)
    documents = DocumentWriter(embedder=embedder, index=writer, chunker_version=chunker.version,
                               batch_chunks=batch_chunks)
    return documents.write(items).chunks


def _refetch_missing(rt: Runtime, source: Source, content: SqlContentStore) -> int:
    missing = content.missing(source.workspace, source.name)
    if missing:
        log.info("%s: %d documents have no stored content; re-fetching them once", source.name, len(missing))
        content.invalidate(source.workspace, missing)
        rt.sync(source, full=True)
    return len(missing)


def reindex_source(rt: Runtime, source: Source) -> ReindexReport:
    """Re-chunk and re-embed one source's stored documents into the live collection."""
    started = time.perf_counter()
    content = SqlContentStore(db=rt.db)
    report = ReindexReport(target=source.name, collection=rt.index.target, model=rt.live[1].model,
                           sources=[source.name])
    report.refetched = _refetch_missing(rt, source, content)
    o = rt.settings.orchestration
    with source_lease(rt.db, source.workspace, source.name, purpose="reindex", ttl=o.lease_seconds,
                      wait=o.lease_wait_seconds):
        counts = rebuild(content.stored(source.workspace, source.name), chunker=rt.chunker,
                         embedder=rt.bounded_embedder, writer=rt.index,
                         batch_chunks=rt.settings.sync.embed_batch_chunks)
        content.mark_versions(source.workspace, counts, chunker_version=rt.chunker.version,
                              model_id=rt.embedder.model_id)
    report.documents, report.chunks = len(counts), sum(counts.values())
    report.status = "succeeded"
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def migrate_index(rt: Runtime, spec: IndexSpec, *, drop_old: bool = False,
                  sources: list[Source] | None = None,
                  after_source: Callable[[str], None] | None = None) -> ReindexReport:
    """Build a collection for ``spec`` beside the live one, then switch the alias to it.

    Args:
        spec: the new model and chunk bounds.
        drop_old: delete the previous collection after the switch (kept by default, so
            switching back is another cheap ``migrate_index``... or an alias edit).
        sources: the sources to build from (default: every enabled source of every workspace).
        after_source: called with each source name once its documents are in the new collection.

    Raises:
        ConfigError: ``spec`` is what is live already, or the model cannot be loaded.
        KnowdeskError: the build failed; the live collection is untouched.
    """
    started = time.perf_counter()
    alias = rt.settings.qdrant.alias
    embedder = build_embedder(spec.model, settings=rt.settings.embedding, home=rt.settings.home)
    chunker = Chunker(tokens=embedder, max_tokens=spec.max_tokens, overlap_tokens=spec.overlap_tokens)
    index = rt.engine.new_index(model_id=embedder.model_id, dimension=embedder.dimension,
                                chunker_version=chunker.version, sparse=rt.sparse)
    live = rt.engine.live_collection()
    if live == index.collection_name:
        raise ConfigError(f"{index.collection_name!r} is already live; nothing to re-index", collection=live)
    generations = Generations(db=rt.db, alias=alias)
    if live is not None and generations.live() is None:  # built before generations were recorded
        generations.record(live, rt.live[1], "live")
    generations.record(index.collection_name, spec, "building")
    report = ReindexReport(target="all", collection=index.collection_name, model=spec.model)
    content = SqlContentStore(db=rt.db)
    chosen = sources if sources is not None else all_sources(rt)
    try:
        index.recreate()
        built: dict[tuple[str, str], tuple[datetime, dict[str, int]]] = {}
        phrases: list[tuple[str, str, dict[str, int]]] = []  # (source id, workspace, id -> chunks) of phrase docs
        o = rt.settings.orchestration
        for source in chosen:
            report.refetched += _refetch_missing(rt, source, content)
            with source_lease(rt.db, source.workspace, source.name, purpose="reindex", ttl=o.lease_seconds,
                              wait=o.lease_wait_seconds):
                since = utcnow()
                counts = rebuild(content.stored(source.workspace, source.name), chunker=chunker,
                                 embedder=embedder, writer=index, batch_chunks=rt.settings.sync.embed_batch_chunks)
            built[(source.workspace, source.name)] = (since, counts)
            report.sources.append(source.name)
            if after_source:
                after_source(source.name)
        # what the service writes itself (published help-center articles, training scenarios, enabled
        # actions) is in no registered source: without it the new collection would lose them at the switch
        for workspace in _native_workspaces(rt):
            since = utcnow()
            counts = rebuild(content.stored(workspace, HELP_CENTER), chunker=chunker, embedder=embedder,
                             writer=index, batch_chunks=rt.settings.sync.embed_batch_chunks)
            missing = set(content.missing(workspace, HELP_CENTER))
            if missing:  # published before content was stored: from the published articles themselves
                counts.update(rebuild(_published(rt, workspace, missing), chunker=chunker, embedder=embedder,
                                      writer=index, batch_chunks=rt.settings.sync.embed_batch_chunks))
                report.notes.append(f"{workspace}: {len(missing)} help-center documents had no stored content "
                                    "and were rebuilt from the published articles")
            if counts:
                built[(workspace, HELP_CENTER)] = (since, counts)
            phrases.extend(_write_phrases(rt, workspace, embedder=embedder, index=index))
        natives = [name for _, name in built if name == HELP_CENTER] + [kind for kind, _, _ in phrases]
        report.sources.extend(dict.fromkeys(natives))
        with ExitStack() as stack:  # hold every source: no sync writes while we catch up and switch
            for source in sorted(chosen, key=lambda s: (s.workspace, s.name)):
                stack.enter_context(source_lease(rt.db, source.workspace, source.name, purpose="switch",
                                                 ttl=o.lease_seconds, wait=o.lease_wait_seconds))
            for (workspace, name), (since, counts) in built.items():
                _catch_up(content, workspace, name, since, counts, chunker=chunker, embedder=embedder, index=index)
            report.switched_from = index.switch_alias()
            for (workspace, _), (_, counts) in built.items():
                content.mark_versions(workspace, counts, chunker_version=chunker.version,
                                      model_id=embedder.model_id)
            for kind, workspace, counts in phrases:
                content.mark_versions(workspace, counts, chunker_version=PHRASE_VERSIONS[kind],
                                      model_id=embedder.model_id)
            report.documents = sum(len(c) for _, c in built.values()) + sum(len(c) for _, _, c in phrases)
            report.chunks = sum(sum(c.values()) for _, c in built.values()) + sum(
                sum(c.values()) for _, _, c in phrases)
            generations.record(index.collection_name, spec, "live", documents=report.documents)
            generations.make_live(index.collection_name)
            rt.refresh_index(force=True)
    except Exception as exc:  # any failure abandons the build, then propagates
        message = exc.message if isinstance(exc, KnowdeskError) else f"{type(exc).__name__}: {exc}"
        _abandon(index, generations, spec, message)
        raise
    if drop_old and report.switched_from:
        rt.engine.drop_collection(report.switched_from)
        generations.mark(report.switched_from, "dropped")
        report.dropped_old = True
    report.status = "succeeded"
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _native_workspaces(rt: Runtime) -> list[str]:
    """Workspaces holding documents the service writes itself (help center, training, actions)."""
    with rt.db.session() as s:
        query = select(DocumentRow.workspace).where(DocumentRow.source_name.in_([HELP_CENTER, *PHRASE_VERSIONS]))
        return sorted(set(s.scalars(query.distinct())))


def _published(rt: Runtime, workspace: str, ids: set[str]) -> Iterator[StoredDocument]:
    """The published help-center translations among ``ids``, parsed as publishing parses them."""
    helpcenter = rt.helpcenter
    topics = {t.id: t for t in helpcenter.store.topics(workspace)}
    parser = rt.pipeline().parser
    for article in helpcenter.store.articles(workspace):
        for doc in helpcenter.publisher.documents(workspace, article, topics):
            if doc.id in ids:
                yield StoredDocument(document=doc, parsed=parser.parse(doc))


def _write_phrases(rt: Runtime, workspace: str, *, embedder: Embedder,
                   index: NewIndex) -> list[tuple[str, str, dict[str, int]]]:
    """Write the workspace's published specific scenarios and enabled actions into ``index`` (one chunk per
    trigger or phrasing, as their indexers write them); returns (source id, workspace, id -> chunks) of each."""
    done: list[tuple[str, str, dict[str, int]]] = []
    training, actions = rt.training.indexer, rt.actions.indexer
    for kind, indexer, docs in (
        (TRAINING, training, [(scenario_document(sc, training.source_id), list(sc.triggers))
                              for sc in rt.training.store.published(workspace) if sc.kind is ScenarioKind.SPECIFIC]),
        (ACTIONS, actions, [(action_document(a), action_phrases(a))
                            for a in rt.actions.store.actions(workspace) if a.channels]),
    ):
        writer = DocumentWriter(embedder=embedder, index=index, chunker_version=PHRASE_VERSIONS[kind],
                                batch_chunks=rt.settings.sync.embed_batch_chunks)
        counts = writer.write([indexer.item(doc, texts, writer=writer) for doc, texts in docs]).chunks
        if counts:
            done.append((kind, workspace, counts))
    return done


def _catch_up(content: SqlContentStore, workspace: str, name: str, since: datetime, counts: dict[str, int], *,
              chunker: Chunker, embedder: Embedder, index: NewIndex) -> None:
    """Bring the new collection level with syncs of this source that ran after it was built."""
    changed = content.changed_since(workspace, name, since)
    indexed = content.indexed_ids(workspace, name)
    gone = [doc_id for doc_id in counts if doc_id not in indexed]
    if gone:
        index.delete_documents(workspace, gone)
        for doc_id in gone:
            counts.pop(doc_id, None)
    if changed & indexed:
        counts.update(rebuild(content.stored(workspace, name, only=changed & indexed), chunker=chunker,
                              embedder=embedder, writer=index))
    if gone or changed:
        log.info("%s: caught up %d changed and %d deleted documents", name, len(changed), len(gone))


def _abandon(index: NewIndex, generations: Generations, spec: IndexSpec, message: str) -> None:
    log.error("re-index into %s failed, the live collection is untouched: %s", index.collection_name, message)
    generations.record(index.collection_name, spec, "failed", message=message[:2000])
    try:
        index.drop()
    except KnowdeskError as exc:
        log.warning("could not drop the failed build %s: %s", index.collection_name, exc.message)


def run_reindex(rt: Runtime, *, target: str = "all", model: str | None = None, max_tokens: int | None = None,
                overlap_tokens: int | None = None, drop_old: bool = False,
                workspace: str | None = None) -> ReindexReport:
    """The re-index use case (the CLI's in-process path and the ``reindex`` flow's body): re-chunk
    and re-embed ``target`` (a source, or ``all``); with a new model or chunk bound, migrate."""
    if model or max_tokens or overlap_tokens is not None:
        live = rt.live[1]
        spec = IndexSpec(model=model or live.model, max_tokens=max_tokens or live.max_tokens,
                         overlap_tokens=live.overlap_tokens if overlap_tokens is None else overlap_tokens)
        if target != "all":
            raise InvalidInput("a new model or chunk setting rebuilds every source: use `reindex all --model ...`")
        return migrate_index(rt, spec, drop_old=drop_old)
    if target != "all":
        return reindex_source(rt, rt.sources.get(workspace or rt.settings.default_workspace, target))
    total = ReindexReport(target="all", collection=rt.index.target, model=rt.live[1].model, status="succeeded")
    for source in all_sources(rt, workspace):
        one = reindex_source(rt, source)
        total.sources.append(source.name)
        total.documents += one.documents
        total.chunks += one.chunks
        total.refetched += one.refetched
        total.seconds += one.seconds
    return total
