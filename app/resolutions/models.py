"""Value objects of resolution drafts: a draft, the content it nearly duplicates, and its statuses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models import Frozen


class DraftStatus(StrEnum):
    PENDING = "pending"  # waiting for review: never published by itself
    APPROVED = "approved"  # published through the help center (or held there by knowledge CI), or as a scenario
    REJECTED = "rejected"  # discarded: nothing was published


class DraftKind(StrEnum):
    NEW = "new"  # a new Q&A article
    EDIT = "edit"  # a Q&A section added to the existing article it nearly duplicates


class Similar(Frozen):
    """Existing help-center content close to the draft: the article, its title, its best chunk cosine
    (MiniLM scale) and ``coverage``: the mean over the answer's sentences of the best cosine against the
    article's sentences, table rows and sections (``duplicates``; None for drafts made before it existed)."""

    slug: str
    locale: str
    title: str
    score: float
    coverage: float | None = None


class Draft(Frozen):
    """A proposed Q&A article from one resolved handoff.

    ``question``/``reply``: what the customer asked and what the person answered (redacted).
    ``title``/``answer``: the extract the article is made of. ``kind`` new: a new article ``slug`` in
    ``topic``; edit: a section appended to article ``slug``. ``similar``: the nearest published content.
    ``locale``: the conversation's language when the help center has that locale, else its default
    (``note`` says why). ``note``: while pending, why the locale or kind is not the obvious one; after a
    rejection, the reviewer's reason. ``published``: what approving did: ``as`` article (the help center's
    index report, or the knowledge-CI change that holds it) or ``as`` scenario (the training scenario's id,
    status and version).
    """

    id: str
    session_id: str
    handoff_id: str
    ticket: int
    status: DraftStatus
    kind: DraftKind
    question: str
    reply: str
    title: str
    answer: str
    slug: str
    topic: str
    locale: str
    similar: tuple[Similar, ...] = ()
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str = ""
    note: str = ""
    published: dict[str, Any] = Field(default_factory=dict)

    def section(self) -> str:
        """The Markdown the draft adds to an existing article (kind edit)."""
        return f"## {self.title}\n\n{self.answer}"


class ApproveAs(StrEnum):
    """What a reviewer publishes a draft as."""

    ARTICLE = "article"  # published through the help center (the default)
    SCENARIO = "scenario"  # a scenario-specific training scenario, published through training
