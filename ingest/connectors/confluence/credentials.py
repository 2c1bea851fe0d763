"""Confluence credentials: ``KNOWDESK_CONFLUENCE__USERNAME`` + ``__API_TOKEN`` (Cloud) or ``__TOKEN``
(Data Center)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from ingest.connectors.credentials import Credentials


class ConfluenceCredentials(Credentials):
    """Cloud ``username`` (email) + ``api_token``, or a Data Center personal access token ``token``
    (used when both are set)."""

    section: ClassVar[str] = "confluence"

    #: Cloud: the Atlassian account's email.
    username: str | None = None
    #: Cloud: an Atlassian API token of that account.
    api_token: SecretStr | None = None
    #: Data Center: a personal access token (Bearer).
    token: SecretStr | None = None
