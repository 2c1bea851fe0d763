"""A source's schedule over HTTP (``/v1/sources/{name}/schedule``) and on the source's page: read keys
read it, write keys set, replace and remove it; every wrong field is a 422 naming it that stores
nothing; the next run is the one Prefect computes, and the deployments carry the stored schedule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.runtime import Runtime
from core.models import Source, SourceKind
from core.settings import Settings
from service.api import create_app
from service.keys import KeyStore
from tests.integration.test_workspace_pages import sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    rt = Runtime(Settings(home=tmp_path / "home"))
    rt.sources.add(Source(workspace="default", name="docs", kind=SourceKind.FOLDER, options={"path": str(docs)}))
    with TestClient(create_app(rt), base_url="http://testserver") as client:
        yield rt, client
    rt.qdrant.close()


def _auth(rt: Runtime, scope: str) -> dict[str, str]:
    _, key = KeyStore(db=rt.db).create("default", scopes=[scope])
    return {"Authorization": f"Bearer {key}"}


def test_set_read_replace_and_remove_a_schedule(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    read, write = _auth(rt, "read"), _auth(rt, "write")
    r = client.get("/v1/sources/docs/schedule", headers=read)
    assert r.status_code == 200 and r.json()["schedule"] is None and r.json()["next_run_at"] is None

    before = datetime.now(ZoneInfo("UTC"))
    r = client.put("/v1/sources/docs/schedule", headers=write, json={"cron": "30 3 * * *", "timezone": "Europe/Paris"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schedule"] | {"anchor": None} == {"kind": "cron", "cron": "30 3 * * *", "interval_seconds": None,
                                                  "timezone": "Europe/Paris", "enabled": True, "anchor": None}
    due = datetime.fromisoformat(body["next_run_at"])
    local = due.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (3, 30) and before < due <= before + timedelta(days=1), body
    assert client.get("/v1/sources/docs/schedule", headers=read).json() == body, "a read key reads what was stored"

    r = client.put("/v1/sources/docs/schedule", headers=write, json={"interval": "6h"})
    assert r.status_code == 200
    body = r.json()
    assert body["schedule"]["kind"] == "interval" and body["schedule"]["cron"] is None
    assert body["schedule"]["interval_seconds"] == 21600 and body["schedule"]["timezone"] == "UTC"
    anchor, due = datetime.fromisoformat(body["schedule"]["anchor"]), datetime.fromisoformat(body["next_run_at"])
    assert due == anchor + timedelta(hours=6), "an interval counts from when it was set"

    r = client.put("/v1/sources/docs/schedule", headers=write, json={"interval": 900, "enabled": False})
    assert r.status_code == 200 and r.json()["schedule"]["enabled"] is False and r.json()["next_run_at"] is None
    client.patch("/v1/sources/docs", headers=write, json={"enabled": False})
    client.put("/v1/sources/docs/schedule", headers=write, json={"interval": 900})
    r = client.get("/v1/sources/docs/schedule", headers=read)
    assert r.json()["source_enabled"] is False and r.json()["next_run_at"] is None, "a disabled source never runs"

    assert client.delete("/v1/sources/docs/schedule", headers=write).status_code == 204
    assert rt.sources.schedule("default", "docs") is None
    assert client.delete("/v1/sources/docs/schedule", headers=write).status_code == 204, "removing none is fine"


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"cron": "61 * * * *"}, "cron", "five fields"),
    ({"cron": "H 3 * * *"}, "cron", "invalid"),
    ({"cron": "0 3 * *"}, "cron", "invalid"),
    ({"cron": "0 0 30 2 *"}, "cron", "never fires"),
    ({"interval": "0"}, "interval", "positive"),
    ({"interval": "5 weeks"}, "interval", "15m"),
    ({"interval": -60}, "interval", "positive"),
    ({"interval": "400d"}, "interval", "longer than a year"),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"cron": "0 3 * * *", "interval": "1h"}, "cron", "exactly one"),
    ({}, "cron", "exactly one"),
])
def test_a_wrong_field_is_a_422_naming_it_and_stores_nothing(site: tuple[Runtime, TestClient], body: dict[str, object],
                                                               field: str, says: str) -> None:
    rt, client = site
    write = _auth(rt, "write")
    assert client.put("/v1/sources/docs/schedule", headers=write, json={"cron": "0 4 * * *"}).status_code == 200
    kept = rt.sources.schedule("default", "docs")
    r = client.put("/v1/sources/docs/schedule", headers=write, json=body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert answer["error"] == "invalid_input" and says in answer["message"]
    assert answer["problems"][0]["field"] == field
    assert rt.sources.schedule("default", "docs") == kept, "a refused schedule leaves the stored one as it was"


def test_scopes_unknown_sources_and_unknown_fields(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    read, write = _auth(rt, "read"), _auth(rt, "write")
    r = client.put("/v1/sources/docs/schedule", headers=read, json={"cron": "0 3 * * *"})
    assert r.status_code == 403 and rt.sources.schedule("default", "docs") is None
    assert client.delete("/v1/sources/docs/schedule", headers=read).status_code == 403
    assert client.get("/v1/sources/docs/schedule").status_code == 401
    for method in ("get", "delete"):
        r = client.request(method, "/v1/sources/nope/schedule", headers=write)
        assert r.status_code == 404 and "nope" in r.json()["message"]
    r = client.put("/v1/sources/nope/schedule", headers=write, json={"cron": "0 3 * * *"})
    assert r.status_code == 404
    r = client.put("/v1/sources/docs/schedule", headers=write, json={"cron": "0 3 * * *", "every": "1h"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "every"
    assert rt.sources.schedule("default", "docs") is None


def test_the_deployments_carry_the_stored_schedule(site: tuple[Runtime, TestClient]) -> None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    from flows.deployments import desired

    rt, client = site
    write = _auth(rt, "write")
    client.put("/v1/sources/docs/schedule", headers=write, json={"cron": "0 3 * * 1-5", "timezone": "Asia/Tokyo"})
    schedule = desired(rt)[("sync-source", "default.docs")]["schedule"]
    assert isinstance(schedule, CronSchedule) and (schedule.cron, schedule.timezone) == ("0 3 * * 1-5", "Asia/Tokyo")
    stored = client.put("/v1/sources/docs/schedule", headers=write, json={"interval": "15m"}).json()["schedule"]
    schedule = desired(rt)[("sync-source", "default.docs")]["schedule"]
    assert isinstance(schedule, IntervalSchedule) and schedule.interval == timedelta(minutes=15)
    assert schedule.anchor_date.timestamp() == datetime.fromisoformat(stored["anchor"]).timestamp()
    client.put("/v1/sources/docs/schedule", headers=write, json={"interval": "15m", "enabled": False})
    assert "schedule" not in desired(rt)[("sync-source", "default.docs")], "a paused schedule is not served"


def test_the_source_page_sets_and_removes_the_schedule_through_the_api(site: tuple[Runtime, TestClient]) -> None:
    rt, client = site
    csrf = sign_in(client, rt, "write", "/admin/sources/docs/edit")
    page = client.get("/admin/sources/docs/edit").text
    assert 'id="schedule-form"' in page and "Not scheduled" in page
    typed = {"csrf": csrf, "sched-cron": "0 25 * * *", "sched-interval": "", "sched-timezone": "Europe/Paris",
             "sched-enabled": "on"}
    r = client.post("/admin/sources/docs/schedule", data=typed)
    assert r.status_code == 422
    assert re.search(r'id="sched-cron-error">[^<]*invalid', r.text), "the message sits by the cron field"
    assert 'value="0 25 * * *"' in r.text and 'value="Europe/Paris"' in r.text, "what was typed is kept"
    assert rt.sources.schedule("default", "docs") is None, "nothing stored"
    r = client.post("/admin/sources/docs/schedule", data=typed | {"sched-cron": "0 2 * * *", "sched-timezone": "Paris"})
    assert r.status_code == 422 and re.search(r'id="sched-timezone-error">[^<]*IANA', r.text)
    assert 'value="Paris"' in r.text and 'value="0 2 * * *"' in r.text
    r = client.post("/admin/sources/docs/schedule", data=typed | {"sched-interval": "1h"})
    assert r.status_code == 422 and re.search(r'id="sched-cron-error">[^<]*exactly one', r.text)

    r = client.post("/admin/sources/docs/schedule", data=typed | {"sched-cron": "0 2 * * *"}, follow_redirects=False)
    assert r.status_code == 303
    stored = rt.sources.schedule("default", "docs")
    assert stored is not None and (stored.cron, stored.timezone, stored.enabled) == ("0 2 * * *", "Europe/Paris", True)
    page = client.get("/admin/sources/docs/edit").text
    assert 'id="schedule-next"' in page and 'value="0 2 * * *"' in page, "the page shows it and its next run"
    listing = client.get("/admin/sources").text
    assert "cron “0 2 * * *” (Europe/Paris); next" in listing

    r = client.post("/admin/sources/docs/schedule", data=typed | {"sched-cron": "", "sched-interval": "30m",
                                                                   "sched-enabled": ""}, follow_redirects=False)
    assert r.status_code == 303 and rt.sources.schedule("default", "docs").enabled is False  # type: ignore[union-attr]
    assert "every 30 min (Europe/Paris); paused" in client.get("/admin/sources").text
    r = client.post("/admin/sources/docs/schedule/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and rt.sources.schedule("default", "docs") is None
    r = client.post("/admin/sources/docs/schedule", data=typed | {"csrf": "forged", "sched-cron": "0 2 * * *"})
    assert r.status_code == 403 and rt.sources.schedule("default", "docs") is None, "CSRF is checked"

    sign_in(client, rt, "read", "/admin/sources/docs/edit")
    page = client.get("/admin/sources/docs/edit").text
    assert 'id="schedule-summary"' in page and 'id="schedule-form"' not in page, "a read key sees, without the form"
    r = client.post("/admin/sources/docs/schedule", data=typed | {"csrf": client.cookies["knowdesk_admin_csrf"],
                                                                   "sched-cron": "0 2 * * *"})
    assert r.status_code == 403 and rt.sources.schedule("default", "docs") is None
