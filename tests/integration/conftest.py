"""Fixtures shared by the integration tests of the admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app


@pytest.fixture
def admin_site(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    """A runtime under ``tmp_path`` and a client of its app (the admin pages included)."""
    rt = Runtime(Settings(home=tmp_path / "home"))
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        yield rt, client
    rt.qdrant.close()
