"""Conflicting-facts benchmark (issue 20, item 4): recall and precision of ``insights.conflicts`` on
a planted set mixed into the quickstart knowledge.

The planted set (``tests/fixtures/conflicts/planted.jsonl``, written for knowdesk) has 57 pairs of
passages that state different values for the same thing (51 in English across two sources, 6 across
languages: an English passage and its German, French or Spanish translation with another number)
and 28 pairs that must *not* be reported: paraphrases with the same values, the same values in
other units ("two weeks" / "14 days", "48 hours" / "two days") or in another order, a passage
giving both the old and the new price, translations with the same numbers. Side ``a`` of every pair
is a Markdown file of the folder source ``planted-a`` (English); side ``b`` is one of
``planted-b-<language>``. Both sit beside the quickstart knowledge (the sample help center and the
sample files), indexed with the real model, and the finder reads them back from the index.

Scoring: a reported document pair is a hit when it is a planted conflicting pair; anything else
reported (a planted consistent pair, two planted passages of different pairs, a planted passage
against the quickstart content, or two quickstart documents) counts against precision. Thresholds
were chosen on the odd-numbered pairs (``dev``); the even-numbered ones (``test``) are reported
apart.

Run: ``python -m bench.conflicts``. Not part of ``make test`` (``tests/integration/test_conflicts.py``
asserts the goals on the same world).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.conflicts import find_conflicts
from app.runtime import Runtime
from bench.common import save, timer
from core.models import Source, SourceKind
from core.settings import Settings
from insights.conflicts import ConflictReport

PLANTED = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "conflicts" / "planted.jsonl"
WORKSPACE = "default"


def planted() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PLANTED.read_text(encoding="utf-8").splitlines() if line.strip()]


def _document(source: str, record: dict[str, Any], side: str) -> tuple[str, str]:
    """(document id, file name) of one side of a planted pair."""
    language = record.get("lang_b", "en") if side == "b" else "en"
    name = f"{record['id']}.md" if language == "en" else f"{record['id']}.{language}.md"
    return f"{source}:{name}", name


def plant(rt: Runtime, root: Path, workspace: str = WORKSPACE) -> dict[tuple[str, str], tuple[str, bool]]:
    """Write and sync the planted passages as folder sources; returns the planted pairs:
    (document id, document id), sorted -> (pair id, conflicting)."""
    records = planted()
    truth: dict[tuple[str, str], tuple[str, bool]] = {}
    folders: dict[str, str] = {}
    for record in records:
        ids = []
        for side in "ab":
            language = record.get("lang_b", "en") if side == "b" else "en"
            source = "planted-a" if side == "a" else f"planted-b-{language}"
            folders[source] = language
            doc_id, name = _document(source, record, side)
            folder = root / source
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"# {record['title_' + side]}\n\n{record[side]}\n", encoding="utf-8")
            ids.append(doc_id)
        first, second = sorted(ids)
        truth[(first, second)] = (record["id"], bool(record["conflict"]))
    for source, language in sorted(folders.items()):
        added = rt.sources.add(Source(workspace=workspace, name=source, kind=SourceKind.FOLDER,
                                      options={"path": str(root / source), "language": language}))
        rt.sync(added)
    return truth


def quickstart_knowledge(rt: Runtime, workspace: str = WORKSPACE) -> None:
    """The quickstart's knowledge: the sample help center (and training) and the sample files."""
    from service.quickstart import import_samples, sample_sources

    import_samples(rt, workspace)
    for source in sample_sources(workspace):
        rt.sync(rt.sources.add(source))


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def score(report: ConflictReport, truth: dict[tuple[str, str], tuple[str, bool]]) -> dict[str, Any]:
    """Recall and precision over all pairs and per split (dev: odd pair numbers, test: even)."""
    reported = {_key(c.a.document_id, c.b.document_id): c for c in report.conflicts}
    conflicting = {key: pid for key, (pid, is_conflict) in truth.items() if is_conflict}

    def split_of(pid: str) -> str:
        return "dev" if int(pid[1:]) % 2 else "test"

    out: dict[str, Any] = {}
    for split in ("all", "dev", "test"):
        wanted = {k for k, pid in conflicting.items() if split == "all" or split_of(pid) == split}
        hits = [k for k in reported if k in wanted]
        wrong = []
        for key in reported:
            if key in conflicting:
                continue
            planted_pair = truth.get(key)
            if split == "all" or planted_pair is None or split_of(planted_pair[0]) == split:
                wrong.append(key)
        found = len(hits) + len(wrong)
        out[split] = {"planted": len(wanted), "found": len(hits), "false_positives": len(wrong),
                      "recall": round(len(hits) / len(wanted), 4) if wanted else None,
                      "precision": round(len(hits) / found, 4) if found else None}
    out["missed"] = sorted(pid for k, pid in conflicting.items() if k not in reported)
    out["false_positives"] = [
        {"pair": truth.get(k, ("-", False))[0], "a": c.a.document_id, "a_value": c.a.value, "b": c.b.document_id,
         "b_value": c.b.value, "dimension": c.dimension}
        for k, c in reported.items() if k not in conflicting]
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(home=Path(tmp) / "home"))
        try:
            with timer() as index_time:
                quickstart_knowledge(rt)
                truth = plant(rt, Path(tmp) / "planted")
            with timer() as find_time:
                report = find_conflicts(rt, WORKSPACE)
            result = score(report, truth) | {
                "chunks": report.chunks, "candidate_pairs": report.candidate_pairs,
                "reported": len(report.conflicts), "index_seconds": round(index_time(), 1),
                "find_seconds": round(find_time(), 2), "loadavg": os.getloadavg()}
        finally:
            rt.qdrant.close()
    path = save("conflicts", result)
    for split in ("all", "dev", "test"):
        r = result[split]
        print(f"{split:>4}: recall {r['recall']} ({r['found']}/{r['planted']}), precision {r['precision']} "
              f"({r['false_positives']} false positives)")
    print(f"{result['chunks']} chunks, {result['candidate_pairs']} candidate pairs, find {result['find_seconds']} s, "
          f"load {result['loadavg']}; missed {result['missed']}; written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
