"""The HTTP API on real components: keys, workspace isolation, sync and retrieve, JSON errors."""

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
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    rt = Runtime(Settings(home=tmp_path / "home", sources={"allowed_roots": [tmp_path]}))
    with TestClient(create_app(rt)) as client:
        yield client, rt


def _folder(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "doc.md").write_text(text, encoding="utf-8")
    return folder


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_workspace_a_key_cannot_retrieve_workspace_b_content(api: tuple[TestClient, Runtime], tmp_path: Path) -> None:
    client, rt = api
    keys = KeyStore(db=rt.db)
    _, key_a = keys.create("alpha", scopes=["write"])
    _, key_b = keys.create("beta", scopes=["write"])
    a = _folder(tmp_path, "a", "# Espresso calibration\n\nDial the grinder to setting 7 for a 28 second espresso shot.")
    b = _folder(tmp_path, "b", "# Zebra migration\n\nZebras cross the Mara river in July during the great migration.")
    for key, folder in ((key_a, a), (key_b, b)):
        r = client.post(
            "/v1/sources", headers=auth(key), json={"name": "docs", "kind": "folder", "options": {"path": str(folder)}}
        )
        assert r.status_code == 201, r.text
        r = client.post("/v1/sources/docs/sync", headers=auth(key), json={"wait": True})
        assert r.status_code == 200 and r.json()["written"] == 1, r.text

    r = client.post("/v1/retrieve", headers=auth(key_b), json={"query": "espresso grinder setting", "top_k": 10})
    assert r.status_code == 200
    assert all("Espresso" not in h["title"] for h in r.json()["hits"])
    assert {h["title"] for h in r.json()["hits"]} <= {"Zebra migration"}

    r = client.post("/v1/retrieve", headers=auth(key_a), json={"query": "espresso grinder setting"})
    hits = r.json()["hits"]
    assert hits[0]["title"] == "Espresso calibration" and hits[0]["rank"] == 1
    assert hits[0]["uri"].endswith("/a/doc.md") and "setting 7" in hits[0]["text"]
    assert r.json()["documents"] == 1 and r.json()["notes"] == []

    # bad input: a long query is answered from its first part with a note; blank and top_k out of 1..200 are 422
    r = client.post("/v1/retrieve", headers=auth(key_a), json={"query": "espresso grinder setting " + "x " * 6000})
    assert r.status_code == 200 and r.json()["hits"][0]["title"] == "Espresso calibration"
    assert "answered from its first" in r.json()["notes"][0]
    r = client.post("/v1/retrieve", headers=auth(key_a), json={"query": " \n "})
    assert r.status_code == 422 and "query is empty" in r.json()["message"]
    r = client.post("/v1/retrieve", headers=auth(key_a), json={"query": "espresso", "top_k": 201})
    assert r.status_code == 422 and {p["field"] for p in r.json()["problems"]} == {"top_k"}
    assert client.post("/v1/retrieve", headers=auth(key_a), json={"query": "espresso", "top_k": 200}).status_code == 200

    # the same source name in two workspaces stays two sources
    assert [s["name"] for s in client.get("/v1/sources", headers=auth(key_a)).json()["sources"]] == ["docs"]
    runs = client.get("/v1/sources/docs/runs", headers=auth(key_a)).json()["runs"]
    assert runs[0]["status"] == "succeeded" and runs[0]["report"]["written"] == 1


def test_errors_are_json_with_the_right_status(api: tuple[TestClient, Runtime], tmp_path: Path) -> None:
    client, rt = api
    keys = KeyStore(db=rt.db)
    _, reader = keys.create("alpha", scopes=["read"])
    revoked_id, revoked = keys.create("alpha", scopes=["admin"])
    keys.revoke("alpha", revoked_id)

    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.post("/v1/retrieve", json={"query": "x"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized" and "Bearer" in r.json()["message"]
    assert client.post("/v1/retrieve", headers=auth("kd_nope_nope"), json={"query": "x"}).status_code == 401
    assert (
        client.post("/v1/retrieve", headers=auth(revoked), json={"query": "x"}).json()["message"]
        == "this API key was revoked"
    )
    r = client.post(
        "/v1/sources", headers=auth(reader), json={"name": "d", "kind": "folder", "options": {"path": str(tmp_path)}}
    )
    assert r.status_code == 403 and "write" in r.json()["message"]
    r = client.post("/v1/retrieve", headers={"X-API-Key": reader}, json={"query": "x", "filters": {"colour": "red"}})
    assert r.status_code == 422 and "colour" in r.json()["message"]
    r = client.post("/v1/retrieve", headers=auth(reader), json={"query": "", "top_k": 500})
    assert r.status_code == 422 and {p["field"] for p in r.json()["problems"]} == {"query", "top_k"}
    r = client.post("/v1/sources/missing/sync", headers=auth(reader))
    assert r.status_code == 403
    _, writer = keys.create("alpha", scopes=["write"])
    r = client.post("/v1/sources/missing/sync", headers=auth(writer))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post("/v1/sources", headers=auth(writer), json={"name": "d", "kind": "folder", "options": {}})
    assert r.status_code == 400 and "missing required option 'path'" in r.json()["message"]
    r = client.post("/v1/sources", headers=auth(writer), json={"name": "d", "kind": "ftp"})
    assert r.status_code == 422
    # nothing synced yet: retrieval answers with no hits, not an error
    assert client.post("/v1/retrieve", headers=auth(reader), json={"query": "anything"}).json()["hits"] == []


def test_deleting_a_source_removes_its_run_records(api: tuple[TestClient, Runtime], tmp_path: Path) -> None:
    """A source added again under a deleted one's name starts with no runs; another source's runs stay."""
    client, rt = api
    _, writer = KeyStore(db=rt.db).create("alpha", scopes=["write"])
    folder = _folder(tmp_path, "docs", "# Returns\n\nReturns are accepted within thirty days of delivery.")
    for name in ("docs", "kept"):
        body = {"name": name, "kind": "folder", "options": {"path": str(folder)}}
        assert client.post("/v1/sources", headers=auth(writer), json=body).status_code == 201
        assert client.post(f"/v1/sources/{name}/sync", headers=auth(writer), json={"wait": True}).status_code == 200
    assert len(client.get("/v1/sources/docs/runs", headers=auth(writer)).json()["runs"]) == 1

    assert client.delete("/v1/sources/docs", headers=auth(writer)).status_code == 204
    assert rt.state("alpha", "docs").runs() == []
    assert client.delete("/v1/sources/docs", headers=auth(writer)).status_code == 404
    body = {"name": "docs", "kind": "folder", "options": {"path": str(folder)}}
    assert client.post("/v1/sources", headers=auth(writer), json=body).status_code == 201
    assert client.get("/v1/sources/docs/runs", headers=auth(writer)).json()["runs"] == []
    kept = client.get("/v1/sources/kept/runs", headers=auth(writer)).json()["runs"]
    assert len(kept) == 1 and kept[0]["status"] == "succeeded", "only the deleted source's runs went"
