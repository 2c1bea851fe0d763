"""``knowdesk resolutions``: Q&A drafts proposed from handed-off sessions a person resolved (issue 20,
item 2): record a person's reply, list and show drafts, approve (publish through the help center and
knowledge CI's gate) or reject them."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from app.resolutions.models import ApproveAs, Draft, DraftStatus
from service.commands.knowledge_ci import exit_if_held, held_line
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)
app = typer.Typer(help="Drafts from human resolutions: Q&A articles proposed from handed-off sessions.",
                  no_args_is_help=True)
By = Annotated[str, typer.Option("--by", help="Who decides (kept with the decision).")]
DraftId = Annotated[str, typer.Argument(help="The draft's id (`knowdesk resolutions list`).")]


def print_draft(d: Draft, *, held: bool = True) -> None:
    """A draft as text; ``held``: with the line naming the knowledge-CI change that holds its publish."""
    target = f"new article {d.slug!r} in topic {d.topic!r}" if d.kind.value == "new" else f"edit of {d.slug!r}"
    decided = f" by {d.decided_by}" if d.decided_by else ""
    out.print(f"[bold]{d.id}[/] {d.status.value}{decided}: ticket #{d.ticket}, {target} ({d.locale})")
    out.print(f"question: {d.question}")
    out.print(f"[bold]{d.title}[/]\n{d.answer}")
    for s in d.similar:
        covered = "" if s.coverage is None else f", answer covered {s.coverage:.2f}"
        out.print(f"  similar: {s.slug} “{s.title}” cosine {s.score:.2f}{covered}")
    if d.note:
        out.print(f"note: {d.note}")
    if d.published.get("as") == "scenario":
        out.print(f"published as training scenario {d.published.get('scenario_id')} ({d.published.get('status')}, "
                  f"version {d.published.get('version')})")
    elif d.published:
        out.print(f"published: {d.published.get('slug')} ({d.published.get('written', 0)} documents written)")
    line = held_line(d.published.get("pending_change"))
    if line and held:
        out.print(line)
    if d.status is DraftStatus.PENDING:
        out.print(f"approve: knowdesk resolutions approve {d.id} [--as scenario]    "
                  f"reject: knowdesk resolutions reject {d.id}")


def _emit(d: Draft, as_json: bool) -> None:
    if as_json:
        print(d.model_dump_json())
    else:
        print_draft(d)


@app.command("list")
def list_(
    status: Annotated[DraftStatus | None, typer.Option("--status", help="Only drafts in this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Drafts newest first (pending ones wait for approve or reject)."""
    drafts = get_runtime().resolutions.drafts.list(workspace_or_default(workspace),
                                                   status=status.value if status else None, limit=limit)
    if as_json:
        print(json.dumps({"drafts": [d.model_dump(mode="json") for d in drafts]}))
        return
    if not drafts:
        out.print("no drafts")
    for d in drafts:
        target = "new" if d.kind.value == "new" else f"edit {d.slug}"
        out.print(f"{d.id}  {d.status.value:8}  #{d.ticket}  {target:24}  {d.title}")


@app.command("show")
def show(draft_id: DraftId, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """One draft: question, proposed article, similar content, decision."""
    _emit(get_runtime().resolutions.drafts.get(workspace_or_default(workspace), draft_id), as_json)


@app.command("reply")
def reply(
    handoff_id: Annotated[str, typer.Argument(help="The handoff (`GET /v1/handoffs`).")],
    text: Annotated[str, typer.Argument(help="The person's reply, as the customer got it.")],
    keep_open: Annotated[bool, typer.Option("--keep-open", help="Store the reply without resolving.")] = False,
    by: By = "cli",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Record a person's reply to a handed-off session; it resolves the session and proposes a draft."""
    got = get_runtime().resolutions.reply(workspace_or_default(workspace), handoff_id, text, by=by,
                                          resolve=not keep_open)
    if as_json:
        print(json.dumps({"message_id": got.message_id, "session": got.session.model_dump(mode="json"),
                          "draft": got.draft.model_dump(mode="json") if got.draft else None,
                          "skipped": got.skipped}))
        return
    out.print(f"reply stored on ticket #{got.session.ticket} ({got.session.status.value})")
    if got.draft:
        print_draft(got.draft)
    else:
        out.print(f"no draft: {got.skipped}")


@app.command("propose")
def propose(
    handoff: Annotated[str | None, typer.Option("--handoff", help="The resolved handoff's id.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Or its session's id.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Draft from a resolved handoff (when its resolution did not already)."""
    _emit(get_runtime().resolutions.propose(workspace_or_default(workspace), handoff_id=handoff,
                                            session_id=session), as_json)


@app.command("approve")
def approve(
    draft_id: DraftId,
    title: Annotated[str | None, typer.Option("--title", help="Publish under this title instead.")] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="Publish this answer (Markdown) instead.")] = None,
    as_: Annotated[ApproveAs, typer.Option("--as", help="Publish as a help-center article or a training "
                                                        "scenario (the question is its trigger).")] = ApproveAs.ARTICLE,
    by: By = "cli",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Publish the draft through the help center, or as a scenario. With knowledge CI configured the publish
    may be held (exit code 3): the draft is approved, its article or scenario goes live once the change is
    accepted."""
    ws = workspace_or_default(workspace)
    d = get_runtime().resolutions.approve(ws, draft_id, by=by, title=title, answer=answer, as_=as_)
    if not as_json:
        print_draft(d, held=False)
    exit_if_held(ws, d.published.get("pending_change"), as_json=as_json, result=d.model_dump(mode="json"))
    if as_json:
        print(d.model_dump_json())


@app.command("reject")
def reject(
    draft_id: DraftId,
    note: Annotated[str, typer.Option("--note", help="Why (kept with the decision).")] = "",
    by: By = "cli",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Discard the draft: nothing is published."""
    _emit(get_runtime().resolutions.reject(workspace_or_default(workspace), draft_id, by=by, note=note), as_json)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="resolutions")
