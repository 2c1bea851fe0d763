"""``knowdesk knowledge-ci``: the changes knowledge CI reviewed, the held ones, and accepting or
rejecting them (issue 20). A change is held when publishing it would make a gated metric of
``KNOWDESK_KNOWLEDGE_CI__DATASET`` drop past its threshold."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console

from app.knowledge_ci.models import ChangeStatus, KnowledgeChange
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)
app = typer.Typer(help="Knowledge CI: changes replayed against an evaluation dataset before they go live.",
                  no_args_is_help=True)
Note = Annotated[str, typer.Option("--note", help="Why (kept with the decision).")]
#: Exit code of a command whose change knowledge CI held (not live until accepted): apart from 0 (done),
#: 1 (an error) and 2 (bad usage), so a script can tell a held change from a failed one.
HELD_EXIT = 3
By = Annotated[str, typer.Option("--by", help="Who decides (kept with the decision).")]


def held_line(change_id: str | None) -> str | None:
    """What a publish command prints when knowledge CI held its change."""
    if change_id is None:
        return None
    return (f"HELD by knowledge CI as {change_id}: not live. See `knowdesk knowledge-ci show {change_id}`, then "
            f"`knowdesk knowledge-ci accept {change_id}` or `knowdesk knowledge-ci reject {change_id}`")


def exit_if_held(workspace: str, change_id: str | None, *, as_json: bool = False,
                 result: dict[str, Any] | None = None) -> None:
    """When knowledge CI held a command's change: print its report (or its JSON, with the command's own
    JSON answer as ``result`` when given) and the commands that accept or reject it, then exit with
    ``HELD_EXIT``. Returns when nothing was held."""
    if change_id is None:
        return
    change = get_runtime().knowledge_ci.get(workspace, change_id)
    if as_json:
        held = {"held": True, "pending_change": change.id, "change": json.loads(_json(change))}
        print(json.dumps(held if result is None else held | {"result": result}))
    else:
        print_change(change)
        err.print(held_line(change.id))
    raise typer.Exit(HELD_EXIT)


def exit_if_any_held(workspace: str, change_ids: Sequence[str | None], *, as_json: bool = False) -> None:
    """``exit_if_held`` for a command of several changes (``knowdesk quickstart``): each held change's
    report and commands as text (its JSON answer names them already), then exit with ``HELD_EXIT``."""
    held = list(dict.fromkeys(c for c in change_ids if c is not None))
    if not held:
        return
    if not as_json:
        for change_id in held:
            print_change(get_runtime().knowledge_ci.get(workspace, change_id))
            err.print(held_line(change_id))
    raise typer.Exit(HELD_EXIT)


def print_change(change: KnowledgeChange, *, limit: int = 20) -> None:
    r = change.report
    decided = f" by {change.decided_by}" if change.decided_by else ""
    out.print(f"[bold]{change.id}[/] {change.status.value}{decided}: {change.subject}")
    out.print(f"dataset {r.dataset}: {r.cases} cases, {len(r.changed)} answers changed, {r.seconds:.1f} s")
    for m in r.metrics:
        if m.threshold is None and not m.drop:
            continue
        gate = f" (threshold {m.threshold:g})" if m.threshold is not None else ""
        flag = " [red]HELD[/]" if m.held else ""
        out.print(f"  {m.metric}: {_num(m.before)} -> {_num(m.after)}{gate}{flag}")
    flag = " [red]HELD[/]" if "regressions" in r.held_by else ""
    out.print(f"  regressions (cases that passed and fail now): {len(r.regressions)} (allowed "
              f"{r.max_regressions}){flag}")
    for c in r.changed[:limit]:
        mark = "[red]broke[/]" if c.broke else "[green]fixed[/]" if c.fixed else "changed"
        delta = f" score {c.score_delta:+.2f}" if c.score_delta is not None else ""
        out.print(f"\n{mark} {c.case_id}{delta}: “{c.question}”")
        for label, answer in (("old", c.old), ("new", c.new)):
            sources = ", ".join(s.document_id for s in answer.sources) or "no source"
            out.print(f"  {label} [{answer.action}] {answer.text[:300]}  [dim]({sources})[/]")
    if len(r.changed) > limit:
        err.print(f"... and {len(r.changed) - limit} more changed answers (--json)")
    if change.status is ChangeStatus.PENDING:
        out.print(f"\naccept: knowdesk knowledge-ci accept {change.id}    reject: knowdesk knowledge-ci reject "
                  f"{change.id}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _json(change: KnowledgeChange) -> str:
    return change.model_dump_json()


@app.command("list")
def list_(
    status: Annotated[ChangeStatus | None, typer.Option("--status", help="Only changes in this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Reviewed changes, newest first (pending ones wait for accept or reject)."""
    changes = get_runtime().knowledge_ci.list(workspace_or_default(workspace), status=status, limit=limit)
    if as_json:
        print(json.dumps({"changes": [json.loads(_json(c)) for c in changes]}))
        return
    if not changes:
        out.print("no reviewed changes")
    for c in changes:
        broke = sum(x.broke for x in c.report.changed)
        out.print(f"{c.id}  {c.status.value:<8}  {c.created_at:%Y-%m-%d %H:%M}  {len(c.report.changed)} changed, "
                  f"{broke} broke  {c.subject}")


@app.command("show")
def show(change_id: str, workspace: Workspace = None, as_json: JsonOut = False,
         limit: Annotated[int, typer.Option("--limit", min=1, help="Changed answers to print.")] = 20) -> None:
    """A change's report: metrics before and after, and every answer that changed."""
    change = get_runtime().knowledge_ci.get(workspace_or_default(workspace), change_id)
    if as_json:
        print(_json(change))
        return
    print_change(change, limit=limit)


@app.command("accept")
def accept(change_id: str, workspace: Workspace = None, note: Note = "", by: By = "cli",
           as_json: JsonOut = False) -> None:
    """Make a held change live (as if the gate had let it through)."""
    _decide("accept", change_id, workspace, note, by, as_json)


@app.command("reject")
def reject(change_id: str, workspace: Workspace = None, note: Note = "", by: By = "cli",
           as_json: JsonOut = False) -> None:
    """Drop a held change: it never goes live; the published content stays as it is."""
    _decide("reject", change_id, workspace, note, by, as_json)


def _decide(decision: str, change_id: str, workspace: str | None, note: str, by: str, as_json: bool) -> None:
    ci = get_runtime().knowledge_ci
    act = ci.accept if decision == "accept" else ci.reject
    change = act(workspace_or_default(workspace), change_id, by=by, note=note)
    if as_json:
        print(_json(change))
    elif decision == "accept":
        out.print(f"accepted {change.id}: {change.subject} is live")
    else:
        out.print(f"rejected {change.id}: {change.subject} stays as it was")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="knowledge-ci")
