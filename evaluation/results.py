"""Per-case results and the resumable results file (one JSON line per finished case)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from core.models import Frozen

log = logging.getLogger(__name__)

CheckStatus = Literal["passed", "failed", "skipped"]


class Check(Frozen):
    """One expectation checked on one turn: passed, failed, or skipped (with why)."""

    name: str
    status: CheckStatus
    turn: int
    detail: str = ""


class TurnResult(Frozen):
    """The decision for one customer message, as the evaluation keeps it (what the agent saw)."""

    message: str
    action: str
    reply: str
    confidence: float
    handoff_reason: str | None = None
    citations: list[dict[str, Any]] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)
    scenarios: list[str] = Field(default_factory=list)
    triggers: list[dict[str, Any]] = Field(default_factory=list)
    action_name: str | None = None
    action_arguments: dict[str, Any] | None = None
    latency_ms: float
    notes: list[str] = Field(default_factory=list)
    #: the decision record's signals (trigger scores, confidence inputs) and detected language
    signals: dict[str, float] = Field(default_factory=dict)
    language: str | None = None


class CaseResult(Frozen):
    """Everything measured for one case. ``status`` is ``unsupported`` when it needs a capability
    the agent does not have yet (e.g. actions), ``error`` when playing it raised."""

    id: str
    fingerprint: str
    tags: list[str] = Field(default_factory=list)
    status: Literal["scored", "unsupported", "error"] = "scored"
    reason: str = ""
    expected_outcome: str | None = None
    expected_reason: str | None = None
    #: the case's language as the dataset states it (None: not stated)
    language: str | None = None
    turns: list[TurnResult] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    #: retrieval alone for the last message: relevance of each ranked document (None: no relevant set)
    ranked_relevant: list[bool] | None = None
    relevant_count: int = 0
    retrieved_documents: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    unsupported_sentences: list[str] = Field(default_factory=list)
    #: confidence label: would answering the last message have been right (None: not in the population)
    correct: bool | None = None
    requires: list[str] = Field(default_factory=list)
    #: the session's ``action_call`` events (name, operation, redacted arguments, outcome)
    action_calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "scored" and all(c.status != "failed" for c in self.checks)

    @property
    def last(self) -> TurnResult | None:
        return self.turns[-1] if self.turns else None

    @property
    def lang(self) -> str:
        """The stated language, else the one the agent detected on the first message, else ``unknown``."""
        return self.language or (self.turns[0].language if self.turns else None) or "unknown"


class ResultsFile:
    """An append-only JSONL file of ``CaseResult``s; a re-run skips ids already finished.

    A line that cannot be read (a run killed mid-write) is ignored, so that case is played again.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, CaseResult]:
        done: dict[str, CaseResult] = {}
        if not self.path.is_file():
            return done
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                result = CaseResult.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError):
                log.warning("%s line %d is incomplete; that case is played again", self.path, number)
                continue
            done[result.id] = result
        return done

    def append(self, result: CaseResult) -> None:
        line = json.dumps(result.model_dump(mode="json"), ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()

    def reset(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)
