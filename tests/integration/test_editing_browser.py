"""Issue 25's remaining editing in headless Chromium (Debian's ``chromium``), walked as a content editor
would: a source's schedule set on its page (a wrong cron comes back by its field with what was typed,
then a valid one shows its next run), an article's position and default language changed from its
editor (a wrong position comes back by its field), and a save over a text someone else saved
meanwhile (the inline message, what was typed kept, the newer text beside it; saving again replaces
it). Screenshots at 1280 and 390 px go to ``test-artifacts/admin-*.png``, each checked for sideways
scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from helpcenter.models import ArticleInput, TopicInput, TranslationInput
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.app_server import serve_app
from tests.integration.test_workspace_browser import shoot, signed_in

pytestmark = [pytest.mark.slow, pytest.mark.serial]
WS = "default"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, Runtime]]:
    """The app on a loopback port, a write key, a folder source and a draft article in two languages."""
    rt = Runtime(Settings(home=tmp_path / "home"))
    (tmp_path / "docs").mkdir()
    rt.sources.add(Source(workspace=WS, name="docs", kind=SourceKind.FOLDER, options={"path": str(tmp_path / "docs")}))
    rt.helpcenter.create_topic(WS, TopicInput(id="billing", name="Billing"))
    rt.helpcenter.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Refunds", body="Refunds reach your card within five working days."),)))
    rt.helpcenter.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen",
                                                                  body="Erstattungen dauern fünf Werktage."))
    _, key = KeyStore(db=rt.db).create(WS, scopes=["write"])
    try:
        with serve_app(create_app(rt), name="editing-server") as url:
            yield url, key, rt
    finally:
        rt.qdrant.close()


def test_set_a_source_schedule_on_its_page(site: tuple[str, str, Runtime], tmp_path: Path) -> None:
    url, key, rt = site
    with signed_in(tmp_path, url, key, "/admin/sources/docs/edit") as b:
        assert "Not scheduled" in b.text("#schedule-summary")
        b.fill("#sched-cron", "0 3 * * 8")
        b.fill("#sched-timezone", "Europe/Paris")
        b.click("#save-schedule")
        assert "invalid" in b.text("#sched-cron-error")
        assert b.js("document.querySelector('#sched-cron').getAttribute('aria-invalid')") == "true"
        assert b.value("#sched-cron") == "0 3 * * 8" and b.value("#sched-timezone") == "Europe/Paris"
        assert rt.sources.schedule(WS, "docs") is None, "nothing stored"
        shoot(b, "schedule-refused")

        b.fill("#sched-cron", "0 3 * * 1-5")
        b.click("#save-schedule")
        assert "schedule saved" in b.text(".notice")
        assert "Europe/Paris" in b.text("#schedule-summary")
        assert b.js("document.querySelector('#schedule-next') !== null")
        stored = rt.sources.schedule(WS, "docs")
        assert stored is not None and (stored.cron, stored.timezone) == ("0 3 * * 1-5", "Europe/Paris")
        shoot(b, "schedule")
        b.goto(f"{url}/admin/sources")
        assert "cron “0 3 * * 1-5” (Europe/Paris); next" in b.text("tr[data-source=docs]")


def test_position_language_and_a_stale_save_in_the_editor(site: tuple[str, str, Runtime], tmp_path: Path) -> None:
    url, key, rt = site
    with signed_in(tmp_path, url, key, "/admin/help/articles/refunds/en") as b:
        b.fill("#position", "second")
        b.fill("#body", "Refunds reach your card within six working days.")
        b.click("#save-button")
        assert "not a whole number" in b.text("#position-error")
        assert b.value("#position") == "second"
        assert b.value("#body") == "Refunds reach your card within six working days.", "the text is kept"
        assert rt.helpcenter.store.get(WS, "refunds").translation("en").version == 1, "nothing stored"  # type: ignore[union-attr]

        b.fill("#position", "3")
        b.js("document.querySelector('#default_locale').value = 'de'")
        b.click("#save-button")
        assert "saved" in b.text(".notice")
        article = rt.helpcenter.store.get(WS, "refunds")
        assert (article.position, article.default_locale) == (3, "de")
        assert b.value("#position") == "3" and b.value("#default_locale") == "de"

        # someone else saves the English text while this editor is open
        rt.helpcenter.put_translation(WS, "refunds", TranslationInput(
            locale="en", title="Refunds", body="Refunds now take **three** working days."))
        b.fill("#body", "My rewrite: refunds take six working days.")
        b.click("#save-button")
        assert "someone else saved the en text (version 3)" in b.text("#version-error")
        assert b.value("#body") == "My rewrite: refunds take six working days.", "what was typed is kept"
        assert "three" in b.text("#newer"), "the newer text is shown beside it"
        assert "three" in rt.helpcenter.store.get(WS, "refunds").translation("en").body  # type: ignore[union-attr]
        shoot(b, "article-stale-save")

        b.click("#save-button")
        assert "saved" in b.text(".notice")
        assert rt.helpcenter.store.get(WS, "refunds").translation("en").body == (  # type: ignore[union-attr]
            "My rewrite: refunds take six working days.")
