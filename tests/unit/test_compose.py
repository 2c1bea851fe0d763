"""docker-compose.yml (no Docker engine here): its structure, and every KNOWDESK_* variable it sets
is a field of the settings model (a typo would be silently ignored by pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from core.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
KNOWDESK_SERVICES = ("worker", "api")


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


def test_the_services_and_their_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"qdrant", "postgres", "prefect-server", "worker", "api"}
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: undeclared volume {volume}"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]
    assert services["worker"]["command"][:2] == ["knowdesk", "schedule"]
    assert services["api"]["command"][:2] == ["knowdesk", "serve"]
    assert "server" in services["prefect-server"]["command"]
    for name in KNOWDESK_SERVICES:
        env = services[name]["environment"]
        assert env["PREFECT_API_URL"].startswith("http://prefect-server:4200/")
        assert "@postgres:" in env["KNOWDESK_DATABASE_URL"] and env["KNOWDESK_QDRANT__URL"] == "http://qdrant:6333"
        assert {"postgres", "qdrant", "prefect-server"} <= set(services[name]["depends_on"])
    # Prefect keeps its own database beside knowdesk's (both would use an alembic_version table).
    assert services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("/prefect")
    assert "CREATE DATABASE prefect" in compose["configs"]["prefect-database"]["content"]


def test_every_knowdesk_variable_is_a_known_setting(compose: dict[str, Any]) -> None:
    seen = 0
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        for variable in env if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]:
            if variable.startswith("KNOWDESK_"):
                seen += 1
                assert known(variable), f"{name}: {variable} is not a setting of core/settings.py"
    assert seen >= 2 * 5


def test_the_settings_the_compose_file_sets_are_valid(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose["services"]["api"]["environment"]
    for variable, value in env.items():
        if variable.startswith("KNOWDESK_"):
            monkeypatch.setenv(variable, str(value))
    settings = Settings()
    assert settings.qdrant.url == "http://qdrant:6333" and settings.qdrant.shards == 2
