"""``knowdesk feedback``: rate an agent reply, see what customers rated down, export thumbs-down
conversations as an evaluation dataset (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.errors import InvalidInput
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console(soft_wrap=True)
err = Console(stderr=True)
app = typer.Typer(help="Thumbs up/down on agent replies: rate, report, export as evaluation cases.",
                  no_args_is_help=True)
Since = Annotated[str, typer.Option("--since", help="The window: 24h, 7d, 30d...")]


@app.command("give")
def give(
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    message_id: Annotated[int, typer.Argument(help="The agent reply's message id (from the decision's "
                                                   "message_id or the session's transcript).")],
    rating: Annotated[str, typer.Argument(help="up or down.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (optional, at most 1000 characters).")] = "",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Rate one agent reply; a second vote on the same reply replaces the first."""
    if rating not in ("up", "down"):
        raise InvalidInput(f"rating must be 'up' or 'down', not {rating!r}")
    rt = get_runtime()
    vote = rt.insights.feedback.rate(workspace_or_default(workspace), session_id, message_id, rating, reason)
    if as_json:
        print(vote.model_dump_json())
        return
    verb = "replaced the vote with" if vote.replaced else "recorded"
    out.print(f"{verb} thumbs-{vote.rating.value} on reply {vote.message_id} of session {vote.session_id}",
              highlight=False)


@app.command("report")
def report(since: Since = "30d", workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Totals, worst-rated topics and the documents behind thumbs-down answers."""
    from core.tables import utcnow
    from insights.models import parse_since

    rt = get_runtime()
    ws = workspace_or_default(workspace)
    end = utcnow()
    ic = rt.insights
    rep = ic.feedback.report(ws, end - parse_since(since), end, topics=ic.topics(ws))
    if as_json:
        print(json.dumps({"since": since} | rep.model_dump(mode="json")))
        return
    share = f"{rep.down_share:.0%} down" if rep.down_share is not None else "no votes"
    out.print(f"[bold]Feedback[/] of {ws}, last {since}: {rep.up} up, {rep.down} down ({share})")
    if rep.worst_topics:
        out.print("[bold]Worst-rated topics[/]")
        for g in rep.worst_topics:
            out.print(f"  {g.down} down / {g.up} up  {g.key}", highlight=False)
    if rep.documents:
        out.print("[bold]Documents behind thumbs-down answers[/]")
        for g in rep.documents:
            out.print(f"  {g.down} down / {g.up} up  {g.title or g.key}  [dim]{g.key}[/]", highlight=False)
    for v in rep.recent_down:
        out.print(f"  [red]down[/] “{v.question[:80]}” -> {v.reason or '(no reason)'}", highlight=False)


@app.command("export")
def export(
    to: Annotated[Path, typer.Option("--to", help="The dataset file to write (JSONL, read by `knowdesk eval`).")],
    since: Since = "30d",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    workspace: Workspace = None,
) -> None:
    """Write every thumbs-down conversation of the window as an evaluation case."""
    from core.tables import utcnow
    from evaluation.feedback_cases import export_dataset
    from insights.models import parse_since

    if to.exists() and not force:
        raise InvalidInput(f"{to} exists; give another --to or add --force to overwrite it")
    if to.parent and not to.parent.is_dir():
        raise InvalidInput(f"the folder {to.parent} does not exist; create it first")
    rt = get_runtime()
    ws = workspace_or_default(workspace)
    end = utcnow()
    text, cases = export_dataset(rt.insights.feedback, ws, start=end - parse_since(since), end=end,
                                 name=f"feedback-{ws}")
    to.write_text(text, encoding="utf-8")
    err.print(f"wrote {cases} evaluation case(s) to {to}; run: knowdesk eval {to}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="feedback")
