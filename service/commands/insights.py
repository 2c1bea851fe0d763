"""``knowdesk insights``: recurring themes and knowledge gaps of recent sessions, with CSAT."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from app.runtime import get_runtime
from core.errors import KnowdeskError
from core.tables import utcnow
from insights.models import InsightRun, parse_since

out = Console(soft_wrap=True)
err = Console(stderr=True)


def _todo(run: InsightRun, index: int) -> str:
    i = run.insights[index]
    if i.suggestion == "write":
        return "write a new article"
    if i.suggestion == "extend" and i.articles:
        return f"extend “{i.articles[0].title}”"
    return ""


def print_run(run: InsightRun) -> None:
    out.print(f"[bold]Insights[/] of {run.workspace}: last {run.since} vs the {run.since} before "
              f"({run.messages} customer messages, {run.sessions} sessions)")
    if not run.insights:
        out.print("no recurring themes in this window")
    for n, i in enumerate(run.insights):
        change = f" {i.change:+.0%}" if i.change is not None else ""
        out.print(f"{n + 1:>2}. [bold]{i.kind.value}[/]: {i.label}: {i.size} messages ({i.trend.value}{change}), "
                  f"{i.sessions} sessions, {i.handoff_rate:.0%} handed off", highlight=False)
        out.print(f"    [dim]“{i.representative}”[/]", highlight=False)
        if todo := _todo(run, n):
            out.print(f"    -> {todo}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def insights(
        since: Annotated[str, typer.Option("--since", help="The window: 24h, 7d, 2w... (compared with the one "
                                           "before).")] = "7d",
        as_json: Annotated[bool, typer.Option("--json", help="The insights as JSON on stdout.")] = False,
        demo: Annotated[bool, typer.Option("--demo", help="First load the sample sessions with planted themes "
                                           "(once per workspace).")] = False,
        stored: Annotated[bool, typer.Option("--stored", help="Print the last stored run instead of computing.")]
        = False,
        workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: "
                                                      "KNOWDESK_DEFAULT_WORKSPACE).")] = None,
    ) -> None:
        """Recurring themes of recent customer messages: knowledge gaps, complaints, requests."""
        rt = get_runtime()
        ws = workspace or rt.settings.default_workspace
        try:
            length = parse_since(since)
            ic = rt.insights
            if demo:
                written = ic.seed_samples(ws)
                err.print(f"loaded {len(written)} sample sessions into {ws!r}" if written else
                          f"the sample sessions are already in {ws!r}")
            run = ic.insights.latest(ws, since) if stored else ic.insights.refresh(ws, since=since)
            if run is None:
                raise KnowdeskError(f"no stored insights for {since} in {ws!r}; run `knowdesk insights` without "
                                    "--stored to compute them")
            end = utcnow()
            csat = ic.csat.report(ws, end - length, end, topics=ic.topics(ws))
        except KnowdeskError as exc:
            if as_json:
                print(json.dumps(exc.to_dict()))
            else:
                err.print(f"[red]error:[/] {exc.message}")
            raise typer.Exit(1) from exc
        if as_json:
            print(json.dumps(run.to_json() | {"csat": csat.overall.model_dump(mode="json")}))
            return
        print_run(run)
        o = csat.overall
        if o.count:
            out.print(f"CSAT last {since}: mean {o.mean} from {o.count} scores, {o.csat:.0%} satisfied (4-5)")
