"""`knowdesk retrieve` works while `knowdesk serve` holds the embedded index."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_cli import KNOWDESK, run

pytestmark = pytest.mark.slow


def _serve(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full = os.environ | {"KNOWDESK_HOME": str(home), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "true"} | env
    return subprocess.Popen([*KNOWDESK, "serve", "--host", "127.0.0.1", "--port", "0"], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_discovery(home: Path, proc: subprocess.Popen[str]) -> dict[str, object]:
    path = home / "server.json"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        if path.is_file():
            return dict(json.loads(path.read_text()))
        time.sleep(0.3)
    raise AssertionError("serve never announced itself")


def test_retrieve_goes_through_the_running_server(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refund policy\n\nUnopened coffee can be returned within 30 days.\n")
    (docs / "grinding.md").write_text("# Grinding\n\nUse a burr grinder set to medium for filter coffee.\n")
    env = {"KNOWDESK_QDRANT__ENGINE": "edge"}
    run(home, "sources", "add", "docs", "--kind", "folder", "--option", f"path={docs}", env=env)
    run(home, "sync", "docs", env=env)
    direct = json.loads(run(home, "retrieve", "return coffee", "--json", env=env).stdout)["hits"]

    server = _serve(home, env)
    try:
        announced = _wait_for_discovery(home, server)
        assert announced["pid"] == server.pid and str(announced["url"]).startswith("http://127.0.0.1:")
        assert stat.S_IMODE((home / "server.json").stat().st_mode) == 0o600
        beside = run(home, "retrieve", "return coffee", "--json", env=env, check=False)
        assert beside.returncode == 0, beside.stderr
        hits = json.loads(beside.stdout)["hits"]
        assert [h["document_id"] for h in hits] == [h["document_id"] for h in direct]
        assert hits[0]["title"] == "Refund policy"
        batch = tmp_path / "q.jsonl"
        batch.write_text(json.dumps({"query": "burr grinder", "top_k": 1}) + "\nnot json\n")
        lines = run(home, "retrieve", "--batch", str(batch), env=env, check=False).stdout.splitlines()
        assert json.loads(lines[0])["hits"][0]["title"] == "Grinding" and "error" in json.loads(lines[1])
        # the token is a read token: it cannot write
        import httpx

        denied = httpx.post(f"{announced['url']}/v1/sources/docs/sync",
                            headers={"Authorization": f"Bearer {announced['token']}"})
        assert denied.status_code == 403
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        if server.stderr:
            server.stderr.close()
    assert not (home / "server.json").exists()  # withdrawn when the server stops
