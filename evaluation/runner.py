"""Plays each case through the real agent (a fresh session per case) and retrieval alone.

Cases run in parallel threads (the model encodes thread-safely; the database serializes writes).
Every finished case is appended to the results file at once, so an interrupted run resumes where it
stopped: a re-run skips the ids already in the file whose content has not changed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from agent.agent import Agent
from agent.decision import Action, Decision
from core.errors import KnowdeskError
from core.models import Hit
from retrieval.search import SearchFilters, knowledge_by_default

from .datasets import Case, Dataset, Expectation, ExpectedAction, Outcome, Turn, is_relevant
from .metrics.grounding import MeaningMetrics
from .metrics.text import facts_present, rouge_l, token_f1
from .results import CaseResult, Check, ResultsFile, TurnResult

log = logging.getLogger(__name__)

CONTENT = knowledge_by_default(None)
RETRIEVAL_DEPTH = 10
NO_ACTIONS = ("no action is enabled in the workspace (the bundled dataset's actions come from `knowdesk quickstart`; "
              "`knowdesk eval bundled` serves their sample API)")


class Retriever(Protocol):
    """Retrieval alone (``retrieval.search.Searcher``)."""

    def search(
        self, query: str, *, workspace: str, filters: SearchFilters | None = None, top_k: int = 5,
        per_document: int | None = None,
    ) -> list[Hit]: ...


class ConfigScope(Protocol):
    """Applies a case's agent config to the calls made on this thread (``evaluation.build``)."""

    def scoped(self, config: dict[str, Any]) -> AbstractContextManager[None]: ...


class Runner:
    """Runs a dataset against an agent.

    Args:
        agent: the real agent (``evaluation.build.build_evaluation_agent``).
        retriever: the searcher, for retrieval metrics and the cited text of groundedness.
        meaning: similarity and groundedness with the index's model.
        workspace: where the knowledge is indexed; sessions are opened there.
        scope: applies per-case agent config (optional).
        workers: threads (default: the machine's cores).
    """

    def __init__(
        self, *, agent: Agent, retriever: Retriever, meaning: MeaningMetrics, workspace: str,
        scope: ConfigScope | None = None, workers: int | None = None,
    ) -> None:
        self.agent, self.retriever, self.meaning, self.workspace = agent, retriever, meaning, workspace
        self.scope = scope
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.threshold = agent.settings.scenario_threshold
        self._capabilities: set[str] | None = None

    def capabilities(self) -> set[str]:
        """What the agent can do here: ``actions`` when it has an action hook and (for the registry's
        ``ActionRunner``) the workspace has an action enabled on a channel; ``llm`` when one is configured."""
        found: set[str] = set()
        hook = getattr(self.agent, "actions", None)
        store = getattr(hook, "store", None)
        if hook is not None and (store is None or any(a.channels for a in store.actions(self.workspace))):
            found.add("actions")
        if getattr(self.agent, "llm", None) is not None:
            found.add("llm")
        return found

    def run(
        self, dataset: Dataset, results: ResultsFile, *, progress: Callable[[CaseResult, int, int], None] | None = None
    ) -> list[CaseResult]:
        """Results for every case in dataset order; finished cases are read back, not played again."""
        self._capabilities = self.capabilities()
        done = results.load()
        todo = [c for c in dataset.cases if not (c.id in done and done[c.id].fingerprint == c.fingerprint())]
        log.info("evaluating %d cases (%d already finished) with %d threads", len(todo),
                 len(dataset.cases) - len(todo), self.workers)
        finished = len(dataset.cases) - len(todo)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="eval") as pool:
            futures = [pool.submit(self.play, case) for case in todo]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                done[result.id] = result
                finished += 1
                if progress:
                    progress(result, finished, len(dataset.cases))
        return [done[c.id] for c in dataset.cases]

    # -- one case -----------------------------------------------------------------------------------
    def play(self, case: Case) -> CaseResult:
        base = {"id": case.id, "fingerprint": case.fingerprint(), "tags": list(case.tags),
                "expected_outcome": case.expect.outcome.value if case.expect.outcome else None,
                "expected_reason": case.expect.handoff_reason.value if case.expect.handoff_reason else None,
                "language": case.language}
        capabilities = self._capabilities if self._capabilities is not None else self.capabilities()
        missing = sorted(set(case.requires) - capabilities)
        if missing:
            why = {"actions": NO_ACTIONS, "llm": "no LLM is configured"}
            return CaseResult(**base, status="unsupported", reason="; ".join(why[m] for m in missing))
        try:
            session_id, turns = self._converse(case)
            ranked, documents = self._retrieval(case)
            calls = [dict(e.data) for e in self.agent.store.events(self.workspace, session_id)
                     if e.type == "action_call"]
        except KnowdeskError as exc:
            log.warning("case %s failed: %s", case.id, exc.message)
            return CaseResult(**base, status="error", reason=exc.message)
        checks: list[Check] = []
        for i, (turn, decision) in enumerate(turns):
            if turn.expect is not None:
                checks += self._check(turn.expect, decision, i)
        last = turns[-1][1]
        checks += self._check(case.expect, last, len(turns) - 1)
        if case.expect.action is not None:
            checks += _action_checks(case.expect.action, calls, len(turns) - 1)
        scores, unsupported = self._scores(case.expect, last)
        relevant = case.expect.relevant
        return CaseResult(
            **base,
            turns=[_turn(t.text, d, ms, self.threshold) for t, (d, ms) in turns],
            checks=checks,
            ranked_relevant=ranked,
            relevant_count=len(relevant),
            retrieved_documents=documents,
            scores=scores,
            unsupported_sentences=unsupported,
            correct=_correct(case.expect, last[0], self.threshold),
            requires=list(case.requires),
            action_calls=calls,
        )

    def _converse(self, case: Case) -> tuple[str, list[tuple[Turn, tuple[Decision, float]]]]:
        contact = case.contact.ref() if case.contact else None
        played = []
        with self.scope.scoped(case.config) if self.scope else nullcontext():
            session = self.agent.store.create(self.workspace, channel=case.channel, contact=contact)
            for turn in case.messages:
                start = time.perf_counter()
                decision = self.agent.handle(self.workspace, session.id, turn.text)
                played.append((turn, (decision, (time.perf_counter() - start) * 1000)))
        return session.id, played

    def _retrieval(self, case: Case) -> tuple[list[bool] | None, list[str]]:
        hits = self.retriever.search(case.last, workspace=self.workspace, filters=CONTENT, top_k=RETRIEVAL_DEPTH,
                                     per_document=1)
        documents = [h.document_id for h in hits]
        if not case.expect.relevant:
            return None, documents
        return [is_relevant(h.document_id, h.uri, case.expect.relevant) for h in hits], documents

    def _check(self, expect: Expectation, played: tuple[Decision, float], turn: int) -> list[Check]:
        decision = played[0]
        action = decision.action.value
        checks: list[Check] = []

        def add(name: str, ok: bool | None, detail: str = "") -> None:
            status = "skipped" if ok is None else "passed" if ok else "failed"
            checks.append(Check(name=name, status=status, turn=turn, detail=detail))

        if expect.outcome is not None:
            add("outcome", expect.outcome.accepts(action), f"expected {expect.outcome.value}, got {action}")
        if expect.handoff_reason is not None:
            got = decision.handoff.reason.value if decision.handoff else None
            add("handoff_reason", got == expect.handoff_reason.value,
                f"expected {expect.handoff_reason.value}, got {got}")
        answered = decision.action in (Action.ANSWER, Action.ACTION_CALL)
        if expect.scenario is not None:
            applied = _scenarios(decision, self.threshold)
            add("scenario", expect.scenario in applied, f"expected {expect.scenario}, applied {applied or 'none'}")
        elif expect.relevant and expect.outcome is Outcome.ANSWER:
            cited = [c.document_id for c in decision.citations]
            ok = any(is_relevant(c.document_id, c.url, expect.relevant) for c in decision.citations)
            add("cited_relevant", ok if answered else None,
                f"cited {cited or 'nothing'}; relevant {list(expect.relevant)}")
        if expect.must_include:
            present = facts_present(expect.must_include, decision.reply)
            missing = [f for f, ok in zip(expect.must_include, present, strict=True) if not ok]
            add("must_include", all(present) if answered else None,
                f"missing {missing}" if missing else "all present")
        return checks

    def _scores(self, expect: Expectation, played: tuple[Decision, float]) -> tuple[dict[str, float], list[str]]:
        decision = played[0]
        scores: dict[str, float] = {}
        if decision.action not in (Action.ANSWER, Action.ACTION_CALL):
            return scores, []
        if expect.reference:
            scores["token_f1"] = token_f1(decision.reply, expect.reference)
            scores["rouge_l"] = rouge_l(decision.reply, expect.reference)
            scores["similarity"] = self.meaning.similarity_with(decision.reply, expect.reference)
        if expect.must_include:
            present = facts_present(expect.must_include, decision.reply)
            scores["facts"] = sum(present) / len(present)
        cited = [c.document_id for c in decision.citations if not c.document_id.startswith("training:")]
        if not cited:
            return scores, []
        hits = self.retriever.search(decision.reply[:2000], workspace=self.workspace,
                                     filters=SearchFilters(document_id=list(dict.fromkeys(cited))), top_k=20,
                                     per_document=20)
        grounding = self.meaning.groundedness(decision.reply, [h.text for h in hits])
        if grounding.score is not None:
            scores["groundedness"] = grounding.score
        return scores, list(grounding.unsupported)


def _turn(message: str, decision: Decision, ms: float, threshold: float) -> TurnResult:
    name, arguments = _action_call(decision)
    trace = decision.trace
    return TurnResult(
        message=message, action=decision.action.value, reply=decision.reply, confidence=decision.confidence,
        handoff_reason=decision.handoff.reason.value if decision.handoff else None,
        citations=[c.model_dump(mode="json") for c in decision.citations],
        retrieved=list(dict.fromkeys(r.document_id for r in trace.retrieved)),
        scenarios=_scenarios(decision, threshold),
        triggers=[{"name": t.name, "score": round(t.score, 3), "threshold": t.threshold}
                  for t in trace.triggers if t.fired],
        action_name=name, action_arguments=arguments, latency_ms=round(ms, 2), notes=list(trace.notes),
        signals=dict(trace.signals), language=trace.language,
    )


def _scenarios(decision: Decision, threshold: float) -> list[str]:
    """Specific scenarios the agent applied: answered from, or (instructions) matched at the threshold."""
    applied = [s.id for s in decision.trace.scenarios if s.applied and s.kind == "specific"]
    matched = [s for s in decision.trace.scenarios
               if s.kind == "specific" and s.score is not None and s.score >= threshold]
    if matched:
        applied.append(max(matched, key=lambda s: s.score or 0.0).id)
    cited = [c.document_id.split(":", 1)[1] for c in decision.citations if c.document_id.startswith("training:")]
    return list(dict.fromkeys(applied + cited))


def _action_call(decision: Decision) -> tuple[str | None, dict[str, Any] | None]:
    """The action the agent called. Issue 9 defines where it lands; read the likely places."""
    if decision.action is not Action.ACTION_CALL:
        return None, None
    data = decision.to_json()
    for found in (data.get("action_call"), data.get("trace", {}).get("action")):
        if isinstance(found, dict) and found.get("name"):
            return str(found["name"]), dict(found.get("arguments") or {})
    for note in decision.trace.notes:
        if note.startswith("action "):
            return note.split(" ", 1)[1], None
    return None, None


def _action_checks(expected: ExpectedAction, calls: list[dict[str, Any]], turn: int) -> list[Check]:
    """The expected action against the calls the session recorded (``action_call`` events)."""
    names = [str(c.get("action")) for c in calls]
    same = [c for c in calls if c.get("action") == expected.name]
    arguments = dict(same[-1].get("arguments") or {}) if same else {}
    wrong = {k: arguments.get(k) for k, v in expected.arguments.items() if arguments.get(k) != v}
    checks = [
        Check(name="action_name", status="passed" if same else "failed", turn=turn,
              detail=f"expected {expected.name}, called {names or 'nothing'}"),
        Check(name="action_arguments", status="passed" if same and not wrong else "failed", turn=turn,
              detail=f"differing {wrong}" if wrong else "all match"),
    ]
    if expected.outcome is not None:
        got = same[-1].get("outcome") if same else None
        checks.append(Check(name="action_outcome", status="passed" if got == expected.outcome else "failed",
                            turn=turn, detail=f"expected {expected.outcome}, got {got}"))
    return checks


def _correct(expect: Expectation, decision: Decision, threshold: float) -> bool | None:
    """The calibration label: would answering this message have been right?

    Only decisions on the confidence path count (answers, clarifications, low-confidence handoffs).
    Answerable questions are right when the agent cites (or, not answering, ranks first) a relevant
    document, or applies the expected scenario; questions that must not be answered never are.
    """
    reason = decision.handoff.reason.value if decision.handoff else None
    if decision.action is Action.HANDOFF and reason != "low_confidence":
        return None
    if decision.action is Action.ACTION_CALL:
        return None
    if expect.outcome in (Outcome.NO_ANSWER, Outcome.CLARIFY) or (
        expect.outcome is Outcome.HANDOFF and expect.handoff_reason in (None, "low_confidence")
    ):
        return False
    if expect.outcome is not Outcome.ANSWER:
        return None
    if expect.scenario is not None:
        return decision.action is Action.ANSWER and expect.scenario in _scenarios(decision, threshold)
    if not expect.relevant:
        return None
    if decision.action is Action.ANSWER:
        return any(is_relevant(c.document_id, c.url, expect.relevant) for c in decision.citations)
    first = decision.trace.retrieved[0].document_id if decision.trace.retrieved else None
    return first is not None and is_relevant(first, None, expect.relevant)

