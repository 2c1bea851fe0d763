"""``ActionRunner``: the agent's ``ActionHook``. Matches a message to an action, fills and
validates its arguments, asks for what is missing, asks for confirmation, calls, renders.

Across turns it keeps one pending step per session (``ActionStore.pending``): the parameter it
asked for, or the call awaiting a yes/no. "No" (or anything negative) cancels the call; an
unrelated message drops the pending step and the agent goes on as usual. Every call and every
declined call is an ``action_call`` event on the session with redacted arguments.

With an LLM (``use_llm``), a new request is first put to the model: the candidate actions (the
top few retrieved for the message, filtered by channel and segments as without it) are offered as
tools, and the model's proposed call goes through the same steps: its arguments are vetted
(``tools.vet_arguments``: unknown, invalid and unevidenced values are dropped), merged with what
``ParameterFiller`` finds, missing ones are asked for, writes are confirmed, the call is made by
the same ``ActionCaller``. No tool call: the agent answers as usual. The LLM failing: the match by
meaning alone, with a note in the decision's trace.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from llama_index.core.llms.function_calling import FunctionCallingLLM

from agent.agent import ActionOutcome, TurnContext
from agent.decision import Action
from agent.llm import LLMUnavailable
from agent.redaction import RedactionConfig, Redactor
from agent.scenarios import Retriever
from agent.sessions import Role, SessionStore
from core.errors import NotFound
from core.models import DocumentKind
from retrieval.search import SearchFilters

from .caller import ActionCaller, CallResult, Outcome
from .intent import contact_only_missing, how_to_question, identifiers_in_message
from .models import ActionDef, Parameter, humanize
from .params import ParameterFiller
from .render import describe_call, render_failure, render_success
from .store import ActionStore
from .tools import ToolChooser, vet_arguments

log = logging.getLogger(__name__)

_NO = re.compile(r"\b(no|nope|nah|don'?t|do not|stop|never ?mind|not now|wait|hold on|cancel that|abort)\b", re.I)
_YES = re.compile(r"^\W*(yes|yeah|yep|yup|sure|ok|okay|please do|please|go ahead|do it|confirm(ed)?|correct|"
                  r"absolutely|y|affirmative|that's right|right)\b", re.I)
_SECRET_NAME = re.compile(r"pass|secret|token|api.?key|auth|card|cvv|iban|ssn", re.I)
#: Handoff on these; a 4xx other than 401/403 is the customer's to correct (wrong id, bad value).
_HANDOFF = {Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.NETWORK, Outcome.BLOCKED, Outcome.MISCONFIGURED}


class ActionRunner:
    """Implements ``agent.agent.ActionHook``.

    Args:
        store: the actions registry. sessions: the session store (history, events).
        retriever: search over the index (actions are kind=action). caller: makes the calls.
        threshold: the least cosine similarity of message and action phrasing to consider it.
        pending_seconds: how long a question or a confirmation stays open.
        tools: offers candidate actions to an LLM as tools (optional; see ``use_llm``).
        tool_threshold, tool_top_k: which retrieved actions are candidates for the LLM (a looser
            floor than ``threshold``: the model judges the rest).
        how_to_margin: a how-to question naming nothing to act on goes to the knowledge when its
            best chunk matches at most this much less than the action does.
    """

    def __init__(self, *, store: ActionStore, sessions: SessionStore, retriever: Retriever, caller: ActionCaller,
                 threshold: float = 0.55, pending_seconds: float = 1800.0, tools: ToolChooser | None = None,
                 tool_threshold: float = 0.4, tool_top_k: int = 5, how_to_margin: float = 0.2) -> None:
        self.store, self.sessions, self.retriever, self.caller = store, sessions, retriever, caller
        self.how_to_margin = how_to_margin
        self.threshold, self.pending_seconds = threshold, pending_seconds
        self.tools, self.tool_threshold, self.tool_top_k = tools, min(tool_threshold, threshold), tool_top_k
        self.filler = ParameterFiller()
        self._redactor = Redactor(RedactionConfig())

    def use_llm(self, tools: ToolChooser | None) -> None:
        """Offer actions to an LLM as tools (None: match by meaning only)."""
        self.tools = tools

    def offer_tools(self, llm: Any) -> bool:
        """``agent.agent.ToolHook``: offer the actions to ``llm`` as tools when it calls functions."""
        if not isinstance(llm, FunctionCallingLLM):
            return False
        self.use_llm(ToolChooser(llm=llm))
        return True

    def decide(self, context: TurnContext) -> ActionOutcome | None:
        ws, sid = context.workspace, context.session.id
        pending = self.store.pending(ws, sid)
        if pending and time.time() - float(pending.get("at", 0)) > self.pending_seconds:
            pending = None
        if pending:
            self.store.set_pending(ws, sid, None)
            outcome = self._continue(context, pending)
            if outcome is not None:
                return outcome
        if self.tools is not None:
            try:
                return self._with_tools(context, self.tools)
            except LLMUnavailable as exc:
                log.warning("actions: %s; matching by meaning instead", exc.message)
                context.notes.append(f"LLM unavailable for actions, matched by meaning instead: {exc.message}")
        match = self._match(context)
        if match is None:
            return None
        action, similarity = match
        return self._proceed(context, action, {}, similarity, answering=None)

    def _with_tools(self, context: TurnContext, tools: ToolChooser) -> ActionOutcome | None:
        candidates = self._candidates(context, top_k=self.tool_top_k, floor=self.tool_threshold)
        if not candidates:
            return None
        messages = self.sessions.messages(context.workspace, context.session.id)
        conversation = [(m.role.value, self._redactor.redact(m.text).text) for m in messages if m.role != Role.HUMAN
                        and m.text.strip()]
        if not conversation or conversation[-1] != ("customer", context.message):
            conversation.append(("customer", context.message))
        choice = tools.choose([a for a, _ in candidates], conversation)
        offered = ", ".join(a.id for a, _ in candidates)
        if choice is None:
            context.notes.append(f"LLM called no action (offered: {offered})")
            return None
        action = choice.action
        similarity = next(s for a, s in candidates if a.id == action.id)
        evidence = [m.text for m in messages if m.role == Role.CUSTOMER]
        if context.message not in evidence:
            evidence.append(context.message)
        earlier = evidence[:-1][::-1]
        found = self.filler.fill(action, context.message, history=earlier, contact=context.session.contact).args
        vetted = vet_arguments(action, choice.arguments, evidence=evidence, contact=context.session.contact,
                               found=found)
        note = f"LLM chose action {action.id} (offered: {offered})"
        if vetted.dropped:
            note += "; dropped arguments: " + ", ".join(f"{k} ({why})" for k, why in sorted(vetted.dropped.items()))
        context.notes.append(note)
        return self._proceed(context, action, vetted.accepted, similarity, answering=None)

    # -- steps ----------------------------------------------------------------------------------
    def _continue(self, context: TurnContext, pending: dict[str, Any]) -> ActionOutcome | None:
        try:
            action = self.store.get(context.workspace, pending["action"])
        except NotFound:
            return None
        args = dict(pending.get("args") or {})
        if pending.get("kind") == "confirm":
            if _NO.search(context.message):
                self._event(context, action, args, {}, status="declined")
                return ActionOutcome(reply=f"OK, I won't do that ({describe_call(action, args)}). Is there anything "
                                     "else I can help with?", confidence=1.0, name=action.id, kind=Action.ANSWER)
            if _YES.search(context.message):
                return self._call(context, action, args, float(pending.get("similarity", 1.0)))
            return None  # neither yes nor no: nothing is called, the message is handled afresh
        asking = str(pending.get("asking") or "")
        filled = self.filler.fill(action, context.message, contact=context.session.contact, known=args,
                                  answering=asking)
        if asking not in filled.args:
            tries = int(pending.get("tries", 0))
            if asking in filled.invalid and tries < 2:
                p = action.parameter(asking)
                assert p is not None
                return self._ask(context, action, args, p, float(pending.get("similarity", 1.0)),
                                 problem=filled.invalid[asking], tries=tries + 1)
            return None
        return self._proceed(context, action, {**args, asking: filled.args[asking]},
                             float(pending.get("similarity", 1.0)), answering=asking)

    def _match(self, context: TurnContext) -> tuple[ActionDef, float] | None:
        candidates = self._candidates(context, top_k=3, floor=self.threshold)
        if not candidates:
            return None
        action, similarity = candidates[0]
        # "How do I skip a box?" is close in meaning to skip_delivery but asks for instructions: the
        # help center answers it when it matches at least as well, unless the message names what to
        # act on ("Where is BR-104233?"). "What's the status of my order?" has no article: the action.
        if how_to_question(context.message):
            filled = self.filler.fill(action, context.message, contact=context.session.contact, known={},
                                      answering=None)
            if not identifiers_in_message(action, filled):
                knowledge = max((float(h.dense_score or 0.0) for h in context.knowledge()), default=0.0)
                if knowledge >= similarity - self.how_to_margin:
                    context.notes.append(f"action {action.id} matched ({similarity:.2f}) but the message asks how "
                                         f"and the knowledge matches about as well ({knowledge:.2f}): answered from it")
                    return None
        return action, similarity

    def _candidates(self, context: TurnContext, *, top_k: int, floor: float) -> list[tuple[ActionDef, float]]:
        """The retrieved actions at or above ``floor`` that are enabled on the session's channel and
        open to the contact's segments, best first."""
        hits = self.retriever.search(
            context.message, workspace=context.workspace, top_k=top_k, per_document=1, query_vector=context.vector,
            filters=SearchFilters(kind=DocumentKind.ACTION.value, channel=context.session.channel.value))
        segments = set(context.session.contact.segments)
        out: list[tuple[ActionDef, float]] = []
        for hit in hits:
            similarity = float(hit.dense_score or 0.0)
            if hit.kind != DocumentKind.ACTION or similarity < floor:
                continue
            action_id = str((hit.payload.get("meta") or {}).get("action_id") or hit.document_id.split(":", 1)[-1])
            try:
                action = self.store.get(context.workspace, action_id)
            except NotFound:
                continue
            if context.session.channel not in action.channels:
                continue
            if action.segments and not segments & set(action.segments):
                continue
            if missing := contact_only_missing(action, context.session.contact):
                context.notes.append(f"action {action.id} skipped: it needs the contact's {', '.join(missing)}, "
                                     "which this visitor's record lacks (typed values are redacted)")
                continue
            if all(a.id != action.id for a, _ in out):
                out.append((action, similarity))
        return out

    def _proceed(self, context: TurnContext, action: ActionDef, known: dict[str, Any], similarity: float,
                 answering: str | None) -> ActionOutcome:
        messages = self.sessions.messages(context.workspace, context.session.id)
        earlier = [m.text for m in messages[:-1] if m.role == Role.CUSTOMER][::-1]
        filled = self.filler.fill(action, context.message, history=earlier, contact=context.session.contact,
                                  known=known, answering=None)
        args = filled.args
        if filled.missing:
            first = filled.missing[0]
            return self._ask(context, action, args, first, similarity, problem=filled.invalid.get(first.name))
        if action.confirm:
            self.store.set_pending(context.workspace, context.session.id,
                                   {"kind": "confirm", "action": action.id, "args": args, "at": time.time(),
                                    "similarity": similarity})
            return ActionOutcome(reply=f"Just to confirm: {describe_call(action, args)}. Shall I go ahead? "
                                 "Please answer yes or no.", confidence=similarity, name=action.id,
                                 kind=Action.CLARIFY)
        return self._call(context, action, args, similarity)

    def _ask(self, context: TurnContext, action: ActionDef, args: dict[str, Any], p: Parameter, similarity: float,
             *, problem: str | None = None, tries: int = 0) -> ActionOutcome:
        self.store.set_pending(context.workspace, context.session.id,
                               {"kind": "missing", "action": action.id, "args": args, "asking": p.name,
                                "at": time.time(), "similarity": similarity, "tries": tries})
        what = humanize(p.name)
        hint = f" ({p.description.rstrip('.')})" if p.description else ""
        prefix = "That doesn't look right" + (f" ({problem})" if problem else "") + ". " if problem else ""
        return ActionOutcome(reply=f"{prefix}To {action.title[0].lower()}{action.title[1:]}, I need the {what}{hint}. "
                             f"Could you tell me?", confidence=similarity, name=action.id, kind=Action.CLARIFY,
                             detail={"missing": p.name})

    def _call(self, context: TurnContext, action: ActionDef, args: dict[str, Any], similarity: float) -> ActionOutcome:
        result = self.caller.call(action, args, session_id=context.session.id)
        self._event(context, action, args, {}, result=result)
        if result.ok:
            reply = render_success(action, args, result, context.message)
            return ActionOutcome(reply=reply, confidence=max(similarity, 0.5), name=action.id,
                                 detail={"status": result.status})
        failed = result.outcome in _HANDOFF or result.status in (401, 403)
        return ActionOutcome(reply=render_failure(action, args, result), confidence=0.0 if failed else similarity,
                             name=action.id, failed=failed,
                             detail={"status": result.status, "outcome": result.outcome.value})

    # -- the session event ----------------------------------------------------------------------
    def _event(self, context: TurnContext, action: ActionDef, args: dict[str, Any], origin: dict[str, str], *,
               status: str | None = None, result: CallResult | None = None) -> None:
        data: dict[str, Any] = {
            "action": action.id, "operation": f"{action.method} {action.path}",
            "arguments": {k: self._redact(k, v) for k, v in args.items()},
        }
        if result is not None:
            data |= {"status": result.status, "outcome": result.outcome.value, "duration_ms": result.duration_ms,
                     "attempts": result.attempts}
            if not result.ok:
                data["error"] = result.message
        else:
            data |= {"status": None, "outcome": status, "duration_ms": 0.0}
        self.sessions.add_event(context.workspace, context.session.id, "action_call", data)

    def _redact(self, name: str, value: Any) -> Any:
        if _SECRET_NAME.search(name):
            return "[SECRET]"
        if isinstance(value, str):
            return self._redactor.redact(value).text
        if isinstance(value, dict | list):
            return self._redactor.redact(json.dumps(value)).text
        return value
