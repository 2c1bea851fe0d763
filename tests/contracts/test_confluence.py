"""The Confluence connector (atlassian-python-api) against a loopback server speaking REST API v1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, RateLimited, SourceAuthError, SourceNotFound
from core.models import Document, Source, SourceKind
from ingest.connectors.base import Checkpoint, Connector, ConnectorContext
from ingest.connectors.confluence.connector import ConfluenceConnector, ConfluenceOptions
from ingest.connectors.confluence.credentials import ConfluenceCredentials
from ingest.parsing import Parser
from tests.contracts.connector_contract import ConnectorContract, ContractEnv
from tests.contracts.saas_harness import Sleeps, SyncHarness, fast_retry
from tests.fixtures.loopback import Fault, LoopbackServer, serve
from tests.fixtures.loopback.confluence import API_TOKEN, PAT, USERNAME, FakeConfluence

ENV = {"KNOWDESK_CONFLUENCE__USERNAME": USERNAME, "KNOWDESK_CONFLUENCE__API_TOKEN": API_TOKEN}

STORAGE = """<p>Refunds are issued to the original card.</p>
<ac:structured-macro ac:name="toc"/>
<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>
<ac:plain-text-body><![CDATA[curl -X POST /refunds?id=42 && echo "<done>"]]></ac:plain-text-body></ac:structured-macro>
<ac:structured-macro ac:name="warning"><ac:rich-text-body><p>Never refund twice.</p></ac:rich-text-body>
</ac:structured-macro>
<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">Edge cases</ac:parameter>
<ac:rich-text-body><p>Partial refunds need approval.</p></ac:rich-text-body></ac:structured-macro>
<table><tbody><tr><th>Plan</th><th>Window</th></tr><tr><td>Pro</td><td>30 days</td></tr></tbody></table>"""


class ConfluenceFixture:
    def __init__(self, server: LoopbackServer, **options: object) -> None:
        self.server = server
        self.fake = FakeConfluence(server)
        self.sleeps = Sleeps()
        self.env = dict(ENV)
        self.source = Source(workspace="acme", name="wiki", kind=SourceKind.CONFLUENCE,
                             options={"base_url": server.url, "spaces": ["DOC"], **options})
        self.keys: dict[str, str] = {}

    def connector(self) -> Connector:
        return ConfluenceConnector(source=self.source, options=ConfluenceOptions(**self.source.options),
                                   context=ConnectorContext(),
                                   credentials=ConfluenceCredentials.from_env(self.env), retry=fast_retry(self.sleeps))

    def add(self, key: str, title: str, body: str) -> str:
        self.keys[key] = self.fake.add(title, f"<p>{body}</p>")
        return self.keys[key]

    def edit(self, key: str, body: str) -> None:
        self.fake.edit(self.keys[key], f"<p>{body}</p>")

    def delete(self, key: str) -> None:
        self.fake.pages[self.keys[key]].status = "trashed"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def cf(server: LoopbackServer) -> ConfluenceFixture:
    return ConfluenceFixture(server)


@pytest.fixture
def harness(cf: ConfluenceFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> SyncHarness:
    return SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=cf.source, connector=cf.connector)


class TestConfluenceContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, cf: ConfluenceFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> ContractEnv:
        return ContractEnv(fixture=cf, db=sqlite_db, qdrant=memory_qdrant)


def _docs(connector: Connector) -> dict[str, Document]:
    return {d.native_id: d for d in connector.list_documents() if isinstance(d, Document)}


def test_storage_format_ancestors_spaces_and_restrictions(cf: ConfluenceFixture) -> None:
    root = cf.fake.add("Billing", "<p>Billing overview.</p>")
    page = cf.fake.add("Refund policy", STORAGE, parent=root)
    secret = cf.fake.add("Fraud playbook", "<p>Internal only.</p>", parent=root, groups=["fraud-team"])
    cf.fake.add("On-call", "<p>Ops page.</p>", space="OPS")
    docs = _docs(cf.connector())
    assert set(docs) == {root, page}, "other spaces and restricted pages are skipped"
    doc = docs[page]
    assert doc.topic == ("Product docs", "Billing") and doc.title == "Refund policy"
    assert doc.uri == f"{cf.server.url}/spaces/DOC/pages/{page}" and doc.updated_at is not None
    parsed = Parser().parse(doc)
    text = parsed.text
    for expected in ("original card", 'curl -X POST /refunds?id=42 && echo "<done>"', "Never refund twice",
                     "Edge cases", "Partial refunds need approval", "30 days"):
        assert expected in text, (expected, text)
    assert "ac:" not in text and "structured-macro" not in text

    cf.source = cf.source.model_copy(update={"options": cf.source.options | {"include_restricted": True}})
    docs = _docs(cf.connector())
    assert docs[secret].audience == ("group:fraud-team",)
    assert secret in set(cf.connector().list_ids())  # type: ignore[attr-defined]


def test_first_sync_edit_archive_and_trash(cf: ConfluenceFixture, harness: SyncHarness,
                                           server: LoopbackServer) -> None:
    a = cf.fake.add("Shipping", "<p>We ship worldwide within five days.</p>")
    b = cf.fake.add("Returns", "<p>Returns are free for thirty days.</p>")
    c = cf.fake.add("Warranty", "<p>Two years of warranty on machines.</p>")
    report = harness.sync()
    assert report.status == "succeeded" and report.written == 3, report

    cf.fake.edit(a, "<p>We ship worldwide within two days now.</p>")
    server.clear_log()
    report = harness.sync()
    assert report.mode == "incremental" and report.written == 1 and report.deleted == 0, report
    searches = server.requests_to("/rest/api/content/search")
    assert any("lastmodified >=" in (r.arg("cql") or "") for r in searches)

    cf.fake.pages[b].status = "archived"
    cf.fake.pages[c].status = "trashed"
    report = harness.sync()
    assert report.deleted == 2, report
    assert harness.indexed() == {a}


def test_a_429_burst_and_a_502_are_waited_out(cf: ConfluenceFixture, harness: SyncHarness,
                                              server: LoopbackServer) -> None:
    for i in range(3):
        cf.fake.add(f"Page {i}", f"<p>Text {i} about descaling.</p>")
    server.faults.add(Fault.rate_limited(times=3, retry_after="2"))
    server.faults.add(Fault(status=502, times=1))
    report = harness.sync()
    assert report.status == "succeeded" and report.written == 3, report
    assert cf.sleeps.calls[:3] == [2.0] * 3 and len(cf.sleeps.calls) == 4


def test_a_429_storm_fails_the_run_after_bounded_retries(cf: ConfluenceFixture, harness: SyncHarness,
                                                         server: LoopbackServer) -> None:
    ids = {cf.fake.add(f"Page {i}", f"<p>Text {i} about milk frothing.</p>") for i in range(3)}
    assert harness.sync().written == 3
    server.faults.add(Fault.rate_limited(times=50))
    with pytest.raises(RateLimited):
        harness.sync(full=True)
    assert len(cf.sleeps.calls) == 4, "five attempts in all"
    assert harness.indexed() == ids, "a failed run deletes nothing"


def test_a_truncated_listing_deletes_nothing_and_says_so(cf: ConfluenceFixture, harness: SyncHarness) -> None:
    ids = {cf.fake.add(f"Page {i}", f"<p>Text {i} about grinders.</p>") for i in range(12)}
    assert harness.sync().written == 12
    cf.fake.truncate_after = 3
    for full in (False, True):
        report = harness.sync(full=full)
        assert report.deleted == 0 and report.status == "partial", report
        assert any("nothing deleted" in n for n in report.notes)
        assert harness.indexed() == ids


def test_an_increment_without_attachments_is_resumable_per_search_page(cf: ConfluenceFixture) -> None:
    cf.source = cf.source.model_copy(update={"options": cf.source.options | {"attachments": False, "page_size": 1}})
    ids = [cf.fake.add(f"Page {i}", f"<p>Text {i} about tampers.</p>") for i in range(3)]
    cursor = [i for i in cf.connector().list_documents() if isinstance(i, Checkpoint)][-1].cursor
    for pid in ids:
        cf.fake.edit(pid, "<p>Edited text about tampers.</p>")
    items = list(cf.connector().read_since(cursor))  # type: ignore[attr-defined]
    marks = [n for n, i in enumerate(items) if isinstance(i, Checkpoint)]
    assert [type(i) for i in items[:marks[0]]] == [Document], "a checkpoint follows each one-page search page"
    assert len(marks) >= 3 and marks[:3] == [1, 3, 5], items
    seen = [i.cursor["modified"] for i in items if isinstance(i, Checkpoint)]
    assert seen == sorted(seen), "oldest first: the cursor only moves forward"
    assert {i.native_id for i in items if isinstance(i, Document)} == set(ids)


def test_two_thousand_pages_are_all_listed(cf: ConfluenceFixture) -> None:
    ids = {cf.fake.add(f"P{i}", f"<p>{i}</p>") for i in range(2000)}
    connector = cf.connector()
    assert set(connector.list_ids()) == ids  # type: ignore[attr-defined]
    docs = [d for d in connector.list_documents() if isinstance(d, Document)]
    assert len(docs) == 2000 and {d.native_id for d in docs} == ids


def test_check_names_the_credential_or_permission_at_fault(cf: ConfluenceFixture) -> None:
    assert "DOC (Product docs)" in cf.connector().check()
    cf.env = {"KNOWDESK_CONFLUENCE__TOKEN": PAT}
    assert "Wendy Writer" in cf.connector().check()
    cf.env = {"KNOWDESK_CONFLUENCE__USERNAME": USERNAME, "KNOWDESK_CONFLUENCE__API_TOKEN": "nope"}
    with pytest.raises(SourceAuthError, match="KNOWDESK_CONFLUENCE__API_TOKEN") as info:
        cf.connector().check()
    assert "401" in info.value.message and cf.sleeps.calls == []
    cf.env = dict(ENV)
    cf.fake.forbidden = True
    with pytest.raises(SourceAuthError, match="403"):
        cf.connector().check()
    cf.fake.forbidden = False
    cf.source = cf.source.model_copy(update={"options": cf.source.options | {"spaces": ["NOPE"]}})
    with pytest.raises(SourceNotFound, match="NOPE"):
        cf.connector().check()
    cf.env = {}
    with pytest.raises(ConfigError, match="KNOWDESK_CONFLUENCE__TOKEN"):
        cf.connector().check()
