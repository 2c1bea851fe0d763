"""No 5xx on any input: the inputs the security review found answering 500 each get a 4xx with
the documented ``{"error", "message"}`` body; stored input is bounded (413); every answer has
the browser security headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    rt = Runtime(Settings(home=tmp_path_factory.mktemp("robust") / "home"))
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        _, key = KeyStore(db=rt.db).create("alpha", scopes=["admin"])
        yield client, {"Authorization": f"Bearer {key}"}


def _documented_4xx(r: object, *statuses: int) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)  # type: ignore[attr-defined]
    if statuses:
        assert r.status_code in statuses, (r.status_code, r.text)  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body


@pytest.mark.parametrize("name", ["", " ", "a b", "..", "a\x00b", "x" * 300, "Docs", "-x", "a\ud800"])
def test_bad_source_names_are_4xx(api: tuple[TestClient, dict[str, str]], name: str) -> None:
    client, auth = api
    body = {"name": name, "kind": "website", "options": {"start_url": "https://docs.example/"}}
    r = client.post("/v1/sources", headers={**auth, "content-type": "application/json"},
                    content=_json(body))
    _documented_4xx(r, 422)


def _json(value: object) -> bytes:
    import json

    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate travels as \\ud800


@pytest.mark.parametrize("since", ["999999999d", "99999999999999999999d", "1000000w", "0d", "7x"])
def test_oversized_or_bad_windows_are_4xx(api: tuple[TestClient, dict[str, str]], since: str) -> None:
    client, auth = api
    for path in ("/v1/insights", "/v1/analytics/csat"):
        _documented_4xx(client.get(f"{path}?since={since}", headers=auth), 422)


@pytest.mark.parametrize("value", [2**63, 2**64 + 7, -(2**63) - 1, 2**31])
def test_integers_past_the_database_range_are_4xx(api: tuple[TestClient, dict[str, str]], value: int) -> None:
    client, auth = api
    r = client.post("/v1/help-center/topics", headers=auth, json={"id": "billing", "name": "Billing",
                                                                 "position": value})
    _documented_4xx(r, 422)
    r = client.post("/v1/training/profile/rollback", headers=auth, json={"version": value})
    _documented_4xx(r)


def test_lone_surrogates_in_text_are_4xx(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    headers = {**auth, "content-type": "application/json"}
    sid = client.post("/v1/sessions", headers=auth, json={}).json()["id"]
    for path, raw in (("/v1/retrieve", b'{"query": "\\ud800 descale"}'),
                      (f"/v1/sessions/{sid}/messages", b'{"text": "\\udc00 help"}'),
                      ("/v1/help-center/topics", b'{"id": "t", "name": "\\ud800"}')):
        _documented_4xx(client.post(path, headers=headers, content=raw))


def test_stored_input_is_bounded(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    big = {"name": "big", "kind": "website", "options": {"start_url": "https://docs.example/",
                                                         "exclude": ["x" * 1000] * 100}}
    r = client.post("/v1/sources", headers=auth, json=big)
    _documented_4xx(r, 413)
    huge = b'{"name": "huge", "kind": "website", "options": {"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    r = client.post("/v1/sources", headers={**auth, "content-type": "application/json"}, content=huge)
    _documented_4xx(r, 413)
    assert client.get("/v1/sources", headers=auth).status_code == 200
    assert len(client.get("/v1/sources", headers=auth).content) < 64 * 1024


def test_security_headers_on_every_answer(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    for r in (client.get("/healthz"), client.get("/admin/insights"), client.get("/v1/sources", headers=auth)):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    page = client.get("/admin/insights")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_insights_recomputation_needs_a_write_key_and_is_rate_limited(
        api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    keys = KeyStore(db=rt.db)
    _, read_key = keys.create("alpha", scopes=["read"])
    read = {"Authorization": f"Bearer {read_key}"}
    r = client.get("/v1/insights?since=13d", headers=read)
    _documented_4xx(r, 404)
    assert "write key" in r.json()["message"]
    _documented_4xx(client.get("/v1/insights?since=13d&refresh=true", headers=read), 403)
    assert client.get("/v1/insights?since=13d", headers=admin).status_code == 200  # computed once, stored
    assert client.get("/v1/insights?since=13d", headers=read).status_code == 200  # the stored run
    r = client.get("/v1/insights?since=13d&refresh=true", headers=admin)
    _documented_4xx(r, 429)
    assert int(r.headers["retry-after"]) >= 1
