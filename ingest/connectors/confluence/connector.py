"""Confluence pages (Cloud and Data Center) as a source, through atlassian-python-api.

Pages come from the content search (``GET /rest/api/content/search?cql=...``) over the chosen
spaces and/or a CQL filter, with bodies in storage format rendered to clean HTML (see
``render.py``), the space and ancestors as the topic path, and read restrictions as the
audience: the page's own and those it inherits from restricted ancestors (Confluence applies an
ancestor's view restriction to its descendants; see ``restrictions.py`` for how levels combine).
Restricted pages, and pages under a restricted ancestor, are skipped unless
``include_restricted`` is set; then they carry the combined audience.

- Increments: the same search with ``lastmodified >= "..."`` from the saved cursor minus an
  overlap window (CQL compares minutes in the account's time zone, hence a generous default).
- Deletions: an id-only search; archived and trashed pages are not ``current``, so they drop
  out of it and are deleted, with their attachments.
- Attachments (``attachments``, on by default): a page's files
  (``GET /rest/api/content/{id}/child/attachment``, paged) are documents of their own, native id
  ``PAGE/attachments/ID``, titled by the file name, cited by their download link, filed under the
  page's topic plus its title, with the page's language and audience. Only PDF, DOCX, HTML,
  Markdown and text files up to ``attachment_max_mb`` are downloaded (``_links.download`` on Data
  Center, ``/child/attachment/{id}/download`` on Cloud); others (images) and larger ones are
  skipped and counted in the run report. A file whose version number and size are unchanged is
  not downloaded again. Increments re-list the attachments of changed pages and of pages with a
  file added or updated since the cursor (``type = attachment AND lastmodified >= ...``: an upload
  leaves the page's version alone); a file deleted from a page that was not otherwise edited is
  pruned by the next full sync. A failed download is a failure of that file only.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests
from atlassian import Confluence
from pydantic import Field

from core.errors import ConfigError, KnowdeskError, SourceAuthError, SourceError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.attachments import MB, AttachmentRef, Attachments, as_int
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item
from ingest.connectors.confluence.credentials import ConfluenceCredentials
from ingest.connectors.confluence.render import storage_to_html
from ingest.connectors.confluence.restrictions import AncestorRestrictions
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
    restrictions of their own or inherited from an ancestor (and their attachments). cloud: force
    Cloud/Data Center (default: guessed from the url). attachments: index pages' PDF/DOCX/HTML/
    Markdown/text attachments. attachment_max_mb: skip (and report) attachments larger than this."""

    base_url: str = Field(pattern=r"^https?://")
    spaces: StrList = []
    cql: str | None = None
    include_restricted: bool = False
    cloud: bool | None = None
    overlap_minutes: int = Field(default=24 * 60, ge=0)
    page_size: int = Field(default=50, ge=1, le=200)
    timeout: int = Field(default=60, gt=0)
    attachments: bool = True
    attachment_max_mb: float = Field(default=20.0, gt=0)


class ConfluenceConnector:
    """Reads Confluence pages.

    Args:
        source, options, context: as for every connector.
        credentials: ``username`` + ``api_token`` (Cloud) or ``token`` (a Data Center personal
            access token), from ``KNOWDESK_CONFLUENCE__*``.
        retry: the retry policy of every request (tests pass one with a recording ``sleep``).
    """

    Options: ClassVar[type[ConnectorOptions]] = ConfluenceOptions

    def __init__(self, *, source: Source, options: ConfluenceOptions, context: ConnectorContext,
                 credentials: ConfluenceCredentials, retry: RetryPolicy | None = None) -> None:
        self._source = source
        self._credentials = credentials
        self._opts = options
        self._context = context
        self._retry = retry or RetryPolicy()
        self._api: Any = None
        self._restrictions = AncestorRestrictions(lambda path, params, what: self._get(path, params, what=what))
        self._files = Attachments(source=source, context=context, max_bytes=int(options.attachment_max_mb * MB))

    @property
    def skipped(self) -> dict[str, int]:
        """Attachments not downloaded, by reason (the run report lists them)."""
        return self._files.skipped

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
        expand = "ancestors,restrictions.read.restrictions.user,restrictions.read.restrictions.group"
        pages: set[str] = set()
        for page in self._search(self._cql(None), expand=expand if not self._opts.include_restricted else "",
                                 limit=200):
            for content in page:
                if content.get("status", "current") == "current" and (
                        self._opts.include_restricted or not self._restrictions.audience(content)[0]):
                    pages.add(str(content["id"]))
                    yield str(content["id"])
        if self._opts.attachments:
            for page_id in sorted(pages):
                # remembered from the last listing of the page (re-listed whenever it changes)
                yield from self._files.ids(page_id, partial(self._refs, page_id))
            self._files.forget_missing(pages)

    # -- reading -------------------------------------------------------------------------------
    def _read(self, since: datetime | None) -> Iterator[Item]:
        newest = since
        read: set[str] = set()
        failed: set[str] = set()
        for page in self._search(self._cql(since), expand=EXPAND, limit=self._opts.page_size):
            for content in page:
                item = self._document(content)
                if item is not None:
                    yield item
                if isinstance(item, FetchFailure) and item.native_id and self._opts.attachments:
                    failed.add(item.native_id)  # keep its attachments: a full sync must not prune them
                    yield from self._files.parent_failed(item.native_id, item.message, uri=item.uri)
                if isinstance(item, Document):
                    read.add(item.native_id)
                    if self._opts.attachments:
                        yield from self._attachments(item)
                    if item.updated_at:
                        newest = max(newest, item.updated_at) if newest else item.updated_at
            if since is not None and newest is not None and not self._opts.attachments:
                # increments run oldest first: resumable per page. Not with attachments: the file
                # search below starts from ``since``, and a cursor moved past it would skip uploads.
                yield Checkpoint(cursor={"modified": newest.isoformat()})
        if since is not None and self._opts.attachments:
            yield from self._pages_with_new_files(since, read)
        if since is None and self._opts.attachments:
            self._files.forget_missing(read | failed)
        yield Checkpoint(cursor={"modified": (newest or datetime.now(UTC)).isoformat()})

    def _cql(self, since: datetime | None, *, ids: list[str] | None = None) -> str:
        parts = ["type = page"]
        if ids:
            parts.append("id in (" + ", ".join(ids) + ")")
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

    def _document(self, content: dict[str, Any]) -> Item | None:
        page_id = str(content.get("id") or "")
        if content.get("status", "current") != "current":
            return None
        try:
            audience, inherited = self._restrictions.audience(content)
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise
            return FetchFailure(source_id=self._source.source_id, native_id=page_id or None, retryable=exc.retryable,
                                message=f"Confluence page {page_id}: its ancestors' read restrictions are unknown "
                                f"({exc.message}); not indexed until they can be read")
        if audience and not self._opts.include_restricted:
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
                audience=audience,
                media_type="text/html",
                content=storage_to_html(str(storage), title=title).encode("utf-8"),
                metadata={"space": str(space.get("key") or ""), "version": str(version.get("number") or ""),
                          **({"restricted_by": ",".join(inherited)} if inherited else {})},
            )
        except (ValueError, TypeError, KeyError) as exc:
            return FetchFailure(source_id=self._source.source_id, native_id=page_id or None,
                                message=f"Confluence page {page_id}: {exc}")

    # -- attachments ---------------------------------------------------------------------------
    def _pages_with_new_files(self, since: datetime, read: set[str]) -> Iterator[Item]:
        """Pages not edited since ``since`` that got a new or updated attachment (uploading a file
        leaves the page's own version alone): read again (the sync skips the unchanged page by
        its fingerprint) with their attachments re-listed."""
        parts = ["type = attachment"]
        if self._opts.spaces:
            parts.append("space in (" + ", ".join(f'"{k}"' for k in self._opts.spaces) + ")")
        parts.append(f'lastmodified >= "{since.astimezone(UTC):%Y/%m/%d %H:%M}"')
        containers: list[str] = []
        for page in self._search(" AND ".join(parts), expand="container", limit=200):
            for a in page:
                c = a.get("container") or {}
                cid = str(c.get("id") or "")
                if cid and c.get("type", "page") == "page" and cid not in read and cid not in containers:
                    containers.append(cid)
        for i in range(0, len(containers), 50):
            # a page search by id keeps the source's spaces and CQL filter in force
            for page in self._search(self._cql(None, ids=containers[i:i + 50]), expand=EXPAND,
                                     limit=self._opts.page_size):
                for content in page:
                    item = self._document(content)
                    if item is not None:
                        yield item
                    if isinstance(item, Document):
                        read.add(item.native_id)
                        yield from self._attachments(item)

    def _attachments(self, page: Document) -> Iterator[Item]:
        try:
            refs = list(self._refs(page.native_id))
        except SourceNotFound:
            return  # gone since the search listed it: the id listing removes it and its attachments
        except KnowdeskError as exc:
            if isinstance(exc, SourceAuthError) and exc.fields.get("status") == 401:
                raise
            yield from self._files.listing_failed(page.native_id, exc.message, uri=page.uri,
                                                  retryable=exc.retryable)
            return
        yield from self._files.items(page, refs, self._download)

    def _refs(self, page_id: str) -> Iterator[AttachmentRef]:
        """A page's attachments, following ``_links.next``."""
        path = f"rest/api/content/{page_id}/child/attachment"
        params: dict[str, Any] = {"expand": "version,metadata", "start": 0, "limit": 200}
        base = self._opts.base_url.rstrip("/")
        cloud = bool(getattr(self._client(), "cloud", False))
        seen: set[str] = set()
        while True:
            body = self._get(path, params, what=f"attachments of page {page_id}")
            results = [r for r in body.get("results") or [] if isinstance(r, dict) and r.get("id")]
            for a in results:
                ext, meta = a.get("extensions") or {}, a.get("metadata") or {}
                version, links = a.get("version") or {}, a.get("_links") or {}
                link = str(links.get("download") or "")
                size = as_int(ext.get("fileSize"))
                when = version.get("when")
                yield AttachmentRef(
                    attachment_id=str(a["id"]),
                    file_name=str(a.get("title") or a["id"]),
                    url=f"{base}{link}" if link.startswith("/") else link or f"{base}{links.get('webui') or ''}",
                    # Cloud retired the /download/attachments route for API clients
                    download=f"rest/api/content/{page_id}/child/attachment/{a['id']}/download" if cloud else link,
                    content_type=str(meta.get("mediaType") or ext.get("mediaType") or "") or None,
                    size=size,
                    version=f"{version.get('number') or ''}|{size}",
                    updated_at=datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None,
                )
            nxt = (body.get("_links") or {}).get("next")
            if not nxt or not results or nxt in seen:
                return
            seen.add(nxt)
            params = dict(parse_qsl(urlsplit(nxt).query))
            params.setdefault("expand", "version,metadata")

    def _download(self, ref: AttachmentRef) -> bytes:
        api = self._client()
        label = f"Confluence download of {ref.file_name} (GET {urlsplit(ref.download).path})"

        def call() -> bytes:
            body = api.get(ref.download, not_json_response=True)
            if not isinstance(body, bytes):
                raise SourceError(f"{label} returned {type(body).__name__}, expected the file's bytes")
            return body

        return self._retry.call(call, classify=lambda exc: _classify(exc, label), what=label)

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
            s = self._credentials
            # retry_with_header=False: the client would otherwise sleep on a 429 itself (for real, once);
            # our RetryPolicy owns every wait so it stays bounded and testable.
            kwargs: dict[str, Any] = {"url": self._opts.base_url, "timeout": self._opts.timeout,
                                      "retry_with_header": False, "backoff_and_retry": False}
            if self._opts.cloud is not None:
                kwargs["cloud"] = self._opts.cloud
            if s.token is not None:
                kwargs["token"] = s.token.get_secret_value()
            elif s.username is not None and s.api_token is not None:
                kwargs["username"] = s.username
                kwargs["password"] = s.api_token.get_secret_value()
            else:
                raise ConfigError(f"the Confluence source {self._source.name!r} needs credentials: set "
                                  "KNOWDESK_CONFLUENCE__USERNAME and KNOWDESK_CONFLUENCE__API_TOKEN (Cloud) or "
                                  "KNOWDESK_CONFLUENCE__TOKEN (a Data Center personal access token)")
            self._api = Confluence(**kwargs)  # type: ignore[no-untyped-call]
            weakref.finalize(self, self._api.close)
        return self._api


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
