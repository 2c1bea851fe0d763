"""Each SaaS connector's credentials model lives in its folder and reads the same
``KNOWDESK_<KIND>__*`` variables ``Settings`` read before (issue 18): users' configuration keeps
working, a misspelled variable is named, and loading the models imports no SDK."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.errors import ConfigError
from core.models import SourceKind
from core.settings import Settings, env_section
from ingest.connectors.credentials import Credentials
from ingest.connectors.registry import CONNECTORS, credentials_class
from ingest.connectors.zendesk.credentials import ZendeskCredentials

ROOT = Path(__file__).resolve().parents[2]

#: The variables users set before the models moved out of core/settings.py (README's table).
VARIABLES = {
    SourceKind.ZENDESK: {"EMAIL", "API_TOKEN"},
    SourceKind.CONFLUENCE: {"USERNAME", "API_TOKEN", "TOKEN"},
    SourceKind.NOTION: {"TOKEN"},
    SourceKind.GDRIVE: {"SERVICE_ACCOUNT_FILE", "SERVICE_ACCOUNT_JSON", "SUBJECT", "TOKEN", "REFRESH_TOKEN",
                        "CLIENT_ID", "CLIENT_SECRET"},
    SourceKind.DROPBOX: {"ACCESS_TOKEN", "REFRESH_TOKEN", "APP_KEY", "APP_SECRET"},
}


def _models() -> dict[SourceKind, type[Credentials]]:
    return {kind: model for kind in CONNECTORS if (model := credentials_class(kind)) is not None}


def test_the_saas_kinds_and_only_they_have_credentials_with_the_same_variables_as_before() -> None:
    models = _models()
    assert set(models) == set(VARIABLES)
    for kind, model in models.items():
        assert model.section == kind.value
        assert {model.variable(f) for f in model.model_fields} == {
            f"KNOWDESK_{kind.value.upper()}__{name}" for name in VARIABLES[kind]}


def test_every_variable_is_in_the_readme_configuration_table() -> None:
    table = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| `KNOWDESK_ZENDESK__EMAIL`")]
    assert len(table) == 1, "the README's configuration table has one row of SaaS credentials"
    named: set[str] = set()
    section = ""
    for token in re.findall(r"`(KNOWDESK_\w+?__\w+|__\w+)`", table[0]):
        if token.startswith("KNOWDESK_"):
            section, _, field = token.removeprefix("KNOWDESK_").partition("__")
        else:
            field = token.removeprefix("__")
        named.add(f"KNOWDESK_{section}__{field}")
    expected = {model.variable(f) for model in _models().values() for f in model.model_fields}
    assert expected <= named, f"missing from README: {sorted(expected - named)}"


def test_variables_are_read_case_insensitively_and_only_from_their_own_section() -> None:
    env = {"KNOWDESK_ZENDESK__EMAIL": "agent@acme.test", "knowdesk_zendesk__api_token": "t0ken",
           "KNOWDESK_ZENDESKX__EMAIL": "other", "KNOWDESK_NOTION__TOKEN": "n", "ZENDESK__EMAIL": "no prefix"}
    assert env_section("zendesk", env) == {"email": "agent@acme.test", "api_token": "t0ken"}
    creds = ZendeskCredentials.from_env(env)
    assert creds.email == "agent@acme.test"
    assert isinstance(creds.api_token, SecretStr) and creds.api_token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(creds) and "t0ken" not in str(creds.model_dump())


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWDESK_ZENDESK__EMAIL", "agent@acme.test")
    monkeypatch.delenv("KNOWDESK_ZENDESK__API_TOKEN", raising=False)
    creds = ZendeskCredentials.from_env()
    assert (creds.email, creds.api_token) == ("agent@acme.test", None)
    assert creds.secret("email") == "agent@acme.test" and creds.secret("api_token") is None


def test_a_misspelled_variable_is_named_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        ZendeskCredentials.from_env({"KNOWDESK_ZENDESK__APITOKEN": "t", "KNOWDESK_ZENDESK__EMAIL": "a@b.test"})
    message = info.value.message
    assert "unknown variable KNOWDESK_ZENDESK__APITOKEN" in message
    assert "KNOWDESK_ZENDESK__EMAIL, KNOWDESK_ZENDESK__API_TOKEN" in message and "'t'" not in message


def test_an_empty_value_is_kept_and_reads_as_no_secret() -> None:
    creds = ZendeskCredentials.from_env({"KNOWDESK_ZENDESK__API_TOKEN": ""})
    assert creds.api_token is not None and creds.secret("api_token") is None


def test_settings_no_longer_hold_connector_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Core knows no connector: the variables (even a misspelled one) do not stop settings loading."""
    monkeypatch.setenv("KNOWDESK_ZENDESK__API_TOKEN", "t")
    monkeypatch.setenv("KNOWDESK_DROPBOX__APPKEY", "k")
    settings = Settings()
    assert not {"zendesk", "confluence", "notion", "gdrive", "dropbox"} & set(type(settings).model_fields)


def test_loading_every_credentials_model_imports_no_sdk() -> None:
    code = ("import sys\nfrom ingest.connectors.registry import CONNECTORS, credentials_class\n"
            "models = [credentials_class(k) for k in CONNECTORS]\n"
            "sdks = ('atlassian', 'notion_client', 'googleapiclient', 'google_auth_httplib2', 'dropbox', 'requests')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in sdks))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         timeout=120)
    assert out.stdout.strip() == "[]", out.stdout
