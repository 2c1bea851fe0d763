"""``knowdesk conflicts``: passages of the indexed knowledge that state different numbers, prices,
durations, dates or limits for the same thing (issue 20)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from core.errors import NotFound
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console(soft_wrap=True)
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def conflicts(
        stored: Annotated[bool, typer.Option("--stored", help="Print the last stored report instead of comparing "
                                             "now.")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1, help="Conflicts to print.")] = 50,
        workspace: Workspace = None,
        as_json: JsonOut = False,
    ) -> None:
        """Find conflicting facts across sources and languages ("14 days" here, "30 days" there)."""
        from app.conflicts import find_conflicts, latest_conflicts

        rt = get_runtime()
        ws = workspace_or_default(workspace)
        report = latest_conflicts(rt, ws) if stored else find_conflicts(rt, ws)
        if report is None:
            raise NotFound(f"no stored conflicting-facts report for {ws!r}; run `knowdesk conflicts` without --stored")
        if as_json:
            print(report.model_dump_json())
            return
        out.print(f"[bold]{len(report.conflicts)} conflicting facts[/] in {ws} ({report.chunks} chunks, "
                  f"{report.candidate_pairs} candidate pairs, {report.seconds:.1f} s)")
        for n, c in enumerate(report.conflicts[:limit], start=1):
            kind = " (translation)" if c.translation else ""
            out.print(f"{n:>3}. [bold]{c.a.value}[/] vs [bold]{c.b.value}[/]{kind}", highlight=False)
            for side in (c.a, c.b):
                out.print(f"     {side.title} [dim]{side.document_id}[/]: “{side.sentence}”", highlight=False)
        if len(report.conflicts) > limit:
            err.print(f"... and {len(report.conflicts) - limit} more (--limit, --json)")
