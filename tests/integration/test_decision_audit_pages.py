"""The decision audit page (``/admin/decisions``): each decision with its reason, passages and scores,
calibrated confidence and what would have changed it; filters by reason and channel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.models import Channel
from core.settings import Settings
from service.api import create_app
from tests.integration.audit_records import answered, handed_off, low_confidence
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    rt = Runtime(Settings(home=tmp_path / "home"))
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        yield rt, client
    rt.qdrant.close()


def row(page: str, event: int) -> str:
    found = re.search(rf'<tr data-decision="{event}".*?</tr>', page, re.S)
    assert found, f"decision {event} is not on the page"
    return found.group(0)


def test_each_decision_shows_why_on_what_and_what_would_have_changed_it(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    answer, handoff, low = answered(rt), handed_off(rt), low_confidence(rt)
    assert client.get("/admin/decisions").status_code == 401, "signing in first"
    sign_in(client, rt, "read", "/admin/decisions")
    page = client.get("/admin/decisions").text
    assert 'aria-current="page">Decisions' in page

    a = row(page, answer)
    assert "How long does a refund take" in a and "Refunds and returns within thirty days" in a
    assert "0.032" in a and "cosine 0.71" in a, "each passage with its scores"
    assert '<span class="confidence">0.91</span>' in a and "raw 0.93" in a
    assert "0.11 above the answer threshold 0.80" in a and "human_request, scored 0.41" in a
    assert "raw_confidence 0.930" in a, "every signal with its value"

    h = row(page, handoff)
    assert 'data-reason="human_requested"' in h and "score 0.92 vs 0.62" in h, "the trigger's score, not 0.00"
    assert '<span class="confidence">0.92</span>' in h and "trigger score" in h
    assert "human_request scored 0.92, 0.30 above its threshold 0.62" in h and "none retrieved" in h

    low_row = row(page, low)
    assert "0.50 below the answer threshold 0.80" in low_row and "distance to the threshold -0.50" in low_row


def test_filters_by_reason_and_channel(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    answer, handoff, low = answered(rt, Channel.WEB), handed_off(rt, Channel.EMAIL), low_confidence(rt, Channel.WEB)
    sign_in(client, rt, "read", "/admin/decisions")

    def shown(query: str) -> set[int]:
        return {int(x) for x in re.findall(r'data-decision="(\d+)"', client.get(f"/admin/decisions?{query}").text)}

    assert shown("") == {answer, handoff, low}
    assert shown("reason=human_requested") == {handoff}
    assert shown("reason=answer") == {answer}
    assert shown("channel=web") == {answer, low}
    assert shown("channel=web&reason=low_confidence") == {low}
    assert shown("channel=sms") == set()
    assert shown("reason=no-such-reason&channel=nope") == {answer, handoff, low}, "unknown filters are ignored"
