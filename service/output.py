"""Rendering for the CLI: JSON shapes (documented in the README), tables and progress."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import KnowdeskError
from core.models import MAX_TOP_K, PUBLIC, Hit, RunReport, Source, Viewer

if TYPE_CHECKING:
    from app.runtime import Runtime

BATCH_SIZE = 64


def source(s: Source) -> dict[str, Any]:
    return {"name": s.name, "kind": s.kind.value, "workspace": s.workspace, "options": s.options, "enabled": s.enabled}


def hit(h: Hit) -> dict[str, Any]:
    return {
        "rank": None,
        "score": round(h.score, 6),
        "dense_score": None if h.dense_score is None else round(h.dense_score, 6),
        "document_id": h.document_id,
        "chunk_id": h.chunk_id,
        "source": h.source_id,
        "title": h.title,
        "uri": h.uri,
        "section": list(h.section),
        "kind": str(h.kind),
        "language": h.language,
        "topic": list(h.topic),
        "text": h.text,
    }


def keep_whole(table: Table, *columns: int) -> Table:
    """Never cut these columns (ids people type, timestamps): they keep their widest cell's width and
    the other columns wrap instead, at any terminal width."""
    for i in columns:
        column = table.columns[i]
        column.no_wrap = True
        column.min_width = max([len(str(column.header)), *(len(str(c)) for c in column.cells)])
    return table


def hits_json(hits: list[Hit]) -> list[dict[str, Any]]:
    return [hit(h) | {"rank": i} for i, h in enumerate(hits, 1)]


def retrieve_json(query: str, hits: list[Hit], notes: list[str]) -> dict[str, Any]:
    """The ``retrieve`` answer: the query, how many distinct documents, notes, the ranked hits."""
    return {"query": query, "documents": len({h.document_id for h in hits}), "notes": notes, "hits": hits_json(hits)}


def print_hits(console: Console, query: str, hits: list[Hit]) -> None:
    console.print(f"[bold]Q:[/] {query}")
    if not hits:
        console.print("  no passages found (is anything synced? `knowdesk sources list`)")
    for i, h in enumerate(hits, 1):
        where = " > ".join(h.section)
        console.print(
            f"  [bold cyan][{i}][/] {h.title}" + (f" — {where}" if where else "") + f"  [dim](score {h.score:.3f})[/]"
        )
        console.print(f"      [dim]{h.uri or h.document_id}[/]")
        snippet = " ".join(h.text.split())
        console.print(f"      {snippet[:280]}{'…' if len(snippet) > 280 else ''}")


def print_report(console: Console, report: RunReport) -> None:
    colour = {"succeeded": "green", "partial": "yellow"}.get(report.status, "red")
    table = Table(title=f"sync {report.source} ({report.mode}): [{colour}]{report.status}[/]")
    for col in ("fetched", "written", "unchanged", "deleted", "failed", "chunks embedded", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            str(v)
            for v in (
                report.fetched,
                report.written,
                report.unchanged,
                report.deleted,
                report.failed,
                report.chunks_embedded,
                report.seconds,
            )
        )
    )
    console.print(table)
    for f in report.failures[:20]:
        console.print(f"  [red]failed[/] {f.native_id or f.uri or '?'} ({f.stage}): {f.message}")
    if len(report.failures) > 20:
        console.print(f"  … and {len(report.failures) - 20} more failures (--json lists up to 100)")
    for note in report.notes:
        console.print(f"  [yellow]note[/] {note}")


class ProgressLines:
    """Progress for a stderr that is not a terminal: one plain line every ``every`` seconds."""

    def __init__(self, console: Console, name: str, *, every: float = 10.0) -> None:
        self._console, self._name, self._every = console, name, every
        self._started = self._last = time.monotonic()

    def update(self, r: RunReport) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            return
        self._last = now
        elapsed = now - self._started
        where = ""
        if r.total:
            where = f" {r.done}/{r.total} ({100 * r.done // r.total}%)"
            if (left := eta(elapsed, r.done, r.total)) is not None:
                where += f", about {left} left"
        self._console.print(f"sync {self._name}: {int(elapsed)}s,{where} fetched {r.fetched}, written "
                            f"{r.written}, unchanged {r.unchanged}, failed {r.failed}, chunks {r.chunks_embedded}",
                            highlight=False, soft_wrap=True)


def eta(elapsed: float, done: int, total: int) -> str | None:
    """The time left at the pace so far ("1m05s"); None before the first item is done."""
    if done <= 0 or total <= done:
        return None
    seconds = round(elapsed * (total - done) / done)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class SyncProgress:
    """A live progress line on stderr: fetched / written / unchanged / failed."""

    def __init__(self, console: Console, name: str) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(f"sync {name}", total=None, counts="")

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def update(self, r: RunReport) -> None:
        self._progress.update(
            self._task,
            total=r.total,
            completed=r.done,
            counts=(f"{r.done}/{r.total}  " if r.total else "") + f"fetched {r.fetched}  written {r.written}  "
            f"unchanged {r.unchanged}  failed {r.failed}  chunks {r.chunks_embedded}"
            + ("  | " + "  ".join(f"{k} {v}" for k, v in r.progress.items()) if r.progress else ""),
        )


def run_batch(rt: Runtime, workspace: str, path: Path,
              search: Callable[[Sequence[tuple[str, Any, int]]], list[list[Hit]]] | None = None,
              viewer: Viewer = PUBLIC) -> int:
    """Answer every line of a JSONL file, one JSON line out per line in; returns the error count.

    ``search`` answers a batch of (query, filters, top_k) (default: this process's searcher, for
    ``viewer``: public documents only unless told)."""
    from retrieval.stages import query_notes

    if search is None:
        def search(queries: Sequence[tuple[str, Any, int]]) -> list[list[Hit]]:
            return rt.retrieve_many(list(queries), workspace=workspace, viewer=viewer)

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KnowdeskError(f"cannot read batch file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise KnowdeskError(f"batch file {path} is not UTF-8: {exc}") from exc
    errors = 0
    for start in range(0, len(lines), BATCH_SIZE):
        parsed: list[tuple[int, Any]] = []
        for n, line in enumerate(lines[start : start + BATCH_SIZE], start + 1):
            if not line.strip():
                continue
            parsed.append((n, _batch_line(n, line)))
        good = [(n, q) for n, q in parsed if not isinstance(q, dict)]
        results = iter(search([q for _, q in good])) if good else iter(())
        for n, item in parsed:
            if isinstance(item, dict):
                errors += 1
                print(json.dumps(item))
            else:
                notes = query_notes(item[0], rt.settings.search)
                print(json.dumps({"line": n} | retrieve_json(item[0], next(results), notes)))
        sys.stdout.flush()
    return errors


def _batch_line(n: int, line: str) -> tuple[str, Any, int] | dict[str, Any]:
    from retrieval.search import parse_filters

    try:
        obj = json.loads(line)
        if not isinstance(obj, dict) or not isinstance(obj.get("query"), str) or not obj["query"].strip():
            raise ValueError('each line needs {"query": "...", "top_k": N?, "filters": {...}?}')
        top_k = obj.get("top_k", 5)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
        unknown = set(obj) - {"query", "top_k", "filters"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        return (obj["query"], parse_filters(obj.get("filters") or {}), top_k)
    except (ValueError, KnowdeskError) as exc:
        message = exc.message if isinstance(exc, KnowdeskError) else str(exc)
        return {"line": n, "error": "invalid_input", "message": message}
