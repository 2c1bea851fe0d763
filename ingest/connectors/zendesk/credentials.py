"""Zendesk credentials: ``KNOWDESK_ZENDESK__EMAIL`` and ``KNOWDESK_ZENDESK__API_TOKEN``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from ingest.connectors.credentials import Credentials


class ZendeskCredentials(Credentials):
    """An agent's or admin's email and API token (Basic ``email/token``)."""

    section: ClassVar[str] = "zendesk"

    #: The agent's or admin's sign-in email.
    email: str | None = None
    #: An API token of the Zendesk account (Admin Center > Apps and integrations > Zendesk API).
    api_token: SecretStr | None = None
