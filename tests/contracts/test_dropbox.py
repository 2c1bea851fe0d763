"""The Dropbox connector: the official SDK against a loopback server speaking Dropbox API v2.

The shared connector contract, then the scenarios of issue #5 (first sync, an edit, a rename, a
move out of scope, a deletion, a 429 burst, 5xx, an unparseable and an oversized file), each
ending with the index matching the source and the run report saying what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from qdrant_client import QdrantClient

from core.db import Database
from core.errors import ConfigError, SourceAuthError, SourceNotFound
from core.models import RunReport, Source, SourceKind
from ingest.chunking import Chunker
from ingest.connectors.base import Connector, ConnectorContext
from ingest.connectors.dropbox.connector import DropboxConnector, DropboxOptions
from ingest.connectors.dropbox.credentials import DropboxCredentials
from ingest.connectors.http import RetryPolicy
from ingest.connectors.registry import build_connector, validate_options
from ingest.parsing import Parser
from ingest.sources import SourceStore
from ingest.state import SqlConnectorStore, SyncState
from ingest.sync import Pipeline, SyncOptions, run_sync
from retrieval.index import QdrantIndex
from retrieval.sparse import BM25Encoder
from tests.contracts.connector_contract import ConnectorContract, ContractEnv
from tests.fakes import HashEmbedder
from tests.fixtures.dropbox_api import DropboxFake, rate_limited_body
from tests.fixtures.loopback import Fault, LoopbackServer, serve

SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples" / "files"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


class DropboxSource:
    """The contract's ``SourceFixture``: Markdown files under /Support in the fake."""

    def __init__(self, fake: DropboxFake, db: Database, **options: Any) -> None:
        self.fake, self.db = fake, db
        self.sleeps: list[float] = []
        self.source = Source(workspace="acme", name="dbx", kind=SourceKind.DROPBOX,
                             options={"base_url": fake.server.url, "folders": "/Support"} | options)
        fake.mkdir("/Support")
        SourceStore(db=db).ensure_workspace("acme")
        self.store = SqlConnectorStore(db=db, workspace="acme", source="dbx")

    def connector(self, token: str | None = None) -> DropboxConnector:
        return DropboxConnector(source=self.source, options=DropboxOptions(**self.source.options),
                                context=ConnectorContext(store=self.store, max_file_bytes=200_000),
                                credentials=DropboxCredentials(access_token=SecretStr(token or self.fake.token)),
                                retry=RetryPolicy(max_attempts=4, sleep=self.sleeps.append))

    def add(self, key: str, title: str, body: str) -> str:
        return self.fake.add(f"/Support/{key}.md", f"# {title}\n\n{body}\n".encode()).id

    def edit(self, key: str, body: str) -> None:
        path = f"/Support/{key}.md"
        title = self.fake.files[path.lower()].content.decode().split("\n")[0]
        self.fake.edit(path, f"{title}\n\n{body}\n".encode())

    def delete(self, key: str) -> None:
        self.fake.delete(f"/Support/{key}.md")


class TestDropboxContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, sqlite_db: Database, memory_qdrant: QdrantClient, server: LoopbackServer) -> ContractEnv:
        return ContractEnv(fixture=DropboxSource(DropboxFake(server), sqlite_db), db=sqlite_db, qdrant=memory_qdrant)


# -- scenarios ------------------------------------------------------------------------------------------
class Env:
    """A Dropbox source synced into in-memory Qdrant with the hash embedder."""

    def __init__(self, fake: DropboxFake, db: Database, qdrant: QdrantClient, **options: Any) -> None:
        self.fake, self.src = fake, DropboxSource(fake, db, **options)
        self.db, self.embedder = db, HashEmbedder()
        self.chunker = Chunker(tokens=self.embedder, max_tokens=128, overlap_tokens=16)
        self.index = QdrantIndex(client=qdrant, alias="dbx", model_id=self.embedder.model_id,
                                 dimension=self.embedder.dimension, chunker_version=self.chunker.version,
                                 sparse=BM25Encoder())
        SourceStore(db=db).add(self.src.source)  # the cursor is kept on the source's row
        self.state = SyncState(db=db, workspace="acme", source="dbx")

    def sync(self, *, full: bool = False, connector: Connector | None = None) -> RunReport:
        pipeline = Pipeline(parser=Parser(), chunker=self.chunker, embedder=self.embedder, writer=self.index,
                            options=SyncOptions())
        return run_sync(source=self.src.source, connector=connector or self.src.connector(), state=self.state,
                        pipeline=pipeline, full=full)

    def downloads(self) -> int:
        return len(self.fake.server.requests_to("^/2/files/download$"))

    def assert_index_matches(self, *, folder: str = "/support/", failing: tuple[str, ...] = ()) -> None:
        """Every supported, parseable file under ``folder`` is indexed with chunks; nothing else is."""
        expected = {f.id for path, f in self.fake.files.items() if path.startswith(folder)
                    and path.rsplit(".", 1)[-1] in ("md", "html", "pdf", "docx", "txt") and f.id not in failing}
        assert set(self.state.indexed()) == expected
        for native in expected:
            assert self.index.document_chunk_ids("acme", f"dbx:{native}"), native
        assert self.index.count("acme", source_id="dbx") >= len(expected)


@pytest.fixture
def env(server: LoopbackServer, sqlite_db: Database, memory_qdrant: QdrantClient) -> Env:
    fake = DropboxFake(server)
    fake.add("/Support/Refunds.md", b"# Refunds\n\nRefunds are paid within 14 days of the return arriving.\n")
    fake.add("/Support/Shipping/Policy.html", (SAMPLES / "mill-quick-start.html").read_bytes())
    fake.add("/Support/Warranty.pdf", (SAMPLES / "warranty-terms.pdf").read_bytes(), shared_folder_id="84528192421")
    fake.add("/Support/Wholesale.docx", (SAMPLES / "wholesale-faq.docx").read_bytes())
    fake.add("/Support/logo.png", b"\x89PNG\r\n")
    fake.add("/Private/Salaries.md", b"# Salaries\n\nNot for the support agent.\n")
    return Env(fake, sqlite_db, memory_qdrant)


def test_first_sync_indexes_the_chosen_folder_with_citations(env: Env) -> None:
    refunds = env.fake.files["/support/refunds.md"]
    env.fake.links[refunds.id] = "https://www.dropbox.com/scl/fi/abc123/Refunds.md?dl=0"
    report = env.sync()
    assert report.status == "succeeded", report
    assert (report.fetched, report.written, report.failed) == (4, 4, 0)
    assert any("skipped unsupported files: .png (1)" in n for n in report.notes)
    env.assert_index_matches()
    hits = {h.payload["document_id"]: h for h in _points(env)}
    assert hits[f"dbx:{refunds.id}"].payload["uri"] == "https://www.dropbox.com/scl/fi/abc123/Refunds.md?dl=0"
    policy = env.fake.files["/support/shipping/policy.html"]
    assert hits[f"dbx:{policy.id}"].payload["uri"] == "https://www.dropbox.com/home/Support/Shipping/Policy.html"
    assert hits[f"dbx:{policy.id}"].payload["topic"] == ["Support", "Shipping"]
    # the file list came from list_folder on /Support only, recursively
    listed = env.fake.server.requests_to("^/2/files/list_folder$")[0].json()
    assert listed["path"] == "/Support" and listed["recursive"] is True


def test_unchanged_files_are_not_downloaded_again(env: Env) -> None:
    env.sync()
    before = env.downloads()
    report = env.sync(full=True)
    assert report.status == "succeeded" and report.unchanged == 4 and report.written == 0, report
    assert env.downloads() == before, "content_hash should have skipped every download"
    assert env.embedder.embedded > 0
    env.assert_index_matches()


def test_an_edit_is_read_incrementally_and_only_it_is_downloaded(env: Env) -> None:
    env.sync()
    before, embedded = env.downloads(), env.embedder.embedded
    env.fake.edit("/Support/Refunds.md", b"# Refunds\n\nRefunds are now paid within 5 days, by bank transfer.\n")
    report = env.sync()
    assert report.mode == "incremental" and report.status == "succeeded", report
    assert (report.fetched, report.written, report.deleted) == (1, 1, 0)
    assert env.downloads() == before + 1 and env.embedder.embedded > embedded
    assert any("5 days" in p.payload["text"] for p in _points(env))
    env.assert_index_matches()


def test_a_rename_inside_the_folder_keeps_the_document(env: Env) -> None:
    env.sync()
    refunds = env.fake.files["/support/refunds.md"]
    embedded = env.embedder.embedded
    env.fake.move("/Support/Refunds.md", "/Support/Billing/Refund policy.md")
    report = env.sync()
    assert (report.fetched, report.deleted, report.failed) == (1, 0, 0), report
    assert env.embedder.embedded == embedded, "the same text is not embedded again"
    assert f"dbx:{refunds.id}" in set(env.state.indexed().values())
    env.assert_index_matches()


def test_a_rename_updates_the_citation(env: Env) -> None:
    env.sync()
    refunds = env.fake.files["/support/refunds.md"]
    env.fake.move("/Support/Refunds.md", "/Support/Billing/Refund policy.md")
    env.sync()
    uris = {p.payload["uri"] for p in _points(env) if p.payload["document_id"] == f"dbx:{refunds.id}"}
    assert uris == {"https://www.dropbox.com/home/Support/Billing/Refund policy.md"}


def test_a_move_out_of_scope_and_a_deletion_remove_documents(env: Env) -> None:
    env.sync()
    moved, deleted = env.fake.files["/support/refunds.md"], env.fake.files["/support/wholesale.docx"]
    env.fake.move("/Support/Refunds.md", "/Archive/Refunds.md")
    env.fake.delete("/Support/Wholesale.docx")
    report = env.sync()
    assert report.status == "succeeded" and report.deleted == 2, report
    assert f"dbx:{moved.id}" not in set(env.state.indexed().values())
    assert not env.index.document_chunk_ids("acme", f"dbx:{deleted.id}")
    env.assert_index_matches()
    # moved back with the same content: fetched again (its stored hash was dropped with it)
    env.fake.move("/Archive/Refunds.md", "/Support/Refunds.md")
    report = env.sync()
    assert report.written == 1, report
    env.assert_index_matches()


def test_a_429_burst_is_waited_out_with_retry_after(env: Env) -> None:
    env.sync()
    env.fake.edit("/Support/Refunds.md", b"# Refunds\n\nRefunds take 3 days now, say the new rules.\n")
    env.fake.server.faults.add(Fault(status=429, times=2, path="^/2/files/list_folder/continue$",
                                     headers={"Retry-After": "2"}, body=rate_limited_body(2)))
    env.fake.server.faults.add(Fault(status=429, times=1, path="^/2/files/download$",
                                     headers={"Retry-After": "3"}, body=b"too many requests"))
    env.src.sleeps.clear()
    report = env.sync()
    assert report.status == "succeeded" and report.written == 1, report
    assert env.src.sleeps == [2.0, 2.0, 3.0]
    env.assert_index_matches()


def test_server_errors_are_retried_with_backoff_then_fail_the_run_without_deleting(env: Env) -> None:
    env.sync()
    env.fake.server.faults.add(Fault(status=503, times=2, path="^/2/files/list_folder/continue$", body=b"busy"))
    env.fake.delete("/Support/Refunds.md")
    report = env.sync()
    assert report.status == "succeeded" and report.deleted == 1 and len(env.src.sleeps) == 2
    env.fake.server.faults.add(Fault(status=500, times=10, path="^/2/files/list_folder", body=b"down"))
    env.fake.delete("/Support/Warranty.pdf")
    with pytest.raises(Exception, match="500"):
        env.sync()
    runs = env.state.runs()
    assert runs[0]["status"] == "failed"
    assert len(env.state.indexed()) == 3, "a failed listing deletes nothing"


def test_an_unparseable_and_an_oversized_file_are_failures_with_reasons(env: Env) -> None:
    broken = env.fake.add("/Support/Broken.pdf", b"%PDF-1.4 this is not really a pdf")
    big = env.fake.add("/Support/Huge.md", b"# Huge\n\n" + b"word " * 50_000)
    report = env.sync()
    assert report.status == "partial" and report.failed == 2 and report.written == 4, report
    reasons = {f.native_id: f for f in report.failures}
    assert reasons[broken.id].stage == "parse"
    assert "over the sync.max_file_bytes limit of 200,000 bytes" in reasons[big.id].message
    env.assert_index_matches(failing=(broken.id, big.id))
    assert all(p.payload["document_id"] != f"dbx:{big.id}" for p in _points(env))


def test_a_rejected_token_names_the_setting_and_is_not_retried(env: Env) -> None:
    connector = env.src.connector(token="sl.revoked")
    with pytest.raises(SourceAuthError, match="KNOWDESK_DROPBOX__ACCESS_TOKEN"):
        connector.check()
    with pytest.raises(SourceAuthError):
        env.sync(connector=connector)
    assert env.src.sleeps == []
    assert env.state.runs()[0]["status"] == "failed"


def test_check_reports_the_account_and_a_missing_folder(env: Env, server: LoopbackServer,
                                                        sqlite_db: Database) -> None:
    assert env.src.connector().check() == "Dropbox account Franz Ferdinand (Personal): folders /Support"
    missing = DropboxSource(env.fake, sqlite_db, folders="/Nope")
    with pytest.raises(SourceNotFound, match="/Nope"):
        missing.connector().check()


def test_pages_and_an_expired_cursor_lose_nothing(server: LoopbackServer, sqlite_db: Database,
                                                  memory_qdrant: QdrantClient) -> None:
    fake = DropboxFake(server)
    for i in range(7):
        fake.add(f"/Support/Article {i}.md", f"# Article {i}\n\nBody of article number {i} about coffee.\n".encode())
    env = Env(fake, sqlite_db, memory_qdrant, page_size=3)
    report = env.sync()
    assert report.written == 7 and len(server.requests_to("^/2/files/list_folder/continue$")) == 2
    env.state.save_cursor({"folders": {"/Support": "expired-cursor"}})
    fake.edit("/Support/Article 3.md", b"# Article 3\n\nRewritten body about tea.\n")
    report = env.sync()
    assert report.status == "succeeded" and report.written == 1 and report.unchanged == 6, report
    env.assert_index_matches()


def test_options_and_credentials_are_validated(server: LoopbackServer) -> None:
    assert validate_options("dropbox", {"folders": "/A/, B", "shared_links": "false"}) == {
        "folders": ["/A", "/B"], "shared_links": False}
    with pytest.raises(ConfigError, match="unknown option 'path'"):
        validate_options("dropbox", {"path": "/x"})
    source = Source(workspace="acme", name="dbx", kind=SourceKind.DROPBOX, options={"base_url": server.url})
    with pytest.raises(ConfigError, match="KNOWDESK_DROPBOX__ACCESS_TOKEN"):
        build_connector(source)
    with pytest.raises(ConfigError, match="APP_KEY"):
        build_connector(source, ConnectorContext(env={"KNOWDESK_DROPBOX__REFRESH_TOKEN": "r"}))


def test_a_refresh_token_gets_an_access_token_from_the_token_endpoint(server: LoopbackServer,
                                                                      sqlite_db: Database) -> None:
    fake = DropboxFake(server)
    fake.add("/Support/Refunds.md", b"# Refunds\n\nRefunds within 14 days.\n")
    server.route("POST", "/oauth2/token", lambda req: {"access_token": fake.token, "token_type": "bearer",
                                                        "expires_in": 14400})
    source = Source(workspace="acme", name="dbx", kind=SourceKind.DROPBOX,
                    options={"base_url": server.url, "folders": "/Support"})
    connector = build_connector(source, ConnectorContext(env={  # names matched case-insensitively, as Settings does
        "KNOWDESK_DROPBOX__REFRESH_TOKEN": "refresh-me", "knowdesk_dropbox__app_key": "appkey",
        "KNOWDESK_DROPBOX__APP_SECRET": "appsecret", "KNOWDESK_NOTION__TOKEN": "another connector's"}))
    assert len(list(connector.list_ids())) == 1  # type: ignore[attr-defined]
    token_request = server.requests_to("^/oauth2/token$")[0]
    assert b"grant_type=refresh_token" in token_request.body and b"refresh_token=refresh-me" in token_request.body


def _points(env: Env) -> list[Any]:
    points, _ = env.index.client.scroll(env.index.target, limit=1000, with_payload=True)
    return list(points)
