"""The ``knowdesk`` command line (Typer). Results go to stdout; progress and errors to stderr.

Exit codes: 0 success; 1 an error or a failed run (the message says what to do); 2 bad usage; 3 a
change held by knowledge CI (see ``EXIT_CODES``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

from core.errors import InvalidInput, KnowdeskError, StoreLocked
from core.models import MAX_TOP_K, RunReport, Source, SourceKind
from core.settings import get_settings
from service import commands, output
from service.commands.knowledge_ci import exit_if_any_held
from service.commands.options import (
    JsonOut,
    Workspace,
    database,
    get_runtime,
    valid_name,
    workspace_or_default,
)

if TYPE_CHECKING:
    from app.runtime import Runtime
    from core.models import Viewer
    from ingest.sources import SourceStore
    from service.keys import KeyStore

out = Console()
err = Console(stderr=True)


class KnowdeskGroup(TyperGroup):
    """The root command: a ``KnowdeskError`` becomes its message on stderr (and its JSON body on
    stdout with ``--json``) and exit code 1, whether the command runs as ``knowdesk`` or in-process
    (typer's ``CliRunner`` in tests)."""

    def main(self, args: Sequence[str] | None = None, *pos: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            return super().main(argv, *pos, **kwargs)
        except KnowdeskError as exc:
            if "--json" in argv:
                print(json.dumps(exc.to_dict()))
            err.print(f"[red]error:[/] {exc.message}")
            sys.exit(1)
        except ValidationError as exc:  # a value that reached a model unchecked: still the user's input
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            err.print(f"[red]error:[/] invalid input: {problems}")
            sys.exit(2)
        except OSError as exc:
            message = _home_error(exc)
            if message is None:
                raise
            err.print(f"[red]error:[/] {message}")
            sys.exit(1)


#: The root help's epilog: what a script can read from the exit code.
EXIT_CODES = (
    "Exit codes: 0 done (a publish or import is live; for `knowdesk sync` also a change knowledge CI held: "
    "its report says HELD); 1 an error or a failed run; 2 bad usage; "
    "3 held by knowledge CI (quickstart, help-center import|publish|unpublish|delete|rename-topic|"
    "move-topic, training import|publish|rollback|delete, resolutions approve): the change's report and "
    "`knowdesk knowledge-ci accept|reject ID` are printed, nothing of it is live yet."
)
app = typer.Typer(
    cls=KnowdeskGroup,
    help="knowdesk: fresh knowledge for an AI support agent.",
    epilog=EXIT_CODES,
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


def _option_pairs(pairs: list[str]) -> dict[str, Any]:
    from ingest.sources import parse_option_pairs

    return parse_option_pairs(pairs)


def _keys() -> KeyStore:
    from service.keys import KeyStore

    return KeyStore(db=database())


def _sources() -> SourceStore:
    """The source store without the runtime (no model or index is loaded to list or add sources)."""
    from ingest.sources import SourceStore

    store = SourceStore(db=database())
    store.ensure_workspace(get_settings().default_workspace)
    return store


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# -- sources ------------------------------------------------------------------------------------
@sources_app.command("add")
def sources_add(
    name: Annotated[str, typer.Argument(callback=valid_name("source name"))],
    kind: Annotated[SourceKind, typer.Option("--kind", help="Source kind.")],
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="key=value, repeatable.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Add a source, e.g. `knowdesk sources add docs --kind folder --option path=./docs`."""
    from ingest.connectors.registry import validate_options
    from ingest.sources import folder_problem

    try:
        options = _option_pairs(option or [])
        validate_options(kind, options)
    except KnowdeskError as exc:  # a missing, unknown or malformed option: bad usage
        raise typer.BadParameter(exc.message, param_hint="--option") from None
    wanted = Source(workspace=workspace_or_default(workspace), name=name, kind=kind, options=options)
    if problem := folder_problem(wanted):
        raise InvalidInput(problem, option="path")
    source = _sources().add(wanted)
    if as_json:
        print(json.dumps(output.source(source)))
    else:
        out.print(f"added source [bold]{name}[/] ({kind.value}); sync it with `knowdesk sync {name}`")


@sources_app.command("update")
def sources_update(
    name: str,
    option: Annotated[list[str] | None, typer.Option("--option", "-o", help="key=value to set (repeatable).")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Remove this option (repeatable).")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Change a source's options (the others are kept); the next sync reads with them."""
    from ingest.connectors.registry import validate_options
    from ingest.sources import folder_problem

    store = _sources()
    ws = workspace_or_default(workspace)
    current = store.get(ws, name)
    if not option and not unset:
        raise typer.BadParameter("give --option key=value or --unset key", param_hint="--option")
    try:
        changes = _option_pairs(option or [])
    except KnowdeskError as exc:
        raise typer.BadParameter(exc.message, param_hint="--option") from None
    missing = [k for k in unset or () if k not in current.options]
    if missing:
        raise typer.BadParameter(f"{name} has no option {', '.join(map(repr, missing))} "
                                 f"(it has: {', '.join(current.options) or 'none'})", param_hint="--unset")
    options = {k: v for k, v in current.options.items() if k not in set(unset or ())} | changes
    try:
        validate_options(current.kind, options)
    except KnowdeskError as exc:
        raise typer.BadParameter(exc.message, param_hint="--option") from None
    if problem := folder_problem(current.model_copy(update={"options": options})):
        raise InvalidInput(problem, option="path")
    source = store.update(ws, name, options=options)
    if as_json:
        print(json.dumps(output.source(source)))
    else:
        out.print(f"updated source [bold]{name}[/]; `knowdesk sync {name}` reads with the new options")


def _set_enabled(name: str, workspace: str | None, enabled: bool, as_json: bool) -> None:
    source = _sources().update(workspace_or_default(workspace), name, enabled=enabled)
    if as_json:
        print(json.dumps(output.source(source)))
    elif enabled:
        out.print(f"source [bold]{name}[/] enabled: `knowdesk schedule` and sync-all include it again")
    else:
        out.print(f"source [bold]{name}[/] disabled: scheduled syncs and sync-all skip it (its documents stay "
                  f"searchable; `knowdesk sources remove {name}` removes them)")


@sources_app.command("enable")
def sources_enable(name: str, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Include a source in scheduled syncs and sync-all again."""
    _set_enabled(name, workspace, True, as_json)


@sources_app.command("disable")
def sources_disable(name: str, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Leave a source out of scheduled syncs and sync-all (its documents stay indexed)."""
    _set_enabled(name, workspace, False, as_json)


@sources_app.command("list")
def sources_list(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """List the workspace's sources."""
    from ingest.state import SyncState

    ws, db = workspace_or_default(workspace), database()
    rows = [output.source(s) | {"documents": SyncState(db=db, workspace=ws, source=s.name).count()}
            for s in _sources().list(ws)]
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
def sources_check(name: str, workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Verify a source's credentials and access."""
    from ingest.connectors.registry import build_connector

    rt = _rt()
    source = rt.sources.get(workspace_or_default(workspace), name)
    detail = build_connector(source, rt.connector_context(source)).check()
    if as_json:
        print(json.dumps({"source": name, "ok": True, "detail": detail}))
    else:
        out.print(f"ok: {detail}")


# -- sync -----------------------------------------------------------------------------------------
@app.command()
def sync(
    name: str,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not just what changed.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Delete even past the shrink guard.")] = False,
    local: Annotated[bool, typer.Option("--local", help="Run here even when PREFECT_API_URL is set.")] = False,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Sync a source into the index and print the run report."""
    rt = _rt()
    source = rt.sources.get(workspace_or_default(workspace), name)
    from service.commands.orchestration import sync_through_prefect  # a flow run when PREFECT_API_URL is set

    try:
        with _sigterm_as_interrupt():
            flow = None if local else sync_through_prefect(source, full=full, force=force, quiet=as_json)
            report = flow or _run_sync(rt, source, full=full, force=force, quiet=as_json)
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted:[/] the sync of {name} stopped. The documents it wrote are kept, nothing "
                  f"was deleted and the cursor did not move; `knowdesk sync {name}` resumes where it stopped "
                  f"(`knowdesk runs {name}` shows the run as cancelled).")
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(report.summary()))
    else:
        output.print_report(out, report)
    if report.status == "failed":
        raise typer.Exit(1)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a container stop) ends the block like Ctrl-C, so the run is recorded and explained."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (tests invoking the app in a thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_sync(
    rt: Runtime, source: Source, *, full: bool = False, force: bool = False, quiet: bool = False
) -> RunReport:
    if quiet:
        return rt.sync(source, full=full, force=force)
    if not err.is_terminal:  # cron, CI, logs: a plain line every PROGRESS_LINE_SECONDS
        return rt.sync(source, full=full, force=force, progress=output.ProgressLines(err, source.name).update)
    with output.SyncProgress(err, source.name) as progress:
        return rt.sync(source, full=full, force=force, progress=progress.update)


# -- retrieve -------------------------------------------------------------------------------------
@app.command()
def retrieve(
    query: Annotated[str | None, typer.Argument(help="The question.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=MAX_TOP_K)] = 5,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="key=value (repeat it, or a,b for any of the values): source_id, kind, "
                                            "language, topic, document_id, audience, channel."),
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="JSONL file: one {query, top_k?, filters?} per line.")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="Search as a verified contact in this group (repeat); see `knowdesk access`."),
    ] = None,
    session: Annotated[str | None, typer.Option("--session", help="Search as this session's contact.")] = None,
    all_audiences: Annotated[
        bool, typer.Option("--all-audiences", help="Every document, restricted ones too (default: public only).")
    ] = False,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Retrieve cited passages for a query (or for every line of a --batch file).

    Public documents only, as a customer without a verified identity sees them, unless --group,
    --session or --all-audiences says whom the search is for."""
    rt = _rt()
    ws = workspace_or_default(workspace)
    viewer = _viewer(rt, ws, group, session, all_audiences)
    if batch is not None:
        if query is not None:
            raise InvalidInput("give either a QUERY or --batch FILE, not both")
        try:
            failed = output.run_batch(rt, ws, batch, viewer=viewer)
        except StoreLocked:
            from service.running import batch_via_running_server

            _public_only(viewer)
            failed = output.run_batch(rt, ws, batch, search=batch_via_running_server(rt, ws))
        raise typer.Exit(1 if failed else 0)
    if not query or not query.strip():
        raise typer.BadParameter("give a non-empty QUERY, e.g. knowdesk retrieve \"how do I reset my password\", "
                                 "or --batch FILE", param_hint="QUERY")
    from retrieval.search import parse_filters
    from retrieval.stages import query_notes
    from service.running import via_running_server

    filters = parse_filters(filter_ or [])
    try:
        hits = rt.retrieve(query, workspace=ws, filters=filters, top_k=top_k, viewer=viewer)
    except StoreLocked:
        _public_only(viewer)
        hits = via_running_server(rt, ws, query, filter_ or [], top_k)
    notes = query_notes(query, rt.settings.search)
    if as_json:
        print(json.dumps(output.retrieve_json(query, hits, notes)))
    else:
        output.print_hits(out, query, hits)
        for note in notes:
            err.print(f"note: {note}")


def _viewer(rt: Runtime, ws: str, groups: list[str] | None, session: str | None, everything: bool) -> Viewer:
    """Whom ``knowdesk retrieve`` searches for (one of --group, --session, --all-audiences, or public)."""
    from datetime import UTC, datetime, timedelta

    from agent.access import Identity
    from core.models import PUBLIC, Viewer

    if sum((bool(groups), session is not None, everything)) > 1:
        raise typer.BadParameter("give one of --group, --session and --all-audiences", param_hint="--group")
    if everything:
        return Viewer.everyone()
    if session is not None:
        return rt.viewer(ws, session_id=session)
    if groups:
        preview = Identity(subject="cli-preview", groups=tuple(groups), expires_at=datetime.now(UTC) + timedelta(1))
        return rt.access.get(ws).viewer(preview)
    return PUBLIC


def _public_only(viewer: Viewer) -> None:
    """The running server answers the CLI's local token with public documents only."""
    if viewer.everything or viewer.labels:
        raise StoreLocked("the index is open in a running server, which searches public documents only for the CLI; "
                          "use POST /v1/retrieve there (all_audiences with an admin key, or session_id), or stop it")


# -- keys -----------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str] | None, typer.Option("--scope", help="read, write or admin; repeatable.")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Create an API key for the workspace; the key is printed once."""
    ws = workspace_or_default(workspace)
    key_id, key = _keys().create(ws, scopes=scope or ["read"], name=name)
    if as_json:
        print(json.dumps({"id": key_id, "key": key, "workspace": ws, "scopes": scope or ["read"]}))
    else:
        out.print(f"key id {key_id} (workspace {ws}): [bold]{key}[/]\nit is shown only now; store it safely")


@keys_app.command("list")
def keys_list(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """List the workspace's keys (never their secrets)."""
    rows = _keys().list(workspace_or_default(workspace))
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
    _keys().revoke(workspace_or_default(workspace), key_id)
    out.print(f"revoked {key_id}")


# -- serve and quickstart ---------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None
) -> None:
    """Run the HTTP API (`--port 0`: a free port). CLI read commands beside it go through it."""
    from service.running import serve_announced

    rt = _rt()
    serve_announced(rt, host=host or rt.settings.server.host,
                    port=rt.settings.server.port if port is None else port, say=err.print)


@app.command()
def optimize() -> None:
    """Qdrant Edge maintenance: build the HNSW graph and vacuum deleted points of the live index.

    It runs on a copy in a child process that is then swapped in: searches go on, writes wait. Syncs
    start it in the background past KNOWDESK_QDRANT__OPTIMIZE_AFTER_POINTS written points.
    """
    err.print(_rt().optimize_index())


@app.command()
def quickstart(as_json: JsonOut = False) -> None:
    """Ingest the bundled sample knowledge and show cited answers to sample questions. Exit code 3 when
    knowledge CI held a sample import or sync (`held` in --json)."""
    from service.quickstart import run_quickstart

    rt = _rt()
    result = run_quickstart(rt, out=out, err=err, as_json=as_json, sync=_run_sync)
    exit_if_any_held(rt.settings.default_workspace, result["held"], as_json=as_json)


commands.register_all(app)


def main() -> None:
    """Entry point: runs the app; ``KnowdeskGroup`` turns knowdesk errors into a message and exit code 1."""
    app()


def _home_error(exc: OSError) -> str | None:
    """What to say when KNOWDESK_HOME cannot be created or written (None: another OSError)."""
    from core.settings import get_settings

    home = get_settings().home.expanduser().resolve()
    where = Path(str(exc.filename)).expanduser().resolve() if exc.filename else None
    if where is None or not (where == home or home in where.parents or where in home.parents):
        return None
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        kind = "on a read-only file system" if exc.errno == errno.EROFS else "read-only (not writable by you)"
        return (f"KNOWDESK_HOME={home} is {kind}: {where}: {exc.strerror}. knowdesk keeps its data there; point "
                "KNOWDESK_HOME at a folder you can write to")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        return (f"KNOWDESK_HOME={home} cannot be created: {where}: {exc.strerror}. Point KNOWDESK_HOME at a "
                "folder you can create")
    return None


if __name__ == "__main__":
    main()
