"""Who may make the server compute insights, how often, and identical requests computed once.

A computation reads and embeds every customer message of two windows (seconds warm, minutes
cold), so over HTTP:

- read keys get stored runs only (the scheduled flow and write keys compute them);
- a write or admin key computes when asked (``refresh``) or when its window has no stored run,
  at most once per ``min_interval`` seconds per workspace (then 429 with ``Retry-After``);
- identical requests that arrive while one is computing wait for it and share its result
  instead of computing again (and do not count against the rate limit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import NotFound, TooManyRequests
from service.keys import Principal, Scope

T = TypeVar("T")


@dataclass
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class InsightsGate:
    """Rate limit and request coalescing for insight computations (one per app).

    Args:
        min_interval: seconds between two computations started for one workspace.
    """

    def __init__(self, *, min_interval: float = 60.0) -> None:
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], _Call] = {}
        self._last: dict[str, float] = {}
        #: Computations actually run (coalesced requests are not counted).
        self.computed = 0

    def run(self, workspace: str, since: str, compute: Callable[[], T]) -> T:
        """``compute()`` for (workspace, since), shared with identical concurrent requests."""
        key = (workspace, since)
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                wait = self._last.get(workspace, float("-inf")) + self.min_interval - time.monotonic()
                if wait > 0:
                    raise TooManyRequests(f"insights of workspace {workspace!r} were computed less than "
                                          f"{self.min_interval:.0f}s ago; read the stored run or retry in "
                                          f"{wait:.0f}s", retry_after=wait)
                call = self._calls[key] = _Call()
                self._last[workspace] = time.monotonic()
        assert call is not None
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result  # type: ignore[no-any-return]
        try:
            call.result = compute()
            self.computed += 1
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            call.done.set()
            with self._lock:
                self._calls.pop(key, None)
        return call.result  # type: ignore[no-any-return]

    def run_for(self, rt: Any, caller: Principal, since: str, *, refresh: bool = False) -> Any:
        """The insight run ``caller`` may have: stored, or computed when its scope allows."""
        insights = rt.insights.insights
        stored = None if refresh else insights.latest(caller.workspace, since)
        if stored is not None:
            return stored
        if Scope.WRITE not in caller.scopes:
            raise NotFound(f"no insights are stored for the window {since!r} yet; they are computed on schedule "
                           "or by a write key (`GET /v1/insights?since=...&refresh=true`)", since=since)
        return self.run(caller.workspace, since, lambda: insights.refresh(caller.workspace, since=since))


def gate(app_state: Any) -> InsightsGate:
    """The app's gate (created on first use)."""
    if not hasattr(app_state, "insights_gate"):
        app_state.insights_gate = InsightsGate()
    result: InsightsGate = app_state.insights_gate
    return result
