"""`knowdesk schedule` options a user can get wrong: each gets a message that says what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.runtime import reset_runtime
from core.errors import ConfigError, InvalidInput
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
    assert isinstance(result.exception, InvalidInput) and "--pool NAME" in result.exception.message


@pytest.mark.parametrize("name", ["a/b", " ", "x%y"])
def test_an_invalid_pool_name_is_refused_before_anything_is_registered(
        cli: tuple[CliRunner, dict[str, str]], name: str) -> None:
    runner, env = cli
    result = runner.invoke(app, ["schedule", "--pool", name, "--once"], env=env)
    assert isinstance(result.exception, InvalidInput), result.output
    assert f"work pool name {name!r} is invalid" in result.exception.message


def test_a_work_pool_needs_a_prefect_server(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    for args, extra in ((["schedule", "--pool", "knowdesk", "--once"], {}),
                        (["schedule", "--once"], {"KNOWDESK_ORCHESTRATION__WORK_POOL": "knowdesk"})):
        result = runner.invoke(app, args, env={**env, **extra})
        assert isinstance(result.exception, ConfigError), result.output
        assert "PREFECT_API_URL" in result.exception.message
        reset_runtime()
