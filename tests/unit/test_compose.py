"""docker-compose.yml (no Docker engine here): its structure (a deployer registering knowdesk's
deployments on a work pool, scalable Prefect workers on that pool, the API), commands that the
real CLIs accept, and every variable it sets is one that something reads: KNOWDESK_* a field of
the settings model, PREFECT_* a Prefect setting (a typo would be silently ignored by both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from core.settings import Settings
from service.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
KNOWDESK_SERVICES = ("deployer", "worker", "api")
#: Variables read by the images themselves or by libraries (not settings models).
OTHER_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "*": {"DO_NOT_TRACK", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"},
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def known(variable: str) -> bool:
    """Whether ``KNOWDESK_A__B`` names a field of ``Settings`` (nested with ``__``)."""
    parts = variable.removeprefix("KNOWDESK_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_the_checker_itself_tells_known_from_unknown() -> None:
    assert known("KNOWDESK_QDRANT__URL") and known("KNOWDESK_ORCHESTRATION__MAX_PARALLEL_SYNCS")
    assert not known("KNOWDESK_QDRANT__URLS") and not known("KNOWDESK_HOME__X") and not known("KNOWDESK_NOPE")


def option(command: list[str], name: str) -> str | None:
    """The value after ``name`` in a command list, or None."""
    return command[command.index(name) + 1] if name in command else None


def test_the_services_and_their_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"qdrant", "postgres", "prefect-server", "deployer", "worker", "api"}
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: undeclared volume {volume}"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]
    assert services["api"]["command"][:2] == ["knowdesk", "serve"]
    assert "server" in services["prefect-server"]["command"]
    for name in KNOWDESK_SERVICES:
        env = services[name]["environment"]
        assert env["PREFECT_API_URL"].startswith("http://prefect-server:4200/")
        assert "@postgres:" in env["KNOWDESK_DATABASE_URL"] and env["KNOWDESK_QDRANT__URL"] == "http://qdrant:6333"
        assert {"postgres", "prefect-server"} <= set(services[name]["depends_on"])
        assert services[name]["build"] == ".", f"{name} must run the knowdesk image (the Dockerfile)"
    # Prefect keeps its own database beside knowdesk's (both would use an alembic_version table).
    assert services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("/prefect")
    assert "CREATE DATABASE prefect" in compose["configs"]["prefect-database"]["content"]


def test_the_deployer_registers_on_the_pool_the_scalable_workers_poll(compose: dict[str, Any]) -> None:
    deployer, worker = compose["services"]["deployer"], compose["services"]["worker"]
    assert deployer["command"][:2] == ["knowdesk", "schedule"]
    pool = option(deployer["command"], "--pool")
    assert pool, "the deployer registers on a work pool (`knowdesk schedule --pool NAME`), it does not serve"
    assert worker["command"][:3] == ["prefect", "worker", "start"]
    assert option(worker["command"], "--pool") == pool and option(worker["command"], "--type") == "process"
    assert "deployer" in worker["depends_on"] and {"qdrant", "postgres"} <= set(worker["depends_on"])
    # `--scale worker=N` needs replicas without fixed host ports or container names.
    assert "ports" not in worker and "container_name" not in worker
    assert worker.get("deploy", {}).get("replicas", 1) >= 2
    # The workers import the deployments' module entrypoints: the image installs knowdesk itself.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    install = next(line for line in dockerfile.splitlines() if "-c constraints.txt" in line)
    assert " . " in f"{install} "


def test_the_commands_are_ones_the_real_clis_accept(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("deployer", "api"):
        command = services[name]["command"]
        helped = CliRunner().invoke(app, [command[1], "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
        assert helped.exit_code == 0, f"{name}: knowdesk has no command {command[1]!r}"
        for flag in (a for a in command[2:] if a.startswith("--")):
            assert flag in helped.output, f"{name}: `knowdesk {command[1]}` has no {flag}"
    worker = services["worker"]["command"]
    prefect_help = subprocess.run([str(Path(sys.executable).parent / "prefect"), *worker[1:3], "--help"],
                                  capture_output=True, text=True, timeout=60, check=True).stdout
    for flag in (a for a in worker[3:] if a.startswith("--")):
        assert flag in prefect_help, f"`prefect worker start` has no {flag}"


def test_every_other_variable_is_read_by_prefect_or_the_image(compose: dict[str, Any]) -> None:
    import prefect.settings

    seen = 0
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("KNOWDESK_"):
                continue
            seen += 1
            if variable.startswith("PREFECT_"):
                assert hasattr(prefect.settings, variable), f"{name}: {variable} is not a Prefect setting"
            else:
                assert variable in OTHER_VARIABLES.get(name, set()) | OTHER_VARIABLES["*"], f"{name}: {variable}"
    assert not hasattr(prefect.settings, "PREFECT_API_URLS")  # the check can fail
    assert seen >= 3 * 4


def test_every_knowdesk_variable_is_a_known_setting(compose: dict[str, Any]) -> None:
    seen = 0
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        for variable in env if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]:
            if variable.startswith("KNOWDESK_"):
                seen += 1
                assert known(variable), f"{name}: {variable} is not a setting of core/settings.py"
    assert seen >= 3 * 5


def test_the_settings_the_compose_file_sets_are_valid(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose["services"]["api"]["environment"]
    for variable, value in env.items():
        if variable.startswith("KNOWDESK_"):
            monkeypatch.setenv(variable, str(value))
    settings = Settings()
    assert settings.qdrant.url == "http://qdrant:6333" and settings.qdrant.shards == 2
