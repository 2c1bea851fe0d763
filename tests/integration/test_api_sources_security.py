"""What an API key may do with sources: server paths only under the operator's roots (symlinks
and ``..`` resolved), private-network switches only with an admin key, no option values for
read-only keys; the CLI (the operator) is not limited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, Path]]:
    allowed = tmp_path / "allowed"
    (allowed / "docs").mkdir(parents=True)
    (allowed / "docs" / "guide.md").write_text("# Guide\n\nDescale every two months.", encoding="utf-8")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.md").write_text("# Passwords\n\nroot: hunter2", encoding="utf-8")
    (allowed / "escape").symlink_to(secret)
    rt = Runtime(Settings(home=tmp_path / "home", sources={"allowed_roots": [allowed]}))
    with TestClient(create_app(rt)) as client:
        yield client, rt, tmp_path


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _add(client: TestClient, key: str, name: str, kind: str, **options: object) -> object:
    return client.post("/v1/sources", headers=_auth(key), json={"name": name, "kind": kind, "options": options})


def test_server_paths_must_lie_under_an_allowed_root(served: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, tmp = served
    _, writer = KeyStore(db=rt.db).create("alpha", scopes=["write"])
    refused = {
        "outside": str(tmp / "secret"),
        "root": "/",
        "dotdot": str(tmp / "allowed" / ".." / "secret"),
        "symlink": str(tmp / "allowed" / "escape"),
        "etc": "/etc",
    }
    for name, path in refused.items():
        r = _add(client, writer, name, "folder", path=path)
        assert r.status_code == 403, (name, r.text)  # type: ignore[attr-defined]
        assert "outside the folders" in r.json()["message"]  # type: ignore[attr-defined]
        r = _add(client, writer, name, "helpcenter-export", path=path + "/export.json")
        assert r.status_code == 403, (name, r.text)  # type: ignore[attr-defined]
    r = _add(client, writer, "nul", "folder", path="/tmp/\x00x")
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    r = _add(client, writer, "docs", "folder", path=str(tmp / "allowed" / "docs" / ".." / "docs"))
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert r.json()["options"]["path"] == str((tmp / "allowed" / "docs").resolve())  # type: ignore[attr-defined]
    assert [s.name for s in rt.sources.list("alpha")] == ["docs"]


def test_no_server_path_over_http_without_configured_roots(tmp_path: Path) -> None:
    rt = Runtime(Settings(home=tmp_path / "home"))
    with TestClient(create_app(rt)) as client:
        _, admin = KeyStore(db=rt.db).create("alpha", scopes=["admin"])
        r = _add(client, admin, "docs", "folder", path=str(tmp_path))
        assert r.status_code == 403 and "KNOWDESK_SOURCES__ALLOWED_ROOTS" in r.json()["message"]  # type: ignore[attr-defined]


def test_private_network_switches_need_an_admin_key(served: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, _ = served
    keys = KeyStore(db=rt.db)
    _, writer = keys.create("alpha", scopes=["write"])
    _, admin = keys.create("alpha", scopes=["admin"])
    for option, value in (("allow_private_network", True), ("allow_addresses", ["169.254.169.254"])):
        r = _add(client, writer, "intranet", "website", start_url="https://intranet.example/", **{option: value})
        assert r.status_code == 403 and "admin" in r.json()["message"], r.text  # type: ignore[attr-defined]
    r = _add(client, writer, "public", "website", start_url="https://docs.example/", allow_private_network=False)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    r = _add(client, admin, "intranet", "website", start_url="https://intranet.example/", allow_private_network=True)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]


def test_read_only_keys_see_no_option_values(served: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, tmp = served
    keys = KeyStore(db=rt.db)
    _, writer = keys.create("alpha", scopes=["write"])
    _, reader = keys.create("alpha", scopes=["read"])
    assert _add(client, writer, "docs", "folder", path=str(tmp / "allowed" / "docs")).status_code == 201  # type: ignore[attr-defined]
    listing = client.get("/v1/sources", headers=_auth(reader))
    one = client.get("/v1/sources/docs", headers=_auth(reader))
    for body in (listing.text, one.text):
        assert "allowed" not in body and str(tmp) not in body, body
    assert listing.json()["sources"][0]["options"] == {} and one.json()["options_hidden"] == ["path"]
    assert str(tmp) in client.get("/v1/sources/docs", headers=_auth(writer)).text


def test_folder_sync_skips_symlinks_that_leave_the_folder(served: tuple[TestClient, Runtime, Path]) -> None:
    client, rt, tmp = served
    docs = tmp / "allowed" / "docs"
    (docs / "leak.md").symlink_to(tmp / "secret" / "passwords.md")
    (docs / "sub").symlink_to(tmp / "secret")
    _, writer = KeyStore(db=rt.db).create("alpha", scopes=["write"])
    assert _add(client, writer, "docs", "folder", path=str(docs)).status_code == 201  # type: ignore[attr-defined]
    r = client.post("/v1/sources/docs/sync", headers=_auth(writer), json={"wait": True})
    assert r.status_code == 200 and r.json()["written"] == 1, r.text
    hits = client.post("/v1/retrieve", headers=_auth(writer), json={"query": "root password hunter2"}).json()["hits"]
    assert all("hunter2" not in h["text"] for h in hits)
