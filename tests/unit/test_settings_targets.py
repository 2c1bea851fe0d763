"""Delivery targets in settings: a webhook or a Zendesk target set half-way stops at start with the
missing names, instead of being ignored silently (issue 24)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import HelpdeskSettings, InsightsCsatSettings


@pytest.mark.parametrize("model", [HelpdeskSettings, InsightsCsatSettings])
def test_a_webhook_url_without_its_secret_is_refused(model: type) -> None:
    with pytest.raises(ValidationError, match=r"webhook_url is set without .*webhook_secret"):
        model(webhook_url="https://hooks.example/knowdesk")


@pytest.mark.parametrize("model", [HelpdeskSettings, InsightsCsatSettings])
def test_a_blank_secret_counts_as_missing(model: type) -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        model(webhook_url="https://hooks.example/knowdesk", webhook_secret="  ")


@pytest.mark.parametrize("model", [HelpdeskSettings, InsightsCsatSettings])
def test_a_secret_without_a_url_is_refused(model: type) -> None:
    with pytest.raises(ValidationError, match="webhook_secret is set without"):
        model(webhook_secret="s3cret")


@pytest.mark.parametrize("url", ["hooks.example/knowdesk", "ftp://hooks.example", "https://"])
def test_a_webhook_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        HelpdeskSettings(webhook_url=url, webhook_secret="s3cret")


def test_complete_targets_are_accepted() -> None:
    helpdesk = HelpdeskSettings(webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret",
                                zendesk_url="https://acme.zendesk.com", zendesk_email="ops@acme.example",
                                zendesk_token="t")
    assert helpdesk.webhook_url == "http://127.0.0.1:9/hook"
    assert InsightsCsatSettings(webhook_url="https://hooks.example/csat", webhook_secret="s").webhook_url


def test_a_partial_zendesk_target_names_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="missing: zendesk_email"):
        HelpdeskSettings(zendesk_url="https://acme.zendesk.com", zendesk_token="t")
