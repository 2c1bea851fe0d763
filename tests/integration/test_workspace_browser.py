"""The workspace pages in headless Chromium (Debian's ``chromium``), walked as a content editor would:
sign in, add a folder source through the form (a wrong folder first: the message by the field,
nothing stored), sync it and watch the run page until it finishes, then open the handoff queue,
open a handoff and mark it resolved. Screenshots at 1280 and 390 px go to ``test-artifacts/``,
each checked for sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.runtime import Runtime
from core.models import Channel
from core.settings import Settings, SourcesSettings
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.integration.cdp import Browser, chromium_path
from tests.integration.test_workspace_pages import record_handoff

pytestmark = [pytest.mark.slow, pytest.mark.serial]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, Runtime, Path]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in [("refunds.md", "# Refunds\n\nRefunds reach your card within five working days.\n"),
                       ("shipping.md", "# Shipping\n\nParcels leave the warehouse every weekday at noon.\n")]:
        (docs / name).write_text(text, encoding="utf-8")
    rt = Runtime(Settings(home=tmp_path / "home", sources=SourcesSettings(allowed_roots=[tmp_path])))
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    for channel in (Channel.EMAIL, Channel.WEB, Channel.WHATSAPP):
        record_handoff(rt, channel)
    try:
        with serve_app(create_app(rt), name="workspace-server") as url:
            yield url, key, rt, docs
    finally:
        rt.qdrant.close()


def shoot(b: Browser, name: str) -> None:
    """Screenshots at 1280 px and 390 px, each without sideways scrolling."""
    for width, label in ((1280, "desktop"), (390, "phone")):
        if width == 390:
            b.phone()
        else:
            b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                          "mobile": False})
        assert b.js("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} scrolls sideways at {width}"
        b.screenshot(ARTIFACTS / f"admin-{name}-{label}.png")
    b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                  "mobile": False})


def wait_for(b: Browser, expression: str, seconds: float = 180.0) -> Any:
    """Poll ``expression`` until truthy; the page may be reloading in between."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = b.js(expression)
        except RuntimeError:  # evaluated while the page navigated
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{expression} stayed false for {seconds} s; page: {b.js('location.href')}")


@contextmanager
def signed_in(tmp_path: Path, url: str, key: str, path: str) -> Iterator[Browser]:
    """A desktop-sized Chromium signed in through the form that ``path`` shows."""
    if chromium_path() is None:
        pytest.fail("the browser test needs Debian's chromium: `apt-get install -y chromium` "
                    "(`make test` installs it when run as root)", pytrace=False)
    with Browser(tmp_path / "profile") as b:
        b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                      "mobile": False})
        b.goto(f"{url}{path}")
        b.type_and_enter("#key", key)
        yield b


def test_add_a_source_watch_its_sync_and_resolve_a_handoff(site: tuple[str, str, Runtime, Path],
                                                            tmp_path: Path) -> None:
    url, key, rt, docs = site
    with signed_in(tmp_path, url, key, "/admin/sources") as b:
        assert b.js("location.pathname") == "/admin/sources"
        assert b.js("document.documentElement.lang") == "en"
        assert b.js("document.querySelector('nav.pages a[aria-current=page]').textContent") == "Sources"
        shoot(b, "sources-empty")
        b.click("#add-source")  # the kind chooser (folder first) opens that kind's form
        assert b.js("location.pathname + location.search") == "/admin/sources/new?kind=folder"
        # every field of the form has its label
        assert b.js("[...document.querySelectorAll('form.source-form input:not([type=hidden]), form.source-form "
                    "select, form.source-form textarea')]"
                    ".every(e => document.querySelector(`label[for=\"${e.id}\"]`))")
        shoot(b, "source-new")

        b.fill("#name", "handbook")
        b.fill("#opt-path", str(docs.parent / "no-such-folder"))
        b.click("#save-source")
        assert "does not exist" in b.js("document.querySelector('#opt-path-error').textContent")
        assert b.js("document.querySelector('#opt-path').getAttribute('aria-invalid')") == "true"
        assert b.js("document.querySelector('#name').value") == "handbook", "what was typed is kept"
        assert rt.sources.list("default") == [], "nothing stored"

        b.fill("#opt-path", str(docs))
        b.click("#save-source")
        assert "added handbook" in b.js("document.querySelector('.notice').textContent")
        assert b.js("document.querySelector('tr[data-source=handbook] td[data-label=\"Last run\"]').textContent"
                    ).strip() == "never synced"
        shoot(b, "sources")

        b.click("tr[data-source=handbook] form[action$='/sync'] button")
        wait_for(b, "/\\/runs\\/[0-9a-f-]+$/.test(location.pathname) && "
                    "document.querySelector('#run-status').textContent === 'succeeded'")
        assert b.js("document.querySelector('#count-written').textContent") == "2"
        assert b.js("document.querySelector('#count-total').textContent") == "2"
        assert b.js("document.querySelector('#run-done').textContent").startswith("2 of 2")
        # the JSON the page's script polls answers this browser's session (its cookie covers /admin)
        progress = b.page("Runtime.evaluate", {
            "expression": "fetch(document.querySelector('#run').dataset.progress).then(r => r.json())",
            "awaitPromise": True, "returnByValue": True})["result"]["value"]
        assert progress["status"] == "succeeded" and progress["done"] == progress["total"] == 2
        shoot(b, "run")

        b.goto(f"{url}/admin/sources")
        assert b.js("document.querySelector('tr[data-source=handbook] .status').textContent") == "succeeded"
        link = b.js("document.querySelector('tr[data-source=handbook] td[data-label=Name] a').href")
        assert link == f"{url}/admin/sources/handbook/edit"
        b.goto(link)
        assert b.js("document.querySelector('tr[data-run] .status').textContent") == "succeeded"
        assert b.js("document.querySelector('#opt-path').value") == str(docs.resolve())
        shoot(b, "source")

        b.click("nav.pages a[href='/admin/handoffs']")
        assert b.js("document.querySelectorAll('table.handoffs tbody tr').length") == 3
        b.js("document.querySelector('#f-channel').value = 'whatsapp'")
        b.click("form.filters button")
        assert b.js("location.search").count("channel=whatsapp") == 1
        assert b.js("[...document.querySelectorAll('table.handoffs tbody tr')].map(r => r.dataset.channel)") == [
            "whatsapp"]
        b.goto(f"{url}/admin/handoffs")
        shoot(b, "handoffs")

        b.click("tr[data-channel=email] a")
        assert "My refund never arrived" in b.js("document.querySelector('ol.transcript').textContent")
        assert b.js("document.querySelector('ul.passages a').href") == "https://docs.example.com/refunds"
        shoot(b, "handoff")
        b.click("#resolve")
        assert b.js("document.querySelector('#session-status').textContent") == "resolved"
        assert "resolved" in b.js("document.querySelector('.notice').textContent")
        assert b.js("document.querySelector('#resolve')") is None
        b.goto(f"{url}/admin/handoffs")
        assert b.js("document.querySelectorAll('table.handoffs tbody tr').length") == 2


def ask(b: Browser, question: str) -> dict[str, Any]:
    """Send ``question`` in the chat panel; the last reply with its decision."""
    b.fill("#text", question)
    b.click("#send")
    return dict(b.js("(() => { const li = [...document.querySelectorAll('ol.chat li.agent')].pop();"
                     " const d = li.querySelector('.decision');"
                     " return {reply: li.querySelector('.text').textContent, action: d.dataset.action,"
                     " confidence: d.querySelector('.confidence').textContent,"
                     " reason: d.querySelector('.reason').textContent,"
                     " citations: [...d.querySelectorAll('.citations a')].map(a => a.getAttribute('href'))}; })()"))


def test_write_and_publish_an_article_and_see_the_chat_answer_change(site: tuple[str, str, Runtime, Path],
                                                                      tmp_path: Path) -> None:
    url, key, rt, _ = site
    with signed_in(tmp_path, url, key, "/admin/help") as b:
        assert b.js("document.querySelector('nav.pages a[aria-current=page]').textContent") == "Help center"
        b.fill("#topic-id", "billing")
        b.type_and_enter("#topic-name", "Billing")  # the keyboard sends the form
        assert "topic Billing added" in b.js("document.querySelector('.notice').textContent")

        b.click("#new-article")
        assert b.js("[...document.querySelectorAll('form.new-article input:not([type=hidden]), form.new-article "
                    "select, form.new-article textarea')].every(e => document.querySelector(`label[for=\"${e.id}\"]`))")
        b.fill("#slug", "Refunds Policy")
        b.js("document.querySelector('#topic').value = 'billing'")
        b.fill("#title", "Refunds")
        b.fill("#body", "# Refunds\n\nRefunds reach your card within five working days.")
        b.click("form.new-article button[type=submit]")
        assert "is invalid" in b.js("document.querySelector('#slug-error').textContent")
        assert b.js("document.querySelector('#body').value").endswith("five working days."), "what was typed is kept"
        assert rt.helpcenter.store.articles("default") == [], "nothing stored"
        b.fill("#slug", "refunds")
        b.click("form.new-article button[type=submit]")
        assert b.js("location.pathname") == "/admin/help/articles/refunds/en"
        assert b.js("document.querySelector('#status').textContent") == "draft"

        b.click("nav.pages a[href='/admin/chat']")
        b.fill("#email", "ana@example.com")
        b.click("#start-button")
        before = ask(b, "How long do refunds take?")
        assert "/help/en/articles/refunds" not in before["citations"], "a draft is not what the agent answers from"
        assert before["action"] == "handoff" and "handed off" in before["reason"]
        assert b.js("document.querySelector('#handed-off-note') !== null")

        b.goto(f"{url}/admin/help/articles/refunds/en")
        b.click("#save-publish")
        assert b.js("document.querySelector('#status').textContent") == "published"
        b.goto(f"{url}/admin/chat")
        b.fill("#email", "ana@example.com")
        b.click("#start-button")  # the last conversation went to the team: a new one
        chat = f"{url}{b.js('location.pathname + location.search')}"
        b.page("Network.enable")
        published = ask(b, "How long do refunds take?")
        assert published["action"] == "answer" and "five working days" in published["reply"]
        streamed = [e["params"]["response"] for e in b._events if e["method"] == "Network.responseReceived"
                    and e["params"]["response"]["url"].endswith("/messages/stream")]
        assert [r["mimeType"] for r in streamed] == ["text/event-stream"], "the reply came as server-sent events"
        assert b.js("location.hash").startswith("#message-"), "then the page shows the stored turn"
        b.page("Network.disable")
        assert published["citations"] == ["/help/en/articles/refunds"] and published["reason"]
        assert 0 < float(published["confidence"]) <= 1

        b.goto(f"{url}/admin/help/articles/refunds/en")
        b.fill("#body", "# Refunds\n\nRefunds reach your card within *ten* working days.")
        b.type_and_enter("#title", "")  # Enter in the title previews: nothing stored
        assert b.js("document.querySelector('#preview em').textContent") == "ten"
        assert "five" in rt.helpcenter.store.get("default", "refunds").translations[0].body
        shoot(b, "article")
        b.click("#save-button")
        assert "the agent answers from it now" in b.js("document.querySelector('.notice').textContent")
        b.click("#all-versions")
        assert b.js("document.querySelector('ol.diff li.added').textContent").endswith("*ten* working days.")
        shoot(b, "versions")
        b.goto(f"{url}/admin/help")
        shoot(b, "help")

        b.goto(chat)
        edited = ask(b, "How long do refunds take?")
        assert "ten working days" in edited["reply"] and "five" not in edited["reply"], edited
        assert b.js("document.documentElement.lang") == "en"
        shoot(b, "chat-answered")



def test_write_a_training_scenario_and_the_profile(site: tuple[str, str, Runtime, Path], tmp_path: Path) -> None:
    url, key, rt, _ = site
    with signed_in(tmp_path, url, key, "/admin/training") as b:
        b.click("#new-scenario")
        assert b.js("[...document.querySelectorAll('form.scenario input:not([type=hidden]), form.scenario select, "
                    "form.scenario textarea')].every(e => document.querySelector(`label[for=\"${e.id}\"]`))")
        b.fill("#title", "Where is my order")
        b.fill("#answer", "Track it at /orders.")
        b.js("document.querySelector('#channel-email').click()")  # ticking loads no page
        b.click("#save-button")
        assert "trigger question" in b.js("document.querySelector('#triggers-error').textContent")
        assert b.js("document.querySelector('#channel-email').checked"), "what was ticked is kept"
        assert rt.training.store.scenarios("default") == [], "nothing stored"
        b.fill("#triggers", "Where is my order?\nwhere's my parcel")
        b.js("document.querySelector('#publish-now').click()")
        b.click("#save-button")
        assert b.js("document.querySelector('h1').textContent") == "Where is my order"
        assert rt.training.scenario("default", "where-is-my-order") is not None
        shoot(b, "scenario")
        b.goto(f"{url}/admin/training")
        shoot(b, "training")
        b.click("#profile-link")
        b.fill("#name", "Ada")
        b.click("#save-publish")
        assert "the agent uses it now" in b.js("document.querySelector('.notice').textContent")
        shoot(b, "profile")


def test_import_a_spec_enable_an_operation_and_set_the_allowlist(site: tuple[str, str, Runtime, Path],
                                                                 tmp_path: Path) -> None:
    from tests.fixtures.orders_spec import ORDERS_SPEC

    url, _, rt, _ = site
    _, admin = KeyStore(db=rt.db).create("default", scopes=["admin"])
    with signed_in(tmp_path, url, admin, "/admin/actions") as b:
        assert b.js("document.querySelector('nav.pages a[aria-current=page]').textContent") == "Actions"
        assert b.js("[...document.querySelectorAll('form.import-spec input:not([type=hidden]), form.import-spec "
                    "textarea')].every(e => document.querySelector(`label[for=\"${e.id}\"]`))")
        b.fill("#name", "orders")
        b.fill("#spec", "openapi: 3.0.0")
        b.click("form.import-spec button[type=submit]")
        assert b.js("document.querySelector('#spec-error').textContent"), "the refusal sits by the spec"
        assert b.js("document.querySelector('#name').value") == "orders", "what was typed is kept"
        assert rt.actions.store.specs("default") == []
        b.fill("#spec", ORDERS_SPEC.read_text(encoding="utf-8"))
        b.fill("#base_url", "https://shop.example.com/v1")
        b.click("form.import-spec button[type=submit]")
        assert "imported orders" in b.js("document.querySelector('.notice').textContent")
        b.click("tr[data-action=listOrders] form button")
        assert "listOrders enabled on web" in b.js("document.querySelector('.notice').textContent")
        assert rt.actions.store.get("default", "listOrders").channels
        b.js("document.querySelector('#secret-orders-ShopKey-value').focus()")
        b.page("Input.insertText", {"text": "typed-shop-key"})
        b.click("tr[data-scheme=ShopKey] form.secret button")
        assert b.js("document.querySelector('tr[data-scheme=ShopKey] .secret-state').textContent") == "set"
        assert "typed-shop-key" not in b.js("document.documentElement.outerHTML"), "a secret is never shown back"
        b.fill("#base_url-orders", "")
        b.type_and_enter("#base_url-orders", "https://orders.example.com/api")  # the keyboard sends the form
        assert rt.actions.store.spec("default", "orders").base_url == "https://orders.example.com/api"
        shoot(b, "actions")

        confirm = rt.actions.store.get("default", "cancelOrder").confirm
        b.click("tr[data-action=cancelOrder] td[data-label=Operation] a")
        b.js("document.querySelector('#channel-web').click(); document.querySelector('#confirm').click()")
        b.click("#save-operation")
        assert b.js("document.querySelector('#enabled-on').textContent") == "web"
        assert rt.actions.store.get("default", "cancelOrder").confirm is not confirm, "the box flips the flag"
        shoot(b, "action")

        b.goto(f"{url}/admin/actions/network")
        b.fill("#allow", "10.0.0.0/8\nnot a host!")
        b.click("#save-network")
        assert "not a host!" in b.js("document.querySelector('#allow-error').textContent")
        b.fill("#allow", "10.0.0.0/8\norders.internal")
        b.click("#save-network")
        assert rt.actions.store.allowlist("default") == ["10.0.0.0/8", "orders.internal"]
        shoot(b, "actions-network")
