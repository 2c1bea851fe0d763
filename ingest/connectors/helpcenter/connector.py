"""A help-center export (JSON: topics, articles, translations) as a source.

Each published article in each locale is its own document (native id ``ARTICLE/LOCALE``,
kind=article), linked to the others through ``metadata["article_id"]``; topics give the
breadcrumb path; drafts are never listed, so unpublishing an article deletes it.

The export's shape::

    {"default_locale": "en", "base_url": "https://help.example.com",
     "topics": [{"id": "billing", "name": "Billing", "parent": null}],
     "articles": [{"id": "refunds", "topic": "billing", "locale": "en", "title": "...",
                   "body": "markdown", "format": "markdown", "status": "published",
                   "updated_at": "2026-10-01T09:00:00Z",
                   "translations": [{"locale": "de", "title": "...", "body": "..."}]}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item

OVERLAP = timedelta(minutes=5)
_MEDIA = {"markdown": "text/markdown", "html": "text/html", "text": "text/plain"}


class HelpCenterOptions(ConnectorOptions):
    """path: the export file. base_url: article urls are ``base_url/LOCALE/articles/ID``."""

    path: str
    base_url: str | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return str(Path(value).expanduser().resolve())


class _Topic(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    name: str
    parent: str | None = None


class _Translation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    locale: str = Field(min_length=2)
    title: str = Field(min_length=1)
    body: str
    updated_at: datetime | None = None
    status: str = "published"


class _Article(_Translation):
    id: str = Field(min_length=1)
    topic: str | None = None
    format: str = "markdown"
    position: int | None = None
    translations: list[_Translation] = []


class HelpCenterExportConnector:
    """Reads a help-center export file."""

    Options = HelpCenterOptions

    def __init__(self, *, source: Source, options: HelpCenterOptions, context: ConnectorContext) -> None:
        self._source = source
        self._opts = options
        self._path = Path(options.path)

    def check(self) -> str:
        data = self._load()
        return f"help-center export {self._path} ({len(data.get('articles', []))} articles)"

    def list_documents(self) -> Iterator[Item]:
        return self._read(since=None)

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        since = datetime.fromisoformat(str(cursor["updated_at"])) - OVERLAP if "updated_at" in cursor else None
        return self._read(since=since)

    def list_ids(self) -> Iterator[str]:
        for item in self._read(since=None):
            if isinstance(item, Document | FetchFailure) and item.native_id:
                yield item.native_id

    # ----------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        if not self._path.is_file():
            raise SourceNotFound(f"help-center export {self._path} does not exist; fix the source's path option")
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"help-center export {self._path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("articles"), list):
            raise ConfigError(f"help-center export {self._path} has no 'articles' list")
        return data

    def _read(self, since: datetime | None) -> Iterator[Item]:
        data = self._load()
        default_locale = str(data.get("default_locale", "en"))
        base = (self._opts.base_url or data.get("base_url") or "").rstrip("/")
        topics = _topic_paths(data.get("topics", []))
        newest = since
        for raw in data["articles"]:
            raw_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
            try:
                article = _Article.model_validate(raw | {"locale": raw.get("locale", default_locale)})
            except (ValidationError, TypeError) as exc:
                yield FetchFailure(
                    source_id=self._source.source_id,
                    native_id=f"{raw_id}/{default_locale}" if raw_id else None,
                    stage="fetch",
                    message=f"article {raw_id or '(no id)'} is malformed: {_brief(exc)}",
                )
                continue
            if article.status != "published":
                continue
            topic = topics.get(article.topic or "", ())
            for version in (article, *article.translations):
                if version.status != "published":
                    continue
                updated = version.updated_at or article.updated_at
                if updated is not None:
                    updated = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
                    newest = max(newest, updated) if newest else updated
                if since is not None and updated is not None and updated < since:
                    continue
                yield Document(
                    workspace=self._source.workspace,
                    source_id=self._source.source_id,
                    native_id=f"{article.id}/{version.locale}",
                    title=version.title,
                    uri=f"{base}/{version.locale}/articles/{article.id}"
                    if base
                    else f"helpcenter:{article.id}/{version.locale}",
                    kind=DocumentKind.ARTICLE,
                    language=version.locale.split("-")[0].lower(),
                    topic=topic,
                    updated_at=updated,
                    media_type=_MEDIA.get(article.format, "text/markdown"),
                    content=version.body.encode("utf-8"),
                    metadata={"article_id": article.id, "locale": version.locale, "topic_id": article.topic or ""},
                )
        yield Checkpoint(cursor={"updated_at": (newest or datetime.now(UTC)).isoformat()})


def _topic_paths(raw_topics: list[Any]) -> dict[str, tuple[str, ...]]:
    topics: dict[str, _Topic] = {}
    for raw in raw_topics:
        try:
            t = _Topic.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"help-center export has a malformed topic: {_brief(exc)}") from exc
        topics[t.id] = t
    paths: dict[str, tuple[str, ...]] = {}
    for tid, topic in topics.items():
        path: list[str] = []
        seen: set[str] = set()
        node: _Topic | None = topic
        while node is not None and node.id not in seen:
            seen.add(node.id)
            path.insert(0, node.name)
            node = topics.get(node.parent) if node.parent else None
        paths[tid] = tuple(path)
    return paths


def _brief(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)
