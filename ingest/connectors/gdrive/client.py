"""Building the official Google API client for Drive v3, and mapping its errors to ours.

``build("drive", "v3", static_discovery=True)`` uses the discovery document shipped inside
google-api-python-client (no network); ``client_options.api_endpoint`` replaces the service's
base url (``https://www.googleapis.com/drive/v3/``), which is how a ``base_url`` option (a proxy,
or the loopback server tests use) reaches every method, media downloads and exports included.
The client's own retries stay off (``num_retries=0``): our ``RetryPolicy`` retries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import GoogleAuthError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from core.errors import ConfigError, KnowdeskError, RateLimited, SourceAuthError, SourceError
from ingest.connectors.gdrive.credentials import GDriveCredentials
from ingest.connectors.http import error_for_status, parse_retry_after

SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
TOKEN_URI = "https://oauth2.googleapis.com/token"
CREDENTIALS = "the Google Drive credentials (KNOWDESK_GDRIVE__SERVICE_ACCOUNT_FILE / __SERVICE_ACCOUNT_JSON / __TOKEN)"
#: 403 reasons Drive uses for "slow down" (Drive API docs, "Resolve errors").
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "sharingRateLimitExceeded"}


def credentials_from(secrets: GDriveCredentials) -> Any:
    """Service account or OAuth user credentials from ``KNOWDESK_GDRIVE__*``.

    Raises:
        ConfigError: none configured, or a key file that cannot be read.
    """

    info_text = secrets.secret("service_account_json")
    key_file = secrets.secret("service_account_file")
    if key_file and not info_text:
        try:
            info_text = Path(key_file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read KNOWDESK_GDRIVE__SERVICE_ACCOUNT_FILE {key_file}: {exc.strerror}") from exc
    if info_text:
        try:
            info = json.loads(info_text)
            creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"the Google service account key is not a valid key file: {exc}") from exc
        subject = secrets.secret("subject")
        return creds.with_subject(subject) if subject else creds
    token, refresh = secrets.secret("token"), secrets.secret("refresh_token")
    if token or refresh:
        return user_credentials.Credentials(  # type: ignore[no-untyped-call]
            token=token, refresh_token=refresh, client_id=secrets.secret("client_id"),
            client_secret=secrets.secret("client_secret"), token_uri=TOKEN_URI, scopes=SCOPES)
    raise ConfigError(
        "no Google Drive credentials: set KNOWDESK_GDRIVE__SERVICE_ACCOUNT_FILE (or __SERVICE_ACCOUNT_JSON) "
        "for a service account, or KNOWDESK_GDRIVE__TOKEN / __REFRESH_TOKEN with __CLIENT_ID and __CLIENT_SECRET"
    )


def build_service(*, credentials: GDriveCredentials, base_url: str | None, timeout: float = 60.0) -> Any:
    """The Drive v3 service object, offline discovery, pointed at ``base_url`` when given."""
    creds = credentials_from(credentials)
    options = {"api_endpoint": base_url.rstrip("/") + "/drive/v3/"} if base_url else None
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout))
    return build("drive", "v3", http=http, static_discovery=True, cache_discovery=False, client_options=options,
                 num_retries=0)


def classify(exc: Exception, *, what: str) -> KnowdeskError | None:
    """Our error for a client exception raised by ``what`` (None: not an API error)."""
    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        reason = _reason(exc)
        headers = {str(k): str(v) for k, v in dict(exc.resp).items()}
        if status == 429 or (status == 403 and reason in _RATE_REASONS):
            return RateLimited(f"{what} is rate limited ({status} {reason or ''})".rstrip(),
                               retry_after=parse_retry_after(headers.get("retry-after")), status=status)
        return error_for_status(status, what=what, body=reason or "", headers=headers, credential=CREDENTIALS)
    if isinstance(exc, GoogleAuthError):
        return SourceAuthError(f"{what}: Google refused {CREDENTIALS}: {exc}")
    if isinstance(exc, httplib2.HttpLib2Error | TimeoutError | ConnectionError):
        return SourceError(f"{what}: cannot reach Google Drive ({type(exc).__name__}); retry later")
    return None


def _reason(exc: HttpError) -> str | None:
    try:
        body = json.loads(exc.content.decode("utf-8"))
        errors = body.get("error", {}).get("errors") or [{}]
        return str(errors[0].get("reason") or body.get("error", {}).get("status") or "") or None
    except (ValueError, AttributeError, TypeError):
        return None
