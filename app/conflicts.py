"""The conflicting-facts use case: one pass of ``insights.conflicts.ConflictFinder`` over the live
index of a workspace, stored as its latest report (CLI ``knowdesk conflicts``, HTTP
``/v1/conflicts``, the admin insights page)."""

from __future__ import annotations

from app.runtime import Runtime
from insights.conflicts import ConflictFinder, ConflictReport, ConflictStore


def find_conflicts(rt: Runtime, workspace: str) -> ConflictReport:
    """Compare the workspace's indexed knowledge for conflicting facts and store the report."""
    report = ConflictFinder(chunks=rt.index).find(workspace)
    ConflictStore(db=rt.db).save(report)
    return report


def latest_conflicts(rt: Runtime, workspace: str) -> ConflictReport | None:
    """The stored report of the last pass, or None before the first."""
    return ConflictStore(db=rt.db).latest(workspace)
