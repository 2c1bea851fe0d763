"""``knowdesk ask``: one message through the answering agent; ``knowdesk handoffs``: list and retry."""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from core.models import Channel
from service.commands.options import Workspace, get_runtime

if TYPE_CHECKING:
    from agent.agent import Agent
    from agent.decision import Decision
    from app.runtime import Runtime

out = Console()
err = Console(stderr=True)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (the Decision).")]


def print_decision(console: Console, decision: Decision, *, message: str | None = None) -> None:
    """A decision for people: the reply, its citations, confidence and, for a handoff, why."""
    if message:
        console.print(f"[bold]customer:[/] {message}")
    h = decision.handoff
    if h is not None and h.trigger_score is not None and h.reason != "low_confidence":
        # a trigger decided, not the answer's confidence: show the score that caused the handoff
        why = f"{h.reason.value} {h.trigger_score:.2f}"
    else:
        why = f"confidence {decision.confidence:.2f}"
    console.print(f"[bold]agent[/] ({decision.action.value}, {why}): {decision.reply}")
    for c in decision.citations:
        console.print(f"  [dim]source:[/] {c.title}" + (f" <{c.url}>" if c.url else ""))
    if h is not None:
        score = f", trigger score {h.trigger_score:.2f}" if h.trigger_score is not None else ""
        console.print(f"  [yellow]handoff:[/] {h.reason.value}{score}; ticket #{decision.ticket}")


def register(app: typer.Typer) -> None:
    @app.command()
    def ask(
        message: Annotated[str, typer.Argument(help="The customer's message.")],
        session: Annotated[str | None, typer.Option("--session", help="Continue this session (id).")] = None,
        channel: Annotated[Channel, typer.Option("--channel", help="The session's channel.")] = Channel.WEB,
        contact: Annotated[str | None, typer.Option("--contact", help="The contact's email.")] = None,
        identity_token: Annotated[str | None, typer.Option(
            "--identity-token", help="A signed identity token for a new session (`knowdesk access token`).")] = None,
        workspace: Workspace = None,
        as_json: JsonOut = False,
    ) -> None:
        """Send one message to the agent and print its decision (answer, clarify or handoff)."""
        if not message.strip():
            raise typer.BadParameter("the message is empty; give the customer's message, e.g. "
                                     "knowdesk ask \"Where is my order?\"", param_hint="MESSAGE")
        if contact is not None and not _EMAIL.match(contact):
            raise typer.BadParameter(f"{contact!r} is not an email address (name@example.com)",
                                     param_hint="--contact")
        rt = get_runtime()
        ws = workspace or rt.settings.default_workspace
        agent = rt.agent
        if session is None:
            from agent.sessions import ContactRef

            identity = rt.access.verify(ws, identity_token) if identity_token is not None else None
            info = agent.store.create(ws, channel=channel, contact=ContactRef(email=contact) if contact else None,
                                      identity=identity)
            session = info.id
            if not as_json:
                err.print(f"session {info.id} (ticket #{info.ticket}); continue with --session {info.id}")
        elif identity_token is not None:
            raise typer.BadParameter("an identity token is verified when a session opens; leave out --session",
                                     param_hint="--identity-token")
        decision = agent.handle(ws, session, message)
        if as_json:
            print(json.dumps(decision.to_json()))
        else:
            print_decision(out, decision)

    @app.command()
    def handoffs(
        retry: Annotated[bool, typer.Option("--retry", help="Deliver pending helpdesk deliveries now.")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
        workspace: Workspace = None,
        as_json: JsonOut = False,
    ) -> None:
        """Recent handoffs with their reasons and helpdesk deliveries."""
        rt = get_runtime()
        ws = workspace or rt.settings.default_workspace
        agent = rt.agent
        outbox = agent.recorder.outbox
        if retry and outbox is not None:
            report = outbox.deliver_due()
            err.print(f"delivered {report.sent}, retrying later {report.retrying}, failed {report.failed}")
        rows = [
            h.model_dump(mode="json") | {"deliveries": outbox.status(ws, h.id) if outbox else []}
            for h in agent.store.handoffs(ws, limit=limit)
        ]
        if as_json:
            print(json.dumps({"handoffs": rows}))
            return
        for h in rows:
            sent = ", ".join(f"{d['target']}={d['status']}" for d in h["deliveries"]) or "stored only"
            out.print(f"#{h['ticket']} {h['reason']} ({h['created_at']}): {h['summary']} [{sent}]")


DEMO = (
    "How do I skip next month's delivery?",
    "Are there any promo codes I could use?",
    "Thanks. Now I want to talk to a person, please.",
)


def undelivered(agent: Agent) -> Agent:
    """``agent`` whose handoffs are stored but never sent to a configured helpdesk (scripted demos)."""
    from agent.handoffs import HandoffRecorder

    quiet = copy.copy(agent)
    quiet.recorder = HandoffRecorder(store=agent.store, cache=agent.cache, outbox=None)
    return quiet


def agent_demo(rt: Runtime, out: Console, *, quiet: bool = False) -> dict[str, Any]:
    """The quickstart's scripted conversation: a cited answer, a scenario answer, a handoff."""
    from agent.sessions import ContactRef

    ws = rt.settings.default_workspace
    agent = undelivered(rt.agent)
    session = agent.store.create(ws, channel=Channel.WEB, contact=ContactRef(external_id="quickstart-demo"))
    if not quiet:
        out.print(f"\n[bold]A conversation with the agent[/] (ticket #{session.ticket}, web):")
    turns = []
    for message in DEMO:
        decision = agent.handle(ws, session.id, message)
        turns.append({"message": message, "decision": decision.to_json()})
        if not quiet:
            print_decision(out, decision, message=message)
    return {"session_id": session.id, "ticket": session.ticket, "turns": turns}
