"""Value objects shared by every package: workspaces, sources, documents, chunks, failures.

All are frozen pydantic models; enums that are stored or sent are ``StrEnum``s.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from core import ids

_SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SLUG_RE = re.compile(_SLUG)
#: The characters ``str.strip`` removes, for a JSON Schema character class: ``\s`` as ECMA-262 reads
#: it (what published patterns mean) plus the separators and NEL Python also counts as whitespace.
WHITESPACE = r"\s\x1c-\x1f\x85"
#: A ``pattern`` for a text that is not blank once stripped.
NON_BLANK = f"[^{WHITESPACE}]"
#: A source's name (its source id): 1-63 lowercase letters, digits, ``-`` or ``_``.
SOURCE_NAME = _SLUG


def check_name(value: str, what: str = "name") -> str:
    """``value`` when it is a valid workspace or source name, else ``ValueError`` saying the rule.

    Names are 1-63 lowercase letters, digits, ``-`` or ``_``, starting with a letter or digit.
    """
    if not _SLUG_RE.match(value):
        hint = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:63] or "docs"
        raise ValueError(f"invalid {what} {value!r}: use 1-63 lowercase letters, digits, '-' or '_', starting "
                         f"with a letter or digit (e.g. {hint!r})")
    return value


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_to_utc)]


class Frozen(BaseModel):
    """Base of value objects: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


#: An integer every supported database stores (PostgreSQL INTEGER is 32-bit): positions, versions.
StoredInt = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class SourceKind(StrEnum):
    """Where documents come from. The connector registry maps each kind to its class."""

    FOLDER = "folder"
    HELPCENTER_EXPORT = "helpcenter-export"
    WEBSITE = "website"
    ZENDESK = "zendesk"
    CONFLUENCE = "confluence"
    NOTION = "notion"
    GDRIVE = "gdrive"
    DROPBOX = "dropbox"


class DocumentKind(StrEnum):
    """What a document is, stored in every point's payload as ``kind``."""

    ARTICLE = "article"
    PAGE = "page"
    FILE = "file"
    SCENARIO = "scenario"
    ACTION = "action"


class Channel(StrEnum):
    """Where a customer session happens."""

    WEB = "web"
    PHONE = "phone"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    SLACK = "slack"
    API = "api"


class Workspace(Frozen):
    """A tenant. Every document, source, key and session belongs to exactly one."""

    id: str = Field(pattern=_SLUG)
    name: str = ""


class Source(Frozen):
    """A configured source: its unique name in the workspace doubles as its source id."""

    workspace: str = Field(pattern=_SLUG)
    name: str = Field(pattern=_SLUG)
    kind: SourceKind
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @property
    def source_id(self) -> str:
        return self.name


class ScheduleKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"


class SourceSchedule(Frozen):
    """When a source syncs by itself: a cron expression or an interval, in a timezone.

    ``anchor`` is when the schedule was set: an interval counts from it (so its next run is known
    before a scheduler applies it). A paused schedule (``enabled=False``) is kept but does not fire.
    Built and checked by ``flows.schedules.build_schedule``; stored by ``SourceStore.set_schedule``.
    """

    kind: ScheduleKind
    cron: str | None = None
    interval_seconds: int | None = Field(default=None, gt=0)
    timezone: str = "UTC"
    enabled: bool = True
    anchor: UTCDateTime

    def legacy(self) -> str:
        """The ``cron:<expr>`` / ``interval:<seconds>`` text of the ``sources.schedule`` column."""
        return f"cron:{self.cron}" if self.kind is ScheduleKind.CRON else f"interval:{self.interval_seconds}"


class Document(Frozen):
    """One item read from a source, before parsing: raw content plus what we know about it.

    ``content`` is the raw bytes as the source served them and ``media_type`` says how to
    parse them (``text/html``, ``text/markdown``, ``application/pdf``...). ``topic`` is the
    breadcrumb path, outermost first. ``audience`` is empty for public content, otherwise the
    segments or groups that may see it.

    Example::

        Document(workspace="default", source_id="docs", native_id="faq.md", title="FAQ",
                 kind=DocumentKind.FILE, media_type="text/markdown", content=b"# FAQ ...")
    """

    workspace: str
    source_id: str
    native_id: str = Field(min_length=1)
    title: str = ""
    uri: str | None = None
    kind: DocumentKind = DocumentKind.FILE
    language: str | None = None
    topic: tuple[str, ...] = ()
    updated_at: UTCDateTime | None = None
    audience: tuple[str, ...] = ()
    media_type: str = "text/plain"
    content: bytes = b""
    metadata: dict[str, str] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return ids.document_id(self.source_id, self.native_id)

    @property
    def fingerprint(self) -> str:
        """Hash of the raw content and every field that reaches the index: equal means skip."""
        return ids.bytes_hash(
            self.content,
            self.title,
            self.uri or "",
            self.kind,
            self.language or "",
            "/".join(self.topic),
            ",".join(self.audience),
            self.media_type,
            repr(sorted(self.metadata.items())),
        )


class FetchFailure(Frozen):
    """A per-item failure, yielded beside documents so one bad item never sinks a run."""

    source_id: str
    native_id: str | None = None
    uri: str | None = None
    stage: str = "fetch"
    message: str
    retryable: bool = False


class Section(Frozen):
    """A run of text under one heading path, produced by parsing."""

    path: tuple[str, ...] = ()
    text: str


class ParsedDocument(Frozen):
    """A document's clean text: title and heading-structured sections."""

    title: str
    sections: tuple[Section, ...]
    language: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)

    @property
    def content_hash(self) -> str:
        return ids.content_hash(self.title, *(f"{'/'.join(s.path)}\n{s.text}" for s in self.sections))


class Chunk(Frozen):
    """A bounded piece of a document: ``text`` is shown, ``embed_text`` (with title and section
    path prefixed) is what the model embeds; ``token_count`` counts ``embed_text``."""

    document_id: str
    index: int = Field(ge=0)
    text: str
    embed_text: str
    section: tuple[str, ...] = ()
    token_count: int = Field(ge=0)

    @property
    def id(self) -> str:
        return ids.chunk_id(self.document_id, self.index)

    @property
    def hash(self) -> str:
        return ids.content_hash(self.embed_text)


#: The most hits one retrieval returns (``top_k``), in every entry point.
MAX_TOP_K = 200


class Viewer(Frozen):
    """Whom a search is for, which decides the audience-restricted documents it may return.

    A document whose ``audience`` is empty is public: every viewer sees it. A restricted document
    is seen by a viewer holding one of its labels (``group:support@example.com``, ``segment:VIP``),
    or by ``Viewer.everyone()`` (operator and staff tools only). ``Viewer()``, the default of every
    search, sees public documents only, so a caller that does not say whom it serves leaks nothing.

    Example::

        Viewer(labels=("segment:Partners",)).allows(["segment:Partners", "segment:VIP"])  # True
        Viewer().allows(["segment:Partners"])  # False
    """

    labels: tuple[str, ...] = ()
    everything: bool = False

    @classmethod
    def everyone(cls) -> Viewer:
        """Sees every document of the workspace (the CLI's operator, staff views, evaluation)."""
        return cls(everything=True)

    def allows(self, audience: Any) -> bool:
        """Whether a point whose payload ``audience`` is ``audience`` may be shown to this viewer."""
        if self.everything or not audience:
            return True
        labels = [audience] if isinstance(audience, str) else list(audience)
        return any(label in self.labels for label in labels)


#: The viewer of a search that names none: public documents only.
PUBLIC = Viewer()


class Hit(Frozen):
    """One retrieved chunk with its citation."""

    chunk_id: str
    document_id: str
    source_id: str
    title: str
    uri: str | None
    section: tuple[str, ...]
    text: str
    kind: DocumentKind
    language: str | None
    topic: tuple[str, ...]
    score: float
    dense_score: float | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class RunReport(BaseModel):
    """What a sync did. Mutable while the run goes on; serialised as the run's result."""

    source: str
    workspace: str
    mode: str = "incremental"
    status: str = "running"
    fetched: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    failures: list[FetchFailure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    started_at: UTCDateTime | None = None
    #: Live counters a connector reports beside the item counts (a crawl: crawled, queued, skipped, failed).
    progress: dict[str, int] = Field(default_factory=dict)
    #: Items this run will go through, where the source knows it up front (a folder: its files);
    #: None while unknown (a crawl finds its pages as it goes).
    total: int | None = None

    @property
    def done(self) -> int:
        """Items finished so far: written, unchanged or failed."""
        return self.written + self.unchanged + self.failed

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"failures"}) | {
            "failures": [f.model_dump(mode="json") for f in self.failures[:100]]
        }
