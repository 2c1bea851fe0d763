"""Confluence page read restrictions, the page's own and those it inherits from its ancestors.

Confluence applies an ancestor's view restriction to every descendant: a reader must pass the
page's own read restriction and each restricted ancestor's. A page's audience is therefore
built from every restricted level (the page and its ancestors):

- no level restricted: public (``()``);
- one level: that level's users and groups (``group:NAME``, ``user:ACCOUNT``);
- several levels: the labels every level allows (a reader holding one of them passes them all).
  Our audience means "any of these labels", which cannot say "in group A and in group B", so
  when the levels share no label the page gets ``NO_SHARED_AUDIENCE``: restricted, and visible
  to no channel or segment until the restrictions are made consistent in Confluence.

Ancestors' restrictions come from ``GET /rest/api/content/{id}/restriction/byOperation/read``
(Cloud and Data Center both document it), fetched once per ancestor and run, and not at all for
an ancestor the search already returned (its expanded restriction is kept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

READ_RESTRICTIONS = "rest/api/content/{id}/restriction/byOperation/read"
NO_SHARED_AUDIENCE = "confluence:no-shared-audience"
_PAGE = 200


def labels(restrictions: dict[str, Any] | None) -> tuple[str, ...]:
    """``group:NAME`` and ``user:ID`` labels of a ``{"user": {...}, "group": {...}}`` restriction."""
    read = restrictions or {}
    out = [f"group:{g.get('name')}" for g in (read.get("group") or {}).get("results", []) if g.get("name")]
    out += [f"user:{u.get('accountId') or u.get('username') or u.get('userKey')}"
            for u in (read.get("user") or {}).get("results", [])
            if u.get("accountId") or u.get("username") or u.get("userKey")]
    return tuple(out)


def own_labels(content: dict[str, Any]) -> tuple[str, ...]:
    """The page's own read restriction, from a search result expanded with ``restrictions.read``."""
    return labels(((content.get("restrictions") or {}).get("read") or {}).get("restrictions"))


def combine(levels: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The audience of a page whose restricted levels (outermost first) allow ``levels``."""
    restricted = [level for level in levels if level]
    if not restricted:
        return ()
    if len(restricted) == 1:
        return restricted[0]
    shared = [label for label in restricted[0] if all(label in level for level in restricted[1:])]
    return tuple(shared) or (NO_SHARED_AUDIENCE,)


class AncestorRestrictions:
    """Read restrictions of ancestor pages, each fetched once (many pages share ancestors).

    Args:
        get: ``get(path, params, what)`` returning the JSON object of a GET (the connector's
            retrying call).
    """

    def __init__(self, get: Callable[[str, dict[str, Any], str], dict[str, Any]]) -> None:
        self._get = get
        self._cache: dict[str, tuple[str, ...]] = {}
        self.requests = 0

    def of(self, page_id: str) -> tuple[str, ...]:
        if page_id not in self._cache:
            self._cache[page_id] = self._fetch(page_id)
        return self._cache[page_id]

    def remember(self, content: dict[str, Any]) -> None:
        """Keep the read restriction a search result carries (expanded ``restrictions.read``): its
        descendants then need no request for it. A list that may be cut short is not kept."""
        read = ((content.get("restrictions") or {}).get("read") or {}).get("restrictions")
        page_id = str(content.get("id") or "")
        if not page_id or page_id in self._cache or not isinstance(read, dict):
            return
        kinds = [read.get(k) for k in ("user", "group")]
        if all(isinstance(k, dict) and len(k.get("results") or []) < int(k.get("limit") or 0) for k in kinds):
            self._cache[page_id] = labels(read)

    def audience(self, content: dict[str, Any]) -> tuple[tuple[str, ...], list[str]]:
        """(the page's audience, ids of the ancestors whose restrictions it inherits); remembers the
        page's own restriction for its descendants (see ``remember``)."""
        self.remember(content)
        ancestors = [str(a.get("id")) for a in content.get("ancestors") or [] if a.get("id")]
        inherited = [(a, self.of(a)) for a in ancestors]
        audience = combine([*(level for _, level in inherited), own_labels(content)])
        return audience, [a for a, level in inherited if level]

    def _fetch(self, page_id: str) -> tuple[str, ...]:
        out: list[str] = []
        start = 0
        while True:
            self.requests += 1
            body = self._get(READ_RESTRICTIONS.format(id=page_id),
                             {"expand": "restrictions.user,restrictions.group", "start": start, "limit": _PAGE},
                             f"read restrictions of page {page_id}")
            read = body.get("restrictions") or {}
            out.extend(labels(read))
            sizes = [len((read.get(k) or {}).get("results") or []) for k in ("user", "group")]
            if max(sizes) < _PAGE:
                return tuple(dict.fromkeys(out))
            start += _PAGE
