"""The registry on SQLite and PostgreSQL: re-imports keep settings, secrets stay write-only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.openapi import parse_spec
from actions.store import ActionStore
from core.db import Database
from core.errors import InvalidInput, NotFound
from core.models import Channel

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "actions" / "orders.yaml"


def test_import_enable_reimport_and_remove(db: Database) -> None:
    store = ActionStore(db=db)
    parsed = parse_spec(SPEC.read_bytes(), workspace="w1", name="orders")
    stored, removed, conflicts = store.save_import("w1", "orders", parsed, base_url="https://api.example/v1")
    assert len(stored) == 13 and not removed and not conflicts
    store.update("w1", "getOrder", channels=(Channel.WEB,), segments=("vip",), confirm=True)
    smaller = parse_spec(SPEC.read_bytes(), workspace="w1", name="orders")
    smaller.actions = [a for a in smaller.actions if a.id != "getTicket"]
    _, removed, _ = store.save_import("w1", "orders", smaller)
    kept = store.get("w1", "getOrder")
    assert removed == ["getTicket"] and kept.channels == (Channel.WEB,) and kept.segments == ("vip",) and kept.confirm
    assert store.spec("w1", "orders").base_url == "https://api.example/v1"  # kept from the first import
    with pytest.raises(NotFound):
        store.get("w1", "getTicket")
    with pytest.raises(NotFound):
        store.get("w2", "getOrder")  # workspaces are apart
    # a re-import with channels enables new actions only: one the user disabled stays disabled
    store.update("w1", "getOrder", channels=())
    again = parse_spec(SPEC.read_bytes(), workspace="w1", name="orders")
    stored, _, _ = store.save_import("w1", "orders", again, channels=(Channel.WEB, Channel.API))
    assert store.get("w1", "getOrder").channels == ()
    assert store.get("w1", "getTicket").channels == (Channel.WEB, Channel.API)  # new again after its removal
    assert [a.id for a in store.delete_spec("w1", "orders")][:1] and store.actions("w1") == []


def test_secrets_are_checked_and_never_listed(db: Database) -> None:
    store = ActionStore(db=db)
    store.save_import("w1", "orders", parse_spec(SPEC.read_bytes(), workspace="w1", name="orders"))
    with pytest.raises(InvalidInput):
        store.set_secret("w1", "orders", "ShopKey", {"token": "x"})
    with pytest.raises(NotFound):
        store.set_secret("w1", "orders", "Nope", {"value": "x"})
    store.set_secret("w1", "orders", "ShopKey", {"value": "k-123"})
    assert store.secret_names("w1") == [{"spec": "orders", "scheme": "ShopKey"}]
    shown = json.dumps([a.public() for a in store.actions("w1")]) + json.dumps(store.spec("w1", "orders").model_dump())
    assert "k-123" not in shown
    assert store.set_allowlist("w1", ["127.0.0.1", "10.0.0.0/8", "api.internal"]) == store.allowlist("w1")
    with pytest.raises(InvalidInput):
        store.set_allowlist("w1", ["not a host!"])
