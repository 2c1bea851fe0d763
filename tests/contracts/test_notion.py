"""The Notion connector (notion-client) against a loopback server speaking the Notion API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, SourceAuthError
from core.models import Document, Source, SourceKind
from ingest.connectors.base import Connector, ConnectorContext
from ingest.connectors.http import RateGate
from ingest.connectors.notion.connector import NotionConnector, NotionOptions
from ingest.connectors.notion.credentials import NotionCredentials
from ingest.state import SqlConnectorStore
from tests.contracts.connector_contract import ConnectorContract, ContractEnv
from tests.contracts.saas_harness import Sleeps, SyncHarness, fast_retry
from tests.fixtures.loopback import Fault, LoopbackServer, serve
from tests.fixtures.loopback.notion import TOKEN, FakeNotion, block


class NotionFixture:
    def __init__(self, server: LoopbackServer, db: Database) -> None:
        self.server = server
        self.fake = FakeNotion(server)
        self.sleeps = Sleeps()
        self.gate_sleeps = Sleeps()
        self.env = {"KNOWDESK_NOTION__TOKEN": TOKEN}
        self.source = Source(workspace="acme", name="notion", kind=SourceKind.NOTION, options={"base_url": server.url})
        self.store = SqlConnectorStore(db=db, workspace="acme", source="notion")
        self.keys: dict[str, str] = {}

    def connector(self) -> Connector:
        gate = RateGate(3, clock=lambda: 0.0, sleep=self.gate_sleeps)  # a frozen clock: every wait is recorded
        return NotionConnector(source=self.source, options=NotionOptions(**self.source.options),
                               context=ConnectorContext(store=self.store),
                               credentials=NotionCredentials.from_env(self.env),
                               retry=fast_retry(self.sleeps), gate=gate)

    def add(self, key: str, title: str, body: str) -> str:
        self.keys[key] = self.fake.add(title, [block("paragraph", body)])
        return self.keys[key]

    def edit(self, key: str, body: str) -> None:
        self.fake.edit(self.keys[key], [block("paragraph", body)])

    def delete(self, key: str) -> None:
        self.fake.pages[self.keys[key]].in_trash = True


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def nt(server: LoopbackServer, sqlite_db: Database) -> NotionFixture:
    return NotionFixture(server, sqlite_db)


@pytest.fixture
def harness(nt: NotionFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> SyncHarness:
    return SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=nt.source, connector=nt.connector)


class TestNotionContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, nt: NotionFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> ContractEnv:
        return ContractEnv(fixture=nt, db=sqlite_db, qdrant=memory_qdrant)


def _docs(connector: Connector) -> dict[str, Document]:
    return {d.native_id: d for d in connector.list_documents() if isinstance(d, Document)}


def test_block_trees_render_to_markdown_with_the_page_hierarchy(nt: NotionFixture) -> None:
    root = nt.fake.add("Support handbook", [block("paragraph", "Start here.")])
    page = nt.fake.add("Espresso machine", [
        block("heading_2", "Descaling"),
        block("numbered_list_item", "Empty the tank"),
        block("numbered_list_item", "Add descaler", children=[block("bulleted_list_item", "use 500 ml")]),
        block("to_do", "Run a rinse cycle", checked=True),
        block("toggle", "Why descale?", children=[block("paragraph", "Limescale clogs the boiler.")]),
        block("callout", "Unplug first.", icon={"type": "emoji", "emoji": "⚠️"}),
        block("code", "descale --cycles 2", language="bash"),
        block("table", children=[block("table_row", cells=["Model", "Interval"]),
                                 block("table_row", cells=["Pro", "3 months"])],
              table_width=2, has_column_header=True, has_row_header=False),
    ], parent=root)
    row = nt.fake.add("Grinder jams", [block("paragraph", "Clear the burrs.")], database="db-1")
    docs = _docs(nt.connector())
    md = docs[page].content.decode()
    for expected in ("## Descaling", "1. Empty the tank", "2. Add descaler", "  - use 500 ml",
                     "- [x] Run a rinse cycle", "**Why descale?**", "Limescale clogs the boiler.",
                     "> ⚠️ Unplug first.", "```bash\ndescale --cycles 2\n```", "| Model | Interval |",
                     "| Pro | 3 months |"):
        assert expected in md, (expected, md)
    assert docs[page].topic == ("Support handbook",) and docs[page].title == "Espresso machine"
    assert docs[row].topic == ("Troubleshooting",)
    assert "Child page: Espresso machine" in docs[root].content.decode()


def test_the_full_walk_finds_pages_search_misses_and_keeps_them(nt: NotionFixture, harness: SyncHarness) -> None:
    root = nt.fake.add("Handbook", [block("paragraph", "The support handbook index page.")])
    hidden = nt.fake.add("Refund macros", [block("paragraph", "Macros for refunds and returns.")], parent=root)
    nt.fake.hidden_from_search.add(hidden)
    report = harness.sync()
    assert report.written == 2 and harness.indexed() == {root, hidden}, report
    nt.fake.edit(root, [block("paragraph", "The support handbook index page, revised.")])
    report = harness.sync()  # incremental: the id listing must still know the walked-only page
    assert report.mode == "incremental" and report.deleted == 0 and harness.indexed() == {root, hidden}, report
    nt.fake.pages[hidden].in_trash = True
    assert harness.sync().deleted == 1 and harness.indexed() == {root}


def test_first_sync_edit_deletion_and_the_rate_gate(nt: NotionFixture, harness: SyncHarness,
                                                    server: LoopbackServer) -> None:
    a = nt.fake.add("Billing FAQ", [block("paragraph", "Invoices are sent monthly by email.")])
    b = nt.fake.add("Shipping FAQ", [block("paragraph", "Orders ship within two days.")])
    report = harness.sync()
    assert report.written == 2, report
    requests = len(server.requests)
    gaps = nt.gate_sleeps.calls
    assert len(gaps) == requests - 1 and all(abs(g - (i + 1) / 3) < 1e-9 for i, g in enumerate(gaps)), \
        "every request after the first waits its 1/3 s turn"
    nt.fake.edit(a, [block("paragraph", "Invoices are now sent weekly by email.")])
    report = harness.sync()
    assert report.mode == "incremental" and report.written == 1, report
    nt.fake.pages[b].in_trash = True
    report = harness.sync()
    assert report.deleted == 1 and harness.indexed() == {a}


def test_a_429_burst_is_waited_out(nt: NotionFixture, harness: SyncHarness, server: LoopbackServer) -> None:
    nt.fake.add("Warranty", [block("paragraph", "Two years on every machine.")])
    server.faults.add(Fault.rate_limited(times=3, retry_after="4",
                                         body={"object": "error", "status": 429, "code": "rate_limited",
                                               "message": "You have been rate limited."}))
    server.faults.add(Fault(status=500, times=1, body={"object": "error", "status": 500,
                                                       "code": "internal_server_error", "message": "oops"}))
    report = harness.sync()
    assert report.status == "succeeded" and report.written == 1, report
    assert nt.sleeps.calls[:3] == [4.0, 4.0, 4.0] and len(nt.sleeps.calls) == 4


def test_a_truncated_search_deletes_nothing_and_says_so(nt: NotionFixture, harness: SyncHarness) -> None:
    ids = {nt.fake.add(f"Page {i}", [block("paragraph", f"Text {i} about cold brew.")]) for i in range(12)}
    assert harness.sync().written == 12
    nt.fake.truncate_search_after = 2
    for full in (False, True):
        report = harness.sync(full=full)
        assert report.deleted == 0 and report.status == "partial", report
        assert harness.indexed() == ids


def test_two_thousand_pages_are_all_listed(nt: NotionFixture) -> None:
    ids = {nt.fake.add(f"P{i}", []) for i in range(2000)}
    assert set(nt.connector().list_ids()) == ids  # type: ignore[attr-defined]


def test_check_names_the_credential_or_permission_at_fault(nt: NotionFixture) -> None:
    assert "Acme" in nt.connector().check()
    nt.env = {"KNOWDESK_NOTION__TOKEN": "wrong"}
    with pytest.raises(SourceAuthError, match="KNOWDESK_NOTION__TOKEN") as info:
        nt.connector().check()
    assert "401" in info.value.message and nt.sleeps.calls == []
    nt.env = {"KNOWDESK_NOTION__TOKEN": TOKEN}
    nt.fake.forbidden = True
    with pytest.raises(SourceAuthError, match="403"):
        nt.connector().check()
    nt.env = {}
    with pytest.raises(ConfigError, match="KNOWDESK_NOTION__TOKEN"):
        nt.connector().check()
