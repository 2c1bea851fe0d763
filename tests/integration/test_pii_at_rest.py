"""No personal data at rest: a scripted conversation full of PII (messages, a handoff, a CSAT
comment) through the HTTP API, then every column of every table of the database is searched
for the values typed (as typed and without separators). The count is reported in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import column, inspect, select, table

from app.runtime import Runtime
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore

pytestmark = pytest.mark.slow

TYPED = {
    "card": "4012.8888.8888.1881",
    "iban": "de89370400440532013000",
    "email": "jane.doe+refund@mail.example.co.uk",
    "phone": "+44 20 7946 0958",
    "ssn": "536-22-1234",
    "iban2": "GB82 WEST 1234 5698 7654 32",
}
SCRIPT = [
    f"Hi, my card {TYPED['card']} was charged twice for the capsules",
    f"please refund to iban {TYPED['iban']} or mail me at {TYPED['email']}",
    f"I want to talk to a human now, call me on {TYPED['phone']}, my SSN is {TYPED['ssn']}",
]
COMMENT = f"Terrible, nobody called {TYPED['phone']}; refund to {TYPED['iban2']} and write to {TYPED['email']}"


def occurrences(db_url_engine: object, values: dict[str, str]) -> dict[str, int]:
    """How many cells of the database hold each value (as typed, or its letters and digits)."""
    engine = db_url_engine
    found = dict.fromkeys(values, 0)
    compact = {k: re.sub(r"[\W_]", "", v).lower() for k, v in values.items()}
    insp = inspect(engine)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        for name in insp.get_table_names():
            cols = [c["name"] for c in insp.get_columns(name)]
            for row in conn.execute(select(*[column(c) for c in cols]).select_from(table(name))):
                for cell in row:
                    text = str(cell)
                    squeezed = re.sub(r"[\W_]", "", text).lower()
                    for key, value in values.items():
                        if value in text or compact[key] in squeezed:
                            found[key] += 1
    return found


def test_a_conversation_with_pii_leaves_none_in_storage(tmp_path: Path) -> None:
    rt = Runtime(Settings(home=tmp_path / "home"))
    with TestClient(create_app(rt)) as client:
        _, key = KeyStore(db=rt.db).create("alpha", scopes=["write"])
        auth = {"Authorization": f"Bearer {key}"}
        session = client.post("/v1/sessions", headers=auth, json={"contact": {"external_id": "cust-42"}}).json()
        sid = session["id"]
        decisions = [client.post(f"/v1/sessions/{sid}/messages", headers=auth, json={"text": t}) for t in SCRIPT]
        assert all(r.status_code == 200 for r in decisions), [r.text for r in decisions]
        assert decisions[-1].json()["action"] == "handoff"
        assert client.post(f"/v1/sessions/{sid}/resolve", headers=auth).status_code == 200
        r = client.post(f"/v1/sessions/{sid}/csat", headers=auth, json={"score": 1, "comment": COMMENT})
        assert r.status_code == 201, r.text
        found = occurrences(rt.db.engine, TYPED)
        comment = r.json()["comment"]
    print(f"\nPII occurrences in storage after the scripted conversation: {sum(found.values())} {found}")
    assert sum(found.values()) == 0, found
    assert "[PHONE]" in comment and "[IBAN]" in comment and "[EMAIL]" in comment
