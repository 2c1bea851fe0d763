"""``knowdesk help-center``: import and export the authored help center as a folder of Markdown
files with YAML front matter, list it, publish and unpublish articles, delete articles and
translations, rename and move topics, re-index it.

Every change goes through ``HelpCenter`` as the HTTP API's does, so knowledge CI reviews it when a
dataset is configured; a held change (an import, a publish or unpublish, a delete, a topic rename or
move) prints its report and exits with ``HELD_EXIT`` (3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import InvalidInput, NotFound
from helpcenter.markdown_io import from_export, read_folder, write_folder
from helpcenter.models import Topic, TopicInput
from service import output
from service.commands.knowledge_ci import exit_if_held
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
    """Import topics and articles; translations with `status: published` are indexed at once. With
    knowledge CI configured the import may be held (exit code 3): nothing of it is live until accepted."""
    rt = get_runtime()
    ws = workspace_or_default(workspace)
    if path.is_file() and path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path} is not valid JSON: {exc}") from exc
        bundle = from_export(data)
    else:
        bundle = read_folder(path)
    report = rt.helpcenter.import_bundle(ws, bundle)
    idx = report.index
    if not as_json:
        out.print(f"imported {report.topics} topics and {report.articles} articles ({len(report.changed)} changed); "
                  f"index: {idx.written} written, {idx.unchanged} unchanged, {idx.deleted} deleted")
    exit_if_held(ws, idx.pending_change, as_json=as_json, result=report.model_dump(mode="json"))
    if as_json:
        print(report.model_dump_json())


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
    """Publish an article (every locale, or the given ones) and index it. With knowledge CI configured the
    publish may be held (exit code 3): the published text stays as it was until the change is accepted."""
    ws = workspace_or_default(workspace)
    _, report = get_runtime().helpcenter.publish(ws, slug, locale or None)
    exit_if_held(ws, report.pending_change)
    out.print(f"published {slug}: {report.written} written, {report.unchanged} unchanged")


@app.command("unpublish")
def unpublish(slug: str, locale: Annotated[list[str] | None, typer.Option("--locale", "-l")] = None,
              workspace: Workspace = None) -> None:
    """Unpublish an article (every locale, or the given ones) and remove it from the index. With knowledge
    CI configured the unpublish may be held (exit code 3): it stays published until the change is accepted."""
    ws = workspace_or_default(workspace)
    _, report = get_runtime().helpcenter.unpublish(ws, slug, locale or None)
    exit_if_held(ws, report.pending_change)
    out.print(f"unpublished {slug}: {report.deleted} documents removed from the index")


@app.command("delete")
def delete(
    slug: str,
    locale: Annotated[str | None, typer.Option(
        "--locale", "-l", help="Delete only this translation (not the default locale's), not the article.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Delete an article and its translations, or one translation with --locale; what was published
    leaves the index. With knowledge CI configured the delete may be held (exit code 3): nothing is
    deleted until `knowdesk knowledge-ci accept ID`."""
    ws = workspace_or_default(workspace)
    hc = get_runtime().helpcenter
    _article_exists(ws, slug)
    if locale is None:
        report = hc.delete_article(ws, slug)
        what = f"deleted article {slug}"
    else:
        _, report = hc.delete_translation(ws, slug, locale.strip())
        what = f"deleted the {locale.strip()} translation of {slug}"
    exit_if_held(ws, report.pending_change, as_json=as_json)
    if as_json:
        print(json.dumps({"deleted": slug, "locale": locale, "index": report.model_dump(mode="json")}))
        return
    out.print(f"{what}: {report.deleted} documents removed from the index, {report.written} re-written")


@app.command("topics")
def topics(workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Topics with their names, parents and article counts."""
    ws = workspace_or_default(workspace)
    store = get_runtime().helpcenter.store
    counts: dict[str, int] = {}
    for a in store.articles(ws):
        counts[a.topic] = counts.get(a.topic, 0) + 1
    topics_ = store.topics(ws)
    rows = [{"id": t.id, "name": t.name, "parent": t.parent, "position": t.position, "articles": counts.get(t.id, 0)}
            for t in topics_]
    if as_json:
        print(json.dumps({"topics": rows}))
        return
    table = Table("id", "name", "parent", "articles")
    for t in topics_:
        table.add_row(t.id, t.name, t.parent or "-", str(counts.get(t.id, 0)))
    out.print(output.keep_whole(table, 0))


@app.command("rename-topic")
def rename_topic(topic_id: str, name: Annotated[str, typer.Argument(help="The new name.")],
                 workspace: Workspace = None, as_json: JsonOut = False) -> None:
    """Rename a topic; its published articles are re-indexed (their breadcrumb changes). With knowledge
    CI configured the rename may be held (exit code 3): the old name stays until it is accepted."""
    ws = workspace_or_default(workspace)
    current = _topic(ws, topic_id)
    if not name.strip():
        raise InvalidInput("the new topic name is empty; give the name to show, e.g. "
                           f"`knowdesk help-center rename-topic {topic_id} \"Billing & payments\"`", field="name")
    _change_topic(ws, current.model_copy(update={"name": name}), as_json=as_json)


@app.command("move-topic")
def move_topic(
    topic_id: str,
    parent: Annotated[str | None, typer.Option("--parent", help="Make it a sub-topic of this top-level topic.")] = None,
    top_level: Annotated[bool, typer.Option("--top-level", help="Make it a top-level topic.")] = False,
    position: Annotated[int | None, typer.Option("--position", min=0, help="Its place among its siblings.")] = None,
    workspace: Workspace = None,
    as_json: JsonOut = False,
) -> None:
    """Move a topic under another (--parent) or to the top level (--top-level), and/or to a --position
    among its siblings; its published articles are re-indexed. With knowledge CI configured the move may be
    held (exit code 3)."""
    if parent is not None and top_level:
        raise typer.BadParameter("give either --parent TOPIC or --top-level, not both")
    if parent is None and not top_level and position is None:
        raise typer.BadParameter("nothing to move: give --parent TOPIC, --top-level or --position N")
    ws = workspace_or_default(workspace)
    current = _topic(ws, topic_id)
    if parent is not None:
        _topic(ws, parent, what="parent topic")
    update: dict[str, Any] = {"parent": parent} if parent is not None or top_level else {}
    if position is not None:
        update["position"] = position
    _change_topic(ws, current.model_copy(update=update), as_json=as_json)


def _article_exists(workspace: str, slug: str) -> None:
    if slug not in {a.slug for a in get_runtime().helpcenter.store.articles(workspace)}:
        raise NotFound(f"no article {slug!r} in workspace {workspace!r}; list them with `knowdesk help-center list`",
                       slug=slug)


def _topic(workspace: str, topic_id: str, *, what: str = "topic") -> Topic:
    found = {t.id: t for t in get_runtime().helpcenter.store.topics(workspace)}.get(topic_id)
    if found is None:
        raise NotFound(f"no {what} {topic_id!r} in workspace {workspace!r}; list them with "
                       "`knowdesk help-center topics`", topic=topic_id)
    return found


def _change_topic(workspace: str, changed: Topic, *, as_json: bool) -> None:
    data = TopicInput(**changed.model_dump())
    topic, report = get_runtime().helpcenter.update_topic(workspace, data)
    exit_if_held(workspace, report.pending_change, as_json=as_json)
    if as_json:
        print(json.dumps({"topic": topic.model_dump(mode="json"), "index": report.model_dump(mode="json")}))
        return
    where = f"under {topic.parent}" if topic.parent else "top level"
    out.print(f"topic {topic.id} is now {topic.name!r} ({where}); index: {report.written} re-written, "
              f"{report.unchanged} unchanged")


@app.command("reindex")
def reindex(workspace: Workspace = None) -> None:
    """Make the index equal to what is published."""
    report = get_runtime().helpcenter.reindex(workspace_or_default(workspace))
    out.print(f"{report.written} written, {report.unchanged} unchanged, {report.deleted} deleted")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="help-center")
