"""Zendesk article attachments (PDF, DOCX) as documents, against the loopback Help Center."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.models import Document, FetchFailure
from ingest.connectors.base import Connector
from ingest.connectors.zendesk.connector import ZendeskConnector, ZendeskOptions
from ingest.connectors.zendesk.credentials import ZendeskCredentials
from ingest.parsing import DOCX, PDF
from retrieval.index import QdrantCandidates
from retrieval.search import Searcher, SearchFilters
from retrieval.sparse import BM25Encoder
from tests.contracts.saas_harness import StoredContext, SyncHarness, fast_retry
from tests.contracts.test_zendesk import ZendeskFixture
from tests.fixtures.loopback import Fault, LoopbackServer, serve
from tests.fixtures.loopback.files import PNG_PIXEL, docx_bytes, pdf_bytes

PDF_BYTES = pdf_bytes("Descaling guide", "Descale the espresso machine every two months with citric acid.",
                      "Rinse the water tank twice after descaling so no acid stays in the boiler.")
DOCX_BYTES = docx_bytes("Warranty card", "The grinder warranty lasts two years from the day of delivery.",
                        "Keep the receipt: the warranty claim form asks for its number.")
DOWNLOADS = r"^/hc/article_attachments/"


class StoredZendesk(ZendeskFixture):
    """The Zendesk fixture with the connector store and the indexed check the runtime passes."""

    def __init__(self, server: LoopbackServer, db: Database, **options: object) -> None:
        super().__init__(server, **options)
        self.stored = StoredContext(db, workspace="acme", source="zd")
        self.store, self.state = self.stored.store, self.stored.state

    def connector(self) -> Connector:
        return ZendeskConnector(source=self.source, options=ZendeskOptions(**self.source.options),
                                context=self.stored.context(), credentials=ZendeskCredentials.from_env(self.env),
                                retry=fast_retry(self.sleeps))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def zd(server: LoopbackServer, sqlite_db: Database) -> StoredZendesk:
    return StoredZendesk(server, sqlite_db)


@pytest.fixture
def harness(zd: StoredZendesk, sqlite_db: Database, memory_qdrant: QdrantClient) -> SyncHarness:
    return SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=zd.source, connector=zd.connector)


def _article_with_files(zd: StoredZendesk) -> tuple[int, int, int, int]:
    art = zd.fake.add("Machine care", "<p>How to keep the espresso machine in shape.</p>",
                      translations={"de": ("Maschinenpflege", "<p>So bleibt die Maschine in Form.</p>")})
    pdf = zd.fake.attach(art, "descaling-guide.pdf", PDF, PDF_BYTES)
    docx = zd.fake.attach(art, "warranty-card.docx", DOCX, DOCX_BYTES)
    png = zd.fake.attach(art, "diagram.png", "image/png", PNG_PIXEL)
    return art, pdf, docx, png


def test_pdf_and_docx_attachments_are_indexed_under_their_article(
        zd: StoredZendesk, harness: SyncHarness, server: LoopbackServer, memory_qdrant: QdrantClient) -> None:
    art, pdf, docx, _ = _article_with_files(zd)
    report = harness.sync()
    assert report.status == "succeeded", report
    ids = {f"{art}/en-us", f"{art}/de", f"{art}/attachments/{pdf}", f"{art}/attachments/{docx}"}
    assert harness.indexed() == ids, "the image is skipped, the PDF and DOCX are documents"
    assert report.written == 4 and report.failed == 0, report
    assert any("attachment type image/png (1)" in n for n in report.notes), report.notes
    assert len(server.requests_to(DOWNLOADS)) == 2, "the image is never downloaded"

    payload = harness.payload(f"{art}/attachments/{pdf}")
    assert payload["title"] == "descaling-guide.pdf"
    assert payload["topic"] == ["Billing", "Refunds", "Card payments", "Machine care"]
    assert payload["language"] == "en" and payload["audience"] == [] and payload["kind"] == "file"
    assert payload["uri"] == f"{server.url}/hc/article_attachments/{pdf}/descaling-guide.pdf"

    searcher = Searcher(engine=QdrantCandidates(client=memory_qdrant, alias="saas"),
                        embedder=harness.embedder, sparse=BM25Encoder())
    hits = searcher.search("citric acid descaling", workspace="acme", filters=SearchFilters(kind="file"))
    assert hits and hits[0].document_id == f"zd:{art}/attachments/{pdf}"
    assert "citric acid" in hits[0].text
    hits = searcher.search("warranty claim receipt", workspace="acme", filters=SearchFilters(kind="file"))
    assert hits and hits[0].document_id == f"zd:{art}/attachments/{docx}"


def test_a_restricted_articles_attachments_are_restricted(zd: StoredZendesk) -> None:
    vip = zd.fake.add("VIP service", "<p>Priority repairs for VIP customers.</p>", segment=7)
    pdf = zd.fake.attach(vip, "vip-repairs.pdf", PDF, PDF_BYTES)
    docs = {d.native_id: d for d in zd.connector().list_documents() if isinstance(d, Document)}
    assert docs == {}, "a segment-restricted article and its files are skipped"
    assert list(zd.connector().list_ids()) == []  # type: ignore[attr-defined]
    assert not zd.server.requests_to(DOWNLOADS)

    zd.source = zd.source.model_copy(update={"options": zd.source.options | {"include_restricted": True}})
    docs = {d.native_id: d for d in zd.connector().list_documents() if isinstance(d, Document)}
    assert docs[f"{vip}/attachments/{pdf}"].audience == docs[f"{vip}/en-us"].audience == (
        "segment:VIP customers", "user_type:signed_in_users")


def test_unchanged_resyncs_download_nothing(zd: StoredZendesk, harness: SyncHarness,
                                            server: LoopbackServer) -> None:
    art, pdf, *_ = _article_with_files(zd)
    assert harness.sync().written == 4
    for full in (True, False):
        server.clear_log()
        report = harness.sync(full=full)
        assert report.status == "succeeded" and report.written == 0 and report.deleted == 0, report
        assert server.requests_to(DOWNLOADS) == [], f"full={full}: an unchanged attachment was downloaded"
    # the article's text changes: its attachments are listed again but not downloaded again
    zd.fake.edit(art, "<p>Descale monthly in hard-water areas.</p>")
    server.clear_log()
    report = harness.sync()
    assert report.mode == "incremental" and report.written == 1, report
    assert server.requests_to(rf"/articles/{art}/attachments$"), "a changed article's attachments are re-listed"
    assert server.requests_to(DOWNLOADS) == []
    # a file replaced under the same id (new updated_at and size) is downloaded again
    zd.fake.articles[art].attachments[pdf].data = pdf_bytes("Descaling guide", "Use the Brewly descaler only.",
                                                            "Citric acid is no longer recommended.")
    zd.fake.articles[art].attachments[pdf].updated = zd.fake.tick()
    server.clear_log()
    report = harness.sync(full=True)
    assert report.written == 1 and len(server.requests_to(DOWNLOADS)) == 1, report
    assert "Brewly descaler" in " ".join(harness.payload(f"{art}/attachments/{pdf}")["text"].split())


def test_a_removed_attachment_and_a_deleted_article_are_pruned(zd: StoredZendesk, harness: SyncHarness) -> None:
    art, pdf, docx, _ = _article_with_files(zd)
    other = zd.fake.add("Grinder care", "<p>Clean the burrs weekly.</p>")
    manual = zd.fake.attach(other, "grinder-manual.pdf", PDF, PDF_BYTES)
    assert harness.sync().written == 6

    # removed together with an edit of the article: the incremental run re-lists and prunes it
    zd.fake.detach(art, docx)
    zd.fake.edit(art, "<p>Updated care steps.</p>")
    report = harness.sync()
    assert report.mode == "incremental" and report.deleted == 1, report
    assert f"{art}/attachments/{docx}" not in harness.indexed()
    assert harness.chunks(f"{art}/attachments/{docx}") == []

    # removed without touching the article: a full sync sees it gone
    zd.fake.detach(art, pdf)
    report = harness.sync(full=True)
    assert report.deleted == 1, report
    assert harness.indexed() == {f"{art}/en-us", f"{art}/de", f"{other}/en-us", f"{other}/attachments/{manual}"}

    # the article is deleted: its attachments go with it
    zd.fake.delete(other)
    report = harness.sync()
    assert report.deleted == 2, report
    assert harness.indexed() == {f"{art}/en-us", f"{art}/de"}
    assert harness.chunks(f"{other}/attachments/{manual}") == []


def test_a_failed_download_is_a_failure_and_the_rest_is_indexed(zd: StoredZendesk, harness: SyncHarness,
                                                                server: LoopbackServer) -> None:
    art, pdf, docx, _ = _article_with_files(zd)
    server.faults.add(Fault(status=500, times=5, path=rf"^/hc/article_attachments/{pdf}/"))  # every retry fails
    report = harness.sync()
    assert report.status == "partial" and report.failed == 1, report
    [failure] = report.failures
    assert isinstance(failure, FetchFailure) and failure.native_id == f"{art}/attachments/{pdf}"
    assert "500" in failure.message and "descaling-guide.pdf" in failure.message
    assert harness.indexed() == {f"{art}/en-us", f"{art}/de", f"{art}/attachments/{docx}"}
    # the next run fetches it (its failure left nothing stored that says "unchanged")
    report = harness.sync(full=True)
    assert report.status == "succeeded" and report.written == 1, report
    assert f"{art}/attachments/{pdf}" in harness.indexed()


def test_attachments_over_the_cap_are_skipped_and_reported(server: LoopbackServer, sqlite_db: Database,
                                                           memory_qdrant: QdrantClient) -> None:
    zd = StoredZendesk(server, sqlite_db, attachment_max_mb=0.01)  # 10 KB
    harness = SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=zd.source, connector=zd.connector)
    art = zd.fake.add("Machine care", "<p>How to keep the espresso machine in shape.</p>")
    big = zd.fake.attach(art, "service-manual.pdf", PDF, PDF_BYTES + b"%" + b"0" * 20_000)
    small = zd.fake.attach(art, "notes.txt", "text/plain", b"Descale every two months with citric acid.")
    report = harness.sync()
    assert report.status == "succeeded", report
    assert harness.indexed() == {f"{art}/en-us", f"{art}/attachments/{small}"}
    assert any("attachments over 0.01 MB (1)" in n for n in report.notes), report.notes
    assert not server.requests_to(rf"/hc/article_attachments/{big}/")
    assert f"{art}/attachments/{big}" not in set(zd.connector().list_ids())  # type: ignore[attr-defined]


def test_attachments_can_be_turned_off(server: LoopbackServer, sqlite_db: Database) -> None:
    zd = StoredZendesk(server, sqlite_db, attachments=False)
    art, *_ = _article_with_files(zd)
    docs = [d for d in zd.connector().list_documents() if isinstance(d, Document)]
    assert {d.native_id for d in docs} == {f"{art}/en-us", f"{art}/de"}
    assert not server.requests_to("/attachments")


def test_an_unreadable_article_keeps_its_attachments_in_a_full_sync(zd: StoredZendesk, harness: SyncHarness) -> None:
    art, pdf, docx, _ = _article_with_files(zd)
    zd.fake.add("Grinder care", "<p>Clean the burrs weekly.</p>")
    zd.fake.add("Milk frothing", "<p>Purge the wand after each use.</p>")
    assert harness.sync().written == 6
    files = {f"{art}/attachments/{pdf}", f"{art}/attachments/{docx}"}
    assert files <= harness.indexed()

    article_json = zd.fake._article_json  # the listing now serves this article with a broken field

    def broken(fake_article: Any, locale: str) -> dict[str, Any]:
        data = article_json(fake_article, locale)
        return data | {"updated_at": "yesterday-ish"} if fake_article.id == art else data

    zd.fake._article_json = broken  # type: ignore[method-assign]
    report = harness.sync(full=True)
    assert report.failed == 4 and report.deleted == 0, report  # two translations, two remembered files
    assert files <= harness.indexed() and harness.chunks(f"{art}/attachments/{pdf}")

    zd.fake._article_json = article_json  # type: ignore[method-assign]
    report = harness.sync(full=True)
    assert report.failed == 0 and report.deleted == 0 and files <= harness.indexed(), report
