"""A sync killed with SIGKILL at any point: the next sync closes the run as interrupted and leaves the
index with every chunk exactly once (both index engines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

FILES = 12
GONE = ("guide-01.md", "guide-05.md", "guide-09.md")


def _script(home: Path, folder: Path, engine: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"KNOWDESK_QDRANT__ENGINE": engine, "KNOWDESK_SYNC__EMBED_BATCH_CHUNKS": "3",
                        "KNOWDESK_ORCHESTRATION__LEASE_SECONDS": "5", "KNOWDESK_SYNC__SHRINK_GUARD_RATIO": "1.0"}
    return subprocess.run([sys.executable, "-m", "tests.fixtures.kill_sync", str(home), str(folder), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def _ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _folder(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in range(FILES):
        body = "\n\n".join(f"## Part {j}\n\n" + " ".join(f"Guide {i} part {j} sentence {k} about brewing."
                                                        for k in range(30)) for j in range(3))
        (root / f"guide-{i:02}.md").write_text(f"# Guide {i}\n\n{body}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Chunk ids per document after one uninterrupted sync."""
    root = tmp_path_factory.mktemp("ref")
    folder = _folder(root / "docs")
    docs: dict[str, list[str]] = _ok(_script(root / "home", folder, "local"))["docs"]
    assert len(docs) == FILES and all(docs.values())
    return docs


@pytest.mark.parametrize("engine", ["edge", "local"])
@pytest.mark.parametrize(("stage", "after"), [("fetch", 4), ("embed", 2), ("write", 5), ("prune", 1)])
def test_a_killed_sync_is_closed_as_interrupted_and_the_next_one_completes_the_index(
    tmp_path: Path, reference: dict[str, list[str]], engine: str, stage: str, after: int
) -> None:
    home, folder = tmp_path / "home", _folder(tmp_path / "docs")
    expected = dict(reference)
    if stage == "prune":
        _ok(_script(home, folder, engine))
        for name in GONE:
            (folder / name).unlink()
            expected.pop(f"docs:{name}")

    killed = _script(home, folder, engine, stage, str(after))
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)

    found = _ok(_script(home, folder, engine))
    assert found["report"]["status"] == "succeeded", found["report"]
    assert found["runs"][:2] == ["succeeded", "interrupted"]  # the killed run was left 'running' until now
    assert "running" not in found["runs"]
    assert found["docs"] == expected  # nothing missing, nothing left of deleted files
    assert found["points"] == sum(len(c) for c in expected.values())  # no duplicated or orphaned point
