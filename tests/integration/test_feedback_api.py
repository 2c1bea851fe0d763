"""Feedback on answers end to end: the real agent on the sample help center answers, the customer
rates the reply over HTTP, insights and the admin page show it, and the thumbs-down conversation
exports (HTTP, admin page, CLI) as a dataset ``knowdesk eval`` reads and runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.runtime import Runtime, get_runtime, reset_runtime
from csat.tables import FeedbackRow
from evaluation.datasets import load_dataset, parse_dataset
from helpcenter.markdown_io import from_export
from service.api import create_app
from service.cli import app as cli
from service.keys import KeyStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, TestClient, dict[str, str]]]:
    home = tmp_path_factory.mktemp("feedback") / "home"
    patch = pytest.MonkeyPatch()
    patch.setenv("KNOWDESK_HOME", str(home))
    reset_runtime()
    rt = get_runtime()
    bundle = from_export(json.loads((ROOT / "service" / "samples" / "helpcenter.json").read_text(encoding="utf-8")))
    rt.helpcenter.import_bundle("default", bundle)
    _, key = KeyStore(db=rt.db).create("default", scopes=["write"])
    try:
        with TestClient(create_app(rt)) as client:
            yield rt, client, {"Authorization": f"Bearer {key}"}
    finally:
        reset_runtime()
        patch.undo()


def _votes(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(FeedbackRow)) or 0)


def test_a_customer_rates_a_reply_and_the_content_team_exports_it(
        world: tuple[Runtime, TestClient, dict[str, str]], tmp_path: Path) -> None:
    rt, client, auth = world
    sid = client.post("/v1/sessions", json={"channel": "web"}, headers=auth).json()["id"]
    decision = client.post(f"/v1/sessions/{sid}/messages", json={"text": "How do I skip next month's box?"},
                           headers=auth).json()
    assert decision["action"] == "answer" and decision["citations"], decision
    reply = decision["message_id"]
    transcript = client.get(f"/v1/sessions/{sid}", headers=auth).json()["transcript"]
    asked = next(m["id"] for m in transcript if m["role"] == "customer")
    assert next(m for m in transcript if m["id"] == reply)["role"] == "agent"
    url = f"/v1/sessions/{sid}/messages/{reply}/feedback"

    # bad input: clear errors, nothing stored
    bad = [(f"/v1/sessions/{sid}/messages/{asked}/feedback", {"rating": "down"}, 422, "not an agent reply"),
           (f"/v1/sessions/nope/messages/{reply}/feedback", {"rating": "down"}, 404, "no session"),
           (f"/v1/sessions/{sid}/messages/{reply + 1000}/feedback", {"rating": "down"}, 404, "has no message"),
           (url, {"rating": "down", "reason": "x" * 1001}, 422, "reason"),
           (url, {"rating": "sideways"}, 422, "rating"),
           (url, {"rating": "down", "stars": 1}, 422, "stars")]
    for path, body, status, message in bad:
        r = client.post(path, json=body, headers=auth)
        assert (r.status_code, message in r.json()["message"]) == (status, True), (path, body, r.json())
    assert client.post(url, json={"rating": "down"}).status_code == 401
    assert _votes(rt) == 0

    r = client.post(url, json={"rating": "up"}, headers=auth)
    assert r.status_code == 201 and r.json()["replaced"] is False
    r = client.post(url, json={"rating": "down", "reason": "I wanted to skip two months, mail me: ann@example.com"},
                    headers=auth)
    assert r.status_code == 200 and r.json()["replaced"] is True and _votes(rt) == 1
    vote = client.get(url, headers=auth).json()
    assert vote["rating"] == "down" and "ann@example.com" not in vote["reason"]
    assert vote["decision"]["citations"] == decision["citations"]
    assert vote["decision"]["confidence"] == decision["confidence"] and vote["decision"]["action"] == "answer"
    assert vote["question"] == "How do I skip next month's box?"

    report = client.get("/v1/analytics/feedback?since=7d", headers=auth).json()
    cited = decision["citations"][0]
    assert (report["up"], report["down"]) == (0, 1)
    assert report["documents"][0]["key"] == cited["document_id"] and report["documents"][0]["down"] == 1
    assert report["worst_topics"][0]["down"] == 1

    export = client.get("/v1/feedback/export?since=7d", headers=auth).json()
    dataset = parse_dataset(export["jsonl"])
    assert export["cases"] == 1 and dataset.cases[0].messages[0].text == "How do I skip next month's box?"
    assert dataset.cases[0].expect.outcome.value == "no_answer"

    page = client.get("/admin/insights?since=7d", headers=auth)
    assert page.status_code == 200 and 'id="feedback-down">1<' in page.text and cited["title"] in page.text
    download = client.get("/admin/feedback.jsonl?since=7d", headers=auth)
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert parse_dataset(download.text).cases[0].id == dataset.cases[0].id

    target = tmp_path / "thumbs-down.jsonl"
    result = CliRunner().invoke(cli, ["feedback", "export", "--to", str(target), "--since", "7d"])
    assert result.exit_code == 0, result.output
    assert load_dataset(target).cases[0].id == dataset.cases[0].id
    again = CliRunner().invoke(cli, ["feedback", "export", "--to", str(target)])
    assert again.exit_code != 0 and "--force" in again.output
    shown = CliRunner().invoke(cli, ["feedback", "report", "--since", "7d"])
    assert shown.exit_code == 0 and "1 down" in shown.output and cited["title"] in shown.output
    wrong = CliRunner().invoke(cli, ["feedback", "give", sid, str(asked), "down"])
    assert wrong.exit_code != 0 and "not an agent reply" in wrong.output

    # the exported case runs: the agent still answers, which the case now counts as a failure
    result = CliRunner().invoke(cli, ["eval", str(target), "--report", str(tmp_path / "report"), "--json",
                                      "--workers", "1"])
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert (body["totals"]["cases"], body["totals"]["scored"], body["totals"]["passed"]) == (1, 1, 0), body


def _events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out, name = [], ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            out.append((name, json.loads(line.removeprefix("data: "))))
    return out


def test_a_reply_streams_as_server_sent_events_and_is_stored_whole(
        world: tuple[Runtime, TestClient, dict[str, str]]) -> None:
    _, client, auth = world
    sid = client.post("/v1/sessions", json={"channel": "web"}, headers=auth).json()["id"]
    with client.stream("POST", f"/v1/sessions/{sid}/messages/stream", json={"text": "How do I pause my subscription?"},
                       headers=auth) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        received = _events(list(r.iter_lines()))
    names = [n for n, _ in received]
    assert names[0] == "decision" and names[-2:] == ["citations", "done"] and set(names[1:-2]) == {"text"}
    head = received[0][1]
    reply = "".join(d["delta"] for n, d in received if n == "text")
    citations = received[-2][1]["citations"]
    assert head["action"] == "answer" and citations and "reply" not in head
    stored = [e for e in client.get(f"/v1/sessions/{sid}", headers=auth).json()["events"] if e["type"] == "decision"]
    assert len(stored) == 1 and stored[0]["data"]["reply"] == reply
    assert stored[0]["data"]["message_id"] == head["message_id"] == received[-1][1]["message_id"]
    assert stored[0]["data"]["citations"] == citations and stored[0]["data"]["confidence"] == head["confidence"]

    # a client that goes away after the first event: the turn is stored whole all the same
    with client.stream("POST", f"/v1/sessions/{sid}/messages/stream", json={"text": "How do I skip a delivery?"},
                       headers=auth) as r:
        first = next(r.iter_lines())
        assert first == "event: decision"
    detail = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert [m["role"] for m in detail["transcript"]] == ["customer", "agent", "customer", "agent"]
    decisions = [e["data"] for e in detail["events"] if e["type"] == "decision"]
    assert len(decisions) == 2 and decisions[1]["message_id"] == detail["transcript"][3]["id"]
    assert decisions[1]["reply"] == detail["transcript"][3]["text"] and decisions[1]["reply"]

    # errors come as JSON with their status, before any event
    r = client.post("/v1/sessions/nope/messages/stream", json={"text": "hi"}, headers=auth)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    assert client.post(f"/v1/sessions/{sid}/messages/stream", json={"text": ""}, headers=auth).status_code == 422
    client.post(f"/v1/sessions/{sid}/close", headers=auth)
    r = client.post(f"/v1/sessions/{sid}/messages/stream", json={"text": "still there?"}, headers=auth)
    assert r.status_code == 409 and "closed" in r.json()["message"]
    assert len(client.get(f"/v1/sessions/{sid}", headers=auth).json()["transcript"]) == 4
