"""Action secrets at rest: Fernet-encrypted in the column, a clear error under a wrong key, rotation
with a key list, plaintext rows from before encryption re-encrypted, the generated key file."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from actions.caller import ActionCaller, Outcome
from actions.openapi import parse_spec
from actions.secrets import KEY_FILE, SecretBox, SecretUnreadable, build_secret_box
from actions.store import ActionStore
from actions.tables import ActionSecretRow
from core.db import Database
from core.errors import ConfigError
from core.settings import SecretsSettings, Settings

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "actions" / "orders.yaml"
VALUE = "shop-key-Zq81-plain-value"
K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def store_with(db: Database, *keys: str) -> ActionStore:
    store = ActionStore(db=db, secrets=SecretBox.from_keys(list(keys), origin="KNOWDESK_SECRETS__KEY"))
    store.save_import("w1", "orders", parse_spec(SPEC.read_bytes(), workspace="w1", name="orders"),
                      base_url="http://127.0.0.1:9/v1")
    store.set_allowlist("w1", ["127.0.0.1"])
    return store


def raw_rows(db: Database) -> str:
    with db.engine.connect() as conn:
        return json.dumps([str(r[0]) for r in conn.execute(text("SELECT data FROM action_secrets"))])


def test_the_column_holds_a_token_not_the_secret(db: Database) -> None:
    store = store_with(db, K1)
    store.set_secret("w1", "orders", "ShopKey", {"value": VALUE})
    raw = raw_rows(db)
    assert VALUE not in raw and "fernet" in raw and "token" in raw
    assert store.secret("w1", "orders", "ShopKey") == {"value": VALUE}
    assert store.secret("w1", "orders", "CustomerToken") is None


def test_a_wrong_key_is_a_clear_error_and_never_shows_the_value(db: Database,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    store_with(db, K1).set_secret("w1", "orders", "ShopKey", {"value": VALUE})
    other = store_with(db, K2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SecretUnreadable) as raised:
        other.secret("w1", "orders", "ShopKey")
    message = raised.value.message
    assert "orders/ShopKey" in message and "KNOWDESK_SECRETS__KEY" in message
    assert "original key" in message and "knowdesk actions secret orders ShopKey" in message
    assert raised.value.to_dict()["error"] == "secret_unreadable"
    # the agent's call is not made and fails honestly (handoff), the value is nowhere
    caller = ActionCaller(store=other, timeout=1.0)
    try:
        result = caller.call(other.get("w1", "getOrder"), {"order_id": "ORD-1042"})
    finally:
        caller.close()
    assert result.outcome is Outcome.MISCONFIGURED and result.status is None
    assert "orders/ShopKey" in caplog.text  # the log names the secret and what to do ...
    assert VALUE not in caplog.text and VALUE not in result.message  # ... never its value
    assert K1 not in caplog.text and K2 not in caplog.text and K1 not in message


def test_rotation_with_a_key_list(db: Database) -> None:
    store_with(db, K1).set_secret("w1", "orders", "ShopKey", {"value": VALUE})
    before = raw_rows(db)
    rotating = store_with(db, K2, K1)  # the new key first, the old one still decrypts
    assert rotating.reencrypt_secrets() == {"encrypted": 0, "rotated": 1, "current": 0, "unreadable": 0}
    assert raw_rows(db) != before  # re-encrypted under K2
    assert rotating.secret("w1", "orders", "ShopKey") == {"value": VALUE}
    assert store_with(db, K2).secret("w1", "orders", "ShopKey") == {"value": VALUE}  # the old key can go
    with pytest.raises(SecretUnreadable):
        store_with(db, K1).secret("w1", "orders", "ShopKey")
    # a new secret written during rotation is under the first key
    rotating.set_secret("w1", "orders", "CustomerToken", {"token": "t-1"})
    assert store_with(db, K2).secret("w1", "orders", "CustomerToken") == {"token": "t-1"}


def test_a_row_under_an_old_key_is_re_encrypted_on_read(db: Database) -> None:
    old = store_with(db, K1)
    old.set_secret("w1", "orders", "ShopKey", {"value": VALUE})
    rotating = store_with(db, K2, K1)
    rotating._swept = True  # no sweep: the read itself re-encrypts
    assert rotating.secret("w1", "orders", "ShopKey") == {"value": VALUE}
    assert store_with(db, K2).secret("w1", "orders", "ShopKey") == {"value": VALUE}


def test_plaintext_rows_from_before_are_encrypted(db: Database) -> None:
    store_with(db, K1)  # the spec (and its workspace)
    with db.session() as s:
        s.add(ActionSecretRow(workspace="w1", spec="orders", scheme="ShopKey", data={"value": VALUE}))
    assert VALUE in raw_rows(db)
    store = store_with(db, K1)
    assert store.secret_names("w1") == [{"spec": "orders", "scheme": "ShopKey"}]
    assert VALUE not in raw_rows(db)  # the first use of the store encrypted it
    assert store.secret("w1", "orders", "ShopKey") == {"value": VALUE}
    assert store.reencrypt_secrets() == {"encrypted": 0, "rotated": 0, "current": 1, "unreadable": 0}


def test_an_unreadable_row_is_left_and_counted(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    store_with(db, K1).set_secret("w1", "orders", "ShopKey", {"value": VALUE})
    before = raw_rows(db)
    caplog.set_level(logging.ERROR)
    assert store_with(db, K2).reencrypt_secrets()["unreadable"] == 1
    assert raw_rows(db) == before and "orders/ShopKey" in caplog.text and VALUE not in caplog.text


def test_the_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    box = build_secret_box(None, home)
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = box.encrypt({"value": VALUE})
    again = build_secret_box(None, home)
    assert again.decrypt(token, what="x")[0] == {"value": VALUE}
    assert not [p for p in home.iterdir() if p.name != KEY_FILE]  # no temporary file left
    assert str(path) in again.origin


def test_the_key_setting_wins_over_the_key_file(tmp_path: Path) -> None:
    box = build_secret_box(SecretStr(f"{K2}, {K1}"), tmp_path)
    assert not (tmp_path / KEY_FILE).exists()
    assert SecretBox.from_keys([K2]).decrypt(box.encrypt({"a": "b"}), what="x")[0] == {"a": "b"}
    assert box.decrypt(SecretBox.from_keys([K1]).encrypt({"a": "b"}), what="x") == ({"a": "b"}, True)


def test_bad_keys_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"key 2 of 2 is not a Fernet key.*generate one"):
        SecretsSettings(key=SecretStr(f"{K1},not-a-key"))
    monkeypatch.setenv("KNOWDESK_SECRETS__KEY", f"{K1},{K2}")
    assert Settings().secrets.key is not None
    (tmp_path / KEY_FILE).write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        build_secret_box(None, tmp_path)
    (tmp_path / KEY_FILE).write_text("garbage\n")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        build_secret_box(None, tmp_path)
