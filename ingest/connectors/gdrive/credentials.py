"""Google Drive credentials: ``KNOWDESK_GDRIVE__*`` (a service account key or an OAuth user token)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from ingest.connectors.credentials import Credentials


class GDriveCredentials(Credentials):
    """A service account key (``service_account_file`` path or ``service_account_json`` content,
    optionally impersonating ``subject``), or an OAuth user token (``token``, and/or
    ``refresh_token`` with ``client_id`` and ``client_secret``). The service account wins when both
    are set."""

    section: ClassVar[str] = "gdrive"

    #: Path of the service account's JSON key file.
    service_account_file: str | None = None
    #: The service account's JSON key itself (instead of the file).
    service_account_json: SecretStr | None = None
    #: A Workspace user the service account impersonates (domain-wide delegation).
    subject: str | None = None
    #: An OAuth access token of a user.
    token: SecretStr | None = None
    #: An OAuth refresh token of a user (with ``client_id`` and ``client_secret``).
    refresh_token: SecretStr | None = None
    #: The OAuth client's id.
    client_id: str | None = None
    #: The OAuth client's secret.
    client_secret: SecretStr | None = None
