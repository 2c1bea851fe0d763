"""``knowdesk help-center``: import and export the authored help center as a folder of Markdown
files with YAML front matter, list it, publish and unpublish articles, re-index it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InvalidInput
from helpcenter.markdown_io import from_export, read_folder, write_folder
from service import output
from service.commands.options import JsonOut, Workspace, get_runtime, workspace_or_default

out = Console()
err = Console(stderr=True)
app = typer.Typer(help="The authored help center (articles, topics, translations).", no_args_is_help=True)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A folder (helpcenter.yaml + articles/*.md) or a JSON export.")],
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Import topics and articles; translations with `status: published` are indexed at once."""
    rt = get_runtime()
    if path.is_file() and path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path} is not valid JSON: {exc}") from exc
        bundle = from_export(data)
    else:
        bundle = read_folder(path)
    report = rt.helpcenter.import_bundle(workspace_or_default(workspace), bundle)
    if as_json:
        print(report.model_dump_json())
        return
    idx = report.index
    out.print(f"imported {report.topics} topics and {report.articles} articles ({len(report.changed)} changed); "
              f"index: {idx.written} written, {idx.unchanged} unchanged, {idx.deleted} deleted")
    _held(idx.pending_change)


@app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="The folder to write (created when missing).")],
    workspace: Workspace = None,
) -> None:
    """Write every topic and article (drafts too) as Markdown files with front matter."""
    rt = get_runtime()
    ws = workspace_or_default(workspace)
    store = rt.helpcenter.store
    count = write_folder(folder, store.topics(ws), store.articles(ws), rt.settings.helpcenter.default_locale)
    out.print(f"wrote {count} files to {folder}")


@app.command("list")
def list_(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Articles with their locales, statuses and stale translations."""
    rt = get_runtime()
    articles = rt.helpcenter.store.articles(workspace_or_default(workspace))
    rows: list[dict[str, Any]] = [
        {"slug": a.slug, "topic": a.topic, "locales": {t.locale: t.status.value for t in a.translations},
         "stale": [t.locale for t in a.translations if t.stale]} for a in articles]
    if as_json:
        print(json.dumps({"articles": rows}))
        return
    table = Table("slug", "topic", "locales", "stale")
    for r in rows:
        table.add_row(r["slug"], r["topic"], ", ".join(f"{k}:{v}" for k, v in r["locales"].items()),
                      ", ".join(r["stale"]))
    out.print(output.keep_whole(table, 0))


@app.command("publish")
def publish(slug: str, locale: Annotated[list[str] | None, typer.Option("--locale", "-l")] = None,
            workspace: Workspace = None) -> None:
    """Publish an article (every locale, or the given ones) and index it."""
    _, report = get_runtime().helpcenter.publish(workspace_or_default(workspace), slug, locale or None)
    if not _held(report.pending_change):
        out.print(f"published {slug}: {report.written} written, {report.unchanged} unchanged")


@app.command("unpublish")
def unpublish(slug: str, locale: Annotated[list[str] | None, typer.Option("--locale", "-l")] = None,
              workspace: Workspace = None) -> None:
    """Unpublish an article (every locale, or the given ones) and remove it from the index."""
    _, report = get_runtime().helpcenter.unpublish(workspace_or_default(workspace), slug, locale or None)
    if not _held(report.pending_change):
        out.print(f"unpublished {slug}: {report.deleted} documents removed from the index")


def _held(change_id: str | None) -> bool:
    """Print that knowledge CI held the change, if it did."""
    from service.commands.knowledge_ci import held_line

    line = held_line(change_id)
    if line is not None:
        err.print(line)
    return line is not None


@app.command("reindex")
def reindex(workspace: Workspace = None) -> None:
    """Make the index equal to what is published."""
    report = get_runtime().helpcenter.reindex(workspace_or_default(workspace))
    out.print(f"{report.written} written, {report.unchanged} unchanged, {report.deleted} deleted")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="help-center")
