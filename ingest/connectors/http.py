"""Retries, back-off and error mapping shared by every connector that calls a remote API.

Each connector maps its SDK's exceptions to our error families with a small ``classify``
function (status code and headers in, ``KnowdeskError`` out); ``call`` then retries what is
retryable: a 429 after its ``Retry-After`` (seconds or an HTTP date), 5xx and timeouts with
exponential back-off and full jitter, a bounded number of times. 401/403/404 are never retried.

Example::

    policy = RetryPolicy(max_attempts=5)
    page = policy.call(lambda: client.search(**query), classify=notion_errors, what="Notion search")
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from core.errors import KnowdeskError, RateLimited, SourceAuthError, SourceError, SourceNotFound

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The longest single wait we accept from a Retry-After header.
MAX_RETRY_AFTER = 300.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, MAX_RETRY_AFTER))


def error_for_status(
    status: int,
    *,
    what: str,
    body: str = "",
    headers: Mapping[str, str] | None = None,
    credential: str = "the source's credentials",
) -> KnowdeskError:
    """Our error for an HTTP status from ``what`` (e.g. "Zendesk GET /api/v2/help_center/articles")."""
    detail = f": {body[:200]}" if body else ""
    if status == 401:
        return SourceAuthError(f"{what} rejected {credential} (401){detail}; check them in settings", status=status)
    if status == 403:
        return SourceAuthError(f"{what} refused access (403){detail}; {credential} lack a permission", status=status)
    if status == 404:
        return SourceNotFound(f"{what} was not found (404){detail}; check the source's options", status=status)
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
        return RateLimited(f"{what} is rate limited (429)", retry_after=retry_after, status=status)
    if status >= 500 or status in (408, 409, 425):
        return SourceError(f"{what} failed with {status}{detail}", status=status)
    err = SourceError(f"{what} failed with {status}{detail}", status=status)
    err.retryable = False
    return err


@dataclass
class RetryPolicy:
    """Bounded retries with exponential back-off and full jitter.

    Args:
        max_attempts: tries in all, the first included.
        base_delay, max_delay: back-off bounds in seconds (before jitter).
        sleep: injectable for tests; ``time.sleep`` by default.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: KnowdeskError) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def call(self, fn: Callable[[], T], *, classify: Callable[[Exception], KnowdeskError | None], what: str) -> T:
        """Run ``fn``; retry retryable errors. ``classify`` maps an SDK exception to our error
        (None: not ours to handle, re-raised as is)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except KnowdeskError as err:
                mapped: KnowdeskError = err
                original: Exception = err
            except Exception as exc:
                maybe = classify(exc)
                if maybe is None:
                    raise
                mapped, original = maybe, exc
            if not mapped.retryable or attempt >= self.max_attempts:
                if mapped is original:
                    raise mapped
                raise mapped from original
            wait = self.delay(attempt, mapped)
            log.info("%s: %s; retry %d/%d in %.1fs", what, mapped.message, attempt, self.max_attempts - 1, wait)
            self.sleep(wait)


class RateGate:
    """At most ``per_second`` calls per second across threads (e.g. Notion's 3 requests/s)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)
