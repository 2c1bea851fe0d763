"""The folder and help-center export connectors through the shared contract."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from core.db import Database
from core.models import Source, SourceKind
from ingest.connectors.base import Connector
from ingest.connectors.registry import build_connector
from tests.contracts.connector_contract import ConnectorContract, ContractEnv


class FolderFixture:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = Source(workspace="acme", name="folder", kind=SourceKind.FOLDER, options={"path": str(root)})

    def connector(self) -> Connector:
        return build_connector(self.source)

    def add(self, key: str, title: str, body: str) -> str:
        (self.root / f"{key}.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        return f"{key}.md"

    def edit(self, key: str, body: str) -> None:
        path = self.root / f"{key}.md"
        path.write_text(path.read_text().split("\n\n")[0] + f"\n\n{body}\n", encoding="utf-8")
        future = time.time() + 10  # past the cursor's overlap window
        import os

        os.utime(path, (future, future))

    def delete(self, key: str) -> None:
        (self.root / f"{key}.md").unlink()


class HelpCenterFixture:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.articles: dict[str, dict[str, object]] = {}
        self.source = Source(
            workspace="acme",
            name="hc",
            kind=SourceKind.HELPCENTER_EXPORT,
            options={"path": str(path), "base_url": "https://help.example.com"},
        )
        self._save()

    def _save(self) -> None:
        self.path.write_text(
            json.dumps({"topics": [{"id": "t", "name": "General"}], "articles": list(self.articles.values())}),
            encoding="utf-8",
        )

    def connector(self) -> Connector:
        return build_connector(self.source)

    def add(self, key: str, title: str, body: str) -> str:
        self.articles[key] = {
            "id": key,
            "topic": "t",
            "title": title,
            "body": body,
            "updated_at": "2026-01-01T00:00:00Z",
        }
        self._save()
        return f"{key}/en"

    def edit(self, key: str, body: str) -> None:
        self.articles[key] |= {"body": body, "updated_at": "2026-06-01T00:00:00Z"}
        self._save()

    def delete(self, key: str) -> None:
        del self.articles[key]
        self._save()


class TestFolderContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, sqlite_db: Database, memory_qdrant: QdrantClient, tmp_path: Path) -> ContractEnv:
        root = tmp_path / "docs"
        root.mkdir()
        return ContractEnv(fixture=FolderFixture(root), db=sqlite_db, qdrant=memory_qdrant)


class TestHelpCenterContract(ConnectorContract):
    @pytest.fixture
    def contract_env(self, sqlite_db: Database, memory_qdrant: QdrantClient, tmp_path: Path) -> ContractEnv:
        return ContractEnv(fixture=HelpCenterFixture(tmp_path / "hc.json"), db=sqlite_db, qdrant=memory_qdrant)
