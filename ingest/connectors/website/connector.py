"""A website (documentation or help site) as a source, crawled with Scrapy in a child process.

native id = the page's normalized url (its canonical url when the page names one in scope).
Every read is a complete crawl of the site's scope, streamed page by page:

- ``list_documents()`` (``sync --full`` and the first sync) fetches every page unconditionally;
- ``read_since(cursor)`` (later syncs) sends ``If-None-Match`` / ``If-Modified-Since`` from the
  validators stored after the last *completed and written* crawl (the cursor names it) and skips
  pages whose sitemap ``lastmod`` is not newer: those become ``Unchanged`` items, and their links
  (remembered from their last fetch) are still followed.

Only a crawl that completes yields the final ``Checkpoint``; then ``list_ids()`` is the set of
pages it reached, so the sync deletes pages that answer 404/410 or are no longer linked. A crawl
that ends early (page cap, a page that failed with unknown links, a crawler error) sets
``incomplete`` to the reason, and the sync deletes nothing; a crashed or killed crawler raises
``SourceError`` with the tail of its stderr.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from core.errors import ConfigError, SourceError, SourceNotFound
from core.models import Document, DocumentKind, FetchFailure, Source
from ingest.connectors.base import Checkpoint, ConnectorContext, ConnectorOptions, Item, Unchanged
from ingest.connectors.options import StrList
from ingest.connectors.website.child import CrawlerProcess
from ingest.connectors.website.pinned import pinned_get
from ingest.connectors.website.safety import AddressPolicy, BlockedAddress, check_public, parse_networks
from ingest.parsing import oversized_message

log = logging.getLogger(__name__)

#: Seconds without a single event from the crawler before it is declared hung and killed.
IDLE_TIMEOUT = 300.0
_KEY = "page:"


class WebsiteOptions(ConnectorOptions):
    """Options of a website source.

    start_url: where the crawl starts; its host and directory are the default scope.
    start_urls: more start urls (their directories join the scope). sitemap_url: a sitemap
    (default: the ``Sitemap:`` lines of robots.txt). include/exclude: regular expressions
    searched in the normalized url. max_pages: a crawl that would go past it is incomplete
    (nothing deleted). max_depth: links followed from a start url. concurrency, delay: parallel
    requests and seconds between requests. respect_robots: obey robots.txt. follow_files: index
    linked PDF and DOCX files. allow_private_network: crawl private/loopback addresses (admin only
    over HTTP). allow_addresses: networks allowed whatever their kind, the only way to reach
    link-local and cloud metadata addresses (admin only over HTTP).
    max_page_bytes: larger responses are failures.
    """

    start_url: str
    start_urls: StrList = []
    sitemap_url: str | None = None
    include: StrList = []
    exclude: StrList = []
    max_pages: int = Field(default=5_000, ge=1, le=1_000_000)
    max_depth: int = Field(default=20, ge=0, le=1_000)
    concurrency: int = Field(default=8, ge=1, le=64)
    delay: float = Field(default=0.0, ge=0.0, le=60.0)
    respect_robots: bool = True
    follow_files: bool = True
    allow_private_network: bool = False
    allow_addresses: StrList = []
    max_page_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("start_url", "sitemap_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_http(value)
        return value

    @field_validator("start_urls")
    @classmethod
    def _http_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_http(value)
        return values

    @field_validator("allow_addresses")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        parse_networks(values)
        return values

    @property
    def policy(self) -> AddressPolicy:
        return AddressPolicy(allow_private=self.allow_private_network, allowed=parse_networks(self.allow_addresses))

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        import re

        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from None
        return values

    @property
    def all_start_urls(self) -> list[str]:
        return list(dict.fromkeys([self.start_url, *self.start_urls]))


def _check_http(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) url with a host")


class WebsiteConnector:
    """Crawls a website; see the module docstring for how reads, validators and deletions work."""

    Options = WebsiteOptions

    def __init__(self, *, source: Source, options: WebsiteOptions, context: ConnectorContext) -> None:
        self._source = source
        self._opts = options
        self._store = context.store
        self._max_bytes = min(options.max_page_bytes, context.max_file_bytes)
        #: Why the last crawl is not complete (the sync then deletes nothing), or None.
        self.incomplete: str | None = None
        #: Live counters of the crawl: crawled, queued, skipped, failed.
        self.progress: dict[str, int] = {}
        #: Links of the last crawl that led nowhere (404/410, failures); not counted against max_pages.
        self.dead_links: list[str] = []
        self._reached: set[str] | None = None
        #: The process id of the current (or last) crawler process.
        self.crawler_pid: int | None = None

    # -- contract --------------------------------------------------------------------------------
    def check(self) -> str:
        url = self._opts.start_url
        try:
            response = pinned_get(url, self._opts.policy)
        except BlockedAddress as exc:
            raise ConfigError(str(exc), url=url) from None
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach {url}: {exc}; check the start_url option") from exc
        if response.status_code in (404, 410):
            raise SourceNotFound(f"{url} answered {response.status_code}; check the start_url option", url=url)
        if response.status_code >= 400:
            raise SourceError(f"{url} answered HTTP {response.status_code}", status=response.status_code)
        return f"website {response.url} (HTTP {response.status_code}, {response.headers.get('content-type', '?')})"

    def list_documents(self) -> Iterator[Item]:
        return self._crawl(trusted=None)

    def read_since(self, cursor: Mapping[str, Any]) -> Iterator[Item]:
        crawl = cursor.get("crawl")
        return self._crawl(trusted=int(crawl) if isinstance(crawl, int | float | str) else None)

    def list_ids(self) -> Iterator[str]:
        """The pages the last complete crawl reached (a crawl is run if none was)."""
        if self._reached is None:
            for _ in self._crawl(trusted=None, emit=False):
                pass
        if self._reached is None:
            raise SourceError(f"the crawl of {self._opts.start_url} did not complete ({self.incomplete}); "
                              "no id listing")
        return iter(sorted(self._reached))

    # -- the crawl -------------------------------------------------------------------------------
    def _crawl(self, *, trusted: int | None, emit: bool = True) -> Iterator[Item]:
        for url in self._opts.all_start_urls:
            self._guard(url)
        crawl_id = int(time.time() * 1000)
        stored = self._records()
        # Only records of the crawl the cursor names (or earlier) are used: a record from a crawl
        # whose run did not finish may describe a page the index never got.
        records = {} if trusted is None else {u: r for u, r in stored.items() if int(r.get("crawl", 0)) <= trusted}
        self.incomplete, self._reached, self.progress, self.dead_links = None, None, {}, []
        reached: set[str] = set()
        config = self._config(records)
        child = CrawlerProcess(config, idle_timeout=IDLE_TIMEOUT)
        self.crawler_pid = child.pid
        pending: dict[str, dict[str, Any]] = {}
        complete = False
        try:
            for event in child.events():
                kind = event["type"]
                self.progress = dict(event.get("stats", {}))
                if kind == "done":
                    complete = bool(event.get("complete"))
                    self.incomplete = None if complete else (event.get("reason") or "the crawl ended early")
                    self.dead_links = list(event.get("dead") or [])
                    break
                item = self._item(event, records, pending, crawl_id, use_records=trusted is not None)
                if item is None:
                    continue
                if isinstance(item, Document | Unchanged | FetchFailure) and item.native_id:
                    reached.add(item.native_id)
                if len(pending) >= 50:
                    self._save(pending)
                if emit:
                    yield item
            else:
                raise SourceError(f"the crawler of {self._opts.start_url} stopped without finishing "
                                  f"(exit code {child.returncode()}): {child.stderr_tail()}")
        finally:
            child.stop()
            self._save(pending)
        if complete:
            self._reached = reached
            self._forget_unreached(stored, reached)
            if emit:
                yield Checkpoint(cursor={"crawl": crawl_id})
        else:
            log.warning("crawl of %s incomplete: %s", self._opts.start_url, self.incomplete)

    def _item(self, event: dict[str, Any], records: dict[str, dict[str, Any]], pending: dict[str, dict[str, Any]],
              crawl_id: int, *, use_records: bool) -> Item | None:
        kind, url = event["type"], event["url"]
        native = event.get("id") or url
        if kind == "unchanged":
            return Unchanged(native_id=native)
        if kind == "gone":
            if self._store is not None:
                self._store.delete([_KEY + url])
            return None
        if kind == "failed":
            return FetchFailure(source_id=self._source.source_id, native_id=native, uri=url,
                                message=event["message"], retryable=bool(event.get("retryable")))
        if kind == "file":
            content = base64.b64decode(event["body"])
            media_type = event["media_type"]
            title = urlsplit(url).path.rsplit("/", 1)[-1]
            topic: tuple[str, ...] = ()
            doc_kind = DocumentKind.FILE
            language = None
        else:
            content = event["html"].encode("utf-8")
            media_type = "text/html; charset=utf-8"
            title = event.get("title") or ""
            topic = tuple(event.get("topic") or ())
            doc_kind = DocumentKind.PAGE
            language = event.get("language")
        if len(content) > self._max_bytes:
            setting, fix = (("sync.max_file_bytes", "raise KNOWDESK_SYNC__MAX_FILE_BYTES or exclude the page")
                            if self._max_bytes < self._opts.max_page_bytes else
                            ("max_page_bytes option", "raise the source's max_page_bytes option or exclude the page"))
            return FetchFailure(source_id=self._source.source_id, native_id=native, uri=url, stage="fetch",
                                message=f"{url}: " + oversized_message(len(content), self._max_bytes,
                                                                       setting=setting, fix=fix))
        digest = hashlib.sha256(content).hexdigest()
        previous = records.get(url)
        pending[url] = {"id": native, "etag": event.get("etag"), "last_modified": event.get("last_modified"),
                        "lastmod": event.get("lastmod"), "hash": digest, "links": event.get("links", []),
                        "crawl": crawl_id}
        if use_records and previous and previous.get("hash") == digest and previous.get("id") == native:
            pending[url]["crawl"] = previous.get("crawl", crawl_id)  # still what the index holds
            return Unchanged(native_id=native)
        return Document(workspace=self._source.workspace, source_id=self._source.source_id, native_id=native,
                        uri=native, title=title, kind=doc_kind, language=language, topic=topic,
                        media_type=media_type, content=content)

    def _config(self, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
        o = self._opts
        known = {url: {k: r.get(k) for k in ("id", "etag", "last_modified", "lastmod", "links")}
                 for url, r in records.items()}
        return {
            "start_urls": o.all_start_urls, "sitemap_urls": [o.sitemap_url] if o.sitemap_url else [],
            "include": o.include, "exclude": o.exclude, "max_pages": o.max_pages, "max_depth": o.max_depth,
            "concurrency": o.concurrency, "delay": o.delay, "respect_robots": o.respect_robots,
            "follow_files": o.follow_files, "allow_private_network": o.allow_private_network,
            "allow_addresses": list(o.allow_addresses),
            "max_page_bytes": self._max_bytes, "known": known,
        }

    # -- stored validators -------------------------------------------------------------------------
    def _records(self) -> dict[str, dict[str, Any]]:
        """Every stored page record (validators, content hash, links, the crawl that wrote it)."""
        if self._store is None:
            return {}
        out = {}
        for key in list(self._store.keys()):
            if key.startswith(_KEY) and (record := self._store.get(key)):
                out[key[len(_KEY):]] = record
        return out

    def _save(self, pending: dict[str, dict[str, Any]]) -> None:
        if self._store is not None and pending:
            self._store.put_many({_KEY + url: record for url, record in pending.items()})
        pending.clear()

    def _forget_unreached(self, records: dict[str, dict[str, Any]], reached: set[str]) -> None:
        """Pages the complete crawl did not reach are deleted by the sync: forget their validators,
        so a page that comes back is fetched in full (a 304 would leave it out of the index)."""
        if self._store is None:
            return
        gone = [_KEY + url for url, r in records.items() if r.get("id", url) not in reached]
        if gone:
            self._store.delete(gone)

    def _guard(self, url: str) -> None:
        try:
            check_public(url, self._opts.policy)
        except BlockedAddress as exc:
            raise ConfigError(str(exc), url=url) from None
