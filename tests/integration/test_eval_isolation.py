"""An evaluation leaves no trace in the workspace it evaluates; scripted demos never reach a helpdesk."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from agent.sessions import ContactRef
from agent.tables import HandoffRow, MessageRow, SessionRow
from app.evaluation import run_evaluation
from app.runtime import Runtime
from core.models import Channel
from core.settings import AgentSettings, HelpdeskSettings, Settings
from evaluation.datasets import bundled_dataset_path, load_dataset
from service.commands.agent import agent_demo
from service.quickstart import import_samples
from tests.fakes import HashEmbedder

WS = "default"


class _Webhook:
    """A loopback helpdesk webhook that records every delivery."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[dict[str, object]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    with _Webhook() as hook:
        yield hook


@pytest.fixture
def rt(tmp_path: Path, webhook: _Webhook) -> Runtime:
    settings = Settings(home=tmp_path / "home",
                        agent=AgentSettings(helpdesk=HelpdeskSettings(webhook_url=webhook.url,
                                                                          webhook_secret="s3cret")))
    runtime = Runtime(settings)
    runtime.components.__dict__["embedder"] = HashEmbedder()
    import_samples(runtime, WS)
    return runtime


def _rows(rt: Runtime, table: type) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(table.workspace == WS)) or 0)


def test_an_evaluation_stores_nothing_in_the_evaluated_workspace(rt: Runtime, webhook: _Webhook) -> None:
    dataset = load_dataset(bundled_dataset_path())
    ids = {"human-1", "skip-next-box"}
    subset = dataset.model_copy(update={"cases": tuple(c for c in dataset.cases if c.id in ids)})
    report = run_evaluation(rt, subset, workspace=WS)
    cases = {c["id"]: c for c in report["cases"]}
    assert cases["human-1"]["turns"][-1]["action"] == "handoff"  # the run did hand off...
    # ...but the workspace has no session, message or handoff of it, and no ticket number was used
    assert (_rows(rt, SessionRow), _rows(rt, MessageRow), _rows(rt, HandoffRow)) == (0, 0, 0)
    assert rt.agent.store.handoffs(WS) == []
    assert rt.agent.store.create(WS, channel=Channel.WEB, contact=ContactRef()).ticket == 1001
    assert webhook.received == []


def test_the_quickstart_conversation_hands_off_without_calling_the_helpdesk(rt: Runtime,
                                                                            webhook: _Webhook) -> None:
    result = agent_demo(rt, Console(file=io.StringIO()))
    assert result["turns"][-1]["decision"]["action"] == "handoff"
    assert [h.session_id for h in rt.agent.store.handoffs(WS)] == [result["session_id"]]  # stored, shown
    assert webhook.received == []
    # the production agent does deliver (the webhook above works)
    session = rt.agent.store.create(WS, channel=Channel.WEB, contact=ContactRef())
    assert rt.agent.handle(WS, session.id, "Thanks. Now I want to talk to a person, please.").action.value == "handoff"
    assert len(webhook.received) == 1
