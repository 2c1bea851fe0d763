"""Knowledge CI (issue 20): a change is evaluated against the index it would make before it goes live.

``KnowledgeCI.review`` stages the change: a copy of the live collection (``retrieval.staging``,
vectors copied, never behind the alias) receives the change's writes and deletes; the configured
dataset is replayed against it (``app.knowledge_ci.replay``) and compared with the live answers
(``evaluation.diff``). When a gated metric drops by more than its threshold, or more cases that
passed before fail after it than ``max_regressions`` allows (the per-case rule), the change is held:
it is stored as ``pending`` with its report and nothing of it is served (the caller puts its store
back; the live index was never written). ``accept`` applies it the way an ungated change would
have been applied; ``reject`` marks it rejected and touches nothing else.

Example::

    ci = KnowledgeCI(rt)
    change = ci.review("default", kind=ChangeKind.HELPCENTER, subject="refunds", writes=items,
                       deletes=[], change={...})
    if change.status is ChangeStatus.PENDING:
        ci.accept("default", change.id, by="lead")   # or ci.reject(...)
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from app.knowledge_ci.models import ChangeKind, ChangeStatus, CIReport, KnowledgeChange
from app.knowledge_ci.replay import Baselines, live_stamp, play, reached
from app.knowledge_ci.syncs import accept_sync, reject_sync
from app.knowledge_ci.tables import KnowledgeChangeRow
from app.retrieve import Retrieve
from core.errors import ConfigError, Conflict, InvalidInput, KnowdeskError, NotFound
from core.settings import KnowledgeCISettings
from core.tables import utcnow
from evaluation.datasets import Dataset, bundled_dataset_path, load_dataset
from evaluation.diff import check_thresholds, diff_runs
from evaluation.results import CaseResult
from ingest.write import DocumentWriter, WriteItem
from retrieval.search import Searcher
from retrieval.staging import StagedIndex, staged_name
from training.models import TrainingReader

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)
#: Applies an accepted change of one kind: (workspace, the stored change) -> None.
Applier = Callable[[str, dict[str, Any]], None]


def resolve_dataset(name: str) -> Dataset:
    """The dataset a setting or option names: ``bundled`` or the path of a .jsonl dataset.

    Raises:
        InvalidInput: no such file, or it is not a dataset.
    """
    path = bundled_dataset_path() if name == "bundled" else Path(name)
    try:
        return load_dataset(path)
    except InvalidInput as exc:
        raise InvalidInput(f"knowledge CI dataset {name!r}: {exc.message}; set KNOWDESK_KNOWLEDGE_CI__DATASET "
                           "(or --dataset) to a .jsonl evaluation dataset or `bundled`", dataset=name) from exc


class KnowledgeCI:
    """Reviews changes against the configured dataset and keeps the held ones until decided.

    Args:
        rt: the runtime (index engine, components of the live generation, state database).
        settings: the gate's dataset and thresholds (default: ``rt.settings.knowledge_ci``).
        replay: ``affected`` plays only the cases a change can reach; ``all`` plays every case.
    """

    def __init__(self, rt: Runtime, *, settings: KnowledgeCISettings | None = None,
                 replay: str = "affected") -> None:
        if replay not in ("affected", "all"):
            raise InvalidInput(f"replay must be 'affected' or 'all', not {replay!r}")
        self.rt = rt
        self.settings = settings or rt.settings.knowledge_ci
        self.replay = replay
        self.baselines = Baselines(folder=rt.settings.home / "knowledge-ci")
        self.appliers: dict[ChangeKind, Applier] = {ChangeKind.SYNC: partial(accept_sync, rt)}
        #: Cleans up after a rejected change of one kind (a held sync's staged collection).
        self.rejecters: dict[ChangeKind, Applier] = {ChangeKind.SYNC: partial(reject_sync, rt)}
        self._after: dict[str, tuple[Dataset, list[CaseResult]]] = {}

    @property
    def enabled(self) -> bool:
        return self.settings.dataset is not None

    def dataset(self) -> Dataset:
        """The configured dataset, read now.

        Raises:
            ConfigError: no dataset is configured. InvalidInput: it cannot be read, or a threshold is invalid.
        """
        if self.settings.dataset is None:
            raise ConfigError("knowledge CI has no dataset: set KNOWDESK_KNOWLEDGE_CI__DATASET to a .jsonl "
                              "evaluation dataset or `bundled`")
        check_thresholds(self.settings.thresholds)
        return resolve_dataset(self.settings.dataset)

    # -- review ---------------------------------------------------------------------------------
    def review(self, workspace: str, *, kind: ChangeKind, subject: str, writes: Sequence[WriteItem],
               deletes: Sequence[str], change: dict[str, Any], hold: bool = True,
               training: TrainingReader | None = None, reach_all: bool = False) -> KnowledgeChange:
        """Evaluate a change against the index it would make; store it as pending when the gate holds it
        (``hold``), else as passed (the caller then applies it).

        ``training``: what the agent reads with the change applied (default: the published training);
        ``reach_all``: the change can reach every case (the AI profile, a behavioral scenario), so
        every case is replayed.

        Raises:
            ConfigError / InvalidInput: no readable dataset or a bad threshold (nothing is stored).
        """
        dataset = self.dataset()
        started = time.perf_counter()
        change_id = "kc" + secrets.token_hex(8)
        live = self.rt.engine.live_collection()
        documents = [w.document.id for w in writes] + list(deletes)
        report = CIReport(dataset=dataset.header.name, cases=len(dataset.cases),
                          documents_written=tuple(w.document.id for w in writes), documents_deleted=tuple(deletes))
        if live is not None:
            report = self._evaluate(workspace, dataset, documents, report, training=training, reach_all=reach_all,
                                    stage=lambda: self._staged(workspace, live, change_id, writes, deletes))
        return self._record(workspace, change_id, kind, subject, change, report, started, hold=hold)

    def review_staged(self, workspace: str, *, kind: ChangeKind, subject: str, searcher_of: StagedIndex,
                      documents: Sequence[str], change: dict[str, Any], change_id: str) -> KnowledgeChange:
        """``review`` of a change already written into a staged collection (a gated sync); the
        collection is left as it is (the caller drops or promotes it).

        Raises:
            ConfigError / InvalidInput: no readable dataset or a bad threshold (nothing is stored).
        """
        dataset = self.dataset()
        started = time.perf_counter()
        report = CIReport(dataset=dataset.header.name, cases=len(dataset.cases), documents_written=tuple(documents))
        report = self._evaluate(workspace, dataset, documents, report, training=None, reach_all=False,
                                stage=lambda: nullcontext(self._searcher(searcher_of.collection_name)))
        return self._record(workspace, change_id, kind, subject, change, report, started, hold=True)

    def _record(self, workspace: str, change_id: str, kind: ChangeKind, subject: str, change: dict[str, Any],
                report: CIReport, started: float, *, hold: bool) -> KnowledgeChange:
        report = report.model_copy(update={"seconds": round(time.perf_counter() - started, 2)})
        status = ChangeStatus.PENDING if hold and report.held else ChangeStatus.PASSED
        if status is ChangeStatus.PENDING:
            self._after.pop(workspace, None)  # held: its answers do not become the live ones
        now = utcnow()
        with self.rt.db.session() as s:
            s.add(KnowledgeChangeRow(id=change_id, workspace=workspace, kind=kind.value, subject=subject,
                                     status=status.value, change=change, report=report.model_dump(mode="json"),
                                     created_at=now, decided_at=None if status is ChangeStatus.PENDING else now))
        log.info("knowledge CI %s (%s %s): %s, %d answers changed, %.1f s", change_id, kind.value, subject,
                 status.value, len(report.changed), report.seconds)
        return KnowledgeChange(id=change_id, workspace=workspace, kind=kind, subject=subject, status=status,
                               report=report, created_at=now, change=change)

    def _evaluate(self, workspace: str, dataset: Dataset, documents: Sequence[str], base: CIReport, *,
                  training: TrainingReader | None, reach_all: bool,
                  stage: Callable[[], AbstractContextManager[Searcher]]) -> CIReport:
        rt, timings = self.rt, {}
        touched = set(documents)
        clock = time.perf_counter()
        baseline = self.baseline(workspace, dataset)
        timings["baseline"] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        with stage() as searcher:
            timings["stage"] = round(time.perf_counter() - clock, 2)
            clock = time.perf_counter()
            cases = None if self.replay == "all" or reach_all else reached(
                dataset, baseline, searcher, workspace=workspace, documents=touched, depth=rt.settings.agent.top_k)
            timings["reach"] = round(time.perf_counter() - clock, 2)
            clock = time.perf_counter()
            played = play(rt, dataset, workspace=workspace, retrieve=Retrieve(searcher=searcher), cases=cases,
                          workers=self.settings.workers, training=training)
            timings["replay"] = round(time.perf_counter() - clock, 2)
            timings["replayed_cases"] = float(len(played))
        after = _merge(baseline, played)
        allowed = self.settings.max_regressions
        diff = diff_runs(dataset, baseline, after, self.settings.thresholds, max_regressions=allowed)
        self._after[workspace] = (dataset, after)  # the baseline once this change is live
        held_by = tuple(m.metric for m in diff.metrics if m.held) + (
            ("regressions",) if diff.held_by_regressions else ())
        return base.model_copy(update={
            "changed": diff.changed, "metrics": diff.metrics, "regressions": diff.regressions,
            "max_regressions": allowed, "held": diff.held, "held_by": held_by, "timings": timings})

    def baseline(self, workspace: str, dataset: Dataset) -> list[CaseResult]:
        """Every case's answer on the live knowledge: kept on disk while the live stamp holds, else
        played on an unchanged staged copy of the live collection (so that the baseline and the
        changed index differ by the change alone: a copy holds no deleted points that a long-lived
        collection may still count in its BM25 statistics)."""
        rt = self.rt
        stamp = live_stamp(rt, workspace, dataset)
        kept = self.baselines.load(workspace, dataset, stamp)
        if kept is not None:
            return kept
        live = rt.engine.live_collection()
        if live is None:
            raise ConfigError("nothing is indexed yet: there is no live knowledge to replay the dataset against")
        with self._staged(workspace, live, "kb" + secrets.token_hex(8), (), ()) as searcher:
            results = play(rt, dataset, workspace=workspace, retrieve=Retrieve(searcher=searcher),
                           workers=self.settings.workers)
        self.baselines.save(workspace, dataset, stamp, results)
        return results

    @contextmanager
    def _staged(self, workspace: str, live: str, change_id: str, writes: Sequence[WriteItem],
                deletes: Sequence[str]) -> Iterator[Searcher]:
        """A staged copy of the workspace's live points with the change applied, searched by name;
        dropped on the way out."""
        rt, c = self.rt, self.rt.components
        staged = rt.engine.staged_index(name=staged_name(live, change_id), model_id=c.embedder.model_id,
                                        dimension=c.embedder.dimension, chunker_version=c.chunker.version,
                                        sparse=rt.sparse)
        try:
            staged.copy_from(live, workspace)
            writer = DocumentWriter(embedder=c.bounded_embedder, index=staged, chunker_version=c.chunker.version,
                                    batch_chunks=rt.settings.sync.embed_batch_chunks, reuse_vectors=True)
            writer.write(writes)
            writer.delete(workspace, list(deletes))
            yield self._searcher(staged.collection_name)
        finally:
            try:
                staged.drop()
            except KnowdeskError as exc:
                log.warning("could not drop the staged collection %s: %s", staged.collection_name, exc.message)

    def _searcher(self, collection: str) -> Searcher:
        c = self.rt.components
        return self.rt.engine.searcher(alias=collection, embedder=c.query_embedder, sparse=self.rt.sparse,
                                       config=self.rt.settings.search)

    def went_live(self, workspace: str) -> None:
        """Record the staged results as the baseline of the now-live index (after a change is applied)."""
        kept = self._after.pop(workspace, None)
        if kept is not None:
            dataset, after = kept
            self.baselines.save(workspace, dataset, live_stamp(self.rt, workspace, dataset), after)

    # -- decisions ------------------------------------------------------------------------------
    def get(self, workspace: str, change_id: str) -> KnowledgeChange:
        """Raises ``NotFound`` (with how to list them) for an unknown id."""
        with self.rt.db.session() as s:
            row = s.get(KnowledgeChangeRow, change_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no knowledge change {change_id!r} in workspace {workspace!r}; list them with "
                               "`knowdesk knowledge-ci list`", change=change_id)
            return _change(row)

    def list(self, workspace: str, *, status: ChangeStatus | None = None, limit: int = 50) -> list[KnowledgeChange]:
        with self.rt.db.session() as s:
            query = select(KnowledgeChangeRow).where(KnowledgeChangeRow.workspace == workspace)
            if status is not None:
                query = query.where(KnowledgeChangeRow.status == status.value)
            rows = s.scalars(query.order_by(KnowledgeChangeRow.created_at.desc()).limit(limit))
            return [_change(r) for r in rows]

    def accept(self, workspace: str, change_id: str, *, by: str = "", note: str = "") -> KnowledgeChange:
        """Apply a pending change as an ungated change would have been applied, and mark it accepted.

        Raises:
            NotFound: unknown id. Conflict: already decided, or what it changes moved since it was held
            (it stays pending; nothing changed).
        """
        change = self._decide(workspace, change_id, ChangeStatus.ACCEPTED, by=by, note=note)
        apply = self.appliers.get(change.kind)
        try:
            if apply is None:
                raise ConfigError(f"no way to apply a {change.kind.value} change in this process")
            apply(workspace, change.change)
        except KnowdeskError:
            with self.rt.db.session() as s:
                s.execute(update(KnowledgeChangeRow).where(KnowledgeChangeRow.id == change_id)
                          .values(status=ChangeStatus.PENDING.value, decided_at=None, decided_by="", note=""))
            raise
        return self.get(workspace, change_id)

    def reject(self, workspace: str, change_id: str, *, by: str = "", note: str = "") -> KnowledgeChange:
        """Mark a pending change rejected: it never goes live and nothing stored changes.

        Raises:
            NotFound: unknown id. Conflict: already decided.
        """
        change = self._decide(workspace, change_id, ChangeStatus.REJECTED, by=by, note=note)
        if (clean := self.rejecters.get(change.kind)) is not None:
            clean(workspace, change.change)
        return self.get(workspace, change_id)

    def _decide(self, workspace: str, change_id: str, status: ChangeStatus, *, by: str, note: str) -> KnowledgeChange:
        current = self.get(workspace, change_id)
        with self.rt.db.session() as s:
            done = s.execute(update(KnowledgeChangeRow)
                             .where(KnowledgeChangeRow.id == change_id,
                                    KnowledgeChangeRow.status == ChangeStatus.PENDING.value)
                             .values(status=status.value, decided_at=utcnow(), decided_by=by[:200], note=note))
        if getattr(done, "rowcount", 0) != 1:
            now = self.get(workspace, change_id)
            when = f" at {now.decided_at.isoformat()}" if now.decided_at else ""
            raise Conflict(f"knowledge change {change_id!r} is {now.status.value}{when}, not pending; only a "
                           "pending change can be accepted or rejected", change=change_id, status=now.status.value)
        return current


def _merge(baseline: Sequence[CaseResult], played: Sequence[CaseResult]) -> list[CaseResult]:
    fresh = {r.id: r for r in played}
    return [fresh.get(r.id, r) for r in baseline]


def _change(row: KnowledgeChangeRow) -> KnowledgeChange:
    return KnowledgeChange(id=row.id, workspace=row.workspace, kind=ChangeKind(row.kind), subject=row.subject,
                           status=ChangeStatus(row.status), report=CIReport.model_validate(row.report),
                           created_at=row.created_at, decided_at=row.decided_at, decided_by=row.decided_by,
                           note=row.note, change=dict(row.change))
