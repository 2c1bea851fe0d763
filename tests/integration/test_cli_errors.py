"""Wrong inputs a newcomer types get a clear message and the documented exit code, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from agent.tables import SessionRow
from app.runtime import get_runtime, reset_runtime
from core.errors import KnowdeskError
from service.cli import app

KNOWDESK = [sys.executable, "-m", "service.cli"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOWDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    reset_runtime()
    yield tmp_path / "home"
    reset_runtime()


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def said(result: Result) -> str:
    """The output without Rich's panel borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def _sessions() -> int:
    with get_runtime().db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SessionRow)) or 0)


@pytest.mark.parametrize("name", ["My Docs", "Docs", "../etc", "a/b", "_x"])
def test_a_bad_source_name_is_bad_usage(home: Path, tmp_path: Path, name: str) -> None:
    result = cli("sources", "add", name, "--kind", "folder", "--option", f"path={tmp_path}")
    assert result.exit_code == 2, result.output
    assert "invalid source name" in said(result) and "lowercase" in said(result)


@pytest.mark.parametrize("args", [["keys", "create"], ["sources", "list"], ["ask", "hello"],
                                  ["actions", "allow", "example.com"], ["eval", "bundled"]])
def test_a_bad_workspace_name_is_bad_usage(home: Path, args: list[str]) -> None:
    result = cli(*args, "--workspace", "Sales Team")
    assert result.exit_code == 2, result.output
    assert "invalid workspace name" in said(result)


def test_ask_rejects_an_empty_message_and_a_bad_contact_before_opening_a_session(home: Path) -> None:
    empty = cli("ask", "  ")
    assert empty.exit_code == 2 and "message is empty" in said(empty)
    contact = cli("ask", "Where is my order?", "--contact", "not-an-email")
    assert contact.exit_code == 2 and "not an email address" in said(contact)
    assert _sessions() == 0


def test_eval_refuses_an_unknown_workspace(home: Path) -> None:
    result = cli("eval", "bundled", "--workspace", "defualt")
    assert result.exit_code == 1 and "no workspace named 'defualt'" in said(result)


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = os.environ | {"KNOWDESK_HOME": str(home), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "true"} | env
    return subprocess.run([*KNOWDESK, *args], env=full, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_home_that_cannot_be_created_or_written_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    created = _run(blocker / "home", "sources", "list")
    assert created.returncode == 1 and "cannot be created" in created.stderr and "Traceback" not in created.stderr
    if (Path("/sys").is_dir() and not os.access("/sys", os.W_OK | os.X_OK)) or os.geteuid() == 0:
        readonly = _run(Path("/sys/knowdesk-home"), "sources", "list")
        assert readonly.returncode == 1 and "read-only" in readonly.stderr, readonly.stderr


@pytest.mark.slow
def test_sync_says_when_the_configured_prefect_server_is_down(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome text.\n")
    assert _run(tmp_path / "home", "sources", "add", "docs", "--kind", "folder", "--option",
                f"path={docs}").returncode == 0
    down = _run(tmp_path / "home", "sync", "docs", PREFECT_API_URL="http://127.0.0.1:9/api")
    assert down.returncode == 1 and "no Prefect server answers" in down.stderr and "--local" in down.stderr
    assert "Traceback" not in down.stderr


def test_a_folder_source_whose_path_is_missing_is_refused(home: Path, tmp_path: Path) -> None:
    result = cli("sources", "add", "docs", "--kind", "folder", "--option", f"path={tmp_path / 'nope'}")
    assert result.exit_code == 1 and "does not exist" in said(result)
    assert get_runtime().sources.list("default") == []
    missing = cli("sources", "add", "site", "--kind", "website")
    assert missing.exit_code == 2 and "missing required option" in said(missing)


def test_an_empty_query_is_bad_usage(home: Path) -> None:
    assert cli("retrieve", "").exit_code == 2
    assert cli("retrieve", "   ").exit_code == 2


def test_help_center_import_of_a_folder_without_its_index_file_is_refused(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hc"
    (folder / "articles").mkdir(parents=True)
    (folder / "articles" / "a.en.md").write_text("---\ntitle: A\n---\nText\n")
    result = cli("help-center", "import", str(folder))
    assert result.exit_code == 1 and "has no helpcenter.yaml" in said(result)


def test_actions_import_of_a_spec_that_fails_the_schema_imports_nothing(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: 12\n")
    result = cli("actions", "import", str(spec))
    assert result.exit_code == 1 and "nothing was imported" in said(result)
    assert get_runtime().actions.store.specs("default") == []


def test_eval_reports_every_bad_line_of_a_dataset(tmp_path: Path) -> None:
    from evaluation.datasets import load_dataset

    path = tmp_path / "cases.jsonl"
    good = '{"id": "a", "messages": ["hi"], "expect": {"outcome": "answer"}}'
    path.write_text("\n".join([good, "{not json", good.replace('"a"', '"b"'), "[1]", '{"id": "c"}']) + "\n")
    with pytest.raises(KnowdeskError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert "3 bad line(s)" in message and all(f"line {n}" in message for n in (2, 4, 5))
