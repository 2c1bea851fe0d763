"""``build_evaluation``: the runner over a real agent composed for evaluation (called by composition roots).

The evaluation agent is the production agent with three differences: its sessions, messages,
contacts, tickets and handoffs live in a scratch database of their own (``scratch_sessions``), so
nothing of an evaluation shows in the workspace's handoffs, ticket numbers, insights or CSAT; handoffs
are never delivered to a helpdesk (no Zendesk tickets from test conversations); and the agent config is
the workspace's config with the dataset's and each case's ``config`` laid over it, for the calls of
that case's thread only.
"""

from __future__ import annotations

import copy
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from actions.hook import ActionRunner
from agent.agent import ActionHook
from agent.build import build_agent
from agent.meaning import Embedder as AgentEmbedder
from agent.policy import AgentConfig, ConfigStore
from agent.scenarios import Retriever as AgentRetriever
from agent.sessions import SessionStore
from core.db import Database, make_engine, migrate
from core.errors import InvalidInput
from core.settings import AgentSettings, HelpdeskSettings, LLMSettings
from training.models import TrainingReader

from .metrics.grounding import MeaningMetrics
from .runner import Retriever, Runner


class OverlayConfigs(ConfigStore):
    """The workspace's ``AgentConfig`` with the dataset's config and the current case's laid over it."""

    def __init__(self, *, db: Database, config: dict[str, Any] | None = None) -> None:
        super().__init__(db=db)
        self.base = dict(config or {})
        self._local = threading.local()
        validate_config(self.base)

    def get(self, workspace: str) -> AgentConfig:
        stored = super().get(workspace).model_dump(mode="json")
        case = getattr(self._local, "config", None) or {}
        return AgentConfig.model_validate(stored | self.base | case)

    @contextmanager
    def scoped(self, config: dict[str, Any]) -> Iterator[None]:
        validate_config(config)
        self._local.config = dict(config)
        try:
            yield
        finally:
            self._local.config = None


def validate_config(config: dict[str, Any]) -> None:
    """Raise ``InvalidInput`` when ``config`` is not a valid partial ``AgentConfig``."""
    try:
        AgentConfig.model_validate(config)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid agent config in the dataset: {problems}") from exc


@contextmanager
def scratch_sessions() -> Iterator[Database]:
    """A throw-away state database (SQLite in a temporary folder) for an evaluation's conversations."""
    with tempfile.TemporaryDirectory(prefix="knowdesk-eval-sessions-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'sessions.db'}")
        try:
            migrate(engine)
            yield Database(engine=engine)
        finally:
            engine.dispose()


def build_evaluation(
    *,
    db: Database,
    sessions: Database,
    retriever: Retriever,
    embedder: Any,
    settings: AgentSettings,
    workspace: str,
    config: dict[str, Any] | None = None,
    llm: LLMSettings | None = None,
    training: TrainingReader | None = None,
    actions: ActionHook | None = None,
    workers: int | None = None,
    reranked: bool = False,
) -> Runner:
    """A ``Runner`` over a fresh agent built like production but without helpdesk delivery.

    Args:
        db: the workspace's state database (agent config, read only here).
        sessions: where the evaluation's conversations go (``scratch_sessions()``), never ``db``.
        retriever: the searcher (``Runtime.searcher``); embedder: the index's model.
        config: the dataset header's agent config (per-case config is applied by the runner).
        reranked: the searcher's second ranking stage is on (as ``agent.build.build_agent``).
    """
    quiet = settings.model_copy(update={"helpdesk": HelpdeskSettings()})
    agent_retriever: AgentRetriever = retriever  # type: ignore[assignment]
    agent_embedder: AgentEmbedder = embedder
    if isinstance(actions, ActionRunner):  # the action hook reads the history of the evaluation's sessions
        actions = copy.copy(actions)
        actions.sessions = SessionStore(db=sessions)
    agent = build_agent(db=sessions, retriever=agent_retriever, embedder=agent_embedder, settings=quiet, llm=llm,
                        training=training, actions=actions, reranked=reranked)
    overlay = OverlayConfigs(db=db, config=config)
    agent.configs = overlay
    return Runner(agent=agent, retriever=retriever, meaning=MeaningMetrics(embedder=embedder), workspace=workspace,
                  scope=overlay, workers=workers)
