"""Configured sources and workspaces in the state database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import Database, insert_ignore
from core.errors import Conflict, InvalidInput, NotFound
from core.models import ScheduleKind, Source, SourceKind, SourceSchedule, Workspace
from core.tables import SourceRow, WorkspaceRow, utcnow
from ingest.connectors.registry import validate_options


class SourceStore:
    """Create, read, update and delete sources (and ensure their workspaces exist).

    Args:
        db: the state database.
    """

    def __init__(self, *, db: Database) -> None:
        self._db = db

    def ensure_workspace(self, workspace: str, name: str = "") -> Workspace:
        ws = Workspace(id=workspace, name=name or workspace)
        with self._db.session() as s:
            insert_ignore(s, WorkspaceRow, id=ws.id, name=ws.name, created_at=utcnow())
        return ws

    def workspaces(self) -> list[str]:
        """The ids of every workspace, sorted."""
        with self._db.session() as s:
            return sorted(s.scalars(select(WorkspaceRow.id)))

    def add(self, source: Source) -> Source:
        """Store a new source; ``Conflict`` when the name is taken in the workspace."""
        options = validate_options(source.kind, source.options)
        self.ensure_workspace(source.workspace)
        try:
            with self._db.session() as s:
                s.add(
                    SourceRow(
                        workspace=source.workspace,
                        name=source.name,
                        kind=source.kind.value,
                        options=options,
                        enabled=source.enabled,
                    )
                )
        except IntegrityError:
            raise Conflict(
                f"a source named {source.name!r} already exists in workspace {source.workspace!r}; "
                "choose another name or remove it first",
                source=source.name,
            ) from None
        return source.model_copy(update={"options": options})

    def get(self, workspace: str, name: str) -> Source:
        with self._db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.workspace == workspace, SourceRow.name == name))
            if row is None:
                raise NotFound(
                    f"no source named {name!r} in workspace {workspace!r}; `knowdesk sources list` shows them",
                    source=name,
                )
            return _source(row)

    def list(self, workspace: str) -> list[Source]:
        with self._db.session() as s:
            rows = s.scalars(select(SourceRow).where(SourceRow.workspace == workspace).order_by(SourceRow.name))
            return [_source(r) for r in rows]

    def schedules(self, workspace: str) -> dict[str, SourceSchedule | None]:
        """Source name -> its schedule (None when it has none)."""
        with self._db.session() as s:
            return {r.name: _schedule(r) for r in s.scalars(select(SourceRow).where(SourceRow.workspace == workspace))}

    def schedule(self, workspace: str, name: str) -> SourceSchedule | None:
        """A source's schedule (None when it has none); ``NotFound`` for an unknown source."""
        self.get(workspace, name)
        return self.schedules(workspace).get(name)

    def set_schedule(self, workspace: str, name: str, schedule: SourceSchedule | None) -> SourceSchedule | None:
        """Replace a source's schedule whole (None removes it); ``NotFound`` for an unknown source.
        The schedule is checked before (``flows.schedules.build_schedule``): this only stores it."""
        self.get(workspace, name)
        with self._db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.workspace == workspace, SourceRow.name == name))
            assert row is not None
            row.schedule = schedule.legacy() if schedule else None
            row.schedule_timezone = schedule.timezone if schedule else None
            row.schedule_paused = not schedule.enabled if schedule else False
            row.schedule_anchor = schedule.anchor if schedule else None
        return schedule

    def update(
        self,
        workspace: str,
        name: str,
        *,
        options: dict[str, Any] | None = None,
        enabled: bool | None = None,
        schedule: str | None = None,
    ) -> Source:
        current = self.get(workspace, name)
        with self._db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.workspace == workspace, SourceRow.name == name))
            assert row is not None
            if options is not None:
                row.options = validate_options(current.kind, options)
            if enabled is not None:
                row.enabled = enabled
            if schedule is not None:  # the CLI's cron:/interval: text; the options go with it
                row.schedule = schedule or None
                row.schedule_timezone, row.schedule_paused, row.schedule_anchor = None, False, None
            return _source(row)

    def remove(self, workspace: str, name: str) -> None:
        self.get(workspace, name)
        with self._db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.workspace == workspace, SourceRow.name == name))
            s.delete(row)


def folder_problem(source: Source) -> str | None:
    """Why a folder source cannot be read now (its path is missing or not a folder), else None.

    Checked where a person adds a source (CLI, HTTP), not by the store: a folder may go away later.
    """
    if source.kind is not SourceKind.FOLDER or not isinstance(source.options.get("path"), str):
        return None
    path = Path(source.options["path"]).expanduser()
    if path.is_dir():
        return None
    what = "is a file, not a folder" if path.exists() else "does not exist"
    return (f"the folder {path.resolve()} {what}; give the folder to index, e.g. "
            f"`--option path=./docs` (a path relative to where you run knowdesk, or absolute)")


def parse_option_pairs(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` from the CLI; repeated keys become lists."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"option {pair!r} is not key=value", option=pair)
        if key in options:
            prev = options[key]
            options[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            options[key] = value
    return options


def _source(row: SourceRow) -> Source:
    return Source(
        workspace=row.workspace,
        name=row.name,
        kind=SourceKind(row.kind),
        options=dict(row.options or {}),
        enabled=row.enabled,
    )


def _schedule(row: SourceRow) -> SourceSchedule | None:
    """The row's schedule; a row stored before migration 2520 reads as UTC, enabled, anchored at its
    last change (an interval set then counts from when a scheduler applied it)."""
    if not row.schedule:
        return None
    kind, _, value = row.schedule.partition(":")
    if kind not in ("cron", "interval") or (kind == "interval" and not value.isdigit()):
        return None
    return SourceSchedule(
        kind=ScheduleKind(kind),
        cron=value if kind == ScheduleKind.CRON else None,
        interval_seconds=int(value) if kind == ScheduleKind.INTERVAL else None,
        timezone=row.schedule_timezone or "UTC",
        enabled=not row.schedule_paused,
        anchor=row.schedule_anchor or row.updated_at,
    )
