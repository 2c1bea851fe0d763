"""The options every CLI command shares: the workspace and machine-readable output."""

from __future__ import annotations

from typing import Annotated

import typer

from app.runtime import get_runtime

Workspace = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace (default: KNOWDESK_DEFAULT_WORKSPACE).")
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def workspace_or_default(workspace: str | None) -> str:
    """The ``--workspace`` given, else the configured default."""
    return workspace or get_runtime().settings.default_workspace
