"""The `knowdesk` commands as a user runs them, in-process through typer's ``CliRunner`` (real model,
embedded stores); the killed sync and the quickstart run the installed executable
(``tests/integration/test_cli_smoke.py`` runs it once per command family)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.runtime import reset_runtime
from service.cli import app

pytestmark = pytest.mark.slow

KNOWDESK = [str(Path(sys.executable).with_name("knowdesk"))]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    """Each test's commands share one runtime per environment; none survives the test."""
    reset_runtime()
    _seen.clear()
    yield
    reset_runtime()


_seen: list[dict[str, str]] = []


def run(home: Path, *args: str, check: bool = True, timeout: float = 300,
        env: dict[str, str] | None = None, binary: bool = False) -> Ran:
    """``knowdesk ARGS`` in this process (or the installed executable with ``binary``)."""
    wanted = {"KNOWDESK_HOME": str(home), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "true"} | (env or {})
    if binary:
        proc = subprocess.run([*KNOWDESK, *args], env=os.environ | wanted, capture_output=True, text=True,
                              timeout=timeout)
        ran = Ran(proc.returncode, proc.stdout, proc.stderr)
    else:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in wanted.items():
                mp.setenv(key, value)
            if _seen != [wanted]:  # another home or settings: the next command builds its runtime anew
                reset_runtime()
                _seen[:] = [wanted]
            result = CliRunner().invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        ran = Ran(result.exit_code, result.stdout, result.stderr)
    if check and ran.returncode != 0:
        raise AssertionError(f"knowdesk {' '.join(args)} exited {ran.returncode}:\n{ran.stdout}\n{ran.stderr}")
    return ran


def make_docs(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    topics = ["descaling", "grinding", "frothing", "tamping", "brewing", "storage", "roasting", "cupping"]
    for i in range(n):
        topic = topics[i % len(topics)]
        sections = "\n\n".join(
            f"## Step {j}\n\n"
            + " ".join(f"For {topic} guide {i}, step {j} sentence {k} explains the detail." for k in range(8))
            for j in range(4)
        )
        (root / f"guide-{i:03}.md").write_text(f"# {topic.title()} guide {i}\n\n{sections}\n", encoding="utf-8")


def test_sources_sync_retrieve_and_batch(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    make_docs(docs, 6)
    (docs / "refunds.md").write_text("# Refund policy\n\nUnopened coffee can be returned within 30 days.\n")
    run(home, "sources", "add", "docs", "--kind", "folder", "--option", f"path={docs}")
    report = json.loads(run(home, "sync", "docs", "--json").stdout)
    assert (report["status"], report["fetched"], report["written"]) == ("succeeded", 7, 7)

    hits = json.loads(run(home, "retrieve", "how long can I return coffee", "--json", "--top-k", "3").stdout)["hits"]
    assert hits[0]["title"] == "Refund policy" and hits[0]["rank"] == 1
    assert hits[0]["uri"].startswith("file://") and hits[0]["document_id"] == "docs:refunds.md"

    batch = tmp_path / "q.jsonl"
    batch.write_text(
        json.dumps({"query": "returning coffee"}) + "\n"
        + "not json\n"
        + json.dumps({"query": "descaling guide", "top_k": 2, "filters": {"source_id": "docs"}}) + "\n"
        + json.dumps({"query": "x", "filters": {"colour": "red"}}) + "\n",
        encoding="utf-8",
    )
    proc = run(home, "retrieve", "--batch", str(batch), check=False)
    assert proc.returncode == 1  # two bad lines
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [entry["line"] for entry in lines] == [1, 2, 3, 4]
    assert lines[0]["hits"][0]["title"] == "Refund policy"
    assert lines[1]["error"] == "invalid_input"
    assert len(lines[2]["hits"]) == 2
    assert "colour" in lines[3]["message"]

    # a deleted file is gone from results after the next sync
    (docs / "refunds.md").unlink()
    report = json.loads(run(home, "sync", "docs", "--json").stdout)
    assert report["deleted"] == 1
    hits = json.loads(run(home, "retrieve", "how long can I return coffee", "--json").stdout)["hits"]
    assert all(h["document_id"] != "docs:refunds.md" for h in hits)

    # Edge maintenance (the default engine; optimizing itself is in tests/contracts/test_index_backends.py)
    assert "nothing to optimize in knowdesk__" in run(home, "optimize").stderr  # too few points for HNSW
    after = json.loads(run(home, "retrieve", "how long can I return coffee", "--json").stdout)["hits"]
    assert [h["chunk_id"] for h in after] == [h["chunk_id"] for h in hits]
    local = run(home, "optimize", check=False, env={"KNOWDESK_QDRANT__ENGINE": "local"})
    assert local.returncode == 0 and "nothing to do" in local.stderr

    # user errors: clear message, exit 1, nothing changed
    proc = run(home, "sources", "add", "docs", "--kind", "folder", "--option", f"path={docs}", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    proc = run(home, "sync", "nope", check=False)
    assert proc.returncode == 1 and "sources list" in proc.stderr
    proc = run(home, "retrieve", "x", "--filter", "colour=red", "--json", check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"] == "invalid_input"
    proc = run(home, "retrieve", "   ", "--json", check=False)  # bad usage: exit 2, the fix on stderr
    assert proc.returncode == 2 and "non-empty" in proc.stderr
    proc = run(home, "retrieve", "coffee", "--top-k", "201", check=False)
    assert proc.returncode == 2 and "200" in proc.stderr  # the bound it broke


@pytest.mark.serial  # kills the sync once 10 of 60 documents are done: needs the machine to itself
def test_a_sync_killed_midway_and_rerun_leaves_no_duplicate_and_no_missing_chunk(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    make_docs(docs, 60)
    run(home, "sources", "add", "docs", "--kind", "folder", "--option", f"path={docs}")
    env = os.environ | {"KNOWDESK_HOME": str(home), "HF_HUB_OFFLINE": "1", "KNOWDESK_SYNC__EMBED_BATCH_CHUNKS": "16"}
    proc = subprocess.Popen([*KNOWDESK, "sync", "docs"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = home / "knowdesk.db"
    deadline = time.monotonic() + 240
    done = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                with sqlite3.connect(db, timeout=5) as conn:
                    done = conn.execute("select count(*) from documents where status = 'done'").fetchone()[0]
                if done >= 10:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the sync finished before it could be killed; make the corpus larger"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 10 <= done < 60

    report = json.loads(run(home, "sync", "docs", "--json").stdout)
    assert report["status"] == "succeeded"

    from app.runtime import Runtime
    from core.settings import Settings

    rt = Runtime(Settings(home=home))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select document_id, chunk_count, status from documents").fetchall()
    assert len(rows) == 60 and {r[2] for r in rows} == {"done"}
    total = 0
    for document_id, chunk_count, _ in rows:
        ids = rt.index.document_chunk_ids("default", document_id)
        assert sorted(ids) == sorted(f"{document_id}#{i}" for i in range(chunk_count)), document_id
        total += chunk_count
    assert rt.index.count("default") == total
    rt.qdrant.close()


def test_quickstart_prints_cited_passages(tmp_path: Path) -> None:
    proc = run(tmp_path / "home", "quickstart", "--json", timeout=600, binary=True)
    result = json.loads(proc.stdout)
    assert all(s["status"] in ("succeeded", "partial") for s in result["syncs"])
    for q in result["questions"]:
        assert q["hits"], q["query"]
        assert all(h["uri"] and h["title"] for h in q["hits"])
    # one action in the scripted conversation, answered by the sample API the quickstart served
    [turn] = result["action"]["turns"]
    assert turn["decision"]["action"] == "action_call" and "shipped" in turn["decision"]["reply"]
    [call] = result["action"]["action_calls"]
    assert call["action"] == "track_order" and call["status"] == 200
    # the API stopped with the quickstart; the sample actions point at `knowdesk samples api`'s fixed port
    with sqlite3.connect(tmp_path / "home" / "knowdesk.db") as db:
        [(spec,)] = db.execute("SELECT data FROM action_specs WHERE name = 'brewly'").fetchall()
        [(allow,)] = db.execute("SELECT allow FROM action_network WHERE workspace = 'default'").fetchall()
    assert json.loads(spec)["base_url"] == "http://127.0.0.1:8781/v1" and "127.0.0.1" in json.loads(allow)
