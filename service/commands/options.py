"""The options every CLI command shares (the workspace, machine-readable output) and the lazy
entries to the application: importing a command module imports no model, index or Prefect code;
a command pays for what it uses when it runs (``knowdesk --help``, ``keys``, ``sources list`` stay light).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from core.models import check_name
from core.settings import get_settings

if TYPE_CHECKING:
    from app.runtime import Runtime
    from core.db import Database


def valid_name(what: str) -> Callable[[str | None], str | None]:
    """A Typer callback: bad usage (exit 2) for a workspace or source name that can never be stored."""
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_name(value, what)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check


Workspace = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace (default: KNOWDESK_DEFAULT_WORKSPACE).",
                             callback=valid_name("workspace name"))
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def workspace_or_default(workspace: str | None) -> str:
    """The ``--workspace`` given, else the configured default."""
    return workspace or get_settings().default_workspace


def get_runtime() -> Runtime:
    """The process's runtime (models, index, agent), imported on first use."""
    from app.runtime import get_runtime as process_runtime

    return process_runtime()


def database() -> Database:
    """The state database alone, for commands that need no model or index (keys, source listing)."""
    from core.db import open_database

    return open_database(get_settings().resolved_database_url)
