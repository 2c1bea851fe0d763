"""Pure helpers of the Google Drive and Dropbox connectors (no network)."""

from __future__ import annotations

import json

import httplib2
import pytest
from googleapiclient.errors import HttpError

from core.errors import ConfigError, RateLimited, SourceAuthError
from ingest.connectors.dropbox.client import BaseUrlAdapter
from ingest.connectors.dropbox.connector import DropboxOptions
from ingest.connectors.gdrive.client import classify
from ingest.connectors.gdrive.connector import _csv_table


def _http_error(status: int, reason: str, headers: dict[str, str] | None = None) -> HttpError:
    resp = httplib2.Response({"status": str(status), **(headers or {})})
    body = {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}}
    return HttpError(resp, json.dumps(body).encode())


def test_drive_rate_limit_403_is_retryable_and_a_plain_403_is_not() -> None:
    limited = classify(_http_error(403, "userRateLimitExceeded", {"retry-after": "7"}), what="Drive files.list")
    assert isinstance(limited, RateLimited) and limited.retryable and limited.retry_after == 7.0
    denied = classify(_http_error(403, "insufficientFilePermissions"), what="Drive files.get")
    assert isinstance(denied, SourceAuthError) and not denied.retryable
    assert "KNOWDESK_GDRIVE__" in denied.message


def test_sheet_csv_becomes_an_escaped_html_table() -> None:
    html = _csv_table("Prices <2026>", b'Product,Price\n"Grinder, burr",<129>\n').decode()
    assert "<h1>Prices &lt;2026&gt;</h1>" in html
    assert "<th>Product</th><th>Price</th>" in html and "<td>Grinder, burr</td><td>&lt;129&gt;</td>" in html


def test_dropbox_folders_are_normalized() -> None:
    assert DropboxOptions(folders="Support/, /Policies,/").folders == ["", "/Policies", "/Support"]
    assert DropboxOptions().folders == [""]


def test_base_url_adapter_rejects_a_non_http_url() -> None:
    with pytest.raises(ConfigError, match="http"):
        BaseUrlAdapter("ftp://example.com")
