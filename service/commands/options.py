"""The options every CLI command shares: the workspace and machine-readable output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from app.runtime import get_runtime
from core.models import check_name


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
    return workspace or get_runtime().settings.default_workspace
