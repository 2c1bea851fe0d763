"""The analytics page /admin/insights in headless Chromium (Debian's ``chromium``) over the
sample sessions: signing in with a key, themes with sparklines, CSAT and handoff charts; the
screenshot is saved to ``test-artifacts/admin-insights.png`` for review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.integration.cdp import Browser, chromium_path

pytestmark = [pytest.mark.slow, pytest.mark.serial]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    rt = Runtime(Settings(home=tmp_path_factory.mktemp("admin") / "home"))
    rt.insights.seed_samples("default")
    rt.insights.insights.refresh("default", since="7d")
    _, key = KeyStore(db=rt.db).create("default", scopes=["read"])
    try:
        with serve_app(create_app(rt), name="admin-server") as url:
            yield url, key
    finally:
        rt.qdrant.close()


def test_the_page_needs_a_read_key(site: tuple[str, str]) -> None:
    url, key = site
    r = httpx.get(f"{url}/admin/insights")
    assert r.status_code == 401 and "Sign in needed" in r.text and "missing API key" in r.text
    assert httpx.get(f"{url}/admin/insights", headers={"X-API-Key": "kd_nope_nope"}).status_code == 401
    r = httpx.get(f"{url}/admin/insights", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and "<svg" in r.text
    # Themes that are not knowledge gaps point at their conversations by ticket, channel, day and the
    # customer's first words, never by a bare session id.
    assert "Read the conversations behind it" in r.text and "Ticket #" in r.text
    assert 'title="example session"' not in r.text
    r = httpx.get(f"{url}/admin/insights?key={key}", follow_redirects=False)
    assert r.status_code == 401, "a key in the url is never read"


def test_analytics_page_in_headless_chromium(site: tuple[str, str], tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.fail("the browser test needs Debian's chromium: `apt-get install -y chromium` "
                    "(`make test` installs it when run as root)", pytrace=False)
    url, key = site
    with Browser(tmp_path / "profile") as b:
        b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                      "mobile": False})
        b.goto(f"{url}/admin/insights")
        b.type_and_enter("#key", key)  # the sign-in form posts the key; the browser keeps a session cookie
        assert b.js("location.pathname + location.search") == "/admin/insights?since=7d"
        assert key not in b.js("document.cookie + location.href")
        assert b.js("document.querySelector('main h1').textContent") == "Insights"
        rows = b.js("[...document.querySelectorAll('table.insights tbody tr')].map(r => "
                    "[r.dataset.kind, r.querySelector('.label').textContent])")
        kinds = {kind for kind, _ in rows}
        assert {"knowledge_gap", "complaint", "request"} <= kinds, rows
        labels = " ".join(label for _, label in rows)
        assert "e-12" in labels and "norway" in labels and "oat milk" in labels
        # every theme has a sparkline with one point per bucket (14 over both weeks)
        counts = b.js("[...document.querySelectorAll('svg.spark polyline')].map(p => p.points.numberOfItems)")
        assert len(counts) == len(rows) and set(counts) == {14}
        assert "write a new article" in b.js("document.querySelector('tr[data-kind=knowledge_gap] .todo')"
                                             ".textContent").lower()
        # CSAT over time: a line with dots, the mean card, the breakdowns
        assert b.js("document.querySelectorAll('#csat ~ figure polyline.series, section[aria-labelledby=csat] "
                    "polyline.series').length") >= 1
        assert 1.0 <= float(b.js("document.querySelector('#csat-mean').textContent")) <= 5.0
        groups = b.js("[...document.querySelectorAll('table.breakdown td:first-child')].map(td => td.textContent)")
        assert {"ai_only", "handed_off", "web", "alice@brewly.example"} <= set(groups)
        # handoff reasons over time: one line per reason, with a legend
        legend = b.js("[...document.querySelectorAll('ul.legend li')].map(li => li.textContent)")
        assert {"low confidence", "frustration"} <= set(legend)
        assert b.js("document.querySelectorAll('section[aria-labelledby=handoffs] polyline.series').length") >= 2
        assert b.js("document.documentElement.scrollWidth <= window.innerWidth")
        height = b.js("document.documentElement.scrollHeight")
        b.page("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": int(height), "deviceScaleFactor": 1,
                                                      "mobile": False})
        b.screenshot(ARTIFACTS / "admin-insights.png")
    assert (ARTIFACTS / "admin-insights.png").stat().st_size > 20_000
