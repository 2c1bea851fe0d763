"""Browser sessions of the admin pages: a POST sign-in with a CSRF token, then a session cookie.

The API key is typed into a form (never put in a url, so it stays out of access logs and
history), checked, and kept on the server; the browser gets an opaque random session id in a
cookie that is HttpOnly, SameSite=Strict, limited to ``/admin`` and Secure when the page is
served over HTTPS. The sign-in form carries a CSRF token that must equal the one in its own
cookie (double submit), and a request whose ``Origin`` names another site is refused.
Sessions live in this process's memory for ``TTL`` (a restart signs everyone out); every use
verifies the key again, so a revoked key ends its sessions.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import Request, Response

SESSION_COOKIE = "knowdesk_admin_session"
CSRF_COOKIE = "knowdesk_admin_csrf"
PATH = "/admin"
TTL = 8 * 3600.0
MAX_SESSIONS = 10_000


@dataclass
class WebSessions:
    """Session id -> (API key, expiry), in memory."""

    ttl: float = TTL
    _sessions: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, key: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
                while len(self._sessions) >= MAX_SESSIONS:
                    self._sessions.pop(next(iter(self._sessions)))
            self._sessions[sid] = (key, now + self.ttl)
        return sid

    def key(self, sid: str | None) -> str | None:
        """The API key of a live session, or None."""
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.get(sid)
            if entry is None or entry[1] <= time.monotonic():
                self._sessions.pop(sid, None)
                return None
            return entry[0]

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", path=PATH, secure=secure(request),
                        max_age=max_age)


def csrf_token() -> str:
    """A fresh CSRF token: the form repeats it in a hidden field, ``set_cookie`` puts it in its cookie."""
    return secrets.token_urlsafe(32)


def csrf_problem(request: Request, submitted: str | None) -> str | None:
    """Why a form post fails the CSRF check, or None when it passes."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        own = f"{request.url.scheme}://{request.url.netloc}"
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}" != own:
            return "the sign-in came from another site"
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
        return "the sign-in form expired; reload the page and sign in again"
    return None
