"""Everyday commands: change a source's options, enable/disable it, and manage the actions allowlist."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.runtime import get_runtime, reset_runtime
from service.cli import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOWDESK_HOME", str(tmp_path / "home"))
    reset_runtime()
    yield tmp_path / "home"
    reset_runtime()


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_sources_update_changes_only_the_given_options_and_enable_disable(home: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert cli("sources", "add", "docs", "--kind", "folder", "--option", f"path={first}",
               "--option", "include=*.md").exit_code == 0
    updated = cli("sources", "update", "docs", "--option", f"path={second}", "--json")
    assert updated.exit_code == 0, updated.output
    options = json.loads(updated.stdout)["options"]
    assert options["path"] == str(second) and options["include"] == ["*.md"]
    dropped = json.loads(cli("sources", "update", "docs", "--unset", "include", "--json").stdout)["options"]
    assert "include" not in dropped
    assert cli("sources", "update", "docs", "--option", "colour=red").exit_code == 2
    assert cli("sources", "update", "docs", "--unset", "colour").exit_code == 2
    assert cli("sources", "update", "docs").exit_code == 2
    assert cli("sources", "disable", "docs").exit_code == 0
    assert get_runtime().sources.get("default", "docs").enabled is False
    assert cli("sources", "enable", "docs").exit_code == 0
    assert get_runtime().sources.get("default", "docs").enabled is True


def test_actions_allow_adds_removes_and_shows_without_replacing(home: Path) -> None:
    store = get_runtime().actions.store
    store.set_allowlist("default", ["127.0.0.1"])  # what the quickstart leaves
    assert cli("actions", "allow", "10.0.0.0/8", "api.internal").exit_code == 0
    assert store.allowlist("default") == ["127.0.0.1", "10.0.0.0/8", "api.internal"]
    shown = cli("actions", "allow", "--json")
    assert json.loads(shown.stdout)["allowlist"] == ["127.0.0.1", "10.0.0.0/8", "api.internal"]
    assert cli("actions", "allow", "--remove", "api.internal").exit_code == 0
    assert store.allowlist("default") == ["127.0.0.1", "10.0.0.0/8"]
    assert cli("actions", "allow", "--remove", "nope.internal").exit_code == 1
    assert cli("actions", "allow", "--clear").exit_code == 0 and store.allowlist("default") == []


def test_actions_specs_lists_the_imported_specs(home: Path) -> None:
    from service.samples.brewly_api import SPEC_NAME, spec_text

    get_runtime().actions.import_spec("default", SPEC_NAME, spec_text(), base_url="http://127.0.0.1:9/v1")
    listed = json.loads(cli("actions", "specs", "--json").stdout)["specs"]
    assert [s["name"] for s in listed] == [SPEC_NAME] and listed[0]["actions"] >= 5
    assert listed[0]["base_url"] == "http://127.0.0.1:9/v1"


def test_list_tables_never_cut_ids_at_80_columns(home: Path) -> None:
    from rich.table import Table

    from service.output import keep_whole

    table = Table("id", "spec", "call", "channels", "segments", "confirm")
    ids = [f"get_order_shipment_tracking_details_{n}_for_customer_account" for n in range(3)]
    for i in ids:
        table.add_row(i, "orders-api-production-v2", "GET /v1/orders/{order_id}/shipments/{shipment_id}/tracking",
                      "web,api,email", "vip,wholesale", "no")
    from io import StringIO

    from rich.console import Console

    plain, whole = StringIO(), StringIO()
    Console(file=plain, width=80).print(table)
    assert not all(i in plain.getvalue() for i in ids)  # what Rich does on its own: ids cut
    Console(file=whole, width=80).print(keep_whole(table, 0))
    assert all(i in whole.getvalue() for i in ids), whole.getvalue()
