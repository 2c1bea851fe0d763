"""The help-center store on SQLite and PostgreSQL: topics, articles, translations, bad input,
stale translations, fallback, and the Markdown folder format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.db import Database
from core.errors import Conflict, InvalidInput, NotFound
from helpcenter.markdown_io import from_export, read_folder, write_folder
from helpcenter.models import ArticleInput, Bundle, HelpCenterRules, Status, TopicInput, TranslationInput
from helpcenter.store import HelpCenterStore

WS = "default"
SAMPLE = Path(__file__).resolve().parents[2] / "service" / "samples" / "helpcenter.json"


@pytest.fixture
def store(db: Database) -> HelpCenterStore:
    s = HelpCenterStore(db=db, rules=HelpCenterRules(locales=("en", "de", "es"), max_body_bytes=2048))
    s.create_topic(WS, TopicInput(id="billing", name="Billing", position=2))
    s.create_topic(WS, TopicInput(id="account", name="Account", position=1))
    s.create_topic(WS, TopicInput(id="gift-cards", name="Gift cards", parent="billing"))
    return s


def _article(slug: str = "refunds", topic: str = "billing", title: str = "Refunds", body: str = "How refunds work.",
             locale: str = "en") -> ArticleInput:
    return ArticleInput(slug=slug, topic=topic, default_locale=locale,
                        translations=(TranslationInput(locale=locale, title=title, body=body),))


def test_topics_are_ordered_and_nest_one_level(store: HelpCenterStore) -> None:
    assert [t.id for t in store.topics(WS)] == ["gift-cards", "account", "billing"]  # position, then id
    assert store.topic_path(WS, "gift-cards") == ("Billing", "Gift cards")
    with pytest.raises(InvalidInput, match="one level"):
        store.create_topic(WS, TopicInput(id="vouchers", name="Vouchers", parent="gift-cards"))
    with pytest.raises(InvalidInput, match="unknown parent"):
        store.create_topic(WS, TopicInput(id="x", name="X", parent="nope"))
    with pytest.raises(Conflict):
        store.create_topic(WS, TopicInput(id="billing", name="Billing again"))
    with pytest.raises(Conflict, match="sub-topics"):
        store.delete_topic(WS, "billing")
    assert store.topics("other") == []  # workspaces never mix


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"title": "   "}, "title is empty"),
        ({"topic": "nope"}, "unknown topic"),
        ({"locale": "xx"}, "unknown locale"),
        ({"slug": "Bad Slug!"}, "slug"),
        ({"body": "x" * 3000}, "at most 2048"),
        ({"body": "a\x00b"}, "NUL"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(store: HelpCenterStore, change: dict[str, str],
                                                        error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        store.create_article(WS, _article(**change))
    assert store.articles(WS) == []


def test_duplicate_slugs_conflict_and_unknown_articles_are_not_found(store: HelpCenterStore) -> None:
    store.create_article(WS, _article())
    with pytest.raises(Conflict, match="already exists"):
        store.create_article(WS, _article(title="Other"))
    with pytest.raises(NotFound):
        store.get(WS, "nope")
    with pytest.raises(NotFound):
        store.set_status(WS, "refunds", Status.PUBLISHED, ["de"])
    assert store.get(WS, "refunds").translations[0].title == "Refunds"


def test_stale_translations_and_fallback_to_the_default_locale(store: HelpCenterStore) -> None:
    store.create_article(WS, _article())
    store.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen", body="So geht es."))
    article = store.set_status(WS, "refunds", Status.PUBLISHED, ["en"])
    assert article.published("de") == (article.translation("en"), True)  # the de draft falls back to en
    assert article.published("es") == (article.translation("en"), True)
    assert not article.translation("de").stale  # type: ignore[union-attr]

    article, changed = store.put_translation(WS, "refunds", TranslationInput(locale="en", title="Refunds",
                                                                             body="New rules for refunds."))
    assert changed and article.translation("de").stale  # type: ignore[union-attr]
    article, changed = store.put_translation(WS, "refunds", TranslationInput(locale="en", title="Refunds",
                                                                             body="New rules for refunds."))
    assert not changed
    article, _ = store.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen",
                                                                       body="Neue Regeln."))
    assert not article.translation("de").stale  # type: ignore[union-attr]
    article = store.set_status(WS, "refunds", Status.PUBLISHED)
    assert article.published("de") == (article.translation("de"), False)
    with pytest.raises(InvalidInput, match="default locale"):
        store.delete_translation(WS, "refunds", "en")


def test_a_bundle_with_any_problem_imports_nothing(store: HelpCenterStore) -> None:
    good = _article("a")
    bad = _article("b", topic="missing")
    dup = _article("a", title="dup")
    with pytest.raises(InvalidInput) as info:
        store.import_bundle(WS, Bundle(topics=(TopicInput(id="new", name="New"),), articles=(good, bad, dup)))
    assert "unknown topic 'missing'" in info.value.message and "duplicate slug" in info.value.message
    assert store.articles(WS) == [] and "new" not in {t.id for t in store.topics(WS)}


def test_the_sample_export_imports_idempotently(db: Database) -> None:
    store = HelpCenterStore(db=db, rules=HelpCenterRules())
    bundle = from_export(json.loads(SAMPLE.read_text(encoding="utf-8")))
    changed = store.import_bundle(WS, bundle)
    assert len(changed) == len(bundle.articles) == 43
    assert store.import_bundle(WS, bundle) == []
    drafts = [a.slug for a in store.articles(WS) if all(t.status is Status.DRAFT for t in a.translations)]
    assert sorted(drafts) == ["loyalty-points-preview", "mill-2-preorder-faq"]
    assert {t.locale for t in store.get(WS, "reset-password").translations} == {"en", "de", "es"}


def test_markdown_folder_round_trip(store: HelpCenterStore, tmp_path: Path) -> None:
    store.create_article(WS, _article(body="# Refunds\n\nMoney back in **5 days**.\n"))
    store.put_translation(WS, "refunds", TranslationInput(locale="de", title="Erstattungen", body="Geld zurück."))
    store.set_status(WS, "refunds", Status.PUBLISHED, ["en"])
    write_folder(tmp_path / "hc", store.topics(WS), store.articles(WS), "en")
    text = (tmp_path / "hc" / "articles" / "refunds.en.md").read_text(encoding="utf-8")
    assert text.startswith("---\ntitle: Refunds\ntopic: billing\n") and "status: published" in text

    bundle = read_folder(tmp_path / "hc")
    assert [t.id for t in bundle.topics] == ["gift-cards", "account", "billing"]
    (article,) = bundle.articles
    assert article.default_locale == "en" and {t.locale: t.status for t in article.translations} == {
        "en": Status.PUBLISHED, "de": Status.DRAFT}
    assert store.import_bundle(WS, bundle) == []  # what was exported is what is stored


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("no front matter here", "no front matter"),
        ("---\ntitle: [unclosed\n---\nbody", "invalid YAML"),
        ("---\n- a list\n---\nbody", "must be YAML fields"),
        ("---\ntitle: T\ncolour: red\n---\nbody", "colour"),
    ],
)
def test_malformed_markdown_files_are_reported(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "helpcenter.yaml").write_text("default_locale: en\n", encoding="utf-8")
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "a.en.md").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=error):
        read_folder(tmp_path)


def test_a_save_from_a_stale_version_changes_nothing(store: HelpCenterStore) -> None:
    store.create_topic("w", TopicInput(id="billing", name="Billing"))
    store.create_topic("w", TopicInput(id="orders", name="Orders"))
    store.create_article("w", _article())
    assert store.get("w", "refunds").translation("en").version == 1  # type: ignore[union-attr]
    store.put_translation("w", "refunds", TranslationInput(locale="en", title="Refunds", body="Newer."),
                          base_version=1)
    with pytest.raises(Conflict) as caught:
        store.put_translation("w", "refunds", TranslationInput(locale="en", title="Mine", body="Mine."),
                              base_version=1, topic="orders", position=4)
    assert caught.value.fields["current_version"] == 2 and caught.value.fields["field"] == "version"
    article = store.get("w", "refunds")
    assert (article.topic, article.position, article.translation("en").body) == (  # type: ignore[union-attr]
        "billing", 0, "Newer."), "neither the text nor the move nor the position is stored"
    assert [v.version for v in store.versions("w", "refunds", "en")] == [2, 1]
    with pytest.raises(Conflict):  # a locale someone else wrote first
        store.put_translation("w", "refunds", TranslationInput(locale="de", title="A", body="B."), base_version=0)
        store.put_translation("w", "refunds", TranslationInput(locale="de", title="C", body="D."), base_version=0)
    assert store.get("w", "refunds").translation("de").body == "B."  # type: ignore[union-attr]
    for language in ("es", "fr"):  # no text yet; not a configured locale
        with pytest.raises(InvalidInput) as bad:
            store.put_translation("w", "refunds", TranslationInput(locale="en", title="Refunds", body="Newer."),
                                  default_locale=language)
        assert bad.value.fields["field"] == "default_locale", language
    assert store.get("w", "refunds").default_locale == "en"
    with pytest.raises(InvalidInput) as bad:
        store.put_translation("w", "refunds", TranslationInput(locale="en", title="Refunds", body="Newer."),
                              position=2**31)
    assert bad.value.fields["field"] == "position"
