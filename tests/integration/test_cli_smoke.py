"""The installed ``knowdesk`` executable, once per command family (the other CLI tests run in-process
through typer's ``CliRunner``): its entry point, registration, exit codes and stdout/stderr split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KNOWDESK = Path(sys.executable).with_name("knowdesk")


def knowdesk(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"KNOWDESK_HOME": str(home), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "true"}
    return subprocess.run([str(KNOWDESK), *args], env=env, capture_output=True, text=True, timeout=300)


def test_keys_sources_and_runs_through_the_executable(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    docs.mkdir()
    created = json.loads(knowdesk(home, "keys", "create", "--scope", "write", "--json").stdout)
    assert created["key"].startswith(f"kd_{created['id']}_") and created["scopes"] == ["write"]
    [listed] = json.loads(knowdesk(home, "keys", "list", "--json").stdout)["keys"]
    assert listed["id"] == created["id"] and "key" not in listed

    added = knowdesk(home, "sources", "add", "docs", "--kind", "folder", "--option", f"path={docs}", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["name"] == "docs"
    [source] = json.loads(knowdesk(home, "sources", "list", "--json").stdout)["sources"]
    assert (source["name"], source["documents"]) == ("docs", 0)
    assert json.loads(knowdesk(home, "runs", "docs", "--json").stdout)["runs"] == []

    # a user error: the message on stderr, its JSON body on stdout with --json, exit 1
    missing = knowdesk(home, "keys", "revoke", "nope")
    assert missing.returncode == 1 and "no API key 'nope'" in missing.stderr
    bad = knowdesk(home, "runs", "nope", "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == "not_found"
    # bad usage: exit 2
    assert knowdesk(home, "sources", "add", "x").returncode == 2


@pytest.mark.parametrize("family", ["help-center", "training", "actions", "samples", "eval", "insights", "ask",
                                    "handoffs", "schedule", "reindex", "cancel"])
def test_every_command_family_is_registered_on_the_executable(family: str, tmp_path: Path) -> None:
    proc = knowdesk(tmp_path / "home", family, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout and family in proc.stdout
