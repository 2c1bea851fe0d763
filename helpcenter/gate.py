"""The hook knowledge CI (``app.knowledge_ci``) plugs into publishing: a gate that may hold a change.

A publish whose index changes are held is not served: the store is put back as it was before the
change, nothing is written to the index, and the change waits (with its report) under an id until
it is accepted (``HelpCenter.apply_held``) or rejected (nothing to undo).
"""

from __future__ import annotations

from typing import Protocol

from core.models import Frozen
from helpcenter.models import Article, Bundle
from helpcenter.publisher import Plan


class HeldArticles(Frozen):
    """What a held change does to the help center: the articles before (None: not there yet) and
    after it, or the bundle an import brings (re-imported as a whole on accept)."""

    before: dict[str, Article | None]
    after: tuple[Article, ...] = ()
    bundle: Bundle | None = None


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
