"""The hook knowledge CI (``app.knowledge_ci``) plugs into publishing: a gate that may hold a change.

A publish, a delete of an article or a translation, and the rename or move of a topic (which
re-indexes its articles) are reviewed before they go live. A held change is not served: the store
is as it was before the change (a delete is reviewed before anything is deleted), nothing is
written to the index, and the change waits (with its report) under an id until it is accepted
(``HelpCenter.apply_held``) or rejected (nothing to undo).
"""

from __future__ import annotations

from typing import Protocol

from core.models import Frozen
from helpcenter.models import Article, Bundle, Topic, TopicInput
from helpcenter.publisher import Plan


class HeldArticles(Frozen):
    """What a held change does to the help center: the articles before (None: not there yet) and
    after it, or the bundle an import brings (re-imported as a whole on accept).

    ``deleted``: articles it deletes whole; ``deleted_translations``: (slug, locale) pairs it
    deletes; ``topic``: the rename or move of a topic it makes (``topic_before``: that topic when
    the change was held; ``before`` then holds the published articles it re-indexes).
    """

    before: dict[str, Article | None]
    after: tuple[Article, ...] = ()
    bundle: Bundle | None = None
    deleted: tuple[str, ...] = ()
    deleted_translations: tuple[tuple[str, str], ...] = ()
    topic: TopicInput | None = None
    topic_before: Topic | None = None

    def subject(self) -> str:
        """What the change does, for its report (e.g. ``delete article refunds``)."""
        if self.topic is not None:
            was = self.topic_before
            what = ("move" if was is not None and was.parent != self.topic.parent else "rename")
            return f"{what} topic {self.topic.id}"
        if self.deleted:
            return "delete article " + ", ".join(self.deleted)
        if self.deleted_translations:
            return "delete translation " + ", ".join(f"{slug}/{locale}" for slug, locale in self.deleted_translations)
        return ", ".join(sorted(self.before)) or "help center"


class PublishGate(Protocol):
    """Reviews the index changes of a publish before they go live."""

    def review(self, workspace: str, plan: Plan, change: HeldArticles) -> str | None:
        """The id of the pending change when the gate holds it, else None (publish goes on).

        Raises:
            KnowdeskError: the gate cannot review (its dataset is missing...): nothing is published.
        """
        ...

    def went_live(self, workspace: str) -> None:
        """The change the gate let through was applied (its staged answers are now the live ones)."""
        ...
