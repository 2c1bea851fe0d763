"""The actions pages (/admin/actions) through TestClient: importing a spec, a base URL, enabling and
configuring operations, secrets (written, never shown back) and the network allowlist. Each form with
valid input, with input the API refuses (the message by its field, what was typed kept, nothing
stored), with a key of too small a scope, and with a forged CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.models import Channel
from tests.fixtures.orders_spec import ORDERS_SPEC
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow
SECRET = "shop-key-that-must-never-be-shown-0451"


def imported(rt: Runtime) -> None:
    rt.actions.import_spec("default", "orders", ORDERS_SPEC.read_bytes(), base_url="https://shop.example.com/v1")


def test_importing_a_spec_keeps_what_was_typed_when_refused(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    csrf = sign_in(client, rt, "write", "/admin/actions")
    spec = ORDERS_SPEC.read_text(encoding="utf-8")
    r = client.post("/admin/actions/import", data={"csrf": csrf, "name": "Bad Name!", "spec": spec})
    assert r.status_code == 422 and re.search(r'id="name-error">[^<]*pattern', r.text)
    assert 'value="Bad Name!"' in r.text and "listOrders" in r.text, "the name and the pasted spec are kept"
    r = client.post("/admin/actions/import", data={"csrf": csrf, "name": "orders", "spec": "just: [some, yaml]"})
    assert r.status_code == 422 and 'id="spec-error"' in r.text and "just: [some, yaml]" in r.text
    r = client.post("/admin/actions/import", data={"csrf": csrf, "name": "orders", "spec": "  "})
    assert r.status_code == 422 and re.search(r'id="spec-error">[^<]*paste', r.text)
    assert rt.actions.store.specs("default") == [], "nothing stored from a refused form"

    r = client.post(
        "/admin/actions/import",
        data={"csrf": csrf, "name": "orders", "spec": spec, "base_url": "https://shop.example.com/v1"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "imported%20orders" in r.headers["location"]
    assert [s.name for s in rt.actions.store.specs("default")] == ["orders"]
    assert all(not a.channels for a in rt.actions.store.actions("default")), "none ticked: all disabled"
    page = client.get(r.headers["location"]).text
    assert 'data-action="listOrders"' in page and "none is enabled yet" in page
    assert 'id="spec-orders"' in page and "not set" in page, "the schemes show whether a secret is set"


def test_operations_are_enabled_disabled_and_configured(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    imported(rt)
    csrf = sign_in(client, rt, "write", "/admin/actions")
    r = client.post("/admin/actions/operations/listOrders", data={"csrf": csrf, "do": "enable"}, follow_redirects=False)
    assert r.status_code == 303 and rt.actions.store.get("default", "listOrders").channels == tuple(Channel)
    r = client.post(
        "/admin/actions/operations/listOrders", data={"csrf": csrf, "do": "disable"}, follow_redirects=False
    )
    assert r.status_code == 303 and rt.actions.store.get("default", "listOrders").channels == ()

    page = client.get("/admin/actions/operations/cancelOrder")
    assert page.status_code == 200 and 'id="channel-web"' in page.text and "order_id" in page.text
    r = client.post(
        "/admin/actions/operations/cancelOrder",
        data={"csrf": csrf, "channel-web": "on", "channel-email": "on", "segments": "vip, trial", "confirm": "on"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    stored = rt.actions.store.get("default", "cancelOrder")
    assert stored.channels == (Channel.WEB, Channel.EMAIL) and stored.segments == ("vip", "trial") and stored.confirm
    page = client.get(r.headers["location"]).text
    assert "saved: enabled on web, email" in page and 'value="vip trial"' in page
    assert client.get("/admin/actions/operations/nope").status_code == 404

    r = client.post("/admin/actions/specs/orders/base-url", data={"csrf": csrf, "base_url": "ftp"})
    assert r.status_code == 422 and 'id="base_url-orders-error"' in r.text and 'value="ftp"' in r.text
    assert rt.actions.store.spec("default", "orders").base_url == "https://shop.example.com/v1"
    r = client.post(
        "/admin/actions/specs/orders/base-url",
        data={"csrf": csrf, "base_url": "https://api.shop.test/v2"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and rt.actions.store.spec("default", "orders").base_url == "https://api.shop.test/v2"


def test_secrets_are_written_by_admin_keys_and_never_shown(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    imported(rt)
    csrf = sign_in(client, rt, "write", "/admin/actions")
    assert 'action="/admin/actions/specs/orders/secrets/ShopKey"' not in client.get("/admin/actions").text
    r = client.post("/admin/actions/specs/orders/secrets/ShopKey", data={"csrf": csrf, "value": SECRET})
    assert r.status_code == 403 and "admin scope" in r.text
    assert rt.actions.store.secret_names("default") == []

    csrf = sign_in(client, rt, "admin", "/admin/actions")
    r = client.post("/admin/actions/specs/orders/secrets/ShopKey", data={"csrf": csrf, "value": ""})
    assert r.status_code == 422 and re.search(r'id="secret-orders-ShopKey-error">[^<]*missing value', r.text)
    assert rt.actions.store.secret_names("default") == []
    r = client.post(
        "/admin/actions/specs/orders/secrets/CustomerToken",
        data={"csrf": csrf, "token": SECRET},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        "/admin/actions/specs/orders/secrets/ShopKey", data={"csrf": csrf, "value": SECRET}, follow_redirects=False
    )
    assert r.status_code == 303 and rt.actions.store.secret("default", "orders", "ShopKey") == {"value": SECRET}
    page = client.get(r.headers["location"]).text
    assert SECRET not in page and "Replace secret" in page, "a stored secret is never sent back"
    r = client.post(
        "/admin/actions/specs/orders/secrets/ShopKey", data={"csrf": csrf, "do": "delete"}, follow_redirects=False
    )
    assert r.status_code == 303 and rt.actions.store.secret("default", "orders", "ShopKey") is None
    assert client.post("/admin/actions/specs/orders/secrets/Nope", data={"csrf": csrf, "value": "x"}).status_code == 404


def test_the_network_allowlist_is_for_admin_keys(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    csrf = sign_in(client, rt, "write", "/admin/actions")
    r = client.get("/admin/actions/network")
    assert r.status_code == 403 and "admin scope" in r.text and 'action="/admin/actions/network"' not in r.text
    assert client.post("/admin/actions/network", data={"csrf": csrf, "allow": "10.0.0.0/8"}).status_code == 403
    assert rt.actions.store.allowlist("default") == []

    csrf = sign_in(client, rt, "admin", "/admin/actions/network")
    typed = "10.0.0.0/8\r\nnot a host!\r\n"
    r = client.post("/admin/actions/network", data={"csrf": csrf, "allow": typed})
    assert r.status_code == 422 and re.search(r"id=\"allow-error\">[^<]*not a host!", r.text)
    assert "10.0.0.0/8\nnot a host!" in r.text and rt.actions.store.allowlist("default") == []
    r = client.post(
        "/admin/actions/network",
        data={"csrf": csrf, "allow": "10.0.0.0/8\r\norders.internal\r\n"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and rt.actions.store.allowlist("default") == ["10.0.0.0/8", "orders.internal"]
    assert "orders.internal" in client.get("/admin/actions/network").text


def test_read_keys_see_without_forms_and_forged_forms_are_refused(admin_site: tuple[Runtime, TestClient]) -> None:
    rt, client = admin_site
    imported(rt)
    csrf = sign_in(client, rt, "read", "/admin/actions")
    page = client.get("/admin/actions").text
    assert 'data-action="listOrders"' in page and "https://shop.example.com/v1" in page
    assert "<form" not in page.split("<main")[1], "a read key gets no form"
    posts = [
        ("/admin/actions/import", {"name": "x", "spec": ORDERS_SPEC.read_text(encoding="utf-8")}),
        ("/admin/actions/operations/listOrders", {"do": "enable"}),
        ("/admin/actions/specs/orders/base-url", {"base_url": "https://x.test"}),
        ("/admin/actions/specs/orders/secrets/ShopKey", {"value": "x"}),
        ("/admin/actions/network", {"allow": "10.0.0.1"}),
    ]
    for path, data in posts:
        r = client.post(path, data={"csrf": csrf, **data})
        assert r.status_code == 403 and "write scope" in r.text, path
    assert client.get("/admin/actions/network").status_code == 403

    sign_in(client, rt, "admin", "/admin/actions")
    for path, data in posts:
        r = client.post(path, data={"csrf": "forged", **data})
        assert r.status_code == 403 and "reload the page" in r.text, path
    assert [s.name for s in rt.actions.store.specs("default")] == ["orders"]
    assert rt.actions.store.get("default", "listOrders").channels == ()
    assert rt.actions.store.secret_names("default") == [] and rt.actions.store.allowlist("default") == []
    client.cookies.clear()
    assert client.get("/admin/actions").status_code == 401
