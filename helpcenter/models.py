"""Value objects of the authored help center, and the rules every input must satisfy.

``HelpCenterRules`` holds the limits (known locales, body size) and checks inputs; every
violation is an ``InvalidInput`` whose message names the field and says what to do.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field

from core.errors import InvalidInput
from core.models import Frozen, StoredInt, UTCDateTime

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_TITLE = 300
#: Default locales a help center may be written in (settings can replace the list).
DEFAULT_LOCALES = ("en", "de", "es", "fr", "it", "nl", "pt", "pl", "sv", "da", "fi", "nb", "cs", "ja", "zh")


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Topic(Frozen):
    """A topic: ``parent`` nests it one level deep; ``names`` holds translated names per locale."""

    id: str
    name: str
    names: dict[str, str] = Field(default_factory=dict)
    parent: str | None = None
    position: StoredInt = 0

    def label(self, locale: str) -> str:
        return self.names.get(locale) or self.name


class Translation(Frozen):
    """One locale of an article. ``stale``: the default locale was edited after this translation."""

    slug: str
    locale: str
    title: str
    body: str
    status: Status = Status.DRAFT
    updated_at: UTCDateTime
    source_updated_at: UTCDateTime | None = None
    published_at: UTCDateTime | None = None
    stale: bool = False
    #: The number of its newest saved version (0: none yet): what an edit sends back as the text it
    #: started from, so a save over a newer text is refused (``HelpCenterStore.put_translation``).
    version: int = 0


class Article(Frozen):
    """An article with every translation it has (the default locale's first)."""

    slug: str
    topic: str
    default_locale: str
    position: StoredInt = 0
    created_at: UTCDateTime
    updated_at: UTCDateTime
    translations: tuple[Translation, ...] = ()

    def translation(self, locale: str) -> Translation | None:
        return next((t for t in self.translations if t.locale == locale), None)

    def published(self, locale: str) -> tuple[Translation, bool] | None:
        """The published text for ``locale``, falling back to the default locale (flag True)."""
        own = self.translation(locale)
        if own is not None and own.status is Status.PUBLISHED:
            return own, False
        default = self.translation(self.default_locale)
        if default is not None and default.status is Status.PUBLISHED:
            return default, locale != self.default_locale
        return None


class Version(Frozen):
    """One saved text of a translation; ``version`` counts from 1 per article and locale."""

    slug: str
    locale: str
    version: int
    title: str
    body: str
    note: str = ""
    created_at: UTCDateTime


class TopicInput(Frozen):
    """A topic to create or replace."""

    id: str
    name: str
    names: dict[str, str] = Field(default_factory=dict)
    parent: str | None = None
    position: StoredInt = 0


class TranslationInput(Frozen):
    """The text of one locale; ``updated_at`` keeps an imported timestamp (else now)."""

    locale: str
    title: str
    body: str
    status: Status = Status.DRAFT
    updated_at: UTCDateTime | None = None


class ArticleInput(Frozen):
    """A whole article: metadata plus its translations (the default locale's must be present)."""

    slug: str
    topic: str
    default_locale: str
    position: StoredInt = 0
    translations: tuple[TranslationInput, ...]


class Bundle(Frozen):
    """A whole help center (import/export): topics, then articles."""

    default_locale: str = "en"
    topics: tuple[TopicInput, ...] = ()
    articles: tuple[ArticleInput, ...] = ()


class HelpCenterRules:
    """Limits of authored content, and the checks inputs go through.

    Args:
        locales: the locales articles may be written in.
        max_body_bytes: the largest body (UTF-8) a translation may have.
    """

    def __init__(self, *, locales: tuple[str, ...] = DEFAULT_LOCALES, max_body_bytes: int = 200 * 1024) -> None:
        self.locales = tuple(locales)
        self.max_body_bytes = max_body_bytes

    def slug(self, value: str, what: str = "slug") -> str:
        if not SLUG.match(value or ""):
            raise InvalidInput(
                f"{what} {value!r} is invalid: use 1-63 lowercase letters, digits, '-' or '_', starting with a "
                "letter or digit (e.g. 'reset-password')", field=what)
        return value

    def locale(self, value: str) -> str:
        if not LOCALE.match(value or "") or value not in self.locales:
            raise InvalidInput(
                f"unknown locale {value!r}; known: {', '.join(self.locales)} "
                "(set KNOWDESK_HELPCENTER__LOCALES to add one)", field="locale")
        return value

    def title(self, value: str, what: str = "title") -> str:
        value = (value or "").strip()
        if not value:
            raise InvalidInput(f"the {what} is empty; give a title", field=what)
        if len(value) > MAX_TITLE:
            raise InvalidInput(f"the {what} has {len(value)} characters; at most {MAX_TITLE}", field=what)
        return value

    def body(self, value: str) -> str:
        value = value.lstrip("\r\n").rstrip()  # blank lines around a body mean nothing in Markdown
        size = len(value.encode("utf-8"))
        if size > self.max_body_bytes:
            raise InvalidInput(
                f"the body has {size} bytes; at most {self.max_body_bytes} (split the article)", field="body")
        if "\x00" in value:
            raise InvalidInput("the body holds a NUL character; it is not Markdown text", field="body")
        if not value.strip():
            raise InvalidInput("the body is empty; write the article's text in Markdown", field="body")
        return value

    def translation(self, t: TranslationInput) -> TranslationInput:
        return t.model_copy(update={"locale": self.locale(t.locale), "title": self.title(t.title),
                                    "body": self.body(t.body)})

    def topic(self, t: TopicInput) -> TopicInput:
        self.slug(t.id, "topic id")
        if t.parent is not None:
            self.slug(t.parent, "parent topic")
            if t.parent == t.id:
                raise InvalidInput(f"topic {t.id!r} cannot be its own parent", field="parent")
        for locale in t.names:
            self.locale(locale)
        return t.model_copy(update={"name": self.title(t.name, "topic name")})
