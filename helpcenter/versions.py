"""Comparing two saved texts of a translation: a line diff a person reads (title, then body)."""

from __future__ import annotations

from difflib import SequenceMatcher
from enum import StrEnum

from core.models import Frozen
from helpcenter.models import Version

#: Unchanged lines kept around each change; longer unchanged runs are folded.
CONTEXT = 3


class Change(StrEnum):
    SAME = "same"
    ADDED = "added"
    REMOVED = "removed"
    FOLDED = "folded"


class DiffLine(Frozen):
    """One line of a diff; a ``folded`` line stands for ``text`` unchanged lines not shown."""

    change: Change
    text: str


class TextDiff(Frozen):
    """What changed from ``old`` to ``new``: the title (None when equal) and the body's lines."""

    old: int
    new: int
    title: tuple[str, str] | None
    lines: tuple[DiffLine, ...]
    added: int
    removed: int


def line_diff(old: str, new: str, *, context: int = CONTEXT) -> list[DiffLine]:
    """The lines of ``new`` against ``old``: removed and added lines with ``context`` unchanged
    lines around each change; the unchanged runs between changes are folded into one line."""
    a, b = old.splitlines(), new.splitlines()
    out: list[DiffLine] = []
    shown = 0  # lines of ``a`` accounted for so far
    for group in SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        start = group[0][1]
        if start > shown:
            out.append(DiffLine(change=Change.FOLDED, text=str(start - shown)))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(DiffLine(change=Change.SAME, text=line) for line in a[i1:i2])
                continue
            out.extend(DiffLine(change=Change.REMOVED, text=line) for line in a[i1:i2])
            out.extend(DiffLine(change=Change.ADDED, text=line) for line in b[j1:j2])
        shown = group[-1][2]
    if out and shown < len(a):
        out.append(DiffLine(change=Change.FOLDED, text=str(len(a) - shown)))
    return out


def compare(old: Version, new: Version) -> TextDiff:
    """``new`` against ``old`` (two versions of the same translation)."""
    lines = line_diff(old.body, new.body)
    return TextDiff(old=old.version, new=new.version,
                    title=None if old.title == new.title else (old.title, new.title), lines=tuple(lines),
                    added=sum(1 for x in lines if x.change is Change.ADDED),
                    removed=sum(1 for x in lines if x.change is Change.REMOVED))
