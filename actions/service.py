"""``Actions``: the use cases the CLI and the HTTP API share (import, enable, secrets, allowlist),
keeping the registry and the index (kind=action) in step, and the agent's ``ActionRunner``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agent.scenarios import Retriever
from agent.sessions import SessionStore
from core.db import Database
from core.models import Channel
from core.settings import ActionSettings
from ingest.sync import Pipeline

from .caller import ActionCaller
from .hook import ActionRunner
from .indexing import ActionIndexer
from .models import ActionDef, ImportReport
from .openapi import parse_spec
from .secrets import SecretBox
from .store import ActionStore

log = logging.getLogger(__name__)


class Actions:
    """Imports specs and manages actions of every workspace.

    Args:
        db: the state database. pipeline: the live embedder and index writer (for kind=action).
        retriever: search (for the runner). settings: timeouts and thresholds.
        secrets: encrypts action secrets at rest (``secrets.build_secret_box``).
    """

    def __init__(self, *, db: Database, pipeline: Callable[[], Pipeline], retriever: Retriever,
                 settings: ActionSettings, secrets: SecretBox | None = None) -> None:
        self.store = ActionStore(db=db, secrets=secrets)
        self.indexer = ActionIndexer(pipeline=pipeline, db=db)
        self.caller = ActionCaller(store=self.store, timeout=settings.timeout, max_bytes=settings.max_response_bytes)
        self.runner = ActionRunner(store=self.store, sessions=SessionStore(db=db), retriever=retriever,
                                   caller=self.caller, threshold=settings.match_threshold,
                                   pending_seconds=settings.pending_seconds, tool_threshold=settings.tool_threshold,
                                   tool_top_k=settings.tool_candidates, how_to_margin=settings.how_to_margin)

    def import_spec(self, workspace: str, name: str, text: str | bytes, *, base_url: str | None = None,
                    channels: tuple[Channel, ...] = ()) -> ImportReport:
        """Parse, validate and store a spec; index the actions that are enabled on a channel.

        Raises:
            InvalidSpec: the document is not an OpenAPI 3.x / Swagger 2.0 spec (nothing imported).
        """
        start = time.perf_counter()
        parsed = parse_spec(text, workspace=workspace, name=name)
        stored, removed, conflicts = self.store.save_import(workspace, name, parsed, base_url=base_url,
                                                            channels=channels)
        for action in stored:
            if action.channels:
                self.indexer.index(action)
        if removed:
            self.indexer.remove(workspace, removed)
        report = ImportReport(spec=name, version=parsed.version, title=parsed.title,
                              imported=[a.id for a in stored], skipped=[*parsed.skipped, *conflicts],
                              problems=parsed.problems,
                              removed=removed, seconds=round(time.perf_counter() - start, 3))
        log.info("imported spec %s: %d actions, %d skipped", name, len(report.imported), len(report.skipped))
        return report

    def update(self, workspace: str, action_id: str, *, channels: tuple[Channel, ...] | None = None,
               segments: tuple[str, ...] | None = None, confirm: bool | None = None) -> ActionDef:
        """Enable an action on channels (empty: disabled), restrict it to segments, set its confirm flag."""
        action = self.store.update(workspace, action_id, channels=channels, segments=segments, confirm=confirm)
        self.indexer.index(action)
        return action

    def delete(self, workspace: str, action_id: str) -> ActionDef:
        action = self.store.delete(workspace, action_id)
        self.indexer.remove(workspace, [action_id])
        return action

    def delete_spec(self, workspace: str, name: str) -> list[ActionDef]:
        actions = self.store.delete_spec(workspace, name)
        self.indexer.remove(workspace, [a.id for a in actions])
        return actions
