"""Responses of /v1/help-center: topics, articles, translations and what changes did to the index."""

from __future__ import annotations

from pydantic import Field

from helpcenter.models import Status, Topic
from helpcenter.publisher import PublishReport
from service.schemas.common import HitsPublic, Public, Timestamp


class TopicPublic(Topic):
    """A topic; ``parent`` nests it one level deep, ``names`` holds its translated names."""


class TopicsPublic(Public):
    topics: list[TopicPublic]


class IndexReportPublic(PublishReport):
    """What a change did to the index: documents written, unchanged, deleted, chunks embedded."""


class TranslationPublic(Public):
    """One locale of an article (``body`` only where the article is read whole)."""

    locale: str
    title: str
    body: str | None = None
    status: Status
    updated_at: Timestamp
    source_updated_at: Timestamp | None
    published_at: Timestamp | None
    stale: bool = Field(description="The default locale was edited after this translation.")
    version: int = Field(description="Its newest saved version: send it back as ``base_version`` when editing.")
    url: str = Field(description="The page of this locale on the help-center portal.")


class ArticlePublic(Public):
    """An article with every translation (the default locale's first)."""

    slug: str
    topic: str
    default_locale: str
    position: int
    created_at: Timestamp
    updated_at: Timestamp
    translations: list[TranslationPublic]


class ArticlesPublic(Public):
    articles: list[ArticlePublic] = Field(description="Without translation bodies.")


class ArticleChangePublic(Public):
    """The article after a change, and what the change did to the index."""

    article: ArticlePublic
    index: IndexReportPublic


class ArticleDeletedPublic(Public):
    """``deleted``: the slug, or null when knowledge CI held the delete (``index.pending_change``)."""

    deleted: str | None
    index: IndexReportPublic


class TopicChangePublic(TopicPublic):
    """A renamed or moved topic and what re-indexing its articles did; when ``index.pending_change`` is
    set knowledge CI held the change and the topic shown is as it still is."""

    index: IndexReportPublic


class LocaleTextPublic(Public):
    """One locale's text; ``fallback`` when the default locale's text is served instead."""

    slug: str
    locale: str
    served_locale: str
    fallback: bool
    title: str
    body: str
    status: Status
    updated_at: Timestamp
    source_updated_at: Timestamp | None
    published_at: Timestamp | None
    stale: bool
    version: int = Field(description="The newest saved version of ``locale``'s own text (0: none yet), also the "
                                     "``ETag``: send it back as ``base_version`` or ``If-Match`` when editing.")


class HelpSearchPublic(HitsPublic):
    """Published help-center passages for a query."""


class HelpReindexPublic(Public):
    index: IndexReportPublic


class VersionPublic(Public):
    """One saved text of a translation (``body`` only when one version is read)."""

    version: int = Field(description="Counts from 1 per article and locale.")
    title: str
    body: str | None = None
    note: str = Field(description="What made it: created, edited, imported, rollback to version N.")
    created_at: Timestamp


class VersionsPublic(Public):
    """Every saved text of a translation, newest first; ``current`` is the version the text equals."""

    slug: str
    locale: str
    current: int | None
    versions: list[VersionPublic]


class DiffLinePublic(Public):
    change: str = Field(description="same, added, removed, or folded (``text`` counts the unchanged lines not shown).")
    text: str


class VersionDiffPublic(Public):
    """Version ``new`` against version ``old``: the title (null when equal) and the body's lines."""

    slug: str
    locale: str
    old: int
    new: int
    title: list[str] | None = Field(description="[old title, new title] when it changed.")
    lines: list[DiffLinePublic]
    added: int
    removed: int
