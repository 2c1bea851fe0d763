"""Confluence page attachments and inherited (ancestor) read restrictions, against the loopback
Confluence REST API with atlassian-python-api."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.models import Document, FetchFailure
from ingest.connectors.base import Connector
from ingest.connectors.confluence.connector import ConfluenceConnector, ConfluenceOptions
from ingest.connectors.confluence.credentials import ConfluenceCredentials
from ingest.connectors.confluence.restrictions import NO_SHARED_AUDIENCE, combine
from ingest.parsing import DOCX, PDF
from retrieval.index import QdrantCandidates
from retrieval.search import Searcher, SearchFilters
from retrieval.sparse import BM25Encoder
from tests.contracts.saas_harness import StoredContext, SyncHarness, fast_retry
from tests.contracts.test_confluence import ConfluenceFixture
from tests.fixtures.loopback import Fault, LoopbackServer, serve
from tests.fixtures.loopback.files import PNG_PIXEL, docx_bytes, pdf_bytes

PDF_BYTES = pdf_bytes("Refund runbook", "Refunds over 500 euros need a second approver in the finance team.",
                      "Approved refunds reach the customer's card within five business days.")
DOCX_BYTES = docx_bytes("Chargeback checklist", "Collect the order number and the delivery proof first.",
                        "Answer the bank's chargeback notice within seven days.")
DOWNLOADS = r"^/download/attachments/|/child/attachment/[\w-]+/download$"


class StoredConfluence(ConfluenceFixture):
    """The Confluence fixture with the connector store and the indexed check the runtime passes."""

    def __init__(self, server: LoopbackServer, db: Database, **options: object) -> None:
        super().__init__(server, **options)
        self.stored = StoredContext(db, workspace="acme", source="wiki")
        self.store, self.state = self.stored.store, self.stored.state

    def connector(self) -> Connector:
        return ConfluenceConnector(source=self.source, options=ConfluenceOptions(**self.source.options),
                                   context=self.stored.context(),
                                   credentials=ConfluenceCredentials.from_env(self.env),
                                   retry=fast_retry(self.sleeps))

    def set_options(self, **options: object) -> None:
        self.source = self.source.model_copy(update={"options": self.source.options | options})


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def cf(server: LoopbackServer, sqlite_db: Database) -> StoredConfluence:
    return StoredConfluence(server, sqlite_db)


@pytest.fixture
def harness(cf: StoredConfluence, sqlite_db: Database, memory_qdrant: QdrantClient) -> SyncHarness:
    return SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=cf.source, connector=cf.connector)


def _page_with_files(cf: StoredConfluence) -> tuple[str, str, str, str]:
    root = cf.fake.add("Billing", "<p>Billing overview.</p>")
    page = cf.fake.add("Refunds", "<p>How refunds work.</p>", parent=root)
    pdf = cf.fake.attach(page, "refund-runbook.pdf", PDF, PDF_BYTES)
    docx = cf.fake.attach(page, "chargeback-checklist.docx", DOCX, DOCX_BYTES)
    cf.fake.attach(page, "flow.png", "image/png", PNG_PIXEL)
    return root, page, pdf, docx


def _docs(connector: Connector) -> dict[str, Document]:
    return {d.native_id: d for d in connector.list_documents() if isinstance(d, Document)}


def test_pdf_and_docx_attachments_are_indexed_under_their_page(
        cf: StoredConfluence, harness: SyncHarness, server: LoopbackServer, memory_qdrant: QdrantClient) -> None:
    root, page, pdf, docx = _page_with_files(cf)
    report = harness.sync()
    assert report.status == "succeeded" and report.failed == 0, report
    assert harness.indexed() == {root, page, f"{page}/attachments/{pdf}", f"{page}/attachments/{docx}"}
    assert any("attachment type image/png (1)" in n for n in report.notes), report.notes
    assert len(server.requests_to(DOWNLOADS)) == 2, "the image is never downloaded"

    payload = harness.payload(f"{page}/attachments/{docx}")
    assert payload["title"] == "chargeback-checklist.docx" and payload["kind"] == "file"
    assert payload["topic"] == ["Product docs", "Billing", "Refunds"] and payload["audience"] == []
    assert payload["uri"] == f"{server.url}/download/attachments/{page}/chargeback-checklist.docx?version=1&api=v2"

    searcher = Searcher(engine=QdrantCandidates(client=memory_qdrant, alias="saas"),
                        embedder=harness.embedder, sparse=BM25Encoder())
    hits = searcher.search("second approver finance", workspace="acme", filters=SearchFilters(kind="file"))
    assert hits and hits[0].document_id == f"wiki:{page}/attachments/{pdf}"
    hits = searcher.search("chargeback notice bank", workspace="acme", filters=SearchFilters(kind="file"))
    assert hits and hits[0].document_id == f"wiki:{page}/attachments/{docx}"


def test_cloud_downloads_through_the_rest_api(cf: StoredConfluence, server: LoopbackServer) -> None:
    _, page, pdf, _ = _page_with_files(cf)
    cf.set_options(cloud=True)
    docs = _docs(cf.connector())
    assert b"%PDF" in docs[f"{page}/attachments/{pdf}"].content[:8]
    assert server.requests_to(rf"/rest/api/content/{page}/child/attachment/{pdf}/download$")
    assert not server.requests_to(r"^/download/attachments/")


def test_unchanged_resyncs_download_nothing(cf: StoredConfluence, harness: SyncHarness,
                                            server: LoopbackServer) -> None:
    _, page, pdf, _ = _page_with_files(cf)
    assert harness.sync().written == 4
    for full in (True, False):
        server.clear_log()
        report = harness.sync(full=full)
        assert report.status == "succeeded" and report.written == 0 and report.deleted == 0, report
        assert server.requests_to(DOWNLOADS) == [], f"full={full}: an unchanged attachment was downloaded"
    cf.fake.edit(page, "<p>How refunds work, now with screenshots.</p>")
    server.clear_log()
    report = harness.sync()
    assert report.mode == "incremental" and report.written == 1, report
    assert server.requests_to(rf"/content/{page}/child/attachment$"), "a changed page's attachments are re-listed"
    assert server.requests_to(DOWNLOADS) == []
    # a new version of the file is downloaded again
    cf.fake.replace_file(page, pdf, pdf_bytes("Refund runbook", "Refunds over 800 euros need a second approver.",
                                              "The finance team answers within one day."))
    server.clear_log()
    report = harness.sync(full=True)
    assert report.written == 1 and len(server.requests_to(DOWNLOADS)) == 1, report
    assert "800 euros" in " ".join(harness.payload(f"{page}/attachments/{pdf}")["text"].split())


def test_a_removed_attachment_and_a_trashed_page_are_pruned(cf: StoredConfluence, harness: SyncHarness) -> None:
    root, page, pdf, docx = _page_with_files(cf)
    other = cf.fake.add("Shipping", "<p>Shipping times.</p>")
    sheet = cf.fake.attach(other, "carriers.pdf", PDF, PDF_BYTES)
    assert harness.sync().written == 6

    del cf.fake.pages[page].attachments[docx]
    cf.fake.edit(page, "<p>How refunds work (checklist retired).</p>")
    report = harness.sync()
    assert report.mode == "incremental" and report.deleted == 1, report
    assert harness.chunks(f"{page}/attachments/{docx}") == []

    del cf.fake.pages[page].attachments[pdf]  # the page itself is not edited
    report = harness.sync(full=True)
    assert report.deleted == 1, report

    cf.fake.pages[other].status = "trashed"
    report = harness.sync()
    assert report.deleted == 2, report
    assert harness.indexed() == {root, page}
    assert harness.chunks(f"{other}/attachments/{sheet}") == []


def test_a_failed_download_is_a_failure_and_the_rest_is_indexed(cf: StoredConfluence, harness: SyncHarness,
                                                                server: LoopbackServer) -> None:
    root, page, pdf, docx = _page_with_files(cf)
    server.faults.add(Fault(status=500, times=5, path=r"^/download/attachments/\d+/refund-runbook.pdf$"))
    report = harness.sync()
    assert report.status == "partial" and report.failed == 1, report
    [failure] = report.failures
    assert isinstance(failure, FetchFailure) and failure.native_id == f"{page}/attachments/{pdf}"
    assert "500" in failure.message and "refund-runbook.pdf" in failure.message
    assert harness.indexed() == {root, page, f"{page}/attachments/{docx}"}
    report = harness.sync(full=True)
    assert report.status == "succeeded" and report.written == 1, report


def test_a_page_under_a_restricted_ancestor_is_restricted(cf: StoredConfluence, harness: SyncHarness,
                                                          server: LoopbackServer) -> None:
    public = cf.fake.add("Help", "<p>Public help.</p>")
    internal = cf.fake.add("Internal", "<p>Staff only.</p>", groups=["staff", "support"])
    playbooks = cf.fake.add("Playbooks", "<p>Playbooks index.</p>", parent=internal)
    fraud = cf.fake.add("Fraud", "<p>Fraud steps.</p>", parent=playbooks, groups=["support", "fraud-team"])
    odd = cf.fake.add("Odd", "<p>Mismatched restrictions.</p>", parent=internal, users=["acc-42"])
    manual = cf.fake.attach(playbooks, "playbook.pdf", PDF, PDF_BYTES)

    report = harness.sync()
    assert report.status == "succeeded", report
    assert harness.indexed() == {public}, "restricted pages, their descendants and attachments are skipped"
    assert set(cf.connector().list_ids()) == {public}  # type: ignore[attr-defined]
    assert server.requests_to(DOWNLOADS) == []
    # an ancestor the search returned costs no request: its expanded restriction is kept
    server.clear_log()
    list(cf.connector().list_documents())
    assert server.requests_to(r"/restriction/byOperation/read$") == [], "every ancestor came with the search"
    # one it did not return is fetched once per run, however many pages share it
    earlier = datetime.now(UTC) - timedelta(hours=1)
    for pid in (public, internal, playbooks):
        cf.fake.pages[pid].when = earlier
    cf.set_options(overlap_minutes=0)
    server.clear_log()
    list(cf.connector().read_since({"modified": (earlier + timedelta(minutes=30)).isoformat()}))  # type: ignore[attr-defined]
    assert len(server.requests_to(rf"/content/{internal}/restriction/byOperation/read$")) == 1
    assert not server.requests_to(rf"/content/{public}/restriction/")  # a root page has no ancestors to read

    cf.set_options(include_restricted=True)
    harness.source = cf.source
    report = harness.sync(full=True)
    assert report.status == "succeeded", report
    assert harness.indexed() == {public, internal, playbooks, fraud, odd, f"{playbooks}/attachments/{manual}"}
    assert harness.payload(public)["audience"] == []
    assert harness.payload(internal)["audience"] == ["group:staff", "group:support"]
    assert harness.payload(playbooks)["audience"] == ["group:staff", "group:support"], "inherited"
    assert harness.payload(f"{playbooks}/attachments/{manual}")["audience"] == ["group:staff", "group:support"]
    assert harness.payload(fraud)["audience"] == ["group:support"], "only what both levels allow"
    assert harness.payload(odd)["audience"] == [NO_SHARED_AUDIENCE]
    assert set(cf.connector().list_ids()) == harness.indexed()  # type: ignore[attr-defined]

    # the ancestor's restriction is lifted: the subtree becomes public on the next full sync
    cf.fake.pages[internal].groups = []
    report = harness.sync(full=True)
    assert harness.payload(playbooks)["audience"] == []
    assert harness.payload(fraud)["audience"] == ["group:support", "group:fraud-team"]


def test_levels_combine_to_what_every_level_allows() -> None:
    assert combine([(), ()]) == ()
    assert combine([("group:a",), ()]) == ("group:a",)
    assert combine([("group:a", "group:b"), ("group:b", "user:x")]) == ("group:b",)
    assert combine([("group:a",), ("user:x",)]) == (NO_SHARED_AUDIENCE,)


def test_a_file_uploaded_to_an_unedited_page_is_picked_up_incrementally(
        cf: StoredConfluence, harness: SyncHarness, server: LoopbackServer) -> None:
    root, *_ = _page_with_files(cf)
    cf.fake.add("Elsewhere", "<p>Another space's page.</p>", space="OPS")
    assert harness.sync().written == 4
    sheet = cf.fake.attach(root, "fees.pdf", PDF, pdf_bytes("Fees", "A refund costs no fee for the customer.",
                                                           "Card networks keep their interchange fee."))
    server.clear_log()
    report = harness.sync()
    assert report.mode == "incremental" and report.status == "succeeded", report
    assert report.written == 1 and report.failed == 0, "only the new file is written; the page is unchanged"
    assert f"{root}/attachments/{sheet}" in harness.indexed()
    assert len(server.requests_to(DOWNLOADS)) == 1
    searches = [r.arg("cql") or "" for r in server.requests_to("/rest/api/content/search")]
    assert any(q.startswith("type = attachment") and "lastmodified >=" in q for q in searches), searches
    assert harness.payload(f"{root}/attachments/{sheet}")["topic"] == ["Product docs", "Billing"]


def test_an_unreadable_page_keeps_its_attachments_in_a_full_sync(cf: StoredConfluence, harness: SyncHarness) -> None:
    root, page, pdf, docx = _page_with_files(cf)
    cf.fake.add("Shipping", "<p>Where parcels go.</p>", parent=root)
    cf.fake.add("Returns", "<p>How returns work.</p>", parent=root)
    assert harness.sync().failed == 0
    files = {f"{page}/attachments/{pdf}", f"{page}/attachments/{docx}"}
    assert files <= harness.indexed()

    content = cf.fake._content  # the search now serves this page without its body

    def broken(fake_page: Any, expand: set[str]) -> dict[str, Any]:
        data = content(fake_page, expand)
        if fake_page.id == page:
            data.pop("body", None)
        return data

    cf.fake._content = broken  # type: ignore[method-assign]
    report = harness.sync(full=True)
    assert report.failed == 3 and report.deleted == 0, report  # the page and its two remembered files
    assert files <= harness.indexed() and harness.chunks(f"{page}/attachments/{pdf}")

    cf.fake._content = content  # type: ignore[method-assign]
    report = harness.sync(full=True)
    assert report.failed == 0 and report.deleted == 0 and files <= harness.indexed(), report
