"""Scenario-specific scenarios in the index: one point per trigger question (kind=scenario).

A published specific scenario becomes one ``Document`` (source id ``training``, native id the
scenario id) whose chunks are its trigger questions, each embedded on its own, so a paraphrase
of any trigger retrieves the scenario. The payload's ``meta`` carries ``scenario_id``,
``version``, ``channels`` and ``segments`` (space-separated; absent when unrestricted), which
``SearchFilters(channel=...)`` filters on. Behavioral scenarios are never indexed: the agent
loads them for every decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from core.db import Database
from core.ids import content_hash
from core.models import Chunk, Document, DocumentKind
from ingest.state import SyncState
from ingest.sync import Pipeline
from ingest.write import DocumentWriter, WriteItem
from training.models import Scenario, ScenarioKind

log = logging.getLogger(__name__)

SOURCE_ID = "training"
CHUNKER_VERSION = "triggers-1"


def scenario_document(scenario: Scenario, source_id: str = SOURCE_ID) -> Document:
    """The document of a published specific scenario (content: its triggers, one a line)."""
    meta = {"scenario_id": scenario.id, "version": str(scenario.version), "directory": scenario.directory,
            "is_instruction": str(scenario.is_instruction).lower()}
    if scenario.channels:
        meta["channels"] = " ".join(sorted(str(c) for c in scenario.channels))
    if scenario.segments:
        meta["segments"] = " ".join(sorted(scenario.segments))
    if scenario.threshold is not None:
        meta["threshold"] = str(scenario.threshold)
    return Document(workspace=scenario.workspace, source_id=source_id, native_id=scenario.id, title=scenario.title,
                    uri=f"training:{scenario.id}", kind=DocumentKind.SCENARIO, media_type="text/plain",
                    content="\n".join(scenario.triggers).encode("utf-8"), metadata=meta)


class ScenarioIndexer:
    """Keeps the index equal to the published scenario-specific scenarios.

    Args:
        pipeline: returns the live embedder and index writer (called per write, so a switch of the
            live index is followed; the parser and chunker are not used).
        db: the state database (documents are tracked like any source's, source ``training``).
    """

    def __init__(self, *, pipeline: Callable[[], Pipeline], db: Database, source_id: str = SOURCE_ID) -> None:
        self._pipeline = pipeline
        self._db = db
        self.source_id = source_id

    def state(self, workspace: str) -> SyncState:
        return SyncState(db=self._db, workspace=workspace, source=self.source_id)

    def index(self, scenario: Scenario) -> bool:
        """Write a published scenario's triggers (specific), or remove it (behavioral).

        Returns whether the index changed (unchanged scenarios are not re-embedded).
        """
        if scenario.kind is not ScenarioKind.SPECIFIC:
            return self.remove(scenario.workspace, [scenario.id]) > 0
        doc = scenario_document(scenario, self.source_id)
        state = self.state(scenario.workspace)
        writer = self._writer(state)
        embedder = writer.embedder
        known = state.get(doc.id)
        if known and known.is_current(chunker_version=CHUNKER_VERSION, model_id=embedder.model_id) \
                and known.fingerprint == doc.fingerprint:
            return False
        chunks = [Chunk(document_id=doc.id, index=i, text=t, embed_text=t, section=(),
                        token_count=embedder.count_tokens(t)) for i, t in enumerate(scenario.triggers)]
        writer.write([WriteItem(document=doc, chunks=chunks, content_hash=content_hash(*scenario.triggers))])
        log.info("indexed scenario %s v%d (%d triggers)", scenario.id, scenario.version, len(chunks))
        return True

    def remove(self, workspace: str, scenario_ids: Iterable[str]) -> int:
        """Delete scenarios from the index; returns how many were indexed."""
        state = self.state(workspace)
        indexed = state.indexed()
        doc_ids = [indexed[sid] for sid in scenario_ids if sid in indexed]
        self._writer(state).delete(workspace, doc_ids)
        return len(doc_ids)

    def _writer(self, state: SyncState) -> DocumentWriter:
        """The live pipeline's document writer (read per call, so a switch of the live index is followed)."""
        return self._pipeline().document_writer(state, chunker_version=CHUNKER_VERSION, keep_content=False)

    def reconcile(self, workspace: str, published: list[Scenario]) -> tuple[int, int]:
        """Index every published specific scenario and drop every other; returns (written, deleted)."""
        written = sum(self.index(s) for s in published if s.kind is ScenarioKind.SPECIFIC)
        keep = {s.id for s in published if s.kind is ScenarioKind.SPECIFIC}
        deleted = self.remove(workspace, [sid for sid in self.state(workspace).indexed() if sid not in keep])
        return written, deleted
