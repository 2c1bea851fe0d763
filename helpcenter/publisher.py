"""Publishing is indexing: published translations become documents in the index.

Each published translation of an article is one ``Document`` (kind=article, source id
``help-center``, native id ``<slug>/<locale>``), written through the same parser, chunker,
embedder and index writer as every source and tracked in the same sync state, so it is
retrievable as soon as ``apply`` returns. Drafts never become documents; a translation that is
unpublished or deleted is deleted from the index.

Work is split in two so a bad body changes nothing: ``plan`` parses and chunks (and raises
``ParseError`` before anything is written), ``apply`` embeds and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from core.db import Database
from core.errors import ParseError
from core.models import Chunk, Document, DocumentKind, Frozen, ParsedDocument
from helpcenter.models import Article, Status, Topic
from ingest.state import SyncState
from ingest.sync import Pipeline
from ingest.write import WriteItem, indexed_hash

log = logging.getLogger(__name__)

SOURCE_ID = "help-center"


class PublishReport(Frozen):
    """What one publish did to the index."""

    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_embedded: int = 0
    documents: tuple[str, ...] = ()
    #: Knowledge CI held the change (``knowdesk knowledge-ci show ID``): nothing above went live.
    pending_change: str | None = None

    def __add__(self, other: PublishReport) -> PublishReport:
        return PublishReport(written=self.written + other.written, unchanged=self.unchanged + other.unchanged,
                             deleted=self.deleted + other.deleted,
                             chunks_embedded=self.chunks_embedded + other.chunks_embedded,
                             documents=self.documents + other.documents,
                             pending_change=self.pending_change or other.pending_change)


@dataclass(slots=True)
class _Prepared:
    document: Document
    parsed: ParsedDocument
    chunks: list[Chunk]


@dataclass(slots=True)
class Plan:
    """Index changes for some articles: documents to write, to touch, and ids to delete."""

    workspace: str
    pipeline: Pipeline
    write: list[_Prepared] = field(default_factory=list)
    touch: list[Document] = field(default_factory=list)
    unchanged: int = 0
    delete: list[str] = field(default_factory=list)


class HelpCenterPublisher:
    """Turns articles into documents and keeps the index equal to what is published.

    Args:
        pipeline: returns the parser, chunker, embedder and index writer (the sync's ``Pipeline``);
            called per publish so a switch of the live index is followed.
        state: returns the sync state of a workspace's ``help-center`` source.
        base_url: article urls are ``base_url/<locale>/articles/<slug>`` (default ``/help``,
            the portal).
        source_id: the source id documents are indexed under.
    """

    def __init__(self, *, pipeline: Callable[[], Pipeline], state: StateFactory, base_url: str | None = None,
                 source_id: str = SOURCE_ID) -> None:
        self._pipeline = pipeline
        self._state = state
        self.base_url = (base_url or "/help").rstrip("/")
        self.source_id = source_id

    def documents(self, workspace: str, article: Article, topics: Mapping[str, Topic]) -> list[Document]:
        """One document per published translation of ``article``."""
        topic = topics.get(article.topic)
        parent = topics.get(topic.parent) if topic and topic.parent else None
        path = tuple(t.name for t in (parent, topic) if t is not None)
        return [
            Document(workspace=workspace, source_id=self.source_id, native_id=f"{article.slug}/{t.locale}",
                     title=t.title, uri=f"{self.base_url}/{t.locale}/articles/{article.slug}",
                     kind=DocumentKind.ARTICLE, language=t.locale, topic=path, updated_at=t.updated_at,
                     media_type="text/markdown", content=t.body.encode("utf-8"),
                     metadata={"article_id": article.slug, "locale": t.locale, "topic_id": article.topic,
                               "default_locale": article.default_locale})
            for t in article.translations if t.status is Status.PUBLISHED
        ]

    def plan(self, workspace: str, articles: Iterable[Article], topics: Mapping[str, Topic], *,
             slugs: Iterable[str] = (), everything: bool = False) -> Plan:
        """What to change so the index holds exactly the published translations of ``articles``.

        ``slugs``: further articles (deleted ones) whose documents must go. ``everything``:
        also delete indexed documents of articles not given (a full reconcile).

        Raises:
            ParseError: a published body yields no text (nothing was written).
        """
        state = self._state(workspace)
        p = self._pipeline()
        plan = Plan(workspace=workspace, pipeline=p)
        articles = list(articles)
        wanted = {d.native_id: d for a in articles for d in self.documents(workspace, a, topics)}
        scope = {a.slug for a in articles} | set(slugs)
        indexed = state.indexed()
        plan.delete = [doc_id for native, doc_id in indexed.items()
                       if native not in wanted and (everything or native.rsplit("/", 1)[0] in scope)]
        known = state.get_many([d.id for d in wanted.values()])
        versions = {"chunker_version": p.chunker.version, "model_id": p.embedder.model_id}
        for doc in wanted.values():
            current = known.get(doc.id)
            if current and current.is_current(**versions) and current.fingerprint == doc.fingerprint:
                plan.unchanged += 1
                continue
            parsed = p.parser.parse(doc)
            # the same text under another topic, title or url is rewritten (the points' payload changes)
            if current and current.is_current(**versions) and current.content_hash == indexed_hash(doc, parsed):
                plan.touch.append(doc)
                continue
            chunks = p.chunker.chunk(doc.id, parsed)
            if not chunks:
                raise ParseError(f"{doc.native_id}: the body has no text to publish", document_id=doc.id)
            plan.write.append(_Prepared(document=doc, parsed=parsed, chunks=chunks))
        return plan

    def apply(self, plan: Plan) -> PublishReport:
        """Embed and write the planned documents, then delete the planned ids."""
        state = self._state(plan.workspace)
        # chunks whose text is already indexed keep their vectors: a move or a rename embeds nothing again
        writer = plan.pipeline.document_writer(state, reuse_vectors=True)
        stats = writer.write(WriteItem(document=g.document, chunks=g.chunks,
                                       content_hash=indexed_hash(g.document, g.parsed), parsed=g.parsed)
                             for g in plan.write)
        for doc in plan.touch:
            state.touch_fingerprint(doc)
        writer.delete(plan.workspace, plan.delete)
        log.info("help center %s: %d written, %d deleted", plan.workspace, stats.written, len(plan.delete))
        return PublishReport(written=stats.written, unchanged=plan.unchanged + len(plan.touch),
                             deleted=len(plan.delete), chunks_embedded=stats.chunks_embedded,
                             documents=tuple(p.document.id for p in plan.write))


class StateFactory:
    """Builds the ``SyncState`` of the help-center source of a workspace."""

    def __init__(self, *, db: Database, source_id: str = SOURCE_ID) -> None:
        self._db = db
        self._source = source_id

    def __call__(self, workspace: str) -> SyncState:
        return SyncState(db=self._db, workspace=workspace, source=self._source)
