"""A thin Zendesk Help Center REST client on httpx: auth, pagination, retries, error mapping.

Plain REST rather than zenpy: the endpoints we need (the incremental articles export, locale
listings with cursor pagination, translations, user segments) map one-to-one onto documented
paths, the base url must be free (sandboxes, a loopback server in tests), and zenpy's own
rate-limit sleeping would fight our ``RetryPolicy``.

Every request goes through ``RetryPolicy.call``: 429 waits for ``Retry-After``, 5xx and
timeouts back off with jitter, 401/403/404 fail at once naming the credential at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import KnowdeskError, SourceError
from ingest.connectors.http import RetryPolicy, error_for_status

log = logging.getLogger(__name__)

CREDENTIAL = "the Zendesk email and API token (KNOWDESK_ZENDESK__EMAIL, KNOWDESK_ZENDESK__API_TOKEN)"
#: Cursor pagination page size of list endpoints (the documented maximum is 100).
PAGE_SIZE = 100


class ZendeskClient:
    """Help Center API calls used by the connector.

    Args:
        base_url: ``https://SUBDOMAIN.zendesk.com`` (or any host speaking the same API).
        email, api_token: an agent's or admin's credentials (the incremental export needs one).
        retry: the retry policy of every request.
        timeout: seconds per request.
    """

    def __init__(self, *, base_url: str, email: str, api_token: str, retry: RetryPolicy,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._retry = retry
        self._http = httpx.Client(base_url=self.base_url, auth=(f"{email}/token", api_token), timeout=timeout,
                                  headers={"Accept": "application/json"}, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a JSON object; ``path`` may be a full ``next_page`` url of the same host."""
        what = f"Zendesk GET {urlsplit(path).path or path}"

        def fetch() -> dict[str, Any]:
            resp = self._http.get(path, params=params)
            if resp.status_code >= 400:
                raise error_for_status(resp.status_code, what=what, body=_brief_body(resp),
                                       headers=resp.headers, credential=CREDENTIAL)
            body = resp.json()
            if not isinstance(body, dict):
                raise SourceError(f"{what} returned {type(body).__name__}, expected a JSON object")
            return body

        return self._retry.call(fetch, classify=_classify, what=what)

    def get_bytes(self, url: str) -> bytes:
        """GET a file (an attachment's ``content_url``). Credentials go only to the help center's
        own host; a file served elsewhere (a CDN redirect target) is fetched without them."""
        what = f"Zendesk GET {urlsplit(url).path}"
        own_host = urlsplit(url).netloc in ("", urlsplit(self.base_url).netloc)

        def fetch() -> bytes:
            if own_host:
                resp = self._http.get(url, follow_redirects=True)
            else:
                resp = self._http.get(url, follow_redirects=True, auth=None)
            if resp.status_code >= 400:
                raise error_for_status(resp.status_code, what=what, headers=resp.headers, credential=CREDENTIAL)
            return resp.content

        return self._retry.call(fetch, classify=_classify, what=what)

    def paged(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item under ``key`` of a list endpoint, following cursor pagination
        (``meta.has_more`` / ``links.next``) or offset pagination (``next_page``)."""
        query: dict[str, Any] | None = {"page[size]": PAGE_SIZE, **(params or {})}
        url = path
        seen_pages: set[str] = set()
        while True:
            body = self.get(url, query)
            items = body.get(key)
            if not isinstance(items, list):
                raise SourceError(f"Zendesk {path} answered without a {key!r} list")
            yield from (i for i in items if isinstance(i, dict))
            nxt = _next_link(body)
            if not nxt or nxt in seen_pages:
                return
            seen_pages.add(nxt)
            url, query = nxt, None

    # -- endpoints ---------------------------------------------------------------------------------
    def locales(self) -> tuple[list[str], str]:
        body = self.get("/api/v2/help_center/locales")
        locales = [str(x) for x in body.get("locales", [])]
        default = str(body.get("default_locale") or (locales[0] if locales else "en-us"))
        return locales or [default], default

    def article_attachments(self, article_id: int | str) -> Iterator[dict[str, Any]]:
        """An article's attachments (``GET /api/v2/help_center/articles/{id}/attachments``)."""
        return self.paged(f"/api/v2/help_center/articles/{article_id}/attachments", "article_attachments")

    def incremental_articles(self, start_time: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Pages of the incremental articles export from ``start_time`` (epoch seconds), each with
        its ``end_time``: the start time of the next export."""
        url = "/api/v2/help_center/incremental/articles"
        query: dict[str, Any] | None = {"start_time": start_time}
        last_end = start_time
        while True:
            body = self.get(url, query)
            articles = [a for a in body.get("articles", []) if isinstance(a, dict)]
            end = int(body.get("end_time") or last_end)
            yield articles, end
            nxt = body.get("next_page")
            # The export repeats a page when end_time does not move: stop rather than loop.
            if not nxt or not articles or body.get("end_of_stream") or (end <= last_end and query is None):
                return
            last_end = end
            url, query = str(nxt), None


def _next_link(body: dict[str, Any]) -> str | None:
    meta, links = body.get("meta"), body.get("links")
    if isinstance(meta, dict) and "has_more" in meta:
        if not meta.get("has_more"):
            return None
        return str(links.get("next")) if isinstance(links, dict) and links.get("next") else None
    nxt = body.get("next_page")
    return str(nxt) if nxt else None


def _brief_body(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        return str(body.get("description") or body.get("error") or body)[:200]
    return str(body)[:200]


def _classify(exc: Exception) -> KnowdeskError | None:
    if isinstance(exc, httpx.TimeoutException):
        return SourceError(f"Zendesk timed out: {exc}")
    if isinstance(exc, httpx.TransportError):
        return SourceError(f"Zendesk is unreachable: {exc}")
    if isinstance(exc, ValueError):  # a body that is not JSON
        err = SourceError(f"Zendesk answered with malformed JSON: {exc}")
        return err
    return None
