"""Dropbox credentials: ``KNOWDESK_DROPBOX__ACCESS_TOKEN``, or ``__REFRESH_TOKEN`` with ``__APP_KEY``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from ingest.connectors.credentials import Credentials


class DropboxCredentials(Credentials):
    """An ``access_token``, or a ``refresh_token`` with the ``app_key`` (and ``app_secret`` unless the
    token came from PKCE)."""

    section: ClassVar[str] = "dropbox"

    #: A (short-lived) access token.
    access_token: SecretStr | None = None
    #: A long-lived refresh token (needs ``app_key``).
    refresh_token: SecretStr | None = None
    #: The Dropbox app's key.
    app_key: str | None = None
    #: The Dropbox app's secret (not for a PKCE token).
    app_secret: SecretStr | None = None
