"""The ``knowdesk`` command line (Typer). Results go to stdout; progress and errors to stderr.

Exit codes: 0 success; 1 an error or a failed run (the message says what to do); 2 bad usage.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

from app.runtime import Runtime, get_runtime
from core.errors import InvalidInput, KnowdeskError
from core.models import RunReport, Source, SourceKind
from ingest.sources import parse_option_pairs
from retrieval.search import MAX_TOP_K, SearchFilters, parse_filters
from retrieval.stages import query_notes
from service import commands, output
from service.commands.options import JsonOut, Workspace, workspace_or_default
from service.keys import KeyStore

out = Console()
err = Console(stderr=True)
app = typer.Typer(
    help="knowdesk: fresh knowledge for an AI support agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sources_app = typer.Typer(help="Configure sources.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(keys_app, name="keys")

def _rt() -> Runtime:
    return get_runtime()


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# -- sources ------------------------------------------------------------------------------------
@sources_app.command("add")
def sources_add(
    name: str,
    kind: Annotated[SourceKind, typer.Option("--kind", help="Source kind.")],
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="key=value, repeatable.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Add a source, e.g. `knowdesk sources add docs --kind folder --option path=./docs`."""
    source = _rt().sources.add(
        Source(workspace=workspace_or_default(workspace), name=name, kind=kind,
               options=parse_option_pairs(option or []))
    )
    if as_json:
        print(json.dumps(output.source(source)))
    else:
        out.print(f"added source [bold]{name}[/] ({kind.value}); sync it with `knowdesk sync {name}`")


@sources_app.command("list")
def sources_list(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """List the workspace's sources."""
    rt = _rt()
    ws = workspace_or_default(workspace)
    rows = [output.source(s) | {"documents": rt.state(ws, s.name).count()} for s in rt.sources.list(ws)]
    if as_json:
        print(json.dumps({"sources": rows}))
        return
    table = Table("name", "kind", "documents", "enabled", "options")
    for r in rows:
        table.add_row(r["name"], r["kind"], str(r["documents"]), str(r["enabled"]), json.dumps(r["options"]))
    out.print(table)


@sources_app.command("remove")
def sources_remove(name: str, workspace: Workspace = None) -> None:
    """Remove a source and everything it indexed."""
    removed = _rt().remove_source(workspace_or_default(workspace), name)
    out.print(f"removed source {name} and its {removed} documents")


@sources_app.command("check")
def sources_check(name: str, workspace: Workspace = None) -> None:
    """Verify a source's credentials and access."""
    from ingest.connectors.registry import build_connector

    rt = _rt()
    source = rt.sources.get(workspace_or_default(workspace), name)
    out.print(f"ok: {build_connector(source, rt.connector_context(source)).check()}")


# -- sync -----------------------------------------------------------------------------------------
@app.command()
def sync(
    name: str,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not just what changed.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Delete even past the shrink guard.")] = False,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Sync a source into the index and print the run report."""
    rt = _rt()
    source = rt.sources.get(workspace_or_default(workspace), name)
    from service.commands.orchestration import sync_through_prefect  # a flow run when PREFECT_API_URL is set

    report = sync_through_prefect(source, full=full, force=force, quiet=as_json) or _run_sync(
        rt, source, full=full, force=force, quiet=as_json
    )
    if as_json:
        print(json.dumps(report.summary()))
    else:
        output.print_report(out, report)
    if report.status == "failed":
        raise typer.Exit(1)


def _run_sync(
    rt: Runtime, source: Source, *, full: bool = False, force: bool = False, quiet: bool = False
) -> RunReport:
    if quiet or not err.is_terminal:
        return rt.sync(source, full=full, force=force)
    with output.SyncProgress(err, source.name) as progress:
        return rt.sync(source, full=full, force=force, progress=progress.update)


# -- retrieve -------------------------------------------------------------------------------------
@app.command()
def retrieve(
    query: Annotated[str | None, typer.Argument(help="The question.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=MAX_TOP_K)] = 5,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="key=value: source_id, kind, language, topic, document_id."),
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="JSONL file: one {query, top_k?, filters?} per line.")
    ] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Retrieve cited passages for a query (or for every line of a --batch file)."""
    rt = _rt()
    ws = workspace_or_default(workspace)
    if batch is not None:
        if query is not None:
            raise InvalidInput("give either a QUERY or --batch FILE, not both")
        failed = output.run_batch(rt, ws, batch)
        raise typer.Exit(1 if failed else 0)
    if not query:
        raise InvalidInput("give a QUERY or --batch FILE")
    filters: SearchFilters = parse_filters(filter_ or [])
    hits = rt.retrieve(query, workspace=ws, filters=filters, top_k=top_k)
    notes = query_notes(query, rt.settings.search)
    if as_json:
        print(json.dumps(output.retrieve_json(query, hits, notes)))
    else:
        output.print_hits(out, query, hits)
        for note in notes:
            err.print(f"note: {note}")


# -- keys -----------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read, write or admin; repeatable.")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Create an API key for the workspace; the key is printed once."""
    rt = _rt()
    ws = workspace_or_default(workspace)
    key_id, key = KeyStore(db=rt.db).create(ws, scopes=scope or ["read"], name=name)
    if as_json:
        print(json.dumps({"id": key_id, "key": key, "workspace": ws, "scopes": scope or ["read"]}))
    else:
        out.print(f"key id {key_id} (workspace {ws}): [bold]{key}[/]\nit is shown only now; store it safely")


@keys_app.command("list")
def keys_list(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """List the workspace's keys (never their secrets)."""
    rows = KeyStore(db=_rt().db).list(workspace_or_default(workspace))
    if as_json:
        print(json.dumps({"keys": rows}))
        return
    table = Table("id", "name", "scopes", "created", "revoked")
    for r in rows:
        scopes = ",".join(map(str, r["scopes"]))  # type: ignore[call-overload]
        table.add_row(str(r["id"]), str(r["name"]), scopes, str(r["created_at"]), str(r["revoked_at"] or ""))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, workspace: Workspace = None) -> None:
    """Revoke a key."""
    KeyStore(db=_rt().db).revoke(workspace_or_default(workspace), key_id)
    out.print(f"revoked {key_id}")


# -- serve and quickstart ---------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from service.api import create_app

    rt = _rt()
    uvicorn.run(create_app(rt), host=host or rt.settings.server.host, port=port or rt.settings.server.port)


@app.command()
def optimize() -> None:
    """Qdrant Edge maintenance: build the HNSW graph and vacuum deleted points of the live index.

    Run it after large syncs, when queries are few: it blocks queries of the process that runs it.
    """
    err.print(_rt().optimize_index())


@app.command()
def quickstart(as_json: JsonOut = False) -> None:
    """Ingest the bundled sample knowledge and show cited answers to sample questions."""
    from service.quickstart import run_quickstart

    run_quickstart(_rt(), out=out, err=err, as_json=as_json, sync=_run_sync)


commands.register_all(app)


def main() -> None:
    """Entry point: runs the app, turning knowdesk errors into a message and exit code 1."""
    try:
        app()
    except KnowdeskError as exc:
        if "--json" in sys.argv:
            print(json.dumps(exc.to_dict()))
        err.print(f"[red]error:[/] {exc.message}")
        sys.exit(1)


if __name__ == "__main__":
    main()
