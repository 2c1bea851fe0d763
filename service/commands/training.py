"""``knowdesk training``: import and export the AI profile and scenarios as YAML, list, publish,
roll back, delete, re-index. A publish, rollback, import or delete that knowledge CI holds prints its
report and exits with ``HELD_EXIT`` (3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InvalidInput
from service import output
from service.commands.knowledge_ci import exit_if_held
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default
from training.gate import Published

out = Console()
app = typer.Typer(help="Training: the AI profile and scenarios.", no_args_is_help=True)


@app.command("import")
def import_(path: Annotated[Path, typer.Argument(help="A training YAML file.")], workspace: Workspace = None,
            as_json: JsonOut = False) -> None:
    """Create or update the profile and scenarios; entries with `published: true` are published. With
    knowledge CI configured the publishing may be held (exit code 3): one change for the whole file."""
    ws = workspace_or_default(workspace)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    from training.yaml_io import import_yaml

    summary = import_yaml(get_runtime().training, ws, text)
    if not as_json:
        out.print(f"profile {summary.profile}; created {len(summary.created)}, updated {len(summary.updated)}, "
                  f"published {len(summary.published)}, unpublished {len(summary.unpublished)} scenarios")
    exit_if_held(ws, summary.pending_change, as_json=as_json, result=summary.model_dump(mode="json"))
    if as_json:
        print(summary.model_dump_json())


@app.command("export")
def export(path: Annotated[Path | None, typer.Argument(help="The file to write (default: stdout).")] = None,
           workspace: Workspace = None) -> None:
    """Write the profile and every scenario (drafts) as YAML."""
    from training.yaml_io import export_yaml

    text = export_yaml(get_runtime().training, workspace_or_default(workspace))
    if path is None:
        print(text, end="")
    else:
        path.write_text(text, encoding="utf-8")
        out.print(f"wrote {path}")


@app.command("list")
def list_(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Scenarios with their kind, directory, status and versions."""
    records = get_runtime().training.store.scenarios(workspace_or_default(workspace))
    if as_json:
        print(json.dumps({"scenarios": [{"id": r.id, "kind": r.draft.kind.value, "title": r.draft.title,
                                         "directory": r.draft.directory, "status": r.status.value,
                                         "published_version": r.published_version} for r in records]}))
        return
    table = Table("id", "kind", "directory", "title", "status", "live")
    for r in records:
        table.add_row(r.id, r.draft.kind.value, r.draft.directory, r.draft.title, r.status.value,
                      str(r.published_version or "-"))
    out.print(output.keep_whole(table, 0))


@app.command("publish")
def publish(scenario_id: str, workspace: Workspace = None) -> None:
    """Publish a scenario's draft as a new version (and index its triggers). With knowledge CI configured the
    publish may be held (exit code 3): the live version stays until the change is accepted."""
    ws = workspace_or_default(workspace)
    done = get_runtime().training.publish(ws, scenario_id)
    exit_if_held(ws, done.pending_change)
    out.print(f"{scenario_id} is live as version {_version(done)}")


@app.command("rollback")
def rollback(scenario_id: str, version: Annotated[int, typer.Argument(min=1)], workspace: Workspace = None) -> None:
    """Publish an earlier version's content again, as a new version (knowledge CI may hold it: exit code 3)."""
    ws = workspace_or_default(workspace)
    done = get_runtime().training.rollback(ws, scenario_id, version)
    exit_if_held(ws, done.pending_change)
    out.print(f"{scenario_id} is live as version {_version(done)} (content of version {version})")


@app.command("delete")
def delete(scenario_id: str, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Delete a scenario and its history; a published one leaves the index. With knowledge CI configured,
    deleting a published scenario may be held (exit code 3): it stays live until the change is accepted."""
    ws = workspace_or_default(workspace)
    training = get_runtime().training
    record = training.store.get(ws, scenario_id)  # NotFound names the id
    exit_if_held(ws, training.delete(ws, scenario_id), as_json=as_json)
    if as_json:
        print(json.dumps({"deleted": scenario_id, "was_published": record.published_version is not None}))
        return
    live = f" (version {record.published_version} left the index)" if record.published_version is not None else ""
    out.print(f"deleted {scenario_id}{live}")


def _version(done: Published) -> str:
    return str(done.scenario.version) if done.scenario is not None else "-"


@app.command("reindex")
def reindex(workspace: Workspace = None) -> None:
    """Make the index equal to the published scenario-specific scenarios."""
    written, deleted = get_runtime().training.reindex(workspace_or_default(workspace))
    out.print(f"{written} written, {deleted} deleted")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="training")
