"""The Google Drive connector: google-api-python-client against a loopback Drive v3 server.

The shared connector contract, then the scenarios of issue #5 (first sync with exports,
downloads and shortcuts, an edit through the Changes API, a move out of scope, trashing,
permission loss, a 429 burst, 5xx, an unparseable and an oversized file), each ending with the
index matching the source and the run report saying what happened.
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
from ingest.connectors.base import ConnectorContext
from ingest.connectors.gdrive.connector import GDriveConnector, GDriveOptions
from ingest.connectors.gdrive.credentials import GDriveCredentials
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
from tests.fixtures.gdrive_api import DOC, FOLDER, SHEET, SHORTCUT, SLIDES, DriveFake, error_body
from tests.fixtures.loopback import Fault, LoopbackServer, serve

SAMPLES = Path(__file__).resolve().parents[2] / "service" / "samples" / "files"
ROOT = "0ASupportRootFolder"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


class DriveSource:
    """The contract's ``SourceFixture``: Markdown files in the chosen folder of the fake."""

    def __init__(self, fake: DriveFake, db: Database, **options: Any) -> None:
        self.fake, self.db = fake, db
        self.sleeps: list[float] = []
        if ROOT not in fake.files:
            fake.add("Support", FOLDER, "root", file_id=ROOT)
        self.keys: dict[str, str] = {}
        self.source = Source(workspace="acme", name="drive", kind=SourceKind.GDRIVE,
                             options={"base_url": fake.server.url, "folders": ROOT} | options)
        SourceStore(db=db).ensure_workspace("acme")
        self.store = SqlConnectorStore(db=db, workspace="acme", source="drive")

    def connector(self, token: str | None = None) -> GDriveConnector:
        return GDriveConnector(source=self.source, options=GDriveOptions(**self.source.options),
                               context=ConnectorContext(store=self.store, max_file_bytes=200_000),
                               credentials=GDriveCredentials(token=SecretStr(token or self.fake.token)),
                               retry=RetryPolicy(max_attempts=4, sleep=self.sleeps.append))

    def add(self, key: str, title: str, body: str) -> str:
        f = self.fake.add(f"{key}.md", "text/markdown", ROOT, f"# {title}\n\n{body}\n".encode())
        self.keys[key] = f.id
        return f.id

    def edit(self, key: str, body: str) -> None:
        f = self.fake.files[self.keys[key]]
        self.fake.edit(f.id, f.content.split(b"\n")[0] + f"\n\n{body}\n".encode())

    def delete(self, key: str) -> None:
        self.fake.trash(self.keys[key])


class TestGDriveContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, sqlite_db: Database, memory_qdrant: QdrantClient, server: LoopbackServer) -> ContractEnv:
        return ContractEnv(fixture=DriveSource(DriveFake(server), sqlite_db), db=sqlite_db, qdrant=memory_qdrant)


# -- scenarios ------------------------------------------------------------------------------------------
class Env:
    def __init__(self, fake: DriveFake, db: Database, qdrant: QdrantClient, **options: Any) -> None:
        self.fake, self.src = fake, DriveSource(fake, db, **options)
        self.embedder = HashEmbedder()
        self.chunker = Chunker(tokens=self.embedder, max_tokens=128, overlap_tokens=16)
        self.index = QdrantIndex(client=qdrant, alias="drive", model_id=self.embedder.model_id,
                                 dimension=self.embedder.dimension, chunker_version=self.chunker.version,
                                 sparse=BM25Encoder())
        SourceStore(db=db).add(self.src.source)  # the cursor is kept on the source's row
        self.state = SyncState(db=db, workspace="acme", source="drive")

    def sync(self, *, full: bool = False, connector: GDriveConnector | None = None) -> RunReport:
        pipeline = Pipeline(parser=Parser(), chunker=self.chunker, embedder=self.embedder, writer=self.index,
                            options=SyncOptions())
        return run_sync(source=self.src.source, connector=connector or self.src.connector(), state=self.state,
                        pipeline=pipeline, full=full)

    def fetches(self) -> int:
        return len([r for r in self.fake.server.requests if r.arg("alt") == "media" or r.path.endswith("/export")])

    def points(self) -> dict[str, dict[str, Any]]:
        points, _ = self.index.client.scroll(self.index.target, limit=1000, with_payload=True)
        return {p.payload["document_id"]: p.payload for p in points if p.payload}

    def assert_index_matches(self, expected: set[str]) -> None:
        assert set(self.state.indexed()) == expected
        for native in expected:
            assert self.index.document_chunk_ids("acme", f"drive:{native}"), native


@pytest.fixture
def env(server: LoopbackServer, sqlite_db: Database, memory_qdrant: QdrantClient) -> Env:
    fake = DriveFake(server)
    e = Env(fake, sqlite_db, memory_qdrant)
    sub = fake.add("Policies", FOLDER, ROOT)
    fake.add("Returns", DOC, sub.id, b"<html><body><h1>Returns</h1><h2>Window</h2><p>Return within 30 days "
             b"of delivery for a full refund.</p></body></html>",
             permissions=[{"type": "domain", "role": "reader", "domain": "acme.example"}])
    fake.add("Price list", SHEET, ROOT, b"Product,Price\nGrinder,129\nKettle,59\n",
             permissions=[{"type": "anyone", "role": "reader"}])
    fake.add("Onboarding deck", SLIDES, ROOT, b"Welcome to Brewly support\n\nOur tone is warm and brief.\n")
    fake.add("warranty-terms.pdf", "application/pdf", sub.id, (SAMPLES / "warranty-terms.pdf").read_bytes())
    fake.add("wholesale-faq.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ROOT,
             (SAMPLES / "wholesale-faq.docx").read_bytes())
    outside = fake.add("Elsewhere", FOLDER, "root")
    target = fake.add("Shipping.md", "text/markdown", outside.id, b"# Shipping\n\nWe ship within two days.\n")
    fake.add("Shipping (shortcut)", SHORTCUT, ROOT, target=target.id)
    fake.add("photo.png", "image/png", ROOT, b"\x89PNG")
    fake.add("Secret.md", "text/markdown", outside.id, b"# Secret\n\nNot in scope.\n")
    return e


def _ids(env: Env, *names: str) -> set[str]:
    return {f.id for f in env.fake.files.values() if f.name in names}


IN_SCOPE = ("Returns", "Price list", "Onboarding deck", "warranty-terms.pdf", "wholesale-faq.docx", "Shipping.md")


def test_first_sync_exports_downloads_and_resolves_shortcuts(env: Env) -> None:
    report = env.sync()
    assert report.status == "succeeded", report
    assert (report.written, report.failed) == (6, 0), report
    assert any("image/png" in n or ".png" in n for n in report.notes), report.notes
    env.assert_index_matches(_ids(env, *IN_SCOPE))
    points = env.points()
    returns = next(iter(_ids(env, "Returns")))
    assert points[f"drive:{returns}"]["uri"] == f"https://docs.google.com/document/d/{returns}/edit"
    assert points[f"drive:{returns}"]["topic"] == ["Policies"]
    assert points[f"drive:{returns}"]["audience"] == ["domain:acme.example"]
    sheet = points[f"drive:{next(iter(_ids(env, 'Price list')))}"]
    assert "Grinder" in sheet["text"] and sheet["audience"] == []
    exports = {r.arg("mimeType") for r in env.fake.server.requests if r.path.endswith("/export")}
    assert exports == {"text/html", "text/csv", "text/plain"}


def test_unchanged_files_are_not_fetched_again(env: Env) -> None:
    env.sync()
    before = env.fetches()
    report = env.sync(full=True)
    assert report.unchanged == 6 and report.written == 0, report
    assert env.fetches() == before


def test_an_edit_arrives_through_the_changes_api(env: Env) -> None:
    env.sync()
    returns = next(iter(_ids(env, "Returns")))
    before = env.fetches()
    env.fake.edit(returns, b"<html><body><h1>Returns</h1><p>Return within 60 days now.</p></body></html>")
    report = env.sync()
    assert report.mode == "incremental" and (report.fetched, report.written, report.deleted) == (1, 1, 0), report
    assert env.fetches() == before + 1
    assert "60 days" in env.points()[f"drive:{returns}"]["text"]
    env.assert_index_matches(_ids(env, *IN_SCOPE))


def test_a_move_out_of_scope_trashing_and_lost_access_delete(env: Env) -> None:
    env.sync()
    elsewhere = next(iter(_ids(env, "Elsewhere")))
    names = ("warranty-terms.pdf", "Onboarding deck", "wholesale-faq.docx")
    pdf, deck, docx = (next(iter(_ids(env, n))) for n in names)
    env.fake.move(pdf, elsewhere)
    env.fake.trash(deck)
    env.fake.revoke(docx)
    report = env.sync()
    assert report.status == "succeeded" and report.deleted == 3, report
    env.assert_index_matches(_ids(env, "Returns", "Price list", "Shipping.md"))


def test_a_folder_moved_into_scope_brings_its_files(env: Env) -> None:
    env.sync()
    elsewhere = next(iter(_ids(env, "Elsewhere")))
    env.fake.move(elsewhere, ROOT)
    report = env.sync()
    assert report.status == "succeeded", report
    env.assert_index_matches(_ids(env, *IN_SCOPE, "Secret.md"))
    assert env.points()[f"drive:{next(iter(_ids(env, 'Secret.md')))}"]["topic"] == ["Elsewhere"]


def test_a_429_burst_and_403_rate_limits_are_waited_out(env: Env) -> None:
    env.sync()
    returns = next(iter(_ids(env, "Returns")))
    env.fake.edit(returns, b"<html><body><h1>Returns</h1><p>Return within 45 days.</p></body></html>")
    env.fake.server.faults.add(Fault(status=429, times=2, path="^/drive/v3/changes$", headers={"Retry-After": "4"},
                                     body=error_body(429, "rateLimitExceeded", "Rate Limit Exceeded")))
    env.fake.server.faults.add(Fault(status=403, times=1, path="/export$",
                                     body=error_body(403, "userRateLimitExceeded", "User Rate Limit Exceeded")))
    env.src.sleeps.clear()
    report = env.sync()
    assert report.status == "succeeded" and report.written == 1, report
    assert env.src.sleeps[:2] == [4.0, 4.0] and len(env.src.sleeps) == 3
    env.assert_index_matches(_ids(env, *IN_SCOPE))


def test_server_errors_are_retried_then_fail_the_run_without_deleting(env: Env) -> None:
    env.sync()
    env.fake.server.faults.add(Fault(status=503, times=2, path="^/drive/v3/changes$",
                                     body=error_body(503, "backendError", "Backend Error")))
    report = env.sync()
    assert report.status == "succeeded" and len(env.src.sleeps) == 2
    env.fake.trash(next(iter(_ids(env, "Returns"))))
    env.fake.server.faults.add(Fault(status=500, times=10, path="^/drive/v3/files$",
                                     body=error_body(500, "backendError", "Backend Error")))
    with pytest.raises(Exception, match="500"):
        env.sync()
    assert env.state.runs()[0]["status"] == "failed"
    assert len(env.state.indexed()) == 6, "a failed listing deletes nothing"


def test_an_unparseable_and_an_oversized_file_are_failures_with_reasons(env: Env) -> None:
    broken = env.fake.add("broken.pdf", "application/pdf", ROOT, b"%PDF-1.4 not really")
    big = env.fake.add("huge.txt", "text/plain", ROOT, b"word " * 50_000)
    report = env.sync()
    assert report.status == "partial" and report.failed == 2 and report.written == 6, report
    reasons = {f.native_id: f for f in report.failures}
    assert reasons[broken.id].stage == "parse"
    assert "over the sync.max_file_bytes limit of 200,000 bytes" in reasons[big.id].message
    env.assert_index_matches(_ids(env, *IN_SCOPE))


def test_rejected_credentials_name_the_setting_and_are_not_retried(env: Env) -> None:
    connector = env.src.connector(token="ya29.expired")
    with pytest.raises(SourceAuthError, match="KNOWDESK_GDRIVE__"):
        connector.check()
    with pytest.raises(SourceAuthError):
        env.sync(connector=connector)
    assert env.src.sleeps == []


def test_check_reports_the_user_and_a_missing_folder(env: Env, sqlite_db: Database) -> None:
    assert env.src.connector().check() == "Google Drive as bot@acme.example: folder Support"
    missing = DriveSource(env.fake, sqlite_db, folders="1NoSuchFolder")
    with pytest.raises(SourceNotFound, match="1NoSuchFolder"):
        missing.connector().check()


def test_shared_drives_and_pagination(server: LoopbackServer, sqlite_db: Database,
                                      memory_qdrant: QdrantClient) -> None:
    fake = DriveFake(server)
    fake.drives["0ADrive"] = "Support KB"
    folder = fake.add("Guides", FOLDER, "0ADrive", drive_id="0ADrive")
    guides = [fake.add(f"guide-{i}.md", "text/markdown", folder.id, f"# Guide {i}\n\nSteps for task {i}.\n".encode(),
                       drive_id="0ADrive") for i in range(5)]
    env = Env(fake, sqlite_db, memory_qdrant, folders=[], drives="0ADrive", page_size=2)
    assert env.src.connector().check() == "Google Drive as bot@acme.example: shared drive Support KB"
    report = env.sync()
    assert report.written == 5, report
    assert env.points()[f"drive:{guides[0].id}"]["topic"] == ["Guides"]
    fake.edit(guides[0].id, b"# Guide 0\n\nNew steps.\n")
    report = env.sync()
    assert report.mode == "incremental" and report.written == 1, report


def test_options_and_credentials_are_validated(server: LoopbackServer) -> None:
    assert validate_options("gdrive", {"folders": "a, b"}) == {"folders": ["a", "b"]}
    with pytest.raises(ConfigError, match="folders"):
        validate_options("gdrive", {})
    source = Source(workspace="acme", name="drive", kind=SourceKind.GDRIVE,
                    options={"base_url": server.url, "folders": "x"})
    with pytest.raises(ConfigError, match="KNOWDESK_GDRIVE__SERVICE_ACCOUNT_FILE"):
        build_connector(source)
    with pytest.raises(ConfigError, match="not a valid key file"):
        build_connector(source, ConnectorContext(env={"KNOWDESK_GDRIVE__SERVICE_ACCOUNT_JSON": "{}"}))
    with pytest.raises(ConfigError, match="unknown variable KNOWDESK_GDRIVE__SERVICE_ACOUNT_FILE"):
        build_connector(source, ConnectorContext(env={"KNOWDESK_GDRIVE__SERVICE_ACOUNT_FILE": "/k.json"}))
