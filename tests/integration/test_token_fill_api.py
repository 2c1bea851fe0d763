"""Filling the second ranking stage's token vectors over HTTP (``POST /v1/index/tokens``) and as the
``fill-token-vectors`` Prefect flow (issue 17), with the real MiniLM on Qdrant Edge through the real sync:
an index that lost its token vectors reports its coverage, is filled to complete, and bad input (an
unknown or invalid source, a read key, an unknown field) gets a clear error and changes nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from retrieval.tokens import TokenCoverage
from service.api import create_app
from service.keys import KeyStore
from tests.integration.test_token_fill_upgrade import synced_folder

pytestmark = pytest.mark.slow
WS = "default"


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with synced_folder(tmp_path, monkeypatch) as (rt, _, _):
        yield rt


def _drop_token_vectors(rt: Runtime) -> int:
    """The state of an index written before token vectors were stored; returns its chunk count."""
    rt.engine.token_store.drop(rt.index.target)
    total = rt.index.count(WS)
    assert total > 0 and rt.index.token_coverage(WS) == TokenCoverage(kept=0, total=total)
    return total


def test_the_endpoint_reports_then_fills_and_rejects_bad_input(synced: Runtime) -> None:
    rt = synced
    total = _drop_token_vectors(rt)
    keys = KeyStore(db=rt.db)
    writer, reader = (keys.create(WS, scopes=[s])[1] for s in ("write", "read"))
    w, r = {"Authorization": f"Bearer {writer}"}, {"Authorization": f"Bearer {reader}"}
    with TestClient(create_app(rt)) as client:
        checked = client.post("/v1/index/tokens", json={"check": True}, headers=w)
        assert checked.status_code == 200, checked.text
        body = checked.json()
        assert body["source"] == "all" and body["workspace"] == WS and body["keeps_tokens"] is True
        assert body["before"] == body["after"] == {"kept": 0, "total": total}
        assert body["filled"] == 0 and body["complete"] is False and body["model"]

        bad = [
            (client.post("/v1/index/tokens", json={}, headers=r), 403, "forbidden"),
            (client.post("/v1/index/tokens", json={}), 401, "unauthorized"),
            (client.post("/v1/index/tokens", json={"source": "nope"}, headers=w), 404, "no source named 'nope'"),
            (client.post("/v1/index/tokens", json={"source": "Not A Name"}, headers=w), 422, "invalid source name"),
            (client.post("/v1/index/tokens", json={"check": "maybe"}, headers=w), 422, "check"),
            (client.post("/v1/index/tokens", json={"colour": "red"}, headers=w), 422, "colour"),
        ]
        for answer, status, said in bad:
            assert answer.status_code == status, answer.text
            assert said in answer.text, answer.text
        assert rt.index.token_coverage(WS) == TokenCoverage(kept=0, total=total)  # nothing changed

        filled = client.post("/v1/index/tokens", json={"source": "docs"}, headers=w)
        assert filled.status_code == 200, filled.text
        body = filled.json()
        assert body["source"] == "docs" and body["filled"] == total and body["complete"] is True
        assert body["before"] == {"kept": 0, "total": total} and body["after"] == {"kept": total, "total": total}
        assert rt.index.token_coverage(WS) == TokenCoverage(kept=total, total=total)
        again = client.post("/v1/index/tokens", headers=w)  # no body: all sources, a fill with nothing to do
        assert again.status_code == 200 and again.json()["filled"] == 0 and again.json()["complete"] is True


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    """A temporary local Prefect API for the flow (as tests/integration/test_flows.py)."""
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-home-")
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_flow_checks_then_fills_the_missing_token_vectors(harness: None, synced: Runtime) -> None:
    from flows.tokens import fill_tokens_flow

    rt = synced
    total = _drop_token_vectors(rt)
    checked = fill_tokens_flow(source="docs", workspace=WS, check=True)
    assert checked["before"] == {"kept": 0, "total": total} and checked["filled"] == 0
    assert rt.index.token_coverage(WS) == TokenCoverage(kept=0, total=total)
    filled = fill_tokens_flow(workspace=WS)
    assert filled["target"] == "all" and filled["filled"] == total
    assert filled["after"] == {"kept": total, "total": total}
    assert rt.index.token_coverage(WS) == TokenCoverage(kept=total, total=total)
