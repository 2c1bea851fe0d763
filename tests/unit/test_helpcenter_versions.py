"""Versions of help-center translations: every saved text is kept, a rollback adds the old text
as a new version, a change that cannot be indexed leaves no version behind, and the diff a
person reads (title, changed lines, folded context)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from core.db import _MIGRATIONS as MIGRATIONS
from core.db import Database, make_engine, migrate
from core.errors import NotFound, ParseError
from helpcenter.models import Article, ArticleInput, HelpCenterRules, Status, Topic, TopicInput, TranslationInput
from helpcenter.publisher import PublishReport
from helpcenter.service import HelpCenter
from helpcenter.store import HelpCenterStore
from helpcenter.versions import Change, compare, line_diff

WS = "default"


class RefusingPublisher:
    """Indexes nothing; ``plan`` raises ParseError for a body holding ``refuse`` (as an empty text would)."""

    source_id = "help-center"

    def __init__(self) -> None:
        self.refuse = "\u2400never\u2400"

    def plan(self, workspace: str, articles: Iterable[Article], topics: Mapping[str, Topic], **_: Any) -> str:
        for a in articles:
            for t in a.translations:
                if self.refuse in t.body and t.status is Status.PUBLISHED:
                    raise ParseError(f"{a.slug}/{t.locale}: the body has no text to publish")
        return "plan"

    def apply(self, plan: str) -> PublishReport:
        return PublishReport()


@pytest.fixture
def hc(db: Database) -> HelpCenter:
    store = HelpCenterStore(db=db, rules=HelpCenterRules(locales=("en", "de"), max_body_bytes=4096))
    store.create_topic(WS, TopicInput(id="billing", name="Billing"))
    store.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        TranslationInput(locale="en", title="Refunds", body="Refunds take five days."),)))
    return HelpCenter(store=store, publisher=RefusingPublisher())  # type: ignore[arg-type]


def text(title: str, body: str, locale: str = "en") -> TranslationInput:
    return TranslationInput(locale=locale, title=title, body=body)


def test_every_saved_text_is_a_version_and_an_unchanged_save_adds_none(hc: HelpCenter) -> None:
    hc.put_translation(WS, "refunds", text("Refunds", "Refunds take ten days."))
    hc.put_translation(WS, "refunds", text("Refunds", "Refunds take ten days."))  # nothing changed
    hc.put_translation(WS, "refunds", text("Refunds", "Refunds take ten days.", "de"))
    versions = hc.store.versions(WS, "refunds", "en")
    assert [(v.version, v.body, v.note) for v in versions] == [
        (2, "Refunds take ten days.", "edited"), (1, "Refunds take five days.", "created")]
    assert [v.version for v in hc.store.versions(WS, "refunds", "de")] == [1]
    with pytest.raises(NotFound, match="no version 3"):
        hc.store.version(WS, "refunds", "en", 3)
    with pytest.raises(NotFound, match="no article 'nope'"):
        hc.store.versions(WS, "nope", "en")
    hc.delete_translation(WS, "refunds", "de")
    with pytest.raises(NotFound, match="no 'de' translation"):
        hc.store.version(WS, "refunds", "de", 1)


def test_a_rollback_is_a_new_version_with_the_old_text_and_keeps_the_status(hc: HelpCenter) -> None:
    hc.publish(WS, "refunds")
    hc.put_translation(WS, "refunds", text("Refund times", "Refunds take ten days."))
    article, _ = hc.rollback(WS, "refunds", "en", 1)
    en = article.translation("en")
    assert en is not None and (en.title, en.body, en.status) == ("Refunds", "Refunds take five days.",
                                                                 Status.PUBLISHED)
    assert [(v.version, v.note) for v in hc.store.versions(WS, "refunds", "en")] == [
        (3, "rollback to version 1"), (2, "edited"), (1, "created")]
    with pytest.raises(NotFound):
        hc.rollback(WS, "refunds", "en", 9)


def test_a_change_that_cannot_be_indexed_leaves_neither_text_nor_version(hc: HelpCenter) -> None:
    hc.publish(WS, "refunds")
    refuse = hc.publisher.refuse  # type: ignore[attr-defined]
    with pytest.raises(ParseError):
        hc.put_translation(WS, "refunds", text("Refunds", f"{refuse}"))
    assert hc.store.get(WS, "refunds").translations[0].body == "Refunds take five days."
    assert [v.version for v in hc.store.versions(WS, "refunds", "en")] == [1]
    hc.put_translation(WS, "refunds", text("Refunds", "Refunds take ten days."))
    assert [v.version for v in hc.store.versions(WS, "refunds", "en")] == [2, 1], "numbering goes on"


def test_deleting_a_translation_or_article_deletes_its_versions(hc: HelpCenter) -> None:
    hc.put_translation(WS, "refunds", text("Erstattungen", "Fünf Tage.", "de"))
    hc.delete_translation(WS, "refunds", "de")
    hc.put_translation(WS, "refunds", text("Erstattungen", "Zehn Tage.", "de"))
    assert [(v.version, v.body) for v in hc.store.versions(WS, "refunds", "de")] == [(1, "Zehn Tage.")]
    hc.delete_article(WS, "refunds")
    hc.store.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en", translations=(
        text("Refunds", "New text."),)))
    assert [v.version for v in hc.store.versions(WS, "refunds", "en")] == [1]


def test_the_diff_shows_the_changed_lines_with_context_and_folds_the_rest() -> None:
    old = "\n".join(f"line {i}" for i in range(20))
    new = old.replace("line 10", "line ten") + "\nline 20"
    lines = line_diff(old, new)
    assert [(x.change, x.text) for x in lines] == [
        (Change.FOLDED, "7"), (Change.SAME, "line 7"), (Change.SAME, "line 8"), (Change.SAME, "line 9"),
        (Change.REMOVED, "line 10"), (Change.ADDED, "line ten"), (Change.SAME, "line 11"),
        (Change.SAME, "line 12"), (Change.SAME, "line 13"), (Change.FOLDED, "3"), (Change.SAME, "line 17"),
        (Change.SAME, "line 18"), (Change.SAME, "line 19"), (Change.ADDED, "line 20")]
    assert line_diff(old, old) == []


def test_compare_names_a_title_change_and_counts_lines(hc: HelpCenter) -> None:
    hc.put_translation(WS, "refunds", text("Refund times", "Refunds take ten days.\nAsk support."))
    v2, v1 = hc.store.versions(WS, "refunds", "en")
    d = compare(v1, v2)
    assert d.title == ("Refunds", "Refund times") and (d.added, d.removed) == (2, 1) and (d.old, d.new) == (1, 2)
    assert compare(v2, v2).title is None and compare(v2, v2).lines == ()


def test_save_and_publish_is_one_change(hc: HelpCenter) -> None:
    refuse = hc.publisher.refuse  # type: ignore[attr-defined]
    with pytest.raises(ParseError):
        hc.put_translation(WS, "refunds", text("Refunds", refuse), publish=True)
    en = hc.store.get(WS, "refunds").translation("en")
    assert en is not None and (en.body, en.status) == ("Refunds take five days.", Status.DRAFT), "nothing kept"
    article, _ = hc.put_translation(WS, "refunds", text("Refunds", "Ten days."), publish=True)
    assert article.translations[0].status is Status.PUBLISHED and article.translations[0].body == "Ten days."


def test_the_migration_keeps_texts_saved_before_it_as_version_one(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    store = HelpCenterStore(db=Database(engine=engine), rules=HelpCenterRules(locales=("en", "de")))
    store.create_topic(WS, TopicInput(id="billing", name="Billing"))
    store.create_article(WS, ArticleInput(slug="refunds", topic="billing", default_locale="en",
                                          translations=(text("Refunds", "Five days."),)))
    store.put_translation(WS, "refunds", text("Refunds", "Ten days."))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:  # back to before versions: the texts stay, their history goes
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "2110@0700")
        assert "helpcenter_versions" not in sa.inspect(conn).get_table_names()
    migrate(engine)
    assert [(v.version, v.body, v.note) for v in store.versions(WS, "refunds", "en")] == [
        (1, "Ten days.", "text before versions were kept")]
    store.put_translation(WS, "refunds", text("Refunds", "Two days."))
    assert [v.version for v in store.versions(WS, "refunds", "en")] == [2, 1]
