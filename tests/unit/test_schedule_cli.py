"""`knowdesk schedule` options a user can get wrong: each gets a message that says what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flows.pool  # noqa: F401  # Prefect sets up its logging on import: against this stderr, not CliRunner's
from app.runtime import reset_runtime
from service.cli import app


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[CliRunner, dict[str, str]]]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    reset_runtime()
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # no Prefect server configured
        yield CliRunner(), {"KNOWDESK_HOME": str(tmp_path / "home")}
    reset_runtime()


def test_once_needs_a_work_pool(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    result = runner.invoke(app, ["schedule", "--once"], env=env)
    assert result.exit_code == 1 and "--pool NAME" in " ".join(result.stderr.split()), result.output


@pytest.mark.parametrize("name", ["a/b", " ", "x%y"])
def test_an_invalid_pool_name_is_refused_before_anything_is_registered(
        cli: tuple[CliRunner, dict[str, str]], name: str) -> None:
    runner, env = cli
    result = runner.invoke(app, ["schedule", "--pool", name, "--once"], env=env)
    assert result.exit_code == 1, result.output
    assert f"work pool name {name!r} is invalid" in " ".join(result.stderr.split())


def test_a_work_pool_needs_a_prefect_server(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    for args, extra in ((["schedule", "--pool", "knowdesk", "--once"], {}),
                        (["schedule", "--once"], {"KNOWDESK_ORCHESTRATION__WORK_POOL": "knowdesk"})):
        result = runner.invoke(app, args, env={**env, **extra})
        assert result.exit_code == 1, result.output
        assert "PREFECT_API_URL" in result.stderr
        reset_runtime()


def test_sources_schedule_takes_a_timezone_and_refuses_a_wrong_one(cli: tuple[CliRunner, dict[str, str]],
                                                                     tmp_path: Path) -> None:
    runner, env = cli
    (tmp_path / "docs").mkdir()
    added = runner.invoke(app, ["sources", "add", "docs", "--kind", "folder", "-o", f"path={tmp_path / 'docs'}"],
                          env=env)
    assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["sources", "schedule", "docs", "--cron", "0 3 * * *", "--timezone", "Mars/Base"],
                           env=env)
    assert result.exit_code == 1 and "is not an IANA timezone name" in " ".join(result.stderr.split())
    result = runner.invoke(app, ["sources", "schedule", "docs", "--cron", "0 3 * * *", "--timezone",
                                 "Europe/Paris"], env=env)
    assert result.exit_code == 0, result.output
    assert "cron 0 3 * * * (Europe/Paris); next run 20" in " ".join(result.output.split())
    result = runner.invoke(app, ["sources", "schedule", "docs", "--interval", "6h", "--paused"], env=env)
    assert result.exit_code == 0 and "paused; next run none" in " ".join(result.output.split()), result.output
