"""The Prefect flows under ``prefect_test_harness`` (a temporary local Prefect API, started once)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.runtime import Runtime, get_runtime, reset_runtime
from core.errors import RateLimited, SourceAuthError
from core.models import Source, SourceKind
from retrieval.index import close_clients

pytestmark = pytest.mark.slow

DOCS = {
    "skip.md": "# Skip a delivery\n\nOpen Subscriptions and choose Skip next box before the 25th.",
    "grind.md": "# Change the grind\n\nPick whole beans, espresso, filter or French press grind in Settings.",
    "pause.md": "# Pause your plan\n\nPause for up to three months; nothing is charged while paused.",
}


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    """One Prefect test API for the module (it takes ~25 s to come up on a cold start)."""
    home = tempfile.mkdtemp(prefix="prefect-home-")
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def rt(harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    home = tmp_path_factory.mktemp("home")
    os.environ["KNOWDESK_HOME"] = str(home)
    reset_runtime()
    runtime = get_runtime()
    for name in ("docs", "more"):
        folder = home / name
        folder.mkdir()
        for file, text in DOCS.items():
            (folder / file).write_text(text.replace("#", f"# {name}:"), encoding="utf-8")
        runtime.sources.add(Source(workspace="default", name=name, kind=SourceKind.FOLDER,
                                   options={"path": str(folder)}))
    yield runtime
    close_clients()
    reset_runtime()
    os.environ.pop("KNOWDESK_HOME", None)


def test_sync_source_writes_the_index_and_publishes_the_report(rt: Runtime) -> None:
    from prefect.client.orchestration import get_client

    from flows.orchestrate import sync_source

    summary = sync_source(name="docs")
    assert summary["status"] == "succeeded" and summary["written"] == 3
    assert rt.retrieve("skip the next box", workspace="default")[0].document_id == "docs:skip.md"
    with get_client(sync_client=True) as client:  # a raw filter request: see flows/deployments.py
        found = client.request("POST", "/artifacts/filter",
                               json={"artifacts": {"key": {"any_": ["sync-default-docs"]}}})
    data = [a["data"] for a in found.json()]
    assert len(data) == 1 and "| 3 |" in data[0] and "succeeded" in data[0]
    again = sync_source(name="docs")
    assert again["status"] == "succeeded" and again["written"] == 0  # nothing changed


def test_a_failing_source_fails_the_flow_without_retrying(rt: Runtime, tmp_path: Path) -> None:
    from prefect.states import State

    from flows.orchestrate import sync_source

    rt.sources.add(Source(workspace="default", name="gone", kind=SourceKind.FOLDER,
                          options={"path": str(tmp_path / "missing")}))
    try:
        state: State = sync_source(name="gone", return_state=True)
        assert state.is_failed()
        assert len(rt.state("default", "gone").runs()) == 1  # a missing folder is not retried
    finally:
        rt.remove_source("default", "gone")


def test_retries_follow_the_errors_retryable_flag(harness: None) -> None:
    from prefect import flow, task

    from flows.orchestrate import retry_if_retryable

    calls = {"limited": 0, "denied": 0}

    @task(retries=3, retry_delay_seconds=0, retry_condition_fn=retry_if_retryable)
    def limited() -> str:
        calls["limited"] += 1
        if calls["limited"] < 3:
            raise RateLimited("slow down", retry_after=0)
        return "ok"

    @task(retries=3, retry_delay_seconds=0, retry_condition_fn=retry_if_retryable)
    def denied() -> str:
        calls["denied"] += 1
        raise SourceAuthError("token revoked")

    @flow
    def both() -> tuple[str, bool]:
        return limited(), denied(return_state=True).is_failed()

    assert both() == ("ok", True)
    assert calls == {"limited": 3, "denied": 1}


def test_sync_all_and_reindex(rt: Runtime) -> None:
    from flows.orchestrate import reindex, sync_all

    results = sync_all()
    assert set(results) == {"default/docs", "default/more"}
    assert all(r["status"] == "succeeded" for r in results.values())
    assert rt.retrieve("French press grind", workspace="default", top_k=4)
    before = rt.index.count("default")
    report = reindex(target="all")
    assert report["status"] == "succeeded" and report["documents"] == 6 and report["refetched"] == 0
    assert rt.index.count("default") == before
