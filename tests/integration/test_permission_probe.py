"""Permission-aware answers (issue 19), probed end to end: restricted files synced from Google Drive
(the real SDK against the loopback Drive fake, sharing read from the files' permissions), contacts
with and without verified groups asking probing questions through the HTTP API, every hit, citation,
trace entry and reply checked for restricted documents; then the sharing changes at the source
and one sync later the change holds. The counts are reported in the README (Security)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.access import sign_token
from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore
from tests.fixtures.gdrive_api import FOLDER, DriveFake
from tests.fixtures.loopback import LoopbackServer, serve

pytestmark = pytest.mark.slow

WS = "default"
ROOT = "0ASupportRootFolder"
ANYONE = [{"type": "anyone", "role": "reader"}]
PARTNERS = [{"type": "group", "role": "reader", "emailAddress": "partners@example.com"}]
STAFF = [{"type": "domain", "role": "reader", "domain": "staff.example.com"}]
FILES = {
    "shipping": ("Shipping times", "Parcels leave our warehouse within two working days. Tracking links arrive by "
                 "email once the courier scans the parcel.", ANYONE),
    "partner": ("Partner price list", "Resellers get a 35% partner discount on every machine with the partner code "
                "PX-7781. The partner discount applies to orders of five machines or more.", PARTNERS),
    "staff": ("Escalation runbook", "For an escalation, call the duty phone at extension 4411 and give the override "
              "code OVR-5523. The runbook lists who is on call for escalations.", STAFF),
}
#: Text only the restricted files hold: never in a reply to someone who may not see them.
SECRETS = {"partner": ("PX-7781", "35%"), "staff": ("4411", "OVR-5523")}
PROBES = [
    "What discount do partners and resellers get?",
    "What is the partner code for the reseller discount?",
    "Show me the partner price list",
    "Who do I call for an escalation and what is the override code?",
    "What is the duty phone extension in the escalation runbook?",
    "Tell me everything about discounts, codes, escalations and phone numbers",
]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from serve()


class Probe:
    """The API as one caller: opens sessions for a contact and asks each probe in a fresh one."""

    def __init__(self, client: TestClient, key: str, ids: dict[str, str]) -> None:
        self.client, self.auth, self.ids = client, {"Authorization": f"Bearer {key}"}, ids

    def session(self, body: dict[str, Any]) -> str:
        r = self.client.post("/v1/sessions", headers=self.auth, json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def seen(self, body: dict[str, Any]) -> dict[str, int]:
        """How often each file showed up for this contact across the probes: in retrieval hits,
        citations, the decision trace, or (by its restricted text) in a reply."""
        counts = dict.fromkeys(FILES, 0)
        by_doc = {f"drive:{native}": key for key, native in self.ids.items()}
        for probe in PROBES:
            sid = self.session(body)
            r = self.client.post("/v1/retrieve", headers=self.auth, json={"query": probe, "top_k": 10,
                                                                          "session_id": sid})
            assert r.status_code == 200, r.text
            found = [by_doc[h["document_id"]] for h in r.json()["hits"]]
            d = self.client.post(f"/v1/sessions/{sid}/messages", headers=self.auth, json={"text": probe})
            assert d.status_code == 200, d.text
            decision = d.json()
            found += [by_doc[c["document_id"]] for c in decision["citations"] if c["document_id"] in by_doc]
            found += [by_doc[x["document_id"]] for x in decision["trace"]["retrieved"]]
            found += [key for key, texts in SECRETS.items() if any(t in decision["reply"] for t in texts)]
            for key in found:
                counts[key] += 1
        return counts


def token(secret: str, **claims: Any) -> str:
    return sign_token(secret, {"aud": WS, "exp": int(time.time()) + 600} | claims)


def test_restricted_documents_reach_only_contacts_whose_groups_open_them(
        tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = DriveFake(server)
    fake.add("Support", FOLDER, "root", file_id=ROOT)
    ids = {key: fake.add(f"{key}.md", "text/markdown", ROOT, f"# {title}\n\n{body}\n".encode(),
                         permissions=perms).id for key, (title, body, perms) in FILES.items()}
    monkeypatch.setenv("KNOWDESK_GDRIVE__TOKEN", fake.token)  # the Drive connector's credentials
    rt = Runtime(Settings(home=tmp_path / "home"))
    source = rt.sources.add(Source(workspace=WS, name="drive", kind=SourceKind.GDRIVE,
                                   options={"base_url": server.url, "folders": ROOT}))
    assert rt.sync(source).written == 3
    with TestClient(create_app(rt)) as client:
        keys = KeyStore(db=rt.db)
        writer = Probe(client, keys.create(WS, scopes=["write"])[1], ids)
        admin = {"Authorization": f"Bearer {keys.create(WS, scopes=['admin'])[1]}"}
        mapping = {"groups": {"resellers": ["group:partners@example.com"], "staff": ["domain:staff.example.com"]},
                   "contacts": {"domain:staff.example.com": ["staff"]}}
        assert client.put("/v1/access", headers=writer.auth, json=mapping).status_code == 403
        r = client.put("/v1/access", headers=admin, json={"groups": {"resellers": "group:partners@example.com"}})
        assert r.status_code == 422 and "groups.resellers" in r.text
        r = client.post("/v1/sessions", headers=writer.auth, json={"identity_token": token("k" * 40, sub="c-1")})
        assert r.status_code == 401 and r.json()["reason"] == "no_secret", r.text
        assert client.put("/v1/access", headers=admin, json=mapping).status_code == 200
        secret = client.post("/v1/access/secret", headers=admin).json()["secret"]
        assert client.get("/v1/access", headers=writer.auth).json()["secret_set"] is True

        # what a search that ignores audiences would return for these probes: the probes do reach
        # the restricted files, so the zeros below are the filter's doing
        unfiltered = dict.fromkeys(FILES, 0)
        for probe in PROBES:
            assert client.post("/v1/retrieve", headers=writer.auth,
                               json={"query": probe, "all_audiences": True}).status_code == 403
            hits = client.post("/v1/retrieve", headers=admin, json={"query": probe, "top_k": 10,
                                                                    "all_audiences": True}).json()["hits"]
            for h in hits:
                unfiltered[next(k for k, v in ids.items() if f"drive:{v}" == h["document_id"])] += 1
        assert unfiltered["partner"] > 0 and unfiltered["staff"] > 0

        anonymous = writer.seen({"contact": {"email": "eve@example.com", "segments": ["resellers", "staff"]}})
        reseller = writer.seen({"identity_token": token(secret, sub="r-7", groups=["resellers"])})
        staff = writer.seen({"identity_token": token(secret, email="ops@staff.example.com")})
        # groups the mapping does not name open nothing, even one spelled like a label
        unmapped = writer.seen({"identity_token": token(secret, sub="u-1",
                                                        groups=["vip", "group:partners@example.com"])})
        print(f"\nprobes {len(PROBES)}; files seen (hits + citations + trace + reply text) without a filter "
              f"{unfiltered}; anonymous {anonymous}; reseller {reseller}; staff {staff}; unmapped groups {unmapped}")
        assert anonymous["partner"] == anonymous["staff"] == 0
        assert unmapped["partner"] == unmapped["staff"] == 0
        assert reseller["staff"] == 0 and reseller["partner"] > 0
        assert staff["partner"] == 0 and staff["staff"] > 0

        for bad, why in ((token(secret, sub="r-7", exp=int(time.time()) - 5), "expired"),
                         (token(secret, sub="r-7", aud="globex"), "workspace"),
                         (token("z" * 40, sub="r-7", groups=["resellers"]), "signature")):
            for path, body in (("/v1/sessions", {"identity_token": bad}),
                               ("/v1/retrieve", {"query": PROBES[0], "identity_token": bad})):
                r = client.post(path, headers=writer.auth, json=body)
                assert r.status_code == 401 and r.json()["error"] == "identity_rejected", r.text
                assert r.json()["reason"] == why

        # the sharing changes at the source: the price list moves to another group, the runbook is
        # shared with anyone; the next (incremental) sync applies both
        fake.share(ids["partner"], [{"type": "group", "role": "reader", "emailAddress": "gold@example.com"}])
        fake.share(ids["staff"], ANYONE)
        report = rt.sync(source)
        assert report.mode == "incremental" and report.written == 2, report
        reseller_after = writer.seen({"identity_token": token(secret, sub="r-7", groups=["resellers"])})
        anonymous_after = writer.seen({"contact": {"email": "eve@example.com"}})
        print(f"after the sharing change and one sync: reseller {reseller_after}; anonymous {anonymous_after}")
        assert reseller_after["partner"] == 0 and anonymous_after["partner"] == 0
        assert anonymous_after["staff"] > 0
