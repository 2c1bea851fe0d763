"""The help portal in headless Chromium (Debian's ``chromium``; ``make test`` installs it as root):
open the portal, search, follow a result, switch locale, at a phone's width; the screenshot is
saved to ``test-artifacts/portal.png`` for review."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.settings import Settings
from helpcenter.markdown_io import from_export
from service.api import create_app
from tests.fixtures.app_server import serve_app
from tests.integration.cdp import Browser, chromium_path

pytestmark = [pytest.mark.slow, pytest.mark.serial]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
TOPICS = {"subscriptions", "shipping", "account"}


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[str]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    bundle = from_export(json.loads((ROOT / "service" / "samples" / "helpcenter.json").read_text(encoding="utf-8")))
    bundle = bundle.model_copy(update={"articles": tuple(a for a in bundle.articles if a.topic in TOPICS)})
    rt.helpcenter.import_bundle("default", bundle)
    try:
        with serve_app(create_app(rt), name="portal-server") as url:
            yield url
    finally:
        rt.qdrant.close()


def test_open_search_follow_a_result_and_switch_locale(portal: str, tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.fail("the browser test needs Debian's chromium: `apt-get install -y chromium` "
                    "(`make test` installs it when run as root)", pytrace=False)
    with Browser(tmp_path / "profile") as b:
        b.phone()
        b.goto(f"{portal}/help")
        assert b.js("location.pathname") == "/help/en"
        assert b.js("document.documentElement.lang") == "en"
        assert b.js("document.querySelector('main h1').textContent") == "Topics"
        assert b.js("[...document.querySelectorAll('.topics a.topic')].map(a => a.textContent)") == [
            "Account & login", "Subscriptions", "Shipping & delivery"]
        # landmarks and labels
        assert b.js("!!document.querySelector('header') && !!document.querySelector('main') && "
                    "!!document.querySelector('form[role=search]') && !!document.querySelector('label[for=q]')")
        assert b.js("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll on a phone

        b.type_and_enter("#q", "how do I skip next month's box")
        assert b.js("location.pathname") == "/help/en/search"
        titles = b.js("[...document.querySelectorAll('ol.results li > a')].map(a => a.textContent)")
        assert titles and titles[0] == "Skip a delivery", titles
        assert b.js("document.querySelector('ol.results p').textContent.length") > 40  # a snippet
        b.screenshot(ARTIFACTS / "portal-search.png")

        b.click("ol.results li > a")
        assert b.js("location.pathname") == "/help/en/articles/skip-a-delivery"
        assert b.js("document.querySelector('article h1').textContent") == "Skip a delivery"
        assert b.js("document.querySelectorAll('nav.crumbs li').length") == 2

        b.click("nav.lang a[hreflang=de]")
        assert b.js("location.pathname") == "/help/de/articles/skip-a-delivery"
        assert b.js("document.documentElement.lang") == "de"
        german = b.js("document.querySelector('article h1').textContent")
        assert german and german != "Skip a delivery"
        assert b.js("document.querySelector('nav.lang a[aria-current=true]').textContent") == "Deutsch"
        assert b.js("document.querySelector('label[for=q]').textContent") == "Im Hilfe-Center suchen"
        assert b.js("[...document.querySelectorAll('nav.crumbs li a')].map(a => a.textContent)")[1] == "Abonnements"
        assert b.js("document.documentElement.scrollWidth <= window.innerWidth")
        b.screenshot(ARTIFACTS / "portal.png")

        b.goto(f"{portal}/help/de/articles/pause-subscription")  # no German text: English, with a note
        assert b.js("document.querySelector('.note') !== null")
        assert b.js("document.querySelector('article').lang") == "en"
    assert (ARTIFACTS / "portal.png").stat().st_size > 10_000
