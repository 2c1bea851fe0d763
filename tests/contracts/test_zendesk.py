"""The Zendesk connector against a loopback server speaking the Help Center API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, SourceAuthError
from core.models import Document, Source, SourceKind
from ingest.connectors.base import Checkpoint, Connector, ConnectorContext
from ingest.connectors.registry import validate_options
from ingest.connectors.zendesk.connector import ZendeskConnector, ZendeskOptions
from ingest.connectors.zendesk.credentials import ZendeskCredentials
from tests.contracts.connector_contract import ConnectorContract, ContractEnv
from tests.contracts.saas_harness import Sleeps, SyncHarness, fast_retry
from tests.fixtures.loopback import Fault, LoopbackServer, serve
from tests.fixtures.loopback.zendesk import EMAIL, TOKEN, FakeZendesk

ENV = {"KNOWDESK_ZENDESK__EMAIL": EMAIL, "KNOWDESK_ZENDESK__API_TOKEN": TOKEN}


class ZendeskFixture:
    def __init__(self, server: LoopbackServer, **options: object) -> None:
        self.server = server
        self.fake = FakeZendesk(server)
        self.sleeps = Sleeps()
        self.env = dict(ENV)
        self.source = Source(workspace="acme", name="zd", kind=SourceKind.ZENDESK,
                             options={"base_url": server.url, **options})
        self.keys: dict[str, int] = {}

    def connector(self) -> Connector:
        return ZendeskConnector(source=self.source, options=ZendeskOptions(**self.source.options),
                                context=ConnectorContext(), credentials=ZendeskCredentials.from_env(self.env),
                                retry=fast_retry(self.sleeps))

    def add(self, key: str, title: str, body: str) -> str:
        self.keys[key] = self.fake.add(title, f"<p>{body}</p>")
        return f"{self.keys[key]}/en-us"

    def edit(self, key: str, body: str) -> None:
        self.fake.edit(self.keys[key], f"<p>{body}</p>")

    def delete(self, key: str) -> None:
        self.fake.delete(self.keys[key])


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


@pytest.fixture
def zd(server: LoopbackServer) -> ZendeskFixture:
    return ZendeskFixture(server)


@pytest.fixture
def harness(zd: ZendeskFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> SyncHarness:
    return SyncHarness(db=sqlite_db, qdrant=memory_qdrant, source=zd.source, connector=zd.connector)


class TestZendeskContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, zd: ZendeskFixture, sqlite_db: Database, memory_qdrant: QdrantClient) -> ContractEnv:
        return ContractEnv(fixture=zd, db=sqlite_db, qdrant=memory_qdrant)


def _docs(connector: Connector) -> dict[str, Document]:
    return {d.native_id: d for d in connector.list_documents() if isinstance(d, Document)}


def test_translations_topics_drafts_and_segments(zd: ZendeskFixture) -> None:
    art = zd.fake.add("Refund a card payment", "<p>Refunds take five days.</p>",
                      translations={"de": ("Kartenzahlung erstatten", "<p>Erstattungen dauern fünf Tage.</p>")})
    zd.fake.add("Unfinished", "<p>draft text</p>", draft=True)
    vip = zd.fake.add("VIP refunds", "<p>Instant refunds for VIPs.</p>", segment=7)
    docs = _docs(zd.connector())
    assert set(docs) == {f"{art}/en-us", f"{art}/de"}, "drafts and segment-restricted articles are skipped"
    en, de = docs[f"{art}/en-us"], docs[f"{art}/de"]
    assert en.metadata["article_id"] == de.metadata["article_id"] == str(art)
    assert en.topic == ("Billing", "Refunds", "Card payments")
    assert de.topic == ("Billing", "Refunds (de)", "Card payments (de)") and de.language == "de"
    assert en.uri == f"https://acme.zendesk.com/hc/en-us/articles/{art}" and en.title == "Refund a card payment"
    assert b"five days" in en.content and en.updated_at is not None and en.audience == ()

    zd.source = zd.source.model_copy(update={"options": zd.source.options | {"include_restricted": True}})
    docs = _docs(zd.connector())
    assert docs[f"{vip}/en-us"].audience == ("segment:VIP customers", "user_type:signed_in_users")


def test_first_sync_edit_and_deletion_keep_the_index_matching(zd: ZendeskFixture, harness: SyncHarness,
                                                              server: LoopbackServer) -> None:
    a = zd.fake.add("Reset a password", "<p>Use the reset link on the login page.</p>",
                    translations={"de": ("Passwort zurücksetzen", "<p>Nutzen Sie den Link.</p>")})
    b = zd.fake.add("Cancel a plan", "<p>Plans can be cancelled from billing settings.</p>")
    report = harness.sync()
    assert report.status == "succeeded" and report.written == 3, report
    assert harness.indexed() == {f"{a}/en-us", f"{a}/de", f"{b}/en-us"}
    assert harness.payload(f"{a}/en-us")["topic"] == ["Billing", "Refunds", "Card payments"]

    zd.fake.edit(a, "<p>Passwords are now reset from the account page.</p>")
    server.clear_log()
    report = harness.sync()
    assert report.mode == "incremental" and report.status == "succeeded", report
    assert report.written == 1 and report.deleted == 0, report
    assert server.requests_to("/incremental/articles"), "increments use the incremental export"

    zd.fake.delete(b)
    report = harness.sync()
    assert report.deleted == 1, report
    assert harness.indexed() == {f"{a}/en-us", f"{a}/de"}
    assert harness.chunks(f"{b}/en-us") == []


def test_a_429_burst_is_waited_out(zd: ZendeskFixture, harness: SyncHarness, server: LoopbackServer) -> None:
    for i in range(3):
        zd.fake.add(f"Article {i}", f"<p>Body number {i} about shipping.</p>")
    server.faults.add(Fault.rate_limited(times=3, retry_after="7"))
    server.faults.add(Fault(status=503, times=1))
    report = harness.sync()
    assert report.status == "succeeded" and report.written == 3, report
    assert zd.sleeps.calls[:3] == [7.0, 7.0, 7.0] and len(zd.sleeps.calls) == 4


def test_a_truncated_listing_deletes_nothing_and_says_so(zd: ZendeskFixture, harness: SyncHarness) -> None:
    ids = [zd.fake.add(f"Article {i}", f"<p>Body {i} about returns and refunds.</p>") for i in range(12)]
    assert harness.sync().written == 12
    zd.fake.truncate_listing_after = 4
    for full in (False, True):
        report = harness.sync(full=full)
        assert report.deleted == 0 and report.status == "partial", report
        assert any("nothing deleted" in n for n in report.notes), report.notes
        assert harness.indexed() == {f"{i}/en-us" for i in ids}
    report = harness.sync(full=True, force=True)
    assert report.deleted == 8


def test_two_thousand_articles_are_all_listed(zd: ZendeskFixture) -> None:
    ids = {f"{zd.fake.add(f'A{i}', f'<p>{i}</p>')}/en-us" for i in range(2000)}
    connector = zd.connector()
    assert set(connector.list_ids()) == ids  # type: ignore[attr-defined]
    assert set(_docs(connector)) == ids
    since = [i for i in connector.read_since({"start_time": 0}) if not isinstance(i, Checkpoint)]  # type: ignore[attr-defined]
    assert {d.native_id for d in since if isinstance(d, Document)} == ids and len(since) == 2000
    assert len(zd.server.requests_to("/incremental/articles")) >= 2, "the export paged past 1,000"


def test_check_names_the_credential_or_permission_at_fault(zd: ZendeskFixture, server: LoopbackServer) -> None:
    assert "agent" in zd.connector().check()
    zd.env["KNOWDESK_ZENDESK__API_TOKEN"] = "wrong"
    with pytest.raises(SourceAuthError, match="KNOWDESK_ZENDESK__API_TOKEN") as info:
        zd.connector().check()
    assert "401" in info.value.message and "wrong" not in info.value.message
    assert zd.sleeps.calls == [], "a 401 is never retried"
    zd.env = dict(ENV)
    zd.fake.forbidden = True
    with pytest.raises(SourceAuthError, match="403"):
        zd.connector().check()
    zd.fake.forbidden = False
    zd.fake.role = "end-user"
    with pytest.raises(SourceAuthError, match="agent or admin"):
        zd.connector().check()
    zd.env = {}
    with pytest.raises(ConfigError, match="KNOWDESK_ZENDESK__EMAIL and KNOWDESK_ZENDESK__API_TOKEN"):
        zd.connector().check()


def test_options_are_validated() -> None:
    assert validate_options(SourceKind.ZENDESK, {"base_url": "https://acme.zendesk.com", "locales": "en-us,de"}) == {
        "base_url": "https://acme.zendesk.com", "locales": ["en-us", "de"]}
    with pytest.raises(ConfigError, match="base_url"):
        validate_options(SourceKind.ZENDESK, {"base_url": "acme"})
