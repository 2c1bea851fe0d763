"""The help center as a use-case facade: every change to published content is indexed before
the call returns, and a change whose published text cannot be indexed is undone.

``HelpCenter`` composes the store and the publisher; the HTTP API, the CLI and the quickstart
call it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from core.errors import Conflict, KnowdeskError
from core.models import Frozen
from helpcenter.gate import HeldArticles, PublishGate
from helpcenter.models import Article, ArticleInput, Bundle, Status, Topic, TopicInput, TranslationInput
from helpcenter.publisher import HelpCenterPublisher, Plan, PublishReport
from helpcenter.store import HelpCenterStore


class ImportReport(Frozen):
    """What an import changed in the store and in the index."""

    topics: int
    articles: int
    changed: tuple[str, ...]
    index: PublishReport


class HelpCenter:
    """Authoring operations that keep the index equal to what is published.

    Args:
        store: topics, articles and translations.
        publisher: indexes published translations.
    """

    def __init__(self, *, store: HelpCenterStore, publisher: HelpCenterPublisher) -> None:
        self.store = store
        self.publisher = publisher
        #: Knowledge CI's gate (set by the composition root when one is configured): may hold a publish.
        self.gate: PublishGate | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- topics --------------------------------------------------------------------------------
    def create_topic(self, workspace: str, data: TopicInput) -> Topic:
        return self.store.create_topic(workspace, data)

    def update_topic(self, workspace: str, data: TopicInput) -> tuple[Topic, PublishReport]:
        """Rename or move a topic; its published articles are re-indexed (their breadcrumb changed).

        The re-indexing is planned with the renamed topic in memory and reviewed before anything is
        stored: when the gate holds it, the topic stays as it was (the portal never shows the held
        name) and is returned with the report's ``pending_change``; accepting the change renames it then.
        """
        with self._lock(workspace):
            was = self.store.topic(workspace, data.id)
            proposed = self.store.proposed_topic(workspace, data)
            articles = self._under_topic(workspace, data.id)
            topics = {t.id: t for t in self.store.topics(workspace)} | {proposed.id: proposed}
            plan = self.publisher.plan(workspace, articles, topics)
            change = HeldArticles(before={a.slug: a for a in articles if _is_live(a)}, topic=data, topic_before=was)
            pending = self._review(workspace, plan, change)
            if pending is not None:
                return was, PublishReport(unchanged=plan.unchanged, pending_change=pending)
            topic = self.store.update_topic(workspace, data)
            return topic, self._apply(workspace, plan)

    def _under_topic(self, workspace: str, topic_id: str) -> list[Article]:
        affected = {t.id for t in self.store.topics(workspace) if t.id == topic_id or t.parent == topic_id}
        return [a for a in self.store.articles(workspace) if a.topic in affected]

    def delete_topic(self, workspace: str, topic_id: str) -> None:
        self.store.delete_topic(workspace, topic_id)

    # -- articles ------------------------------------------------------------------------------
    def create_article(self, workspace: str, data: ArticleInput) -> tuple[Article, PublishReport]:
        with self._lock(workspace):
            created = self.store.create_article(workspace, data)
            return self._guarded(workspace, data.slug, None, lambda: created)

    def update_article(self, workspace: str, slug: str, *, topic: str | None = None, position: int | None = None,
                       default_locale: str | None = None) -> tuple[Article, PublishReport]:
        with self._lock(workspace):
            before = self.store.get(workspace, slug)
            return self._guarded(workspace, slug, before, lambda: self.store.update_article(
                workspace, slug, topic=topic, position=position, default_locale=default_locale))

    def put_translation(self, workspace: str, slug: str, data: TranslationInput, *, note: str = "edited",
                        publish: bool = False, topic: str | None = None, position: int | None = None,
                        default_locale: str | None = None,
                        base_version: int | None = None) -> tuple[Article, PublishReport]:
        """Write a locale's text (a changed text becomes its next version, described by ``note``);
        when that locale is published, or ``publish`` publishes it, the index follows at once. The
        text and the status change together: when the text cannot be indexed, neither is kept.
        ``topic`` moves the article there in the same change (as ``update_article(topic=...)``):
        its published translations are re-indexed under the new topic, and knowledge CI reviews
        (or holds) the move and the text as one change; ``position`` and ``default_locale`` change
        with them. ``base_version``: the version the edit started from; a text saved since is kept
        and ``Conflict`` raised (``HelpCenterStore.put_translation``)."""

        def change() -> Article:
            article = self.store.put_translation(workspace, slug, data, note=note, topic=topic, position=position,
                                                 default_locale=default_locale, base_version=base_version)[0]
            return self.store.set_status(workspace, slug, Status.PUBLISHED, [data.locale]) if publish else article

        with self._lock(workspace):
            before = self.store.get(workspace, slug)
            return self._guarded(workspace, slug, before, change)

    def rollback(self, workspace: str, slug: str, locale: str, version: int) -> tuple[Article, PublishReport]:
        """Make version ``version`` of a translation its text again, as a new version (history is
        never rewritten); its status is kept, so a published translation is re-indexed at once.

        Raises:
            NotFound: no such article, translation or version.
        """
        old = self.store.version(workspace, slug, locale, version)
        return self.put_translation(workspace, slug, TranslationInput(locale=locale, title=old.title, body=old.body),
                                    note=f"rollback to version {version}")

    def publish(self, workspace: str, slug: str,
                locales: Sequence[str] | None = None) -> tuple[Article, PublishReport]:
        return self._set_status(workspace, slug, Status.PUBLISHED, locales)

    def unpublish(self, workspace: str, slug: str,
                  locales: Sequence[str] | None = None) -> tuple[Article, PublishReport]:
        return self._set_status(workspace, slug, Status.DRAFT, locales)

    def delete_article(self, workspace: str, slug: str) -> PublishReport:
        """Delete an article and its translations; its published ones leave the index. The gate reviews
        the delete first: when it holds it, nothing is deleted (the report's ``pending_change``)."""
        with self._lock(workspace):
            before = self.store.get(workspace, slug)
            plan = self.publisher.plan(workspace, [], {}, slugs=[slug])
            pending = self._review(workspace, plan, HeldArticles(before={slug: before}, deleted=(slug,)))
            if pending is not None:
                return PublishReport(pending_change=pending)
            self.store.delete_article(workspace, slug)
            return self._apply(workspace, plan)

    def delete_translation(self, workspace: str, slug: str, locale: str) -> tuple[Article, PublishReport]:
        """Delete one translation (not the default locale's); a published one leaves the index. The gate
        reviews the delete first: when it holds it, the article is returned whole and nothing changes."""
        with self._lock(workspace):
            before, after = self.store.without_translation(workspace, slug, locale)
            plan = self.publisher.plan(workspace, [after], {t.id: t for t in self.store.topics(workspace)})
            pending = self._review(workspace, plan, HeldArticles(before={slug: before},
                                                                 deleted_translations=((slug, locale),)))
            if pending is not None:
                return before, PublishReport(unchanged=plan.unchanged, pending_change=pending)
            article = self.store.delete_translation(workspace, slug, locale)
            return article, self._apply(workspace, plan)

    def import_bundle(self, workspace: str, bundle: Bundle) -> ImportReport:
        """Import topics and articles, then index what the bundle publishes (unchanged ones skipped)."""
        with self._lock(workspace):
            return self._import(workspace, bundle, gated=True)

    def _import(self, workspace: str, bundle: Bundle, *, gated: bool) -> ImportReport:
        wanted = {a.slug for a in bundle.articles}
        topics_before = self.store.topics(workspace)
        before = {a.slug: a for a in self.store.articles(workspace) if a.slug in wanted}
        changed = self.store.import_bundle(workspace, bundle)
        articles = [a for a in self.store.articles(workspace) if a.slug in wanted]
        try:
            plan = self.publisher.plan(workspace, articles, {t.id: t for t in self.store.topics(workspace)})
        except KnowdeskError:
            for slug in wanted:
                if slug in before:
                    self.store.restore(workspace, before[slug])
                else:
                    self.store.delete_article(workspace, slug)
            self.store.restore_topics(workspace, topics_before)
            raise
        held = None if not gated else self._hold(
            workspace, plan, HeldArticles(before=before | {s: None for s in wanted - set(before)}, bundle=bundle),
            topics=topics_before)
        report = held or (self._apply(workspace, plan) if gated else self.publisher.apply(plan))
        return ImportReport(topics=len(bundle.topics), articles=len(bundle.articles), changed=tuple(changed),
                            index=report)

    def reindex(self, workspace: str) -> PublishReport:
        """Make the index equal to what is published (drops documents of deleted articles too)."""
        with self._lock(workspace):
            return self._index(workspace, self.store.articles(workspace), everything=True)

    # ------------------------------------------------------------------------------------------
    def _set_status(self, workspace: str, slug: str, status: Status,
                    locales: Sequence[str] | None) -> tuple[Article, PublishReport]:
        with self._lock(workspace):
            before = self.store.get(workspace, slug)
            return self._guarded(workspace, slug, before,
                                 lambda: self.store.set_status(workspace, slug, status, locales))

    def _guarded(self, workspace: str, slug: str, before: Article | None,
                 change: Callable[[], Article]) -> tuple[Article, PublishReport]:
        """Apply ``change`` and index its result; when indexing is impossible, restore ``before``."""
        after = change()
        topics = {t.id: t for t in self.store.topics(workspace)}
        try:
            plan = self.publisher.plan(workspace, [after], topics)
        except KnowdeskError:
            if before is None:
                self.store.delete_article(workspace, slug)
            else:
                self.store.restore(workspace, before)
            raise
        held = self._hold(workspace, plan, HeldArticles(before={slug: before}, after=(after,)))
        return after, held or self._apply(workspace, plan)

    def _apply(self, workspace: str, plan: Plan) -> PublishReport:
        report = self.publisher.apply(plan)
        if self.gate is not None and (plan.write or plan.delete):
            self.gate.went_live(workspace)
        return report

    def _review(self, workspace: str, plan: Plan, change: HeldArticles) -> str | None:
        """Ask the gate (when set and the plan changes the index): the id of the held change, or None."""
        if self.gate is None or not (plan.write or plan.delete):
            return None
        return self.gate.review(workspace, plan, change)

    def _hold(self, workspace: str, plan: Plan, change: HeldArticles,
              topics: Sequence[Topic] | None = None) -> PublishReport | None:
        """Ask the gate; when it holds the change (or cannot review it) put the store back as it was."""
        try:
            change_id = self._review(workspace, plan, change)
        except KnowdeskError:
            self._put_back(workspace, change, topics)
            raise
        if change_id is None:
            return None
        self._put_back(workspace, change, topics)
        return PublishReport(unchanged=plan.unchanged, pending_change=change_id)

    def _put_back(self, workspace: str, change: HeldArticles, topics: Sequence[Topic] | None) -> None:
        for slug, article in change.before.items():
            if article is None:
                self.store.delete_article(workspace, slug)
            else:
                self.store.restore(workspace, article)
        if topics is not None:
            self.store.restore_topics(workspace, topics)

    def apply_held(self, workspace: str, change: HeldArticles) -> PublishReport:
        """Make a held change live (knowledge CI accepted it): the articles as the change left them,
        indexed at once. The gate is not asked again.

        Raises:
            Conflict: an article the change touches was edited since it was held (nothing changes).
        """
        with self._lock(workspace):
            self._check_unchanged(workspace, change)
            if change.bundle is not None:
                return self._import(workspace, change.bundle, gated=False).index
            if change.topic is not None:
                if self.store.topic(workspace, change.topic.id) != change.topic_before:
                    raise Conflict(f"topic {change.topic.id!r} was changed since this change was held; reject it "
                                   "and rename or move the topic again", topic=change.topic.id)
                self.store.update_topic(workspace, change.topic)
                return self._index(workspace, self._under_topic(workspace, change.topic.id))
            if change.deleted:
                for slug in change.deleted:
                    self.store.delete_article(workspace, slug)
                return self._index(workspace, [], slugs=change.deleted)
            if change.deleted_translations:
                for slug, locale in change.deleted_translations:
                    self.store.delete_translation(workspace, slug, locale)
                slugs = {slug for slug, _ in change.deleted_translations}
                return self._index(workspace, [self.store.get(workspace, slug) for slug in sorted(slugs)])
            for article in change.after:
                self.store.restore(workspace, article)
            return self._index(workspace, list(change.after))

    def _check_unchanged(self, workspace: str, change: HeldArticles) -> None:
        now = {a.slug: _facts(a) for a in self.store.articles(workspace) if a.slug in change.before}
        moved = sorted(slug for slug, before in change.before.items()
                       if now.get(slug) != (_facts(before) if before else None))
        if moved:
            raise Conflict(f"article {moved[0]!r} was changed since this change was held; reject it and publish "
                           "the article again", slugs=moved)

    def _index(self, workspace: str, articles: list[Article], *, slugs: Sequence[str] = (),
               everything: bool = False) -> PublishReport:
        topics = {t.id: t for t in self.store.topics(workspace)}
        plan = self.publisher.plan(workspace, articles, topics, slugs=slugs, everything=everything)
        return self.publisher.apply(plan)

    def _lock(self, workspace: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(workspace, threading.Lock())


def _facts(article: Article) -> dict[str, Any]:
    """An article as compared for edits made since a change was held: without the translations'
    version numbers (a held change stored before they existed has none; an edit shows in the text)."""
    return article.model_dump(exclude={"translations": {"__all__": {"version"}}})


def _is_live(article: Article) -> bool:
    return any(t.status is Status.PUBLISHED for t in article.translations)
