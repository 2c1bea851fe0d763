"""Confluence pages (Cloud and Data Center) as a source, through atlassian-python-api.

Pages come from the content search (``GET /rest/api/content/search?cql=...``) over the chosen
spaces and/or a CQL filter, with bodies in storage format rendered to clean HTML (see
``render.py``), the space and ancestors as the topic path, and page read restrictions as the
audience. Restricted pages are skipped unless ``include_restricted`` is set.

- Increments: the same search with ``lastmodified >= "..."`` from the saved cursor minus an
  overlap window (CQL compares minutes in the account's time zone, hence a generous default).
- Deletions: an id-only search; archived and trashed pages are not ``current``, so they drop
  out of it and are deleted.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests
from atlassian import Confluence
from pydantic import Field

from core.errors import ConfigError, KnowdeskError, SourceError
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item
from ingest.connectors.confluence.render import storage_to_html
from ingest.connectors.http import RetryPolicy, error_for_status
from ingest.connectors.options import StrList

log = logging.getLogger(__name__)

CREDENTIAL = ("the Confluence credentials (KNOWDESK_CONFLUENCE__USERNAME and KNOWDESK_CONFLUENCE__API_TOKEN, "
              "or KNOWDESK_CONFLUENCE__TOKEN)")
SEARCH = "rest/api/content/search"
EXPAND = ("body.storage,version,space,ancestors,"
          "restrictions.read.restrictions.user,restrictions.read.restrictions.group")


class ConfluenceOptions(ConnectorOptions):
    """base_url: the site (``https://ACME.atlassian.net/wiki`` or a Data Center url). spaces: space
    keys to read; cql: an extra CQL filter (ANDed). include_restricted: also index pages with read
    restrictions. cloud: force Cloud/Data Center (default: guessed from the url)."""

    base_url: str = Field(pattern=r"^https?://")
    spaces: StrList = []
    cql: str | None = None
    include_restricted: bool = False
    cloud: bool | None = None
    overlap_minutes: int = Field(default=24 * 60, ge=0)
    page_size: int = Field(default=50, ge=1, le=200)
    timeout: int = Field(default=60, gt=0)


class ConfluenceConnector:
    """Reads Confluence pages.

    Args:
        source, options, context: as for every connector; ``context.secrets`` holds
            ``confluence__username`` + ``confluence__api_token`` (Cloud) or ``confluence__token``
            (a Data Center personal access token).
        retry: the retry policy of every request (tests pass one with a recording ``sleep``).
    """

    Options: ClassVar[type[ConnectorOptions]] = ConfluenceOptions

    def __init__(self, *, source: Source, options: ConfluenceOptions, context: ConnectorContext,
                 retry: RetryPolicy | None = None) -> None:
        self._source = source
        self._opts = options
        self._context = context
        self._retry = retry or RetryPolicy()
        self._api: Any = None

    # -- contract ------------------------------------------------------------------------------
    def check(self) -> str:
        user = self._get("rest/api/user/current", {}, what="current user")
        who = user.get("displayName") or user.get("username") or user.get("accountId") or "?"
        if user.get("type") == "anonymous":
            raise SourceError(f"Confluence at {self._opts.base_url} treated the request as anonymous; check "
                              f"{CREDENTIAL}")
        names = []
        for key in self._opts.spaces:
            space = self._get(f"rest/api/space/{key}", {}, what=f"space {key}")
            names.append(f"{key} ({space.get('name', key)})")
        where = ", ".join(names) if names else "every space the user can read"
        return f"Confluence {self._opts.base_url} as {who}: {where}"

    def list_documents(self) -> Iterator[Item]:
        return self._read(since=None)

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        if "modified" not in cursor:
            return self._read(since=None)
        since = datetime.fromisoformat(str(cursor["modified"])) - timedelta(minutes=self._opts.overlap_minutes)
        return self._read(since=since)

    def list_ids(self) -> Iterator[str]:
        expand = "restrictions.read.restrictions.user,restrictions.read.restrictions.group"
        for page in self._search(self._cql(None), expand=expand if not self._opts.include_restricted else "",
                                 limit=200):
            for content in page:
                if content.get("status", "current") == "current" and self._allowed(content):
                    yield str(content["id"])

    # -- reading -------------------------------------------------------------------------------
    def _read(self, since: datetime | None) -> Iterator[Item]:
        newest = since
        for page in self._search(self._cql(since), expand=EXPAND, limit=self._opts.page_size):
            for content in page:
                item = self._document(content)
                if item is not None:
                    yield item
                if isinstance(item, Document) and item.updated_at:
                    newest = max(newest, item.updated_at) if newest else item.updated_at
            if since is not None and newest is not None:  # increments run oldest first: resumable per page
                yield Checkpoint(cursor={"modified": newest.isoformat()})
        yield Checkpoint(cursor={"modified": (newest or datetime.now(UTC)).isoformat()})

    def _cql(self, since: datetime | None) -> str:
        parts = ["type = page"]
        if self._opts.spaces:
            parts.append("space in (" + ", ".join(f'"{k}"' for k in self._opts.spaces) + ")")
        if self._opts.cql:
            parts.append(f"({self._opts.cql})")
        if since is not None:
            parts.append(f'lastmodified >= "{since.astimezone(UTC):%Y/%m/%d %H:%M}"')
        order = "lastmodified" if since is not None else "created"
        return " AND ".join(parts) + f" ORDER BY {order} ASC"

    def _search(self, cql: str, *, expand: str, limit: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of content search results, following ``_links.next`` (Cloud cursors) or ``start``."""
        params: dict[str, Any] = {"cql": cql, "limit": limit, "start": 0}
        if expand:
            params["expand"] = expand
        seen: set[str] = set()
        while True:
            body = self._get(SEARCH, params, what="content search")
            results = body.get("results")
            if not isinstance(results, list):
                raise SourceError(f"Confluence content search answered without results: {str(body)[:200]}")
            yield [r for r in results if isinstance(r, dict)]
            nxt = (body.get("_links") or {}).get("next")
            if not nxt or not results or nxt in seen:
                return
            seen.add(nxt)
            params = dict(parse_qsl(urlsplit(nxt).query))
            if expand and "expand" not in params:
                params["expand"] = expand

    def _allowed(self, content: dict[str, Any]) -> bool:
        return self._opts.include_restricted or not _audience(content)

    def _document(self, content: dict[str, Any]) -> Item | None:
        page_id = str(content.get("id") or "")
        if content.get("status", "current") != "current" or not self._allowed(content):
            return None
        try:
            title = str(content.get("title") or "")
            storage = ((content.get("body") or {}).get("storage") or {}).get("value")
            if storage is None:
                raise ValueError("the search returned no storage-format body")
            space = content.get("space") or {}
            version = content.get("version") or {}
            links = content.get("_links") or {}
            when = version.get("when")
            base = self._opts.base_url.rstrip("/")
            return Document(
                workspace=self._source.workspace,
                source_id=self._source.source_id,
                native_id=page_id,
                title=title,
                uri=f"{base}{links['webui']}" if links.get("webui")
                else f"{base}/pages/viewpage.action?pageId={page_id}",
                kind=DocumentKind.PAGE,
                topic=tuple(x for x in (str(space.get("name") or space.get("key") or ""),
                                        *(str(a.get("title") or "") for a in content.get("ancestors") or [])) if x),
                updated_at=datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None,
                audience=_audience(content),
                media_type="text/html",
                content=storage_to_html(str(storage), title=title).encode("utf-8"),
                metadata={"space": str(space.get("key") or ""), "version": str(version.get("number") or "")},
            )
        except (ValueError, TypeError, KeyError) as exc:
            return FetchFailure(source_id=self._source.source_id, native_id=page_id or None,
                                message=f"Confluence page {page_id}: {exc}")

    # -- client --------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any], *, what: str) -> dict[str, Any]:
        api = self._client()
        label = f"Confluence {what} (GET /{path})"

        def call() -> dict[str, Any]:
            body = api.get(path, params=params)
            if not isinstance(body, dict):
                raise SourceError(f"{label} returned {type(body).__name__}, expected a JSON object")
            return body

        return self._retry.call(call, classify=lambda exc: _classify(exc, label), what=label)

    def _client(self) -> Any:
        if self._api is None:
            s = self._context.secrets
            # retry_with_header=False: the client would otherwise sleep on a 429 itself (for real, once);
            # our RetryPolicy owns every wait so it stays bounded and testable.
            kwargs: dict[str, Any] = {"url": self._opts.base_url, "timeout": self._opts.timeout,
                                      "retry_with_header": False, "backoff_and_retry": False}
            if self._opts.cloud is not None:
                kwargs["cloud"] = self._opts.cloud
            if "confluence__token" in s:
                kwargs["token"] = s["confluence__token"].get_secret_value()
            elif "confluence__username" in s and "confluence__api_token" in s:
                kwargs["username"] = s["confluence__username"].get_secret_value()
                kwargs["password"] = s["confluence__api_token"].get_secret_value()
            else:
                raise ConfigError(f"the Confluence source {self._source.name!r} needs credentials: set "
                                  "KNOWDESK_CONFLUENCE__USERNAME and KNOWDESK_CONFLUENCE__API_TOKEN (Cloud) or "
                                  "KNOWDESK_CONFLUENCE__TOKEN (a Data Center personal access token)")
            self._api = Confluence(**kwargs)  # type: ignore[no-untyped-call]
            weakref.finalize(self, self._api.close)
        return self._api


def _audience(content: dict[str, Any]) -> tuple[str, ...]:
    read = ((content.get("restrictions") or {}).get("read") or {}).get("restrictions") or {}
    out = [f"group:{g.get('name')}" for g in (read.get("group") or {}).get("results", []) if g.get("name")]
    out += [f"user:{u.get('accountId') or u.get('username') or u.get('userKey')}"
            for u in (read.get("user") or {}).get("results", [])]
    return tuple(out)


def _classify(exc: Exception, what: str) -> KnowdeskError | None:
    response = getattr(exc, "response", None)
    reason = getattr(exc, "reason", None)  # atlassian.errors.ApiError wraps the HTTPError
    if response is None and reason is not None:
        response = getattr(reason, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return error_for_status(int(response.status_code), what=what, body=str(exc), headers=response.headers,
                                credential=CREDENTIAL)
    if isinstance(exc, requests.Timeout):
        return SourceError(f"{what} timed out: {exc}")
    if isinstance(exc, requests.ConnectionError):
        return SourceError(f"{what}: Confluence is unreachable: {exc}")
    if isinstance(exc, ValueError):
        return SourceError(f"{what} answered with malformed JSON: {exc}")
    return None
