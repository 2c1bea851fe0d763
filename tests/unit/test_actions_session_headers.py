"""Per-session action headers: CR/LF and other malformed names or values are refused, hop-by-hop
and framing headers never reach the upstream request (stored before the rules or not)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from actions.headers import clean_headers
from actions.store import ActionStore
from actions.tables import ActionSessionRow
from core.db import Database
from core.errors import InvalidInput
from ingest.sources import SourceStore


@pytest.fixture
def store(db: Database) -> ActionStore:
    SourceStore(db=db).ensure_workspace("w1")
    return ActionStore(db=db)


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer abc\r\nX-Admin: 1"},
    {"Authorization": "Bearer abc\nX-Admin: 1"},
    {"X-Token": "a\x00b"},
    {"Bad Name": "x"},
    {"X-Inject\r\nX-Admin": "1"},
    {"": "x"},
    {"X-Big": "x" * 9000},
    {f"X-H{i}": "v" for i in range(40)},
])
def test_malformed_headers_are_refused(store: ActionStore, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        store.set_session_headers("w1", "s1", headers)
    assert store.session_headers("w1", "s1") == {}


def test_hop_by_hop_and_framing_headers_are_dropped(store: ActionStore) -> None:
    store.set_session_headers("w1", "s1", {"Authorization": "Bearer tok", "Content-Length": "5",
                                           "Transfer-Encoding": "chunked", "Connection": "close", "Host": "evil",
                                           "TE": "trailers", "Upgrade": "h2c", "X-Customer": "42"})
    assert store.session_headers("w1", "s1") == {"authorization": "Bearer tok", "x-customer": "42"}


def test_headers_stored_before_the_rules_are_filtered_when_read(store: ActionStore, db: Database) -> None:
    store.set_session_headers("w1", "s1", {"X-Customer": "42"})
    with db.session() as s:  # a row written by an older version, without validation
        s.execute(update(ActionSessionRow).values(headers={"X-Customer": "42", "Transfer-Encoding": "chunked",
                                                           "X-Evil": "a\r\nb"}))
    assert store.session_headers("w1", "s1") == {"x-customer": "42"}
    assert clean_headers({"Keep-Alive": "1"}) == {}
