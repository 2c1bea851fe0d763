"""``knowdesk access``: the mapping, the secret and a token from the command line, and clear
errors for malformed input (no model is loaded: these commands only touch the state database)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.runtime import get_runtime, reset_runtime
from service.cli import app


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
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def test_map_contact_secret_and_token(home: Path, tmp_path: Path) -> None:
    assert cli("access", "map", "resellers", "group:partners@example.com", "segment:Partners").exit_code == 0
    assert cli("access", "contact", "domain:Staff.example.com", "staff").exit_code == 0
    shown = json.loads(cli("access", "show", "--json").output)
    assert shown == {"groups": {"resellers": ["group:partners@example.com", "segment:Partners"]},
                     "contacts": {"domain:staff.example.com": ["staff"]}, "secret_set": False}
    no_secret = cli("access", "token", "--sub", "c-1")
    assert no_secret.exit_code == 1 and "no identity secret" in said(no_secret)
    secret = json.loads(cli("access", "secret", "--json").output)["secret"]
    token = cli("access", "token", "--email", "ops@staff.example.com", "--group", "resellers").output.strip()
    identity = get_runtime().access.verify("default", token)
    assert identity.email == "ops@staff.example.com" and identity.groups == ("resellers",)
    assert get_runtime().access.get("default").groups_of(identity) == ("resellers", "staff")
    assert len(secret) >= 32 and json.loads(cli("access", "show", "--json").output)["secret_set"] is True
    assert cli("access", "unmap", "resellers").exit_code == 0
    assert json.loads(cli("access", "show", "--json").output)["groups"] == {}


@pytest.mark.parametrize(("args", "message"), [
    (("map", "resellers", "confluence:no-shared-audience"), "nobody may see"),
    (("map", " padded", "segment:x"), "group name"),
    (("contact", "ann@example.com", "staff"), "use email:ADDRESS, domain:EXAMPLE.COM or sub:SUBJECT"),
    (("unmap", "ghosts"), "is not mapped"),
    (("secret", "--set", "short"), "at least 32 characters"),
    (("token",), "name the contact"),
])
def test_malformed_input_says_what_is_wrong(home: Path, args: tuple[str, ...], message: str) -> None:
    if args[0] == "token":
        cli("access", "secret")
    result = cli("access", *args)
    assert result.exit_code == 1 and message in said(result), result.output


def test_a_mapping_file_replaces_the_configuration(home: Path, tmp_path: Path) -> None:
    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    good.write_text(json.dumps({"groups": {"staff": ["domain:staff.example.com"]}}))
    bad.write_text(json.dumps({"groups": {"staff": "domain:staff.example.com"}, "roles": {}}))
    broken.write_text("{groups")
    assert cli("access", "import", str(good)).exit_code == 0
    assert get_runtime().access.get("default").groups == {"staff": ("domain:staff.example.com",)}
    for path, message in ((bad, "invalid access configuration: groups.staff"), (broken, "cannot read")):
        result = cli("access", "import", str(path))
        assert result.exit_code == 1 and message in said(result), result.output
