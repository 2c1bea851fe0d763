"""End to end with one real ``prefect server start`` on 127.0.0.1 for the module.

Serve mode: ``knowdesk schedule`` serves the deployments, the knowdesk HTTP API starts a sync as a
flow run, the run completes and the index answers with the new content; a schedule set on a source
is picked up without a restart. Work-pool mode: ``knowdesk schedule --pool`` registers them on a
process pool, two real ``prefect worker start --pool`` processes run them, syncs triggered through
the HTTP API and the CLI each run exactly once, and sources' changes reach the pool live."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from retrieval.index import close_clients
from service.api import create_app
from service.keys import KeyStore

pytestmark = [pytest.mark.slow, pytest.mark.serial]
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real ``prefect server start`` for the module (its start is the slow part)."""
    root = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1",
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("KNOWDESK_HOME", None)
    with (root / "server.log").open("wb") as out:
        proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=root)
    try:
        _until(lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120, "the Prefect server", [proc])
        yield {"api": api, "env": env, "proc": proc}
    finally:
        _stop(proc)


@pytest.fixture
def stack(server: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The server, plus this test's knowdesk home and the processes it starts (stopped after it)."""
    env = {**server["env"], "KNOWDESK_HOME": str(tmp_path / "home")}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = [server["proc"]]
    try:
        yield {"api": server["api"], "env": env, "procs": procs, "logs": logs, "home": tmp_path / "home",
               "tmp": tmp_path}
    finally:
        for proc in reversed(procs[1:]):
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
        # limit): stop the worker, then ask the API. Ctrl-C stops `schedule` and says what that means.
        schedule = stack["procs"][1]
        os.killpg(schedule.pid, signal.SIGINT)
        try:
            schedule.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("`knowdesk schedule` did not stop within 60 s of Ctrl-C")
        log = (stack["logs"] / "schedule.log").read_text()
        assert schedule.returncode == 130, log[-3000:]
        assert "stopped:" in log and "knowdesk schedule" in log.split("stopped:")[-1]
        for proc in stack["procs"][1:]:
            _stop(proc)
        with TestClient(create_app(rt)) as client:
            found = client.post("/v1/retrieve", headers=headers, json={"query": "skip the next box"})
            assert found.status_code == 200, found.text
            assert found.json()["hits"][0]["document_id"] == "docs:skip.md"
    finally:
        close_clients()


def _start(stack: dict[str, Any], log: str, args: list[str], **env: str) -> subprocess.Popen[bytes]:
    with (stack["logs"] / log).open("wb") as out:
        proc = subprocess.Popen(args, env={**stack["env"], **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=stack["tmp"])
    stack["procs"].append(proc)
    return proc


def _tails(stack: dict[str, Any], names: Iterable[str]) -> str:
    return "\n".join(f"--- {n}\n" + (stack["logs"] / f"{n}.log").read_text()[-3000:] for n in names)


def _flow_run(api: str, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{api}/flow_runs/{run_id}", timeout=5).json()
    return body


def test_syncs_on_a_work_pool_run_once_on_one_of_two_workers(stack: dict[str, Any]) -> None:
    """`knowdesk schedule --pool` registers the deployments on a process pool; two plain
    `prefect worker start --pool` processes run them; a sync triggered through the HTTP API and one
    through the CLI each complete exactly once, and the index answers with the new content."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api, pool = stack["api"], "knowdesk-test"
    folder, extra = stack["tmp"] / "guides", stack["tmp"] / "extra"
    folder.mkdir()
    extra.mkdir()
    (folder / "grind.md").write_text("# Grind size\n\nUse a medium grind for the pour-over kettle.", encoding="utf-8")
    (extra / "note.md").write_text("# Note\n\nA second source.", encoding="utf-8")
    rt = Runtime(Settings(home=stack["home"]))
    rt.sources.add(Source(workspace="default", name="guides", kind=SourceKind.FOLDER, options={"path": str(folder)}))
    rt.sources.add(Source(workspace="default", name="extra", kind=SourceKind.FOLDER, options={"path": str(extra)}))
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    headers = {"Authorization": f"Bearer {key}"}

    _start(stack, "deployer.log", [str(BIN / "knowdesk"), "schedule", "--pool", pool, "--refresh", "3"])
    registered = _until(lambda: _deployment(api, "sync-source/default.guides"), 90, "the registration", stack["procs"])
    assert registered["work_pool_name"] == pool and registered["entrypoint"] == "flows.orchestrate.sync_source"
    assert registered["pull_steps"] == [] and registered["path"] is None
    assert _deployment(api, "sync-source/default.extra")
    assert (_deployment(api, "reindex/all") or {})["work_pool_name"] == pool
    pool_info = httpx.get(f"{api}/work_pools/{pool}", timeout=5).json()
    assert pool_info["type"] == "process"

    workers = {name: _start(stack, f"{name}.log", [str(BIN / "prefect"), "worker", "start", "--pool", pool,
                                                   "--name", name], PREFECT_WORKER_QUERY_SECONDS="2",
                                                   PREFECT_LOGGING_LEVEL="INFO")
               for name in ("worker-a", "worker-b")}

    def online() -> bool:
        found = httpx.post(f"{api}/work_pools/{pool}/workers/filter", json={}, timeout=5).json()
        return {w["name"] for w in found} >= set(workers)

    _until(online, 90, "both workers to poll the pool", stack["procs"])

    # Sources and schedules changed while registered: a schedule appears, a disabled source's deployment goes.
    from flows.deployments import set_schedule

    set_schedule(rt, "default", "guides", cron="0 4 * * *")
    rt.sources.update("default", "extra", enabled=False)
    _until(lambda: (_deployment(api, "sync-source/default.guides") or {}).get("schedules"), 30, "the schedule",
           stack["procs"])
    assert (_deployment(api, "sync-source/default.guides") or {})["schedules"][0]["schedule"]["cron"] == "0 4 * * *"
    _until(lambda: _deployment(api, "sync-source/default.extra") is None, 30, "the disabled source's deployment to go",
           stack["procs"])

    def call(method: str, path: str, **kwargs: Any) -> Any:
        # A short-lived app per call: a long-lived one's background jobs would open the embedded
        # index here and lock the workers' flow runs out of it.
        with temporary_settings({PREFECT_API_URL: api}), TestClient(create_app(rt)) as client:
            return client.request(method, path, headers=headers, **kwargs)

    r = call("POST", "/v1/sources/guides/sync", json={})
    assert r.status_code == 202, r.text
    assert r.json()["mode"] == "prefect" and r.json()["status"] == "started"
    first = r.json()["flow_run_id"]
    state = _until(lambda: (s := _flow_run(api, first)["state"]["type"]) in {"COMPLETED", "FAILED", "CRASHED"}
                   and s, 300, "the API's flow run", stack["procs"])
    assert state == "COMPLETED", _tails(stack, workers)

    # The same source edited, then synced through the CLI (a flow run of the same deployment; it waits).
    (folder / "grind.md").write_text("# Grind size\n\nUse a coarse grind for the cold brew tower.", encoding="utf-8")
    cli = subprocess.run([str(BIN / "knowdesk"), "sync", "guides", "--json"], env=stack["env"], cwd=stack["tmp"],
                         capture_output=True, timeout=300, check=False)
    assert cli.returncode == 0, cli.stdout.decode()[-1000:] + _tails(stack, workers)
    assert json.loads(cli.stdout.decode().strip().splitlines()[-1])["written"] == 1

    body = call("GET", "/v1/sources/guides/runs").json()
    flow_runs = body["flow_runs"]
    assert len(flow_runs) == 2 and {f["state"] for f in flow_runs} == {"COMPLETED"}, flow_runs
    assert [r["status"] for r in body["runs"]] == ["succeeded", "succeeded"]  # one sync per flow run, no more
    assert [r["report"]["written"] for r in body["runs"]] == [1, 1]
    logs = {w: (stack["logs"] / f"{w}.log").read_text() for w in workers}
    for flow_run in flow_runs:
        assert _flow_run(api, flow_run["id"])["run_count"] == 1
        # Both workers may try to take a run; the server lets one move it to Pending and aborts the other.
        ran = [w for w, text in logs.items() if f"submitting flow run '{flow_run['id']}'" in text
               and f"Aborted submission of flow run '{flow_run['id']}'" not in text]
        assert len(ran) == 1, (flow_run["id"], _tails(stack, workers))  # executed by exactly one of the two

    # The workers' flow runs have ended, so the embedded Qdrant storage is free to open here.
    try:
        with TestClient(create_app(rt)) as client:
            found = client.post("/v1/retrieve", headers=headers, json={"query": "cold brew grind"}).json()
            assert found["hits"][0]["document_id"] == "guides:grind.md" and "coarse" in found["hits"][0]["text"]
    finally:
        close_clients()
