"""URL rules of the website source: normalization (one page, one document), scope, and trap bounds.

Pure functions and a small stateful ``TrapGuard``, shared by the connector (in the worker) and the
Scrapy child process, so both agree on what a page's native id is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

#: Query parameters that never change a page's content: analytics and click ids.
TRACKING_PARAMS = frozenset({
    "gclid", "dclid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid",
    "ref_src", "spm", "trk", "hsctatracking", "_hsenc", "_hsmi", "mkt_tok",
})  # fmt: skip
#: Session ids in query strings (they make every visit a new url: a classic crawler trap).
SESSION_PARAMS = frozenset({"jsessionid", "phpsessid", "sid", "sessionid", "session_id", "aspsessionid", "cfid",
                            "cftoken", "zenid", "oscsid"})
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_INDEX_FILES = frozenset({"index.html", "index.htm"})
_DIGITS = re.compile(r"\d+")

#: Longest url crawled; longer ones are nearly always generated (traps).
MAX_URL_LENGTH = 2048
#: Most distinct query strings followed for one path (calendars, faceted filters, sort orders).
MAX_QUERY_VARIANTS = 30
#: Most distinct urls followed per "shape" (the path with every number replaced), e.g. /cal/2026/05.
MAX_SHAPE_VARIANTS = 500
#: Deepest path followed, in segments, and most repeats of one segment (a/b/a/b/a/b loops).
MAX_PATH_SEGMENTS = 25
MAX_SEGMENT_REPEATS = 3


def normalize_url(url: str, *, keep_index_files: bool = False) -> str:
    """The canonical form of ``url`` used as a page's native id.

    Lower-cases scheme and host, drops default ports, the fragment, tracking and session
    parameters, sorts the query, removes ``;jsessionid=`` path parameters, gives an empty path as
    ``/`` and drops a trailing ``index.html``/``index.htm`` (servers answer ``/dir/`` with it), unless
    ``keep_index_files``. Path case and trailing slashes are kept (servers differ on both).

    >>> normalize_url("HTTP://Example.com:80/a/b?utm_source=x&b=2&a=1#top")
    'http://example.com/a/b?a=1&b=2'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):  # IPv6 literal
        netloc = f"[{host}]" + (f":{port}" if port and (scheme, port) not in (("http", 80), ("https", 443)) else "")
    path = _PATH_SESSION.sub("", parts.path) or "/"
    if not keep_index_files:
        head, _, tail = path.rpartition("/")
        if tail.lower() in _INDEX_FILES:
            path = head + "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _dropped_param(k)]
    rebuilt = urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))
    # w3lib percent-encodes consistently (so %7e and ~ are one url); keep our query order.
    return canonicalize_url(rebuilt, keep_fragments=False)


def _dropped_param(name: str) -> bool:
    key = name.lower()
    return key.startswith("utm_") or key in TRACKING_PARAMS or key in SESSION_PARAMS


@dataclass(frozen=True, slots=True)
class Scope:
    """Which urls belong to the source: the start urls' hosts and path prefixes, then the
    include/exclude regular expressions (searched in the normalized url)."""

    prefixes: tuple[str, ...]
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(cls, start_urls: list[str], include: list[str], exclude: list[str]) -> Scope:
        return cls(
            prefixes=tuple(sorted({scope_prefix(u) for u in start_urls})),
            include=tuple(re.compile(p) for p in include),
            exclude=tuple(re.compile(p) for p in exclude),
        )

    def allows(self, url: str) -> bool:
        if not any(url.startswith(p) for p in self.prefixes):
            return False
        if any(p.search(url) for p in self.exclude):
            return False
        return not self.include or any(p.search(url) for p in self.include)

    def on_site(self, url: str) -> bool:
        """Same scheme and host as a start url (sitemaps and robots.txt may live outside the prefix)."""
        return any(_origin(url) == _origin(p) for p in self.prefixes)


def scope_prefix(start_url: str) -> str:
    """The default scope of a start url: its origin and directory (``/docs/guide.html`` -> ``/docs/``)."""
    url = normalize_url(start_url)
    parts = urlsplit(url)
    directory = parts.path.rsplit("/", 1)[0] + "/"
    return urlunsplit((parts.scheme, parts.netloc, directory, "", ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class TrapGuard:
    """Bounds urls that generate more urls forever; ``reason(url)`` says why one is refused."""

    max_query_variants: int = MAX_QUERY_VARIANTS
    max_shape_variants: int = MAX_SHAPE_VARIANTS
    _queries: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _shapes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def reason(self, url: str) -> str | None:
        """None when ``url`` may be followed (and then it is counted), else why not."""
        if len(url) > MAX_URL_LENGTH:
            return "url too long"
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) > MAX_PATH_SEGMENTS:
            return "path too deep"
        if segments and max(segments.count(s) for s in segments) > MAX_SEGMENT_REPEATS:
            return "repeating path"
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if parts.query:
            seen = self._queries[base]
            if parts.query not in seen and len(seen) >= self.max_query_variants:
                return "too many query variants"
            seen.add(parts.query)
        shape = _DIGITS.sub("#", base)
        if shape != base:
            shaped = self._shapes[shape]
            if base not in shaped and len(shaped) >= self.max_shape_variants:
                return "too many numbered variants"
            shaped.add(base)
        return None
