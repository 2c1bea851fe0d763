"""The admin sign-in: a POST form with a CSRF token, a session cookie with the right flags, the
key never in a url or a cookie; the pages carry CSP, frame and nosniff headers."""

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
def app(tmp_path: Path) -> Iterator[tuple[Runtime, object]]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    yield rt, create_app(rt)


def _form(client: TestClient) -> str:
    page = client.get("/admin/insights")
    assert page.status_code == 401 and 'method="post" action="/admin/signin"' in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    token = client.cookies.get("knowdesk_admin_csrf")
    assert token and f'value="{token}"' in page.text
    return token


def test_sign_in_is_a_post_with_csrf_and_sets_a_session_cookie(app: tuple[Runtime, object]) -> None:
    rt, application = app
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    with TestClient(application, base_url="http://testserver") as client:  # type: ignore[arg-type]
        assert client.get(f"/admin/insights?key={key}").status_code == 401, "a key in the url is never read"
        token = _form(client)
        r = client.post("/admin/signin", data={"key": key, "csrf": "forged"}, follow_redirects=False)
        assert r.status_code == 403 and "expired" in r.text
        token = _form(client)
        r = client.post("/admin/signin", data={"key": key, "csrf": token}, follow_redirects=False,
                        headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "another site" in r.text
        token = _form(client)
        r = client.post("/admin/signin", data={"key": "kd_nope_nope", "csrf": token}, follow_redirects=False)
        assert r.status_code == 401
        token = _form(client)
        r = client.post("/admin/signin", data={"key": key, "csrf": token, "since": "https://evil.example"},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/insights?since=7d"
        cookie = r.headers["set-cookie"]
        assert key not in cookie and key not in r.headers["location"]
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("knowdesk_admin_session=")).lower()
        assert "httponly" in session and "samesite=strict" in session and "path=/admin" in session
        assert "secure" not in session  # plain http here
        page = client.get("/admin/insights")
        assert page.status_code == 200 and "<svg" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        client.post("/admin/signout")
        assert client.get("/admin/insights").status_code == 401


def test_the_session_cookie_is_secure_over_https(app: tuple[Runtime, object]) -> None:
    rt, application = app
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    with TestClient(application, base_url="https://testserver") as client:  # type: ignore[arg-type]
        token = _form(client)
        r = client.post("/admin/signin", data={"key": key, "csrf": token}, follow_redirects=False)
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("knowdesk_admin_session=")).lower()
        assert r.status_code == 303 and "secure" in session


def test_a_revoked_key_ends_its_sessions(app: tuple[Runtime, object]) -> None:
    rt, application = app
    keys = KeyStore(db=rt.db)
    key_id, key = keys.create("default", scopes=["write"])
    with TestClient(application) as client:  # type: ignore[arg-type]
        token = _form(client)
        client.post("/admin/signin", data={"key": key, "csrf": token})
        assert client.get("/admin/insights").status_code == 200
        keys.revoke("default", key_id)
        assert client.get("/admin/insights").status_code == 401
