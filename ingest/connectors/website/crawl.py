"""The Scrapy crawl, run as a child process: ``python -m ingest.connectors.website.crawl``.

Twisted's reactor cannot be restarted inside a long-lived worker, so every crawl is its own
process. It reads a JSON ``CrawlConfig`` on stdin and writes one JSON event per line on stdout
as pages arrive (``page``, ``file`` (base64 body), ``unchanged``, ``gone``, ``failed``), each with
the live counters, and a final ``done`` event saying whether the crawl completed. Anything
printed by Scrapy goes to stderr, which the parent keeps for its error messages.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

import scrapy
from lxml import etree
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure
from w3lib.encoding import html_to_unicode

from ingest.connectors.website.extract import extract
from ingest.connectors.website.resolver import ALLOW_ADDRESSES_SETTING, ALLOW_PRIVATE_SETTING, PinningResolver
from ingest.connectors.website.urls import Scope, TrapGuard, normalize_url

log = logging.getLogger(__name__)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_FILE_EXTENSIONS = {".pdf": PDF, ".docx": DOCX}
_CONDITIONAL = (b"If-None-Match", b"If-Modified-Since")
#: Above this share of replacement characters a page's encoding is reported as invalid.
MAX_BAD_CHARS = 0.01


@dataclass
class CrawlConfig:
    """What the parent sends on stdin (all plain JSON)."""

    start_urls: list[str]
    sitemap_urls: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    max_pages: int = 10_000
    max_depth: int = 20
    concurrency: int = 8
    delay: float = 0.0
    respect_robots: bool = True
    follow_files: bool = True
    allow_private_network: bool = False
    #: Networks allowed whatever their kind (the only way to reach link-local/metadata addresses).
    allow_addresses: list[str] = field(default_factory=list)
    max_page_bytes: int = 10 * 1024 * 1024
    timeout: float = 30.0
    retries: int = 2
    user_agent: str = "knowdesk-crawler/0.1 (+https://github.com/knowdesk)"
    #: normalized url -> {"id", "etag", "last_modified", "lastmod", "links"} from earlier crawls.
    known: dict[str, dict[str, Any]] = field(default_factory=dict)


class Refused(IgnoreRequest):
    """A request to a host the resolver already refused (private or metadata address)."""


def _resolver() -> PinningResolver | None:
    from twisted.internet import reactor

    resolver = getattr(reactor, "nameResolver", None)
    return resolver if isinstance(resolver, PinningResolver) else None


class GuardMiddleware:
    """Downloader middleware: refuses requests to hosts the crawl's resolver refused (the resolver,
    ``resolver.PinningResolver``, is what keeps every connection on checked addresses) and sets
    conditional-request headers, for every request including redirects (which come back through
    ``process_request``)."""

    def __init__(self, spider: SiteSpider) -> None:
        self.spider = spider

    @classmethod
    def from_crawler(cls, crawler: Any) -> GuardMiddleware:
        return cls(crawler.spider)

    def process_request(self, request: Request, spider: Any = None) -> None:
        cfg = self.spider.cfg
        resolver = _resolver()
        if resolver is not None and (reason := resolver.refusal(urlsplit(request.url).hostname)):
            raise Refused(reason)
        for header in _CONDITIONAL:
            request.headers.pop(header, None)
        known = cfg.known.get(normalize_url(request.url)) if request.meta.get("kd_page") else None
        if known:
            if known.get("etag"):
                request.headers[b"If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                request.headers[b"If-Modified-Since"] = known["last_modified"]


class SiteSpider(scrapy.Spider):
    """Crawls one site within its scope and streams events to ``out``."""

    name = "knowdesk-website"

    def __init__(self, cfg: CrawlConfig, out: IO[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg
        self.out = out
        self.scope = Scope.build(cfg.start_urls, cfg.include, cfg.exclude)
        self.traps = TrapGuard()
        self.scheduled: set[str] = set()
        self.emitted: set[str] = set()
        self.stats = {"crawled": 0, "queued": 0, "skipped": 0, "failed": 0, "dead": 0}
        self.incomplete: list[str] = []
        #: Scheduled urls that turned out not to be pages (404/410, failures): they free their place
        #: under max_pages, which counts pages, and are reported apart as dead links.
        self.dead: list[str] = []
        self._over_cap: list[tuple[str, int, str | None]] = []
        self._sitemaps_pending = 0
        self._started = False
        self._deferred: list[tuple[str, int]] = []
        deny = [e for e in IGNORED_EXTENSIONS if not (cfg.follow_files and e in ("pdf", "docx"))]
        self.links = LinkExtractor(deny_extensions=deny, canonicalize=False, unique=True)

    # -- start ---------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Any]:
        # Sitemaps first, start urls once they are read: a page listed with a lastmod that is not
        # newer than its last fetch is then skipped even when a start page links to it.
        if self.cfg.sitemap_urls:
            for sitemap in self.cfg.sitemap_urls:
                yield self._sitemap_request(sitemap, self.parse_sitemap)
        else:
            for origin in sorted({_origin(u) for u in self.cfg.start_urls}):
                yield self._sitemap_request(f"{origin}/robots.txt", self.parse_robots)
        if not self._sitemaps_pending:
            for request in self._start_pages():
                yield request

    def _sitemap_request(self, url: str, callback: Any) -> Request:
        self._sitemaps_pending += 1
        return Request(url, callback=callback, errback=self.sitemap_failed, dont_filter=True)

    def _sitemap_done(self) -> Iterator[Request]:
        self._sitemaps_pending -= 1
        if self._sitemaps_pending == 0:
            yield from self._start_pages()

    def _start_pages(self) -> Iterator[Request]:
        if not self._started:
            self._started = True
            for known, depth in self._deferred:
                yield from self.follow_known(known, depth)
            for url in self.cfg.start_urls:
                yield from self.follow(url, depth=0)

    def parse_robots(self, response: Response) -> Iterator[Request]:
        if response.status == 200 and isinstance(response, TextResponse):
            for url in sitemap_urls_from_robots(response.text, base_url=response.url):
                if self.scope.on_site(url):
                    yield self._sitemap_request(url, self.parse_sitemap)
        yield from self._sitemap_done()

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        yield from self._sitemap_entries(response)
        yield from self._sitemap_done()

    def _sitemap_entries(self, response: Response) -> Iterator[Request]:
        if response.status != 200:
            log.warning("sitemap %s answered %s; crawling by links only", response.url, response.status)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            body = gunzip(body, max_size=self.cfg.max_page_bytes)
        try:
            sitemap = Sitemap(body)
        except (etree.XMLSyntaxError, ValueError) as exc:  # links still find the pages
            log.warning("sitemap %s is not valid XML (%s); crawling by links only", response.url, exc)
            return
        for entry in sitemap:
            loc = entry.get("loc")
            if not loc:
                continue
            if sitemap.type == "sitemapindex":
                if self.scope.on_site(loc):
                    yield self._sitemap_request(loc, self.parse_sitemap)
            else:
                yield from self.follow(loc, depth=0, lastmod=entry.get("lastmod"))

    def sitemap_failed(self, failure: Failure) -> Iterator[Request]:
        log.warning("cannot read %s: %s", failure.request.url, failure.getErrorMessage())  # type: ignore[attr-defined]
        yield from self._sitemap_done()

    # -- scheduling ----------------------------------------------------------------------------
    def follow(self, raw_url: str, *, depth: int, lastmod: str | None = None) -> Iterator[Request]:
        url = normalize_url(raw_url)
        if url in self.scheduled or not url.startswith(("http://", "https://")) or not self.scope.allows(url):
            return
        if depth > self.cfg.max_depth:
            return  # outside the configured scope, like an excluded path
        if reason := self.traps.reason(url):
            self.skip(url, reason)
            return
        if len(self.scheduled) - len(self.dead) >= self.cfg.max_pages:
            self._over_cap.append((url, depth, lastmod))  # fetched if a scheduled url turns out dead
            self.skip(url, "page cap")
            return
        self.scheduled.add(url)
        known = self.cfg.known.get(url)
        if known and lastmod and known.get("lastmod") and lastmod <= str(known["lastmod"]):
            self.emit("unchanged", url=url, id=known.get("id", url), reason="sitemap lastmod")
            # its remembered links wait until every sitemap entry is scheduled with its own lastmod
            self._deferred.append((url, depth))
            return
        self.stats["queued"] += 1
        yield Request(url, callback=self.parse_page, errback=self.page_failed, dont_filter=True,
                      meta={"kd_page": True, "kd_url": url, "kd_depth": depth, "kd_lastmod": lastmod})

    def follow_known(self, url: str, depth: int) -> Iterator[Request]:
        """Links remembered from the last fetch of a page we did not download this time."""
        for link in (self.cfg.known.get(url) or {}).get("links", []):
            yield from self.follow(link, depth=depth + 1)

    # -- responses -----------------------------------------------------------------------------
    def parse_page(self, response: Response) -> Iterator[Request]:
        meta = response.meta
        url, depth = meta["kd_url"], meta["kd_depth"]
        self.stats["queued"] -= 1
        self.stats["crawled"] += 1
        try:
            yield from self._page(response, url, depth)
        except Exception as exc:  # one bad page is a failure event, never a silently lost page
            log.exception("error handling %s", response.url)
            yield from self.fail(url, f"cannot process {response.url}: {type(exc).__name__}: {exc}", depth=depth)

    def _page(self, response: Response, url: str, depth: int) -> Iterator[Request]:
        status = response.status
        if status == 304:
            known = self.cfg.known.get(normalize_url(response.url)) or self.cfg.known.get(url) or {}
            self.emit("unchanged", url=url, id=known.get("id", url), reason="304")
            yield from self.follow_known(url, depth)
            return
        if status in (404, 410):
            self.emit("gone", url=url, status=status)
            yield from self._dead(url)
            return
        if status >= 400:
            yield from self.fail(url, f"{response.url} answered HTTP {status}", depth=depth,
                      retryable=status >= 500 or status == 429)
            return
        final = normalize_url(response.url)
        if final != url:
            if not self.scope.allows(final):
                self.skip(url, f"redirected out of scope to {final}")
                return
            if final in self.emitted:
                return
            self.scheduled.add(final)
        validators = {"etag": _header(response, b"ETag"), "last_modified": _header(response, b"Last-Modified"),
                      "lastmod": response.meta.get("kd_lastmod")}
        content_type = (_header(response, b"Content-Type") or "").split(";")[0].strip().lower()
        kind = _kind(content_type, response.body, final)
        if kind in (PDF, DOCX):
            if final in self.emitted:
                return
            self.emitted.add(final)
            self.emit("file", url=final, id=final, media_type=kind,
                      body=base64.b64encode(response.body).decode("ascii"), **validators)
            return
        if kind != "html":
            self.skip(url, f"unsupported content type {content_type or '(none)'}")
            return
        encoding, text = html_to_unicode(_header(response, b"Content-Type"), response.body)
        if text.count("\ufffd") > MAX_BAD_CHARS * max(len(text), 1):
            yield from self.fail(url, f"{response.url}: the page is not valid {encoding}; fix its charset", depth=depth)
            return
        page = extract(text, url=response.url)
        robots = (response.xpath("//meta[translate(@name,'ROBOTS','robots')='robots']/@content").get() or "").lower() \
            if isinstance(response, TextResponse) else ""
        links: list[str] = []
        if "nofollow" not in robots and isinstance(response, TextResponse):
            for link in self.links.extract_links(response):
                normalized = normalize_url(link.url)
                if self.scope.allows(normalized):
                    links.append(normalized)
        for href in links:
            yield from self.follow(href, depth=depth + 1)
        if page.canonical and (canonical := normalize_url(page.canonical)) != final and self.scope.allows(canonical):
            # the canonical page is the document (fetched itself, so its content never depends on order)
            self.skip(url, f"duplicate of its canonical {canonical}")
            yield from self.follow(canonical, depth=depth)
            return
        if "noindex" in robots:
            self.skip(url, "noindex")
            return
        if final in self.emitted:
            return
        self.emitted.add(final)
        self.emit("page", url=final, id=final, title=page.title, language=page.language,
                  topic=list(page.breadcrumbs), html=page.html, links=links, **validators)

    def page_failed(self, failure: Failure) -> Iterator[Request]:
        request: Request = failure.request  # type: ignore[attr-defined]
        url = request.meta["kd_url"]
        self.stats["queued"] -= 1
        resolver = _resolver()
        refusal = resolver.refusal(urlsplit(request.url).hostname) if resolver is not None else None
        if refusal is not None:  # never connected: a failure with its reason (a refused start url fails the sync)
            yield from self.fail(url, f"refused {request.url}: {refusal}", depth=request.meta["kd_depth"])
        elif failure.check(IgnoreRequest):  # type: ignore[no-untyped-call]
            self.skip(url, failure.getErrorMessage() or "ignored")
        else:
            name = failure.type.__name__ if failure.type else "error"
            message = failure.getErrorMessage()
            if name == "DownloadCancelledError":
                message = f"larger than max_page_bytes={self.cfg.max_page_bytes}"
            yield from self.fail(url, f"cannot fetch {request.url}: {name}: {message}", depth=request.meta["kd_depth"],
                      retryable=True)

    # -- events --------------------------------------------------------------------------------
    def fail(self, url: str, message: str, *, depth: int, retryable: bool = False) -> Iterator[Request]:
        known = self.cfg.known.get(url)
        self.stats["failed"] += 1
        self.emit("failed", url=url, id=(known or {}).get("id", url), message=message, retryable=retryable)
        if known and "links" in known:
            yield from self.follow_known(url, depth)
        else:  # pages behind it may be unreachable this time: not a complete crawl
            self.incomplete.append(f"{url} failed and its links are unknown")
        yield from self._dead(url)

    def _dead(self, url: str) -> Iterator[Request]:
        """``url`` is no page: it frees its place under max_pages for the first url held back by the cap."""
        if url in self.dead:
            return
        self.dead.append(url)
        self.stats["dead"] += 1
        while self._over_cap and len(self.scheduled) - len(self.dead) < self.cfg.max_pages:
            held, depth, lastmod = self._over_cap.pop(0)
            self.stats["skipped"] -= 1
            yield from self.follow(held, depth=depth, lastmod=lastmod)

    @property
    def capped(self) -> bool:
        """Whether urls were left out because of max_pages."""
        return any(url not in self.scheduled for url, _, _ in self._over_cap)

    def skip(self, url: str, reason: str) -> None:
        self.stats["skipped"] += 1
        log.info("skipped %s: %s", url, reason)

    def emit(self, kind: str, **fields: Any) -> None:
        try:
            self.out.write(json.dumps({"type": kind, **fields, "stats": self.stats}) + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):  # the worker is gone (killed): nobody reads, stop now
            os._exit(3)


def _kind(content_type: str, body: bytes, url: str) -> str:
    """html, PDF, DOCX or the content type: servers mislabel, so sniff the bytes first."""
    head = body[:512].lstrip().lower()
    if body.startswith(b"%PDF-"):
        return PDF
    if body.startswith(b"PK\x03\x04") and (b"word/" in body[:4096] or url.lower().endswith(".docx")):
        return DOCX
    if content_type in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html")):
        return "html"
    for ext, media in _FILE_EXTENSIONS.items():
        if content_type == media or (url.lower().split("?")[0].endswith(ext) and content_type in
                                     ("", "application/octet-stream", "binary/octet-stream")):
            return media
    return content_type


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def run(cfg: CrawlConfig, out: IO[str]) -> None:
    """Crawl once (blocking) and write the events; the last one is ``done``."""
    process = CrawlerProcess(settings={
        "ROBOTSTXT_OBEY": cfg.respect_robots,
        "CONCURRENT_REQUESTS": cfg.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": cfg.concurrency,
        "DOWNLOAD_DELAY": cfg.delay,
        "DOWNLOAD_MAXSIZE": cfg.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": cfg.timeout,
        "RETRY_TIMES": cfg.retries,
        "HTTPERROR_ALLOW_ALL": True,
        "DEPTH_LIMIT": 0,
        "USER_AGENT": cfg.user_agent,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "LOG_STDOUT": False,
        "DOWNLOADER_MIDDLEWARES": {f"{__name__}.GuardMiddleware": 50},
        # Every connection's address comes from the pinning resolver (checked once per host).
        "TWISTED_DNS_RESOLVER": f"{PinningResolver.__module__}.PinningResolver",
        ALLOW_PRIVATE_SETTING: cfg.allow_private_network,
        ALLOW_ADDRESSES_SETTING: list(cfg.allow_addresses),
        # No proxy (it would resolve names itself) and no scheme but http(s).
        "HTTPPROXY_ENABLED": False,
        "DOWNLOAD_HANDLERS": {"file": None, "data": None, "s3": None, "ftp": None},
    }, install_root_handler=True)
    crawler = process.create_crawler(SiteSpider)
    result: dict[str, Any] = {}

    def closed(spider: SiteSpider, reason: str) -> None:
        result["spider"], result["reason"] = spider, reason

    def errored(failure: Failure, response: Response, spider: SiteSpider) -> None:
        spider.incomplete.append(f"error in the crawler on {response.url}: {failure.getErrorMessage()}")

    crawler.signals.connect(closed, signal=signals.spider_closed)
    crawler.signals.connect(errored, signal=signals.spider_error)
    process.crawl(crawler, cfg=cfg, out=out)
    process.start()
    spider: SiteSpider | None = result.get("spider")
    if spider is None:
        raise RuntimeError("the crawler did not start")
    reasons = list(spider.incomplete)
    if spider.capped:
        reasons.insert(0, f"the page cap (max_pages={spider.cfg.max_pages}) was reached")
    if result.get("reason") != "finished":
        reasons.insert(0, f"the crawl stopped early ({result.get('reason')})")
    spider.emit("done", complete=not reasons, reason="; ".join(reasons[:3]) or None, dead=spider.dead)


def main() -> None:
    raw = json.load(sys.stdin)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the event stream
    run(CrawlConfig(**raw), out)
    out.close()


if __name__ == "__main__":
    main()
