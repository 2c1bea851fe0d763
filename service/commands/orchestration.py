"""Orchestration commands: ``reindex``, ``schedule``, ``runs``, ``cancel`` and ``sources schedule``.

With ``PREFECT_API_URL`` set they go through the Prefect server (flow runs of the deployments
``knowdesk schedule`` serves, or registers on a work pool with ``--pool``); without it they run
here, in this process.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError, InvalidInput
from core.models import RunReport, Source
from service import output
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console()
err = Console(stderr=True)


def _prefect(*, offer_local: bool = False) -> bool:
    """Whether a Prefect server is configured; ``ConfigError`` when it is but does not answer."""
    import httpx

    from flows.deployments import prefect_api_url

    url = prefect_api_url()
    if url is None:
        return False
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5.0).raise_for_status()
    except httpx.HTTPError as exc:
        local = " or run this sync here with `knowdesk sync NAME --local`," if offer_local else ""
        raise ConfigError(f"PREFECT_API_URL is {url} but no Prefect server answers there ({exc}): start it "
                          f"(`prefect server start`),{local} or unset PREFECT_API_URL to run in this process",
                          url=url) from exc
    return True


def sync_through_prefect(source: Source, *, full: bool, force: bool, quiet: bool = False) -> RunReport | None:
    """``knowdesk sync`` with a Prefect server: start (or join) a flow run, wait, return its report.

    None when no Prefect server is configured (the caller syncs in-process)."""
    if not _prefect(offer_local=True):
        return None
    from flows.deployments import trigger_sync, wait_for_run

    started = trigger_sync(source, full=full, force=force)
    if not quiet:
        err.print(f"flow run {started['flow_run_id']} ({started['status']}); waiting for it to finish")
    state = wait_for_run(started["flow_run_id"])
    runs = get_runtime().state(source.workspace, source.name).runs(limit=1)
    if not runs:
        return RunReport(source=source.name, workspace=source.workspace, status="failed",
                         notes=[f"the flow run ended {state} before the sync started"])
    report = RunReport.model_validate(runs[0]["report"])
    if state != "COMPLETED" and report.status in {"running", "succeeded"}:
        report.status = "failed" if state != "CANCELLED" else "cancelled"
        report.notes.append(f"flow run {started['flow_run_id']} ended {state}")
    return report


def reindex(
    target: Annotated[str, typer.Argument(help="A source name, or 'all'.")] = "all",
    model: Annotated[str | None, typer.Option("--model", help="Build a new collection with this model.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="... or with these chunk bounds.")] = None,
    overlap_tokens: Annotated[int | None, typer.Option("--overlap-tokens")] = None,
    drop_old: Annotated[bool, typer.Option("--drop-old", help="Delete the old collection after the switch.")] = False,
    tokens: Annotated[bool, typer.Option(
        "--tokens", help="Only fill the token vectors of the second ranking stage that chunks lack (an index "
        "written before they were stored): no re-embedding; resumable.")] = False,
    check: Annotated[bool, typer.Option("--check", help="With --tokens: only report the coverage.")] = False,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Re-chunk and re-embed from stored content (no re-fetch). With --model / --max-tokens, build a new
    collection beside the live one and switch to it when complete (queries keep being answered). With
    --tokens, fill the second ranking stage's missing token vectors only (always in this process)."""
    if check and not tokens:
        raise InvalidInput("--check goes with --tokens: `knowdesk reindex --tokens --check`")
    if tokens:
        if model or max_tokens is not None or overlap_tokens is not None or drop_old:
            raise InvalidInput("--tokens fills token vectors of the live index only; it takes no --model, "
                               "--max-tokens, --overlap-tokens or --drop-old")
        _fill_tokens(target, workspace, check=check, as_json=as_json)
        return
    params: dict[str, Any] = {"target": target, "model": model, "max_tokens": max_tokens,
                              "overlap_tokens": overlap_tokens, "drop_old": drop_old, "workspace": workspace}
    if _prefect():
        from flows.deployments import trigger_reindex, wait_for_run

        run_id = trigger_reindex(params)
        err.print(f"reindex flow run {run_id} started; waiting for it to finish")
        state = wait_for_run(run_id)
        print(json.dumps({"flow_run_id": run_id, "state": state})) if as_json else out.print(f"reindex: {state}")
        if state != "COMPLETED":
            raise typer.Exit(1)
        return
    from app.reindex import run_reindex

    report = run_reindex(get_runtime(), **params)
    if as_json:
        print(report.model_dump_json())
        return
    out.print(f"reindex {report.target}: [green]{report.status}[/] — {report.documents} documents, {report.chunks} "
              f"chunks into {report.collection} in {report.seconds}s")
    if report.switched_from:
        kept = "dropped" if report.dropped_old else "kept (drop it with --drop-old next time, or in Qdrant)"
        out.print(f"switched the alias from {report.switched_from}; the old collection is {kept}")
    if report.refetched:
        out.print(f"{report.refetched} documents had no stored content and were re-fetched once")


def _fill_tokens(target: str, workspace: str | None, *, check: bool, as_json: bool) -> None:
    """``knowdesk reindex --tokens``: coverage, then the missing token vectors filled with progress on stderr."""
    from app.tokens import fill_tokens

    def progress(filled: int, missing: int) -> None:
        err.print(f"token vectors: {filled} of {missing} missing chunks filled", end="\r")

    report = fill_tokens(get_runtime(), target=target, workspace=workspace, check=check,
                         progress=None if as_json or check else progress)
    if as_json:
        print(report.model_dump_json())
        return
    for note in report.notes:
        out.print(note)
    if report.before is None or report.after is None:
        return
    if not report.collection:
        out.print("no index yet: sync a source first (its chunks get their token vectors as they are written)")
        return
    if check:
        done = "complete" if report.after.complete else "incomplete: fill them with `knowdesk reindex --tokens`"
        out.print(f"token vectors in {report.collection}: {report.after.describe()} ({done})")
        return
    stopped = " (stopped: run it again to go on)" if report.stopped else ""
    out.print(f"token vectors in {report.collection}: {report.before.describe()} before, "
              f"{report.after.describe()} now; {report.filled} filled in {report.seconds}s{stopped}")


def schedule(
    refresh: Annotated[float | None, typer.Option("--refresh", help="Seconds between re-reading the sources.")] = None,
    pool: Annotated[str | None, typer.Option(
        "--pool", help="Register the deployments on this Prefect work pool (created as a process pool if "
        "missing) for `prefect worker start --pool NAME` workers, instead of serving them here. "
        "Default: KNOWDESK_ORCHESTRATION__WORK_POOL.")] = None,
    once: Annotated[bool, typer.Option("--once", help="With --pool: register once and exit.")] = False,
) -> None:
    """Keep one Prefect deployment per enabled source (with its cron/interval) current until stopped.

    Without a work pool it serves them: this process runs their flow runs (one machine). With
    --pool it registers them on the work pool and any number of workers run them."""
    rt = get_runtime()
    pool = pool or rt.settings.orchestration.work_pool
    _prefect()  # a configured server that is down: say so before Prefect's own retries
    if pool is None:
        if once:
            raise InvalidInput("--once registers deployments on a work pool: give --pool NAME too")
        from flows.deployments import serve_sources

        err.print("serving knowdesk deployments (Ctrl-C to stop)")
        try:
            serve_sources(rt, refresh_seconds=refresh)
        except KeyboardInterrupt:
            err.print("[yellow]stopped:[/] scheduled syncs do not run until `knowdesk schedule` runs again; "
                      "a sync it was running stops and the next one resumes where it stopped.")
            raise typer.Exit(130) from None
        return
    from flows.pool import register_on_pool

    if once:
        names = register_on_pool(rt, pool, once=True)
        out.print(f"registered {len(names)} deployments on work pool {pool!r}: {', '.join(names)}")
        out.print(f"run them with: prefect worker start --pool {pool}")
        return
    err.print(f"keeping knowdesk deployments registered on work pool {pool!r} (Ctrl-C to stop); "
              f"workers: prefect worker start --pool {pool}")
    try:
        register_on_pool(rt, pool, refresh_seconds=refresh)
    except KeyboardInterrupt:
        err.print(f"[yellow]stopped:[/] the deployments stay registered on work pool {pool!r} and its workers keep "
                  "running them, but changes to sources are not picked up until `knowdesk schedule --pool` runs again.")
        raise typer.Exit(130) from None


def runs(
    name: str,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=200)] = 20,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Recent sync runs of a source: status, counts, failures, duration."""
    rt = get_runtime()
    ws = workspace_or_default(workspace)
    rt.sources.get(ws, name)
    rows = rt.state(ws, name).runs(limit=limit)
    if as_json:
        print(json.dumps({"runs": rows}))
        return
    table = Table("started", "mode", "status", "written", "unchanged", "deleted", "failed", "seconds")
    for r in rows:
        rep = r.get("report") or {}
        table.add_row(r["started_at"], r["mode"], r["status"], *(str(rep.get(k, "")) for k in
                      ("written", "unchanged", "deleted", "failed", "seconds")))
    out.print(output.keep_whole(table, 0, 2))


def cancel(name: str, workspace: Workspace = None) -> None:
    """Cancel a source's running sync (Prefect flow runs; the in-process API has POST .../cancel)."""
    rt = get_runtime()
    source = rt.sources.get(workspace_or_default(workspace), name)
    if not _prefect():
        raise InvalidInput("no Prefect server (PREFECT_API_URL): stop a foreground `knowdesk sync` with Ctrl-C, "
                           f"or a sync started through the HTTP API with POST /v1/sources/{name}/cancel")
    from flows.deployments import cancel_runs

    ids = cancel_runs(source)
    out.print(f"cancelling {len(ids)} flow run(s): {', '.join(ids)}" if ids else f"no run of {name} is active")


def sources_schedule(
    name: str,
    cron: Annotated[str | None, typer.Option("--cron", help='e.g. "0 3 * * *" (in --timezone)')] = None,
    interval: Annotated[str | None, typer.Option("--interval", help="e.g. 900, 15m, 6h, 1d")] = None,
    off: Annotated[bool, typer.Option("--off", help="Remove the schedule.")] = False,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA timezone, e.g. Europe/Paris.")] = "UTC",
    paused: Annotated[bool, typer.Option("--paused", help="Store the schedule but do not run it yet.")] = False,
    workspace: Workspace = None,
) -> None:
    """Set or remove a source's schedule; `knowdesk schedule` picks it up at its next refresh
    (the HTTP API: GET/PUT/DELETE /v1/sources/{name}/schedule)."""
    from flows.deployments import set_schedule
    from flows.schedules import next_run

    ws = workspace_or_default(workspace)
    rt = get_runtime()
    value = set_schedule(rt, ws, name, cron=cron, interval=interval, off=off, timezone=timezone, enabled=not paused)
    if value is None:
        out.print(f"{name}: schedule removed")
        return
    what = f"cron {value.cron}" if value.cron else f"every {value.interval_seconds} s"
    due = next_run(value, source_enabled=rt.sources.get(ws, name).enabled)
    out.print(f"{name}: schedule {what} ({value.timezone}){' paused' if not value.enabled else ''}; "
              f"next run {due.isoformat() if due else 'none'}")


def register(app: typer.Typer) -> None:
    app.command()(reindex)
    app.command()(schedule)
    app.command()(runs)
    app.command()(cancel)
    for group in app.registered_groups:
        if group.name == "sources" and group.typer_instance is not None:
            group.typer_instance.command("schedule")(sources_schedule)
