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
from collections.abc import Callable

from core.db import Database
from core.models import Document, DocumentKind
from ingest.phrases import PhraseIndexer
from ingest.sync import Pipeline
from ingest.write import WriteItem
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


class ScenarioIndexer(PhraseIndexer):
    """Keeps the index equal to the published scenario-specific scenarios.

    Args:
        pipeline: returns the live embedder and index writer (called per write, so a switch of the
            live index is followed; the parser and chunker are not used).
        db: the state database (documents are tracked like any source's, source ``training``).
    """

    chunker_version = CHUNKER_VERSION

    def __init__(self, *, pipeline: Callable[[], Pipeline], db: Database, source_id: str = SOURCE_ID) -> None:
        super().__init__(pipeline=pipeline, db=db, source_id=source_id)

    def index(self, scenario: Scenario) -> bool:
        """Write a published scenario's triggers (specific), or remove it (behavioral).

        Returns whether the index changed (unchanged scenarios are not re-embedded).
        """
        if scenario.kind is not ScenarioKind.SPECIFIC:
            return self.remove(scenario.workspace, [scenario.id]) > 0
        if not self.write_phrases(scenario_document(scenario, self.source_id), list(scenario.triggers)):
            return False
        log.info("indexed scenario %s v%d (%d triggers)", scenario.id, scenario.version, len(scenario.triggers))
        return True

    def write_item(self, scenario: Scenario) -> WriteItem:
        """The index write of a specific scenario (what ``index`` writes), for a staged index."""
        return self.item(scenario_document(scenario, self.source_id), list(scenario.triggers))

    def reconcile(self, workspace: str, published: list[Scenario]) -> tuple[int, int]:
        """Index every published specific scenario and drop every other; returns (written, deleted)."""
        written = sum(self.index(s) for s in published if s.kind is ScenarioKind.SPECIFIC)
        keep = {s.id for s in published if s.kind is ScenarioKind.SPECIFIC}
        deleted = self.remove(workspace, [sid for sid in self.state(workspace).indexed() if sid not in keep])
        return written, deleted
