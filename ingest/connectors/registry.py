"""Lazy registry: source kind -> its folder, connector class and credentials model, imported only
when a source of that kind is used, so importing ingest imports no SaaS SDK."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple, cast

from pydantic import ValidationError

from core.errors import ConfigError
from core.models import Source, SourceKind
from ingest.connectors.base import Connector, ConnectorContext
from ingest.connectors.credentials import Credentials


class Entry(NamedTuple):
    """A connector's folder under ``ingest/connectors/``, its class in ``<folder>/connector.py`` and,
    for a source with secrets, its ``Credentials`` model in ``<folder>/credentials.py``."""

    folder: str
    connector: str
    credentials: str | None = None


CONNECTORS: dict[SourceKind, Entry] = {
    SourceKind.FOLDER: Entry("folder", "FolderConnector"),
    SourceKind.HELPCENTER_EXPORT: Entry("helpcenter", "HelpCenterExportConnector"),
    SourceKind.WEBSITE: Entry("website", "WebsiteConnector"),
    SourceKind.ZENDESK: Entry("zendesk", "ZendeskConnector", "ZendeskCredentials"),
    SourceKind.CONFLUENCE: Entry("confluence", "ConfluenceConnector", "ConfluenceCredentials"),
    SourceKind.NOTION: Entry("notion", "NotionConnector", "NotionCredentials"),
    SourceKind.GDRIVE: Entry("gdrive", "GDriveConnector", "GDriveCredentials"),
    SourceKind.DROPBOX: Entry("dropbox", "DropboxConnector", "DropboxCredentials"),
}


def _entry(kind: SourceKind | str) -> Entry:
    try:
        return CONNECTORS[SourceKind(kind)]
    except (ValueError, KeyError):
        known = ", ".join(sorted(k.value for k in CONNECTORS))
        raise ConfigError(f"unknown source kind {kind!r}; known kinds: {known}") from None


def connector_class(kind: SourceKind | str) -> type[Any]:
    """The connector class of ``kind``; ``ConfigError`` naming the known kinds otherwise."""
    entry = _entry(kind)
    module = importlib.import_module(f"ingest.connectors.{entry.folder}.connector")
    return cast(type[Any], getattr(module, entry.connector))


def credentials_class(kind: SourceKind | str) -> type[Credentials] | None:
    """The credentials model of ``kind`` (None for a source that needs none); imports no SDK."""
    entry = _entry(kind)
    if entry.credentials is None:
        return None
    module = importlib.import_module(f"ingest.connectors.{entry.folder}.credentials")
    return cast(type[Credentials], getattr(module, entry.credentials))


def validate_options(kind: SourceKind | str, options: dict[str, Any]) -> dict[str, Any]:
    """Options checked against the connector's ``Options`` model, normalized for storage."""
    cls = connector_class(kind)
    try:
        parsed = cls.Options(**options)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        allowed = ", ".join(cls.Options.model_fields)
        raise ConfigError(
            f"invalid options for a {SourceKind(kind).value} source: {problems} (options: {allowed})"
        ) from None
    return cast(dict[str, Any], parsed.model_dump(mode="json", exclude_defaults=True))


def build_connector(source: Source, context: ConnectorContext | None = None) -> Connector:
    """A connector for ``source``, its options validated and, for a source with secrets, its
    credentials read from ``context.env`` (``ConfigError`` naming a bad variable)."""
    cls = connector_class(source.kind)
    validate_options(source.kind, source.options)
    context = context or ConnectorContext()
    kwargs: dict[str, Any] = {}
    credentials = credentials_class(source.kind)
    if credentials is not None:
        kwargs["credentials"] = credentials.from_env(context.env)
    return cast(Connector, cls(source=source, options=cls.Options(**source.options), context=context, **kwargs))


def _problem(error: Any) -> str:
    name = ".".join(str(p) for p in error["loc"]) or "options"
    if error["type"] == "extra_forbidden":
        return f"unknown option {name!r}"
    if error["type"] == "missing":
        return f"missing required option {name!r}"
    return f"{name}: {error['msg']}"
