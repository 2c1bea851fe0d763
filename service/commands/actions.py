"""``knowdesk actions``: import OpenAPI specs, list actions, enable them per channel, set secrets
(write-only) and the network allowlist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.runtime import get_runtime
from core.errors import InvalidInput, NotFound
from core.models import Channel
from service.commands.options import JsonOut, Workspace, workspace_or_default

out = Console()
err = Console(stderr=True)
app = typer.Typer(help="Actions: API calls the agent makes, imported from OpenAPI specs.", no_args_is_help=True)
Channels = Annotated[list[Channel] | None, typer.Option("--channel", "-c", help="Enable on this channel (repeat).")]


@app.command("import")
def import_(
    spec: Annotated[Path, typer.Argument(help="An OpenAPI 3.1/3.0 or Swagger 2.0 file, JSON or YAML.")],
    name: Annotated[str | None, typer.Option("--name", help="The spec's name (default: the file's stem).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Overrides the spec's servers/host.")] = None,
    channel: Channels = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Import one action per operation; print what was imported and what was skipped, and why."""
    try:
        text = spec.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {spec}: {exc}") from exc
    label = (name or spec.stem).lower().replace(".", "-").replace(" ", "-")[:63]
    report = get_runtime().actions.import_spec(workspace_or_default(workspace), label, text, base_url=base_url,
                                               channels=tuple(channel or ()))
    if as_json:
        print(report.model_dump_json())
        return
    out.print(f"spec {report.spec} ({report.title or 'untitled'}, {report.version}): imported "
              f"{len(report.imported)} actions, skipped {len(report.skipped)} in {report.seconds:.2f}s")
    for s in report.skipped:
        out.print(f"  [yellow]skipped[/] {s.operation} ({s.method} {s.path}): {s.reason}")
    for problem in report.problems:
        out.print(f"  [yellow]problem[/] {problem}")
    if report.removed:
        out.print(f"  removed (gone from the spec): {', '.join(report.removed)}")
    if not channel:
        err.print("actions are disabled until enabled on a channel: knowdesk actions enable ID --channel web")


@app.command("list")
def list_(spec: Annotated[str | None, typer.Option("--spec")] = None, workspace: Workspace = None,
          as_json: JsonOut = False) -> None:
    """Actions with their method, path, channels, segments and confirmation flag."""
    ws, store = workspace_or_default(workspace), get_runtime().actions.store
    if spec is not None and spec not in {s.name for s in store.specs(ws)}:
        raise NotFound(f"no action spec {spec!r} in workspace {ws!r}; `knowdesk actions list` shows every action "
                       "with its spec")
    actions = store.actions(ws, spec=spec)
    if as_json:
        print(json.dumps({"actions": [a.public() for a in actions]}))
        return
    table = Table("id", "spec", "call", "channels", "segments", "confirm")
    for a in actions:
        table.add_row(a.id, a.spec, f"{a.method} {a.path}", ",".join(c.value for c in a.channels) or "-",
                      ",".join(a.segments) or "-", "yes" if a.confirm else "no")
    out.print(table)


@app.command("enable")
def enable(
    action_id: Annotated[str, typer.Argument(help="The action id (operationId).")],
    channel: Channels = None,
    segment: Annotated[list[str] | None, typer.Option("--segment", help="Only for contacts in it (repeat).")] = None,
    confirm: Annotated[bool | None, typer.Option("--confirm/--no-confirm", help="Ask the customer first.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Enable an action on channels (no --channel: disable it), restrict it to segments."""
    action = get_runtime().actions.update(workspace_or_default(workspace), action_id,
                                          channels=tuple(channel or ()),
                                          segments=tuple(segment) if segment is not None else None, confirm=confirm)
    if as_json:
        print(json.dumps(action.public()))
        return
    where = ",".join(c.value for c in action.channels) or "no channel (disabled)"
    out.print(f"{action.id}: enabled on {where}; confirm {'yes' if action.confirm else 'no'}")


@app.command("secret")
def secret(
    spec: Annotated[str, typer.Argument(help="The spec's name.")],
    scheme: Annotated[str, typer.Argument(help="The security scheme's name in the spec.")],
    field: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE: value, token, username, password, "
                                                           "client_id, client_secret (repeat).")],
    workspace: Workspace = None,
) -> None:
    """Store a scheme's secret (write-only: it is never shown again)."""
    values = {}
    for pair in field:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--set takes FIELD=VALUE, got {pair.split('=')[0]!r}")
        values[key.strip()] = value
    found = get_runtime().actions.store.set_secret(workspace_or_default(workspace), spec, scheme, values)
    out.print(f"secret of {spec}/{found.name} ({found.kind.value}) stored")


@app.command("allow")
def allow(
    entries: Annotated[list[str] | None, typer.Argument(help="Private IPs, networks or hosts (none: clear).")] = None,
    workspace: Workspace = None,
) -> None:
    """Allow actions to reach these private addresses (replaces the list)."""
    saved = get_runtime().actions.store.set_allowlist(workspace_or_default(workspace), list(entries or ()))
    out.print("allowlist: " + (", ".join(saved) or "empty (public addresses only)"))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="actions")
