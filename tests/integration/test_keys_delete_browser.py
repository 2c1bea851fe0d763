"""API keys and deleting in headless Chromium (Debian's ``chromium``), walked as a workspace admin would:
sign in with an admin key, create a key on /admin/keys (its secret shown once, and it works), revoke it
(refused from then on), then delete a synced folder source from its page through the confirmation page
(a "keep it" first: nothing deleted), then an operation and its spec, then a published help-center
article from its editor page (its chunks leave the index). Screenshots at 1280 and 390 px
go to ``test-artifacts/admin-*.png``, each checked for sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.errors import AuthError, NotFound
from core.models import Channel, Source, SourceKind
from core.settings import Settings, SourcesSettings
from helpcenter.models import ArticleInput, Status, TopicInput, TranslationInput
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.fixtures.orders_spec import ORDERS_SPEC
from tests.integration.test_workspace_browser import shoot, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.serial]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, Runtime]]:
    """The app on a loopback port, an admin key, a synced folder source and the orders spec."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in [("refunds.md", "# Refunds\n\nRefunds reach your card within five working days.\n"),
                       ("shipping.md", "# Shipping\n\nParcels leave the warehouse every weekday at noon.\n")]:
        (docs / name).write_text(text, encoding="utf-8")
    rt = Runtime(Settings(home=tmp_path / "home", sources=SourcesSettings(allowed_roots=[tmp_path])))
    source = rt.sources.add(Source(workspace="default", name="handbook", kind=SourceKind.FOLDER,
                                   options={"path": str(docs)}))
    assert rt.sync(source).written == 2
    rt.actions.import_spec("default", "orders", ORDERS_SPEC.read_bytes(), base_url="https://shop.example.com/v1",
                           channels=(Channel.WEB,))
    rt.helpcenter.create_topic("default", TopicInput(id="billing", name="Billing"))
    rt.helpcenter.create_article("default", ArticleInput(slug="card-fees", topic="billing", default_locale="en",
                                                         translations=(TranslationInput(
                                                             locale="en", title="Card fees", status=Status.PUBLISHED,
                                                             body="Paying by card costs no fee."),)))
    _, admin = KeyStore(db=rt.db).create("default", scopes=["admin"], name="ops")
    try:
        with serve_app(create_app(rt), name="keys-delete-server") as url:
            yield url, admin, rt
    finally:
        rt.qdrant.close()


def test_create_and_revoke_a_key_then_delete_a_source_an_operation_a_spec_and_an_article(site: tuple[str, str, Runtime],
                                                                  tmp_path: Path) -> None:
    url, admin, rt = site
    keys = KeyStore(db=rt.db)
    with signed_in(tmp_path, url, admin, "/admin/keys") as b:
        assert b.js("location.pathname") == "/admin/keys"
        assert b.text("nav.pages a[aria-current=page]") == "Keys"
        assert "in use by this page" in b.text("table.keys tbody")
        assert b.js("[...document.querySelectorAll('form.new-key input:not([type=hidden]), form.new-key select')]"
                    ".every(e => document.querySelector(`label[for=\"${e.id}\"]`))"), "every field has its label"
        shoot(b, "keys")

        b.fill("#name", "widget server")
        b.js("document.querySelector('#scope').value = 'read'")
        b.click("#create-key")
        secret = b.text("#new-key")
        assert secret.startswith("kd_"), "the new key is shown once on the answering page"
        made = keys.verify(secret)
        assert made.scopes and {s.value for s in made.scopes} == {"read"}
        assert b.js(f"document.querySelector('tr#key-{made.key_id}') !== null")
        shoot(b, "keys-created")
        b.goto(f"{url}/admin/keys")
        assert secret not in b.js("document.documentElement.outerHTML"), "never shown again"

        b.click(f"tr#key-{made.key_id} form button")
        assert f"revoked {made.key_id}" in b.text(".notice")
        assert b.text(f"tr#key-{made.key_id} td[data-label=State]").startswith("revoked")
        with pytest.raises(AuthError):
            keys.verify(secret)
        shoot(b, "keys-revoked")

        chunks = rt.index.count("default", source_id="handbook")
        b.goto(f"{url}/admin/sources/handbook/edit")
        b.click("#delete-source")
        assert b.js("location.pathname") == "/admin/sources/handbook/delete"
        assert b.text("h1") == "Delete source handbook?"
        assert f"its 2 documents and their {chunks} chunks leave the search index" in b.text("#removes")
        shoot(b, "source-delete")
        b.click("#keep-it")
        assert b.js("location.pathname") == "/admin/sources/handbook/edit", "keeping it goes back to its page"
        assert rt.sources.get("default", "handbook") and rt.index.count("default", source_id="handbook") == chunks
        b.click("#delete-source")
        b.click("#confirm-delete")
        assert b.js("location.pathname") == "/admin/sources"
        assert f"deleted source handbook: 2 documents ({chunks} chunks) left the index" in b.text(".notice")
        assert b.js("document.querySelector('tr[data-source=handbook]')") is None
        with pytest.raises(NotFound):
            rt.sources.get("default", "handbook")
        assert rt.index.count("default", source_id="handbook") == 0
        shoot(b, "sources-deleted")

        b.goto(f"{url}/admin/actions/operations/cancelOrder")
        b.click("#delete-operation")
        assert b.text("h1") == "Delete operation cancelOrder?"
        assert "enabled on web" in b.text("#removes")
        shoot(b, "operation-delete")
        b.click("#confirm-delete")
        assert "deleted operation cancelOrder (POST /orders/{order_id}/cancel)" in b.text(".notice")
        assert b.js("document.querySelector('tr[data-action=cancelOrder]')") is None
        with pytest.raises(NotFound):
            rt.actions.store.get("default", "cancelOrder")

        operations = len(rt.actions.store.actions("default"))
        b.goto(f"{url}/admin/actions")
        b.click("#delete-spec-orders")
        assert b.text("h1") == "Delete spec orders?"
        assert b.js("document.querySelectorAll('#deleted-operations li').length") == operations
        shoot(b, "spec-delete")
        b.click("#confirm-delete")
        assert f"deleted spec orders and its {operations} operations" in b.text(".notice")
        assert rt.actions.store.specs("default") == [] and rt.actions.store.actions("default") == []

        article = "help-center:card-fees/en"
        assert rt.index.count("default", document_id=article) > 0
        b.goto(f"{url}/admin/help/articles/card-fees/en")
        b.click("#delete-article")
        assert b.js("location.pathname") == "/admin/help/articles/card-fees/delete"
        assert b.text("h1") == "Delete article card-fees?"
        assert "the published en text and its" in b.text("#removes")
        shoot(b, "article-delete")
        b.click("#confirm-delete")
        assert b.js("location.pathname") == "/admin/help"
        assert "deleted article card-fees: 1 published translation left the index" in b.text(".notice")
        assert b.js("document.querySelector('tr[data-article=card-fees]')") is None
        with pytest.raises(NotFound):
            rt.helpcenter.store.get("default", "card-fees")
        assert rt.index.count("default", document_id=article) == 0
        shoot(b, "article-deleted")
