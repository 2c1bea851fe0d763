"""Notion credentials: ``KNOWDESK_NOTION__TOKEN``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from ingest.connectors.credentials import Credentials


class NotionCredentials(Credentials):
    """An internal integration's secret; the integration sees the pages shared with it."""

    section: ClassVar[str] = "notion"

    #: The internal integration secret (``ntn_...`` / ``secret_...``).
    token: SecretStr | None = None
