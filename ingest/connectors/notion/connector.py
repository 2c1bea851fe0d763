"""Notion pages and database rows shared with an integration, through notion-client.

- Increments: ``POST /v1/search`` for pages sorted by ``last_edited_time`` descending, read
  until a page older than the saved cursor minus an overlap window (Notion rounds edit times to
  the minute).
- Full walk (first sync, ``--full``): every page search returns, plus child pages found in the
  block trees (search is known to miss pages); the walked-only ids are remembered in the
  connector store so the id listing keeps them.
- Deletions: the id listing is every page search returns (archived and trashed left out) plus
  the remembered walked-only ids.

Block trees are rendered to Markdown (``render.py``); the parent chain of pages (and the
database of a row) is the topic path. Every request passes a ``RateGate`` (3 requests/s, the
documented average limit) and the shared ``RetryPolicy``; the client's own retries are off.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from notion_client import Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from pydantic import Field

from core.errors import ConfigError, KnowdeskError, SourceAuthError, SourceError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item
from ingest.connectors.http import RateGate, RetryPolicy, error_for_status
from ingest.connectors.notion.credentials import NotionCredentials
from ingest.connectors.notion.render import page_title, render_blocks

log = logging.getLogger(__name__)

CREDENTIAL = "the Notion integration token (KNOWDESK_NOTION__TOKEN)"
WALKED = "walked_pages"


class NotionOptions(ConnectorOptions):
    """base_url: the API root (``https://api.notion.com``). overlap_minutes: how far before the
    saved cursor an incremental read starts. requests_per_second: the rate gate (Notion allows 3)."""

    base_url: str = Field(default="https://api.notion.com", pattern=r"^https?://")
    overlap_minutes: int = Field(default=10, ge=1)
    requests_per_second: float = Field(default=3.0, gt=0, le=3.0)
    max_depth: int = Field(default=8, ge=1, le=32)
    timeout: float = Field(default=60.0, gt=0)


class NotionConnector:
    """Reads the Notion pages an integration can see.

    Args:
        source, options, context: as for every connector.
        credentials: the integration's secret (``KNOWDESK_NOTION__TOKEN``).
        retry: the retry policy of every request.
        gate: the request rate gate (tests pass one with a fake clock and a recording sleep).
    """

    Options: ClassVar[type[ConnectorOptions]] = NotionOptions

    def __init__(self, *, source: Source, options: NotionOptions, context: ConnectorContext,
                 credentials: NotionCredentials, retry: RetryPolicy | None = None,
                 gate: RateGate | None = None) -> None:
        self._source = source
        self._credentials = credentials
        self._opts = options
        self._context = context
        self._retry = retry or RetryPolicy()
        self._gate = gate or RateGate(options.requests_per_second)
        self._api: Client | None = None
        self._pages: dict[str, dict[str, Any]] = {}
        self._titles: dict[str, tuple[str, ...]] = {}

    # -- contract ------------------------------------------------------------------------------
    def check(self) -> str:
        me = self._call("users/me", lambda c: c.users.me())
        found = self._call("search", lambda c: c.search(filter={"property": "object", "value": "page"}, page_size=1))
        name = (me.get("bot") or {}).get("workspace_name") or me.get("name") or "?"
        shared = "pages are shared with it" if found.get("results") else "no page is shared with it yet"
        return f"Notion workspace {name} through integration {me.get('name') or me.get('id')}: {shared}"

    def list_documents(self) -> Iterator[Item]:
        newest: datetime | None = None
        seen: set[str] = set()
        queue: list[dict[str, Any]] = []
        for page in self._search():
            queue.append(page)
        walked: set[str] = set()
        while queue:
            page = queue.pop(0)
            if page["id"] in seen:
                continue
            seen.add(page["id"])
            children: list[str] = []
            item = self._document(page, children)
            if item is not None:
                yield item
                if isinstance(item, Document) and item.updated_at:
                    newest = max(newest, item.updated_at) if newest else item.updated_at
            for child in children:
                if child not in seen and child not in self._pages:
                    try:
                        found = self._page(child)
                    except SourceNotFound:
                        continue
                    if _live(found):
                        walked.add(child)
                        queue.append(found)
        if self._context.store is not None:
            self._context.store.put(WALKED, {"ids": sorted(walked)})
        yield Checkpoint(cursor={"last_edited": (newest or datetime.now(UTC)).isoformat()})

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        if "last_edited" not in cursor:
            yield from self.list_documents()
            return
        since = datetime.fromisoformat(str(cursor["last_edited"])) - timedelta(minutes=self._opts.overlap_minutes)
        newest = datetime.fromisoformat(str(cursor["last_edited"]))
        for page in self._search(stop_before=since):
            item = self._document(page, [])
            if item is not None:
                yield item
                if isinstance(item, Document) and item.updated_at:
                    newest = max(newest, item.updated_at)
        yield Checkpoint(cursor={"last_edited": newest.isoformat()})

    def list_ids(self) -> Iterator[str]:
        ids = {page["id"] for page in self._search()}
        remembered = (self._context.store.get(WALKED) or {}) if self._context.store is not None else {}
        for page_id in remembered.get("ids", []):
            if page_id not in ids:  # walked-only pages: still there?
                try:
                    if _live(self._page(page_id)):
                        ids.add(page_id)
                except SourceNotFound:
                    continue
        yield from sorted(ids)

    # -- reading -------------------------------------------------------------------------------
    def _search(self, stop_before: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Live pages, most recently edited first; stops at the first one edited before ``stop_before``."""
        start: str | None = None
        while True:
            args: dict[str, Any] = {"filter": {"property": "object", "value": "page"}, "page_size": 100,
                                    "sort": {"direction": "descending", "timestamp": "last_edited_time"}}
            if start:
                args["start_cursor"] = start
            body = self._call("search", lambda c, a=args: c.search(**a))  # type: ignore[misc]
            for page in body.get("results", []):
                if not isinstance(page, dict) or page.get("object") != "page":
                    continue
                if stop_before is not None and _edited(page) < stop_before:
                    return
                self._pages[page["id"]] = page
                if _live(page):
                    yield page
            start = body.get("next_cursor")
            if not body.get("has_more") or not start:
                return

    def _document(self, page: dict[str, Any], children: list[str]) -> Item | None:
        if not _live(page):
            return None
        page_id = str(page["id"])
        try:
            title = page_title(page)
            blocks = self._blocks(page_id, depth=0, children=children)
            body = render_blocks(blocks)
            return Document(
                workspace=self._source.workspace,
                source_id=self._source.source_id,
                native_id=page_id,
                title=title,
                uri=str(page.get("url") or f"https://www.notion.so/{page_id.replace('-', '')}"),
                kind=DocumentKind.PAGE,
                topic=self._topic(page.get("parent") or {}),
                updated_at=_edited(page),
                media_type="text/markdown",
                content=f"# {title}\n\n{body}\n".encode(),
                metadata={"parent_type": str((page.get("parent") or {}).get("type") or "")},
            )
        except SourceAuthError:
            raise
        except SourceNotFound:
            log.info("Notion page %s went away while it was read; the id listing removes it", page_id)
            return None
        except KnowdeskError as exc:
            return FetchFailure(source_id=self._source.source_id, native_id=page_id,
                                uri=str(page.get("url") or ""), message=f"Notion page {page_id}: {exc.message}",
                                retryable=exc.retryable)

    def _blocks(self, block_id: str, *, depth: int, children: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            args: dict[str, Any] = {"block_id": block_id, "page_size": 100}
            if start:
                args["start_cursor"] = start
            body = self._call("blocks/children", lambda c, a=args: c.blocks.children.list(**a))  # type: ignore[misc]
            for block in body.get("results", []):
                if block.get("type") == "child_page":
                    children.append(str(block["id"]))
                elif block.get("has_children") and depth < self._opts.max_depth:
                    block = block | {"children": self._blocks(str(block["id"]), depth=depth + 1, children=children)}
                out.append(block)
            start = body.get("next_cursor")
            if not body.get("has_more") or not start:
                return out

    def _topic(self, parent: dict[str, Any]) -> tuple[str, ...]:
        kind = parent.get("type")
        if kind == "page_id":
            pid = str(parent["page_id"])
            if pid not in self._titles:
                self._titles[pid] = ()  # cycle guard
                try:
                    page = self._pages.get(pid) or self._page(pid)
                except (SourceNotFound, SourceError):
                    return ()
                self._titles[pid] = (*self._topic(page.get("parent") or {}), page_title(page))
            return self._titles[pid]
        if kind in ("database_id", "data_source_id") and parent.get("database_id"):
            did = str(parent["database_id"])
            if did not in self._titles:
                try:
                    db = self._call("databases", lambda c: c.databases.retrieve(database_id=did))
                    self._titles[did] = (*self._topic(db.get("parent") or {}), page_title(db))
                except (SourceNotFound, SourceError):
                    self._titles[did] = ()
            return self._titles[did]
        return ()

    def _page(self, page_id: str) -> dict[str, Any]:
        page = self._call("pages", lambda c: c.pages.retrieve(page_id=page_id))
        self._pages[page_id] = page
        return page

    # -- client --------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[Client], Any]) -> dict[str, Any]:
        api = self._client()
        label = f"Notion {what}"

        def once() -> dict[str, Any]:
            self._gate.wait()
            body = fn(api)
            if not isinstance(body, dict):
                raise SourceError(f"{label} returned {type(body).__name__}, expected a JSON object")
            return body

        return self._retry.call(once, classify=lambda exc: _classify(exc, label), what=label)

    def _client(self) -> Client:
        if self._api is None:
            token = self._credentials.token
            if token is None:
                raise ConfigError(f"the Notion source {self._source.name!r} needs credentials: set "
                                  "KNOWDESK_NOTION__TOKEN to the integration's secret")
            self._api = Client(auth=token.get_secret_value(), base_url=self._opts.base_url, retry=False,
                               timeout_ms=int(self._opts.timeout * 1000), log_level=logging.CRITICAL)
            weakref.finalize(self, self._api.close)
        return self._api


def _live(page: dict[str, Any]) -> bool:
    return not (page.get("archived") or page.get("in_trash"))


def _edited(page: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(page.get("last_edited_time") or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def _classify(exc: Exception, what: str) -> KnowdeskError | None:
    if isinstance(exc, HTTPResponseError):
        err = error_for_status(exc.status, what=what, body=str(exc), headers=exc.headers, credential=CREDENTIAL)
        if exc.status == 404:
            return SourceNotFound(f"{what}: not found or not shared with the integration (404); share it "
                                  "with the integration in Notion", status=404)
        return err
    if isinstance(exc, RequestTimeoutError | httpx.TimeoutException):
        return SourceError(f"{what} timed out: {exc}")
    if isinstance(exc, httpx.TransportError):
        return SourceError(f"{what}: Notion is unreachable: {exc}")
    return None
