"""End to end with a real ``prefect server start`` on 127.0.0.1: ``knowdesk schedule`` serves the
deployments, the knowdesk HTTP API starts a sync as a flow run, the run completes and the index
answers with the new content; a schedule set on a source is picked up without a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from core.models import Source, SourceKind
from core.settings import Settings
from flows.runtime import Runtime
from retrieval.index import close_clients
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Callable[[], Any], timeout: float, what: str, procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args} exited with {proc.returncode} while waiting for {what}")
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1",
           "KNOWDESK_HOME": str(tmp_path / "home"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (logs / "server.log").open("wb") as out:
            procs.append(subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                           str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True, cwd=tmp_path))
        _until(lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120, "the Prefect server", procs)
        yield {"api": api, "env": env, "procs": procs, "logs": logs, "home": tmp_path / "home", "tmp": tmp_path}
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _deployment(api: str, name: str) -> dict[str, Any] | None:
    r = httpx.get(f"{api}/deployments/name/{name}", timeout=5)
    return r.json() if r.status_code == 200 else None


def test_a_sync_triggered_through_the_api_runs_on_the_served_deployment(stack: dict[str, Any]) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    folder = stack["tmp"] / "docs"
    folder.mkdir()
    (folder / "skip.md").write_text("# Skip a delivery\n\nChoose Skip next box before the 25th.", encoding="utf-8")
    rt = Runtime(Settings(home=stack["home"]))
    rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER, options={"path": str(folder)}))
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    headers = {"Authorization": f"Bearer {key}"}

    with (stack["logs"] / "schedule.log").open("wb") as out:
        stack["procs"].append(subprocess.Popen([str(BIN / "knowdesk"), "schedule", "--refresh", "5"],
                                               env=stack["env"], stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd=ROOT))
    _until(lambda: _deployment(stack["api"], "sync-source/default.docs"), 90, "the deployment", stack["procs"])

    try:
        with temporary_settings({PREFECT_API_URL: stack["api"]}), TestClient(create_app(rt)) as client:
            r = client.post("/v1/sources/docs/sync", headers=headers, json={})
            assert r.status_code == 202, r.text
            assert r.json()["mode"] == "prefect" and r.json()["status"] == "started"
            run_id = r.json()["flow_run_id"]

            def finished() -> dict[str, Any] | None:
                body = client.get("/v1/sources/docs/runs", headers=headers).json()
                mine = [f for f in body.get("flow_runs", []) if f["id"] == run_id]
                return body if mine and mine[0]["state"] in {"COMPLETED", "FAILED", "CRASHED"} else None

            body = _until(finished, 240, "the flow run", stack["procs"])
            flow_run = next(f for f in body["flow_runs"] if f["id"] == run_id)
            assert flow_run["state"] == "COMPLETED", (stack["logs"] / "schedule.log").read_text()[-3000:]
            assert flow_run["duration_seconds"] > 0
            assert body["runs"][0]["status"] == "succeeded" and body["runs"][0]["report"]["written"] == 1

            # A schedule set now is served at the next refresh, and removed the same way.
            from flows.deployments import set_schedule

            set_schedule(rt, "default", "docs", interval="1h")
            _until(lambda: (_deployment(stack["api"], "sync-source/default.docs") or {}).get("schedules"), 30,
                   "the schedule", stack["procs"])
            schedule = _deployment(stack["api"], "sync-source/default.docs")["schedules"][0]["schedule"]
            assert schedule["interval"] == 3600
            set_schedule(rt, "default", "docs", off=True)
            _until(lambda: not (_deployment(stack["api"], "sync-source/default.docs") or {}).get("schedules"), 30,
                   "the schedule to go", stack["procs"])

        # Embedded Qdrant storage opens in one process at a time (a Qdrant server has no such
        # limit): stop the worker, then ask the API.
        for proc in stack["procs"][1:]:
            _stop(proc)
        with TestClient(create_app(rt)) as client:
            found = client.post("/v1/retrieve", headers=headers, json={"query": "skip the next box"})
            assert found.status_code == 200, found.text
            assert found.json()["hits"][0]["document_id"] == "docs:skip.md"
    finally:
        close_clients()
