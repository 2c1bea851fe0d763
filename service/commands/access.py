"""``knowdesk access``: what end users may see. The group -> audience mapping, the groups given
to contacts by configuration, the identity-token secret, and a token for trying it out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InvalidInput
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

if TYPE_CHECKING:
    from agent.access import AccessConfig, AccessStore

out = Console()
app = typer.Typer(help="End-user access: groups -> audience labels, identity tokens.", no_args_is_help=True)


def _store() -> AccessStore:
    return get_runtime().access


def _config(**changes: Any) -> AccessConfig:
    from pydantic import ValidationError

    from agent.access import AccessConfig

    try:
        return AccessConfig.model_validate(changes)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid access configuration: {problems}") from None


def _show(ws: str, config: AccessConfig, as_json: bool) -> None:
    secret_set = _store().has_secret(ws)
    if as_json:
        print(json.dumps(config.model_dump(mode="json") | {"secret_set": secret_set}))
        return
    table = Table("group", "audience labels")
    for group, labels in sorted(config.groups.items()):
        table.add_row(group, ", ".join(labels) or "-")
    out.print(table)
    for key, groups in sorted(config.contacts.items()):
        out.print(f"contact {key}: groups {', '.join(groups)}")
    out.print(f"identity secret: {'set' if secret_set else 'not set (no token can be verified)'}")


@app.command("show")
def show(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """The mapping, the contacts' configured groups and whether an identity secret is set."""
    ws = workspace_or_default(workspace)
    _show(ws, _store().get(ws), as_json)


@app.command("map")
def map_(
    group: Annotated[str, typer.Argument(help="A group name as identity tokens carry it, e.g. partners.")],
    labels: Annotated[list[str], typer.Argument(help="Audience labels it opens, e.g. segment:Partners.")],
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Let GROUP see documents restricted to any of LABELS (replaces the group's labels)."""
    ws = workspace_or_default(workspace)
    current = _store().get(ws)
    config = _config(groups={**current.groups, group: labels}, contacts=current.contacts)
    _show(ws, _store().put(ws, config), as_json)


@app.command("unmap")
def unmap(group: str, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Remove GROUP from the mapping: it opens nothing from now on."""
    ws = workspace_or_default(workspace)
    current = _store().get(ws)
    if group not in current.groups:
        raise InvalidInput(f"group {group!r} is not mapped; mapped: {', '.join(sorted(current.groups)) or 'none'}")
    groups = {g: v for g, v in current.groups.items() if g != group}
    _show(ws, _store().put(ws, _config(groups=groups, contacts=current.contacts)), as_json)


@app.command("contact")
def contact(
    key: Annotated[str, typer.Argument(help="email:ADDRESS, domain:EXAMPLE.COM or sub:SUBJECT.")],
    groups: Annotated[list[str] | None, typer.Argument(help="Groups it is in (none: remove the entry).")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Put verified contacts matching KEY in GROUPS (added to what their token says)."""
    ws = workspace_or_default(workspace)
    current = _store().get(ws)
    contacts = {k: list(v) for k, v in current.contacts.items() if k != key.lower() and k != key}
    if groups:
        contacts[key] = groups
    _show(ws, _store().put(ws, _config(groups=current.groups, contacts=contacts)), as_json)


@app.command("import")
def import_(path: Annotated[Path, typer.Argument(help='JSON: {"groups": {...}, "contacts": {...}}.')],
            workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Replace the whole configuration with a JSON file's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f'{path} must hold an object: {{"groups": {{"GROUP": ["LABEL", ...]}}, '
                           '"contacts": {"KEY": ["GROUP", ...]}}')
    ws = workspace_or_default(workspace)
    _show(ws, _store().put(ws, _config(**data)), as_json)


@app.command("secret")
def secret(
    value: Annotated[str | None, typer.Option("--set", help="This secret (32+ characters), not a random one.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Set or rotate the workspace's identity secret; printed once. Older tokens stop working."""
    ws = workspace_or_default(workspace)
    new = _store().set_secret(ws, value)
    if as_json:
        print(json.dumps({"secret": new, "workspace": ws}))
    else:
        out.print(f"identity secret of {ws}: [bold]{new}[/]\nsign tokens with it (HS256); it is shown only now")


@app.command("token")
def token(
    subject: Annotated[str | None, typer.Option("--sub", help="The contact's id.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="The contact's email.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="A group of the contact (repeat).")] = None,
    ttl: Annotated[int, typer.Option("--ttl", min=1, max=86_400, help="Seconds until it expires.")] = 600,
    workspace: Workspace = None,
) -> None:
    """Print a signed identity token for a contact (to try sessions; integrations sign their own)."""
    print(_store().sign(workspace_or_default(workspace), subject=subject, email=email, groups=group or [],
                        ttl_seconds=ttl))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="access")
