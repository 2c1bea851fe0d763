"""The options every CLI command shares (the workspace, machine-readable output) and the lazy
entries to the application: importing a command module imports no model, index or Prefect code;
a command pays for what it uses when it runs (``knowdesk --help``, ``keys``, ``sources list`` stay light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from core.settings import get_settings

if TYPE_CHECKING:
    from app.runtime import Runtime
    from core.db import Database

Workspace = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace (default: KNOWDESK_DEFAULT_WORKSPACE).")
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
