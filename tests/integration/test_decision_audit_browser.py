"""The decision audit page in headless Chromium (Debian's ``chromium``): signed in, filtered by reason
and channel through the form, and at 390 px each decision is a card (the table header hidden, every
cell labelled) with no sideways scrolling. Screenshots at 1280 and 390 px go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.models import Channel
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.integration.audit_records import answered, handed_off, low_confidence
from tests.integration.cdp import Browser, chromium_path
from tests.integration.test_workspace_browser import ARTIFACTS, shoot

pytestmark = [pytest.mark.slow, pytest.mark.serial]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, int]]]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    _, key = KeyStore(db=rt.db).create("default", scopes=["read"])
    events = {"answer": answered(rt, Channel.WEB), "handoff": handed_off(rt, Channel.EMAIL),
              "low": low_confidence(rt, Channel.WHATSAPP)}
    try:
        with serve_app(create_app(rt), name="audit-server") as url:
            yield url, key, events
    finally:
        rt.qdrant.close()


def test_the_audit_filters_and_reads_as_cards_on_a_phone(site: tuple[str, str, dict[str, int]],
                                                         tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.fail("the browser test needs Debian's chromium: `apt-get install -y chromium`", pytrace=False)
    url, key, events = site
    with Browser(tmp_path / "profile") as b:
        b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                      "mobile": False})
        b.goto(f"{url}/admin/decisions")
        b.type_and_enter("#key", key)
        assert b.js("location.pathname") == "/admin/decisions"
        assert b.js("document.querySelector('nav.pages a[aria-current=page]').textContent") == "Decisions"
        assert b.js("document.querySelectorAll('table.decisions tbody tr').length") == 3
        assert b.js("[...document.querySelectorAll('form.filters select')].every(e => "
                    "document.querySelector(`label[for=\"${e.id}\"]`))"), "every filter has its label"

        b.js("document.querySelector('#f-reason').value = 'human_requested'")
        b.click("form.filters button")
        assert "reason=human_requested" in b.js("location.search")
        assert b.js("[...document.querySelectorAll('table.decisions tbody tr')].map(r => Number(r.dataset.decision))"
                    ) == [events["handoff"]]
        assert "0.92" in b.js("document.querySelector('tr[data-reason=human_requested] .score').textContent")

        b.js("document.querySelector('#f-reason').value = ''")
        b.js("document.querySelector('#f-channel').value = 'whatsapp'")
        b.click("form.filters button")
        assert b.js("[...document.querySelectorAll('table.decisions tbody tr')].map(r => r.dataset.channel)") == [
            "whatsapp"]

        b.goto(f"{url}/admin/decisions")
        shoot(b, "decisions")
        b.phone()
        assert b.js("getComputedStyle(document.querySelector('table.decisions tbody tr')).display") == "block"
        assert b.js("document.querySelector('table.decisions thead').getBoundingClientRect().width") <= 1
        label = b.js("getComputedStyle(document.querySelector('table.decisions td[data-label=Passages]'), "
                     "'::before').content")
        assert "Passages" in label, "each card cell names its column"
        assert b.js("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling at 390 px"
        assert (ARTIFACTS / "admin-decisions-phone.png").stat().st_size > 0
