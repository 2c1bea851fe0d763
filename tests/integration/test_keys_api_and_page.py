"""API keys over HTTP (``/v1/keys``) and in the browser (``/admin/keys``): created once with the
secret shown once, listed without secrets, revoked (never the caller's own key, never twice), bad
input refused with nothing stored, and only admin keys allowed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from service.keys import KeyStore
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_created_listed_and_revoked_over_http(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    store = KeyStore(db=rt.db)
    admin_id, admin = store.create("default", scopes=["admin"], name="ops")
    _, writer = store.create("default", scopes=["write"])
    _, other = store.create("elsewhere", scopes=["admin"])

    assert client.get("/v1/keys", headers=bearer(writer)).status_code == 403
    r = client.post("/v1/keys", headers=bearer(admin), json={"name": "widget server", "scopes": ["read"]})
    assert r.status_code == 201
    made = r.json()
    assert made["scopes"] == ["read"] and made["key"].startswith(f"kd_{made['id']}_")
    assert client.post("/v1/retrieve", headers=bearer(made["key"]), json={"query": "x"}).status_code != 401

    listed = client.get("/v1/keys", headers=bearer(admin)).json()["keys"]
    assert [k["name"] for k in listed] == ["ops", "", "widget server"]
    assert all("key" not in k and "secret_hash" not in k for k in listed), "no secret is ever listed"
    assert made["id"] not in {k["id"] for k in client.get("/v1/keys", headers=bearer(other)).json()["keys"]}

    before = len(store.list("default"))
    for body in ({"scopes": []}, {"scopes": ["owner"]}, {"name": "x" * 201}, {"name": "a\nb"}, {"extra": 1}):
        r = client.post("/v1/keys", headers=bearer(admin), json=body)
        assert r.status_code == 422, body
        assert r.json()["message"]
    assert len(store.list("default")) == before, "a refused request stores no key"

    r = client.delete(f"/v1/keys/{admin_id}", headers=bearer(admin))
    assert r.status_code == 409 and "making the request" in r.json()["message"]
    assert client.delete(f"/v1/keys/{made['id']}", headers=bearer(other)).status_code == 404, "another workspace's"
    assert client.delete("/v1/keys/0123abcd", headers=bearer(admin)).status_code == 404
    assert client.delete("/v1/keys/NOT-HEX", headers=bearer(admin)).status_code == 422
    assert client.delete(f"/v1/keys/{made['id']}", headers=bearer(admin)).status_code == 204
    first = next(k for k in store.list("default") if k["id"] == made["id"])["revoked_at"]
    r = client.delete(f"/v1/keys/{made['id']}", headers=bearer(admin))
    assert r.status_code == 409 and "already revoked" in r.json()["message"]
    assert next(k for k in store.list("default") if k["id"] == made["id"])["revoked_at"] == first
    assert client.post("/v1/retrieve", headers=bearer(made["key"]), json={"query": "x"}).status_code == 401


def test_the_keys_page_shows_a_new_key_once_and_revokes(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    sign_in(client, rt, "write", "/admin/sources")
    page = client.get("/admin/keys")
    assert page.status_code == 403 and "admin scope" in page.text

    csrf = sign_in(client, rt, "admin", "/admin/keys")
    store = KeyStore(db=rt.db)
    before = store.list("default")
    r = client.post("/admin/keys", data={"csrf": csrf, "name": "x" * 201, "scope": "write"})
    assert r.status_code == 422 and 'id="name-error"' in r.text and "x" * 201 in r.text
    r = client.post("/admin/keys", data={"csrf": csrf, "name": "crm", "scope": "owner"})
    assert r.status_code == 422 and 'id="scope-error"' in r.text and 'value="crm"' in r.text
    r = client.post("/admin/keys", data={"csrf": "forged", "name": "crm", "scope": "read"})
    assert r.status_code == 403
    assert store.list("default") == before, "refused forms store no key"

    r = client.post("/admin/keys", data={"csrf": csrf, "name": "crm", "scope": "write"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    key = re.search(r'id="new-key">(kd_[^<]+)<', r.text)
    assert key, "the new key is on the answering page"
    made = next(k for k in store.list("default") if k["name"] == "crm")
    assert made["scopes"] == ["write"]
    listing = client.get("/admin/keys").text
    assert key.group(1) not in listing and f'id="key-{made["id"]}"' in listing, "shown once, listed without it"
    assert "in use by this page" in listing

    r = client.post(f"/admin/keys/{made['id']}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "revoked" in r.headers["location"]
    assert client.get(r.headers["location"]).status_code == 200
    r = client.post(f"/admin/keys/{made['id']}/revoke", data={"csrf": csrf})
    assert r.status_code == 409 and "already revoked" in r.text
    r = client.post("/admin/keys/ffff0000/revoke", data={"csrf": csrf})
    assert r.status_code == 404
