"""Building the official Dropbox SDK client and mapping its exceptions to our error families.

The SDK addresses ``https://api.dropboxapi.com/2/...`` and ``https://content.dropboxapi.com/2/...``.
It takes a ``requests.Session`` (its documented way to share a connection pool); with a
``base_url`` we mount a transport adapter on that session that sends both hosts' requests to
``base_url`` instead (a proxy, a regional gateway, or the loopback server tests use). The SDK's
own retries are turned off: our ``RetryPolicy`` retries, honouring 429 Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dropbox
import requests
from dropbox import exceptions as dbx_exc
from requests.adapters import HTTPAdapter

from core.errors import ConfigError, KnowdeskError, RateLimited, SourceAuthError, SourceError, SourceNotFound
from ingest.connectors.dropbox.credentials import DropboxCredentials
from ingest.connectors.http import error_for_status

log = logging.getLogger(__name__)

#: What users set, named in error messages (never the values).
CREDENTIALS = "the Dropbox token (KNOWDESK_DROPBOX__ACCESS_TOKEN or __REFRESH_TOKEN with __APP_KEY)"


class BaseUrlAdapter(HTTPAdapter):
    """A requests transport adapter that sends every request to ``base_url`` (scheme, host, port
    and path prefix), keeping the request's own path and query."""

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retries=0)
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"base_url {base_url!r} must be an http(s) url, e.g. https://api.example.com")
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))
        if "Host" in request.headers:
            del request.headers["Host"]
        return super().send(request, *args, **kwargs)


def build_client(*, credentials: DropboxCredentials, base_url: str | None, timeout: float = 60.0) -> Any:
    """The SDK client from ``KNOWDESK_DROPBOX__*``: ``access_token``,
    or ``refresh_token`` with ``app_key`` (and ``app_secret``).

    Raises:
        ConfigError: no usable credentials in settings.
    """

    access, refresh = credentials.secret("access_token"), credentials.secret("refresh_token")
    app_key, app_secret = credentials.secret("app_key"), credentials.secret("app_secret")
    if not access and not refresh:
        raise ConfigError(
            "no Dropbox credentials: set KNOWDESK_DROPBOX__ACCESS_TOKEN, or KNOWDESK_DROPBOX__REFRESH_TOKEN "
            "with KNOWDESK_DROPBOX__APP_KEY (and __APP_SECRET unless the token came from PKCE)"
        )
    if refresh and not app_key:
        raise ConfigError("KNOWDESK_DROPBOX__REFRESH_TOKEN needs KNOWDESK_DROPBOX__APP_KEY to refresh access tokens")
    session = requests.Session() if base_url else dropbox.create_session()
    session.hooks["response"].append(_release_error_body)
    if base_url:
        adapter = BaseUrlAdapter(base_url)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return dropbox.Dropbox(
        oauth2_access_token=access,
        oauth2_refresh_token=refresh,
        app_key=app_key,
        app_secret=app_secret,
        session=session,
        timeout=timeout,
        max_retries_on_error=0,
        max_retries_on_rate_limit=0,
        user_agent="knowdesk",
    )


def _release_error_body(response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
    """Read an error answer's body at once: the SDK raises on a streamed download's 429/5xx without
    closing it, which would leave the connection open until garbage collection."""
    if response.status_code >= 400:
        _ = response.content  # consuming the body releases the connection to the pool
    return response


def classify(exc: Exception, *, what: str) -> KnowdeskError | None:
    """Our error for an SDK or transport exception raised by ``what`` (None: not an API error)."""
    if isinstance(exc, dbx_exc.RateLimitError):
        return RateLimited(f"{what} is rate limited (429)", retry_after=exc.backoff, status=429)
    if isinstance(exc, dbx_exc.AuthError):
        return SourceAuthError(f"{what}: Dropbox rejected {CREDENTIALS} ({_auth_reason(exc)}); check it in settings",
                               status=401)
    if isinstance(exc, dbx_exc.BadInputError):
        err = SourceError(f"{what}: Dropbox rejected the request (400): {exc.message[:200]}", status=400)
        err.retryable = False
        return err
    if isinstance(exc, dbx_exc.ApiError):
        return api_error(exc, what=what)
    if isinstance(exc, dbx_exc.HttpError):
        return error_for_status(int(exc.status_code), what=what, body=str(exc.body or ""), credential=CREDENTIALS)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return SourceError(f"{what}: cannot reach Dropbox ({type(exc).__name__}); retry later")
    return None


def api_error(exc: Any, *, what: str) -> KnowdeskError:
    """A route error (HTTP 409, or 403/404 from the SDK's route result): not found, no access, other."""
    summary = str(getattr(exc, "user_message_text", None) or exc.error)
    error = exc.error
    path = _lookup(error)
    if path is not None and (path.is_not_found() or path.is_not_folder() or path.is_not_file()):
        return SourceNotFound(f"{what}: the path was not found in Dropbox ({summary}); check the folders option")
    if path is not None and (path.is_restricted_content() or getattr(path, "is_locked", lambda: False)()):
        return SourceAuthError(f"{what}: Dropbox restricts this content ({summary})")
    err = SourceError(f"{what} failed: {summary}")
    err.retryable = False
    return err


def is_reset(exc: Exception) -> bool:
    """True when a ``list_folder/continue`` cursor expired and the listing must restart."""
    if not isinstance(exc, dbx_exc.ApiError):
        return False
    error = exc.error
    return bool(getattr(error, "is_reset", lambda: False)())


def _lookup(error: Any) -> Any:
    """The LookupError inside a route error, when there is one."""
    for probe in ("is_path", "is_path_lookup"):
        if getattr(error, probe, lambda: False)():
            inner = error.get_path() if probe == "is_path" else error.get_path_lookup()
            return inner if hasattr(inner, "is_not_found") else None
    return None


def _auth_reason(exc: Any) -> str:
    error = getattr(exc, "error", None)
    tag = getattr(error, "_tag", None)
    return str(tag or "unauthorized")
