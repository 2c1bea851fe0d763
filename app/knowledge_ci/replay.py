"""Replaying a dataset against the live index and against a staged one, only where it can differ.

A change touches a few documents. The answer to a case can only change when the agent saw one of
them: in the live index (the baseline run's retrieved and cited documents) or in the staged one
(the case's messages searched there, as deep as the agent searches). Only those cases are played
against the staged index; every other case keeps its baseline result. ``replay="all"`` plays
every case (the bench compares the two and reports any difference).

The baseline (every case against the live index) is kept under ``KNOWDESK_HOME/knowledge-ci`` with
a stamp of everything an answer depends on (the indexed documents' hashes, the published training,
the agent config, the dataset); it is played again only when the stamp changed. After a change
goes live its staged results become the new baseline, so the next review starts warm.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select

from agent.policy import ConfigStore
from app.retrieve import Retrieve
from core.tables import DocumentRow
from evaluation.build import build_evaluation, scratch_sessions
from evaluation.datasets import Dataset
from evaluation.results import CaseResult, ResultsFile
from evaluation.runner import CONTENT, Runner
from retrieval.search import Searcher
from training.models import TrainingReader

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)
#: Hits of any kind (scenarios too) a case's messages are searched for in the staged index.
REACH_SCENARIOS = 5
#: Hits beyond the agent's own depth that still make a case reachable.
REACH_MARGIN = 2


def live_stamp(rt: Runtime, workspace: str, dataset: Dataset) -> str:
    """A hash of everything the live answers to ``dataset`` depend on (see the module docstring)."""
    h = hashlib.sha256()
    h.update((rt.engine.live_collection() or "").encode())
    with rt.db.session() as s:
        rows = s.execute(select(DocumentRow.document_id, DocumentRow.fingerprint, DocumentRow.content_hash,
                                DocumentRow.chunk_count, DocumentRow.status)
                         .where(DocumentRow.workspace == workspace).order_by(DocumentRow.document_id))
        for row in rows:
            h.update(repr(tuple(row)).encode())
    for scenario in rt.training.store.published(workspace):
        h.update(scenario.model_dump_json().encode())
    profile = rt.training.profile(workspace)
    h.update(profile.model_dump_json().encode() if profile else b"-")
    h.update(ConfigStore(db=rt.db).get(workspace).model_dump_json().encode())
    h.update(rt.settings.agent.model_dump_json().encode())
    h.update(rt.settings.search.model_dump_json().encode())
    h.update(json.dumps(dataset.header.model_dump(mode="json"), sort_keys=True).encode())
    for case in dataset.cases:
        h.update(case.fingerprint().encode())
    return h.hexdigest()


class Baselines:
    """Baseline runs kept on disk, one file per workspace and dataset, valid for one stamp."""

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder

    def _path(self, workspace: str, dataset: Dataset) -> Path:
        name = hashlib.sha256(f"{workspace}\0{dataset.header.name}".encode()).hexdigest()[:16]
        return self.folder / f"baseline-{name}.jsonl"

    def load(self, workspace: str, dataset: Dataset, stamp: str) -> list[CaseResult] | None:
        path = self._path(workspace, dataset)
        try:
            head, *lines = path.read_text(encoding="utf-8").splitlines()
            if json.loads(head).get("stamp") != stamp:
                return None
            results = [CaseResult.model_validate_json(line) for line in lines if line.strip()]
        except (OSError, ValueError, ValidationError, AttributeError):
            return None
        ids = {r.id for r in results}
        return results if all(c.id in ids for c in dataset.cases) else None

    def save(self, workspace: str, dataset: Dataset, stamp: str, results: Iterable[CaseResult]) -> None:
        path = self._path(workspace, dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        lines = [json.dumps({"stamp": stamp})] + [r.model_dump_json() for r in results]
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(path)


def play(rt: Runtime, dataset: Dataset, *, workspace: str, retrieve: Retrieve, cases: Sequence[str] | None = None,
         workers: int | None = None, training: TrainingReader | None = None) -> list[CaseResult]:
    """Play ``dataset`` (or only the ``cases`` ids) through an evaluation agent over ``retrieve``,
    reading ``training`` (default: the published training)."""
    wanted = dataset if cases is None else dataset.model_copy(
        update={"cases": [c for c in dataset.cases if c.id in set(cases)]})
    if not wanted.cases:
        return []
    c = rt.components
    with scratch_sessions() as sessions, tempfile.TemporaryDirectory(prefix="knowdesk-kci-") as tmp:
        runner: Runner = build_evaluation(
            db=rt.db, sessions=sessions, retriever=retrieve, embedder=c.embedder, settings=rt.settings.agent,
            workspace=workspace, config=dataset.header.config, llm=rt.settings.llm, training=training or rt.training,
            actions=getattr(c.agent, "actions", None), workers=workers)
        return runner.run(wanted, ResultsFile(Path(tmp) / "results.jsonl"))


def reached(dataset: Dataset, baseline: Sequence[CaseResult], staged: Searcher, *, workspace: str,
            documents: set[str], depth: int) -> list[str]:
    """Ids of the cases whose answer a change of ``documents`` can reach (see the module docstring);
    a scenario the baseline answer applied counts as its document (``training:<scenario id>``).

    ``depth``: how many hits the agent reads per message (``KNOWDESK_AGENT__TOP_K``); the staged
    index is searched ``REACH_MARGIN`` deeper, so a changed document just below the agent's cut
    counts too. Scenarios are searched for only when the change touches one.
    """
    scenarios = any(d.startswith("training:") for d in documents)
    if not documents:
        return []
    by_id = {r.id: r for r in baseline}
    out = []
    for case in dataset.cases:
        old = by_id.get(case.id)
        seen: set[str] = set()
        for turn in old.turns if old else ():
            seen.update(turn.retrieved)
            seen.update(f"training:{sid}" for sid in turn.scenarios)
            seen.update(str(c.get("document_id", "")) for c in turn.citations)
        if old is None or seen & documents:
            out.append(case.id)
            continue
        for message in case.messages:
            hits = staged.search(message.text, workspace=workspace, filters=CONTENT, top_k=depth + REACH_MARGIN)
            if scenarios:
                hits += staged.search(message.text, workspace=workspace, top_k=REACH_SCENARIOS, per_document=1)
            if {h.document_id for h in hits} & documents:
                out.append(case.id)
                break
    return out
