"""Actions as LLM tools (function calling through llama-index), and vetting what the model proposes.

Only the candidate actions of a message (retrieval's top few, filtered by channel and segments)
are offered, each as a tool: its name, its description and the JSON Schema of its parameters
(``$ref``s inlined, OpenAPI extensions dropped). Parameters filled from the contact's email or
phone are not offered: the model never sees those (the conversation it gets is redacted).

The model's arguments are proposals, never trusted (``vet_arguments``): unknown names and values
that fail the schema are dropped, and so is every value of an id-like or required parameter that
the evidence does not contain (the customer's messages and the contact's attributes): a model
that fills ``order_id`` with a plausible number the customer never wrote is guessing, and the
agent asks instead. Free text (a ticket's subject) counts as evidenced when its numbers appear
and most of its words come from the customer's messages.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import BaseTool, ToolMetadata, ToolOutput

from agent.llm import LLMUnavailable
from agent.sessions import Contact

from .models import ActionDef, Parameter
from .params import CONTACT_NAMES, problem, resolved

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 1000
_DROP_KEYS = {"example", "examples", "xml", "externalDocs", "discriminator", "readOnly", "writeOnly", "deprecated",
              "nullable", "$id", "$schema", "$anchor", "$comment", "title"}
_NAME = re.compile(r"[^A-Za-z0-9_-]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = {"the", "and", "for", "with", "from", "that", "this", "about", "please", "into", "have", "has", "was", "are",
         "not", "can", "you", "your", "our", "but", "its", "it's", "of", "to", "in", "on", "a", "an", "is", "my", "me"}

SYSTEM = (
    "You are a customer-support assistant that can act for the customer with the tools offered.\n"
    "Call a tool only when the customer asks for exactly what it does; otherwise call none.\n"
    "Use only values the customer wrote in this conversation. Never invent or guess an id, number, date or "
    "email: leave a parameter out when the customer has not given it (the system will ask for it).\n"
    "If the customer asks for something a tool does but has not given every value, call the tool anyway with "
    "the values they gave.\n"
    "Placeholders such as [EMAIL] or [CARD] stand for redacted personal data; never use them as values."
)


class ActionToolMetadata(ToolMetadata):
    """Tool metadata whose parameters are a JSON Schema (not a pydantic model)."""

    def __init__(self, *, name: str, description: str, parameters: dict[str, Any]) -> None:
        super().__init__(description=description, name=name, fn_schema=None)
        self.parameters = parameters

    def get_parameters_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.parameters)  # the OpenAI adapter edits the dict it gets


class ActionTool(BaseTool):
    """An action offered to the model. The model only proposes a call: the runner validates, asks,
    confirms and calls through ``ActionCaller``, so this tool is never executed by llama-index."""

    def __init__(self, action: ActionDef, name: str) -> None:
        self.action = action
        self._metadata = ActionToolMetadata(name=name, description=tool_description(action),
                                            parameters=tool_parameters(action))

    @property
    def metadata(self) -> ToolMetadata:
        return self._metadata

    def __call__(self, input: Any) -> ToolOutput:
        raise RuntimeError("action tools are called by the ActionRunner, never by the LLM framework")


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """What the model proposed: the action (one of the offered) and its raw arguments."""

    action: ActionDef
    arguments: dict[str, Any]
    offered: tuple[str, ...]


@dataclass
class Vetted:
    """The model's arguments that survived vetting, and why the others were dropped."""

    accepted: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)


class ToolChooser:
    """Asks a function-calling LLM which of the candidate actions (if any) the customer wants.

    Args:
        llm: an OpenAI-compatible function-calling model (``build_llm``).
        max_messages: how many of the latest conversation messages the model sees.
    """

    def __init__(self, *, llm: FunctionCallingLLM, max_messages: int = 12) -> None:
        self.llm, self.max_messages = llm, max_messages

    def choose(self, candidates: Sequence[ActionDef], conversation: Sequence[tuple[str, str]]) -> ToolChoice | None:
        """The proposed call, or None when the model calls no tool (or one that was not offered).

        Args:
            candidates: the actions to offer. conversation: (role, redacted text), oldest first;
            role is ``customer`` or ``agent``; the last one is the current message.

        Raises:
            LLMUnavailable: the model failed, is unreachable or answered something unreadable.
        """
        tools = tools_for(candidates)
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM)]
        for role, text in list(conversation)[-self.max_messages:]:
            messages.append(ChatMessage(role=MessageRole.USER if role == "customer" else MessageRole.ASSISTANT,
                                        content=text))
        try:
            response = self.llm.chat_with_tools(list(tools.values()), chat_history=messages,
                                                allow_parallel_tool_calls=False)
            calls = self.llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        except (openai.APIError, httpx.HTTPError, ValueError) as exc:
            raise LLMUnavailable(f"the LLM failed: {exc}") from exc
        except (TypeError, LookupError, AttributeError) as exc:  # a 200 that is not a chat completion
            raise LLMUnavailable(f"the LLM's answer is not a chat completion ({type(exc).__name__}: {exc})") from exc
        offered = tuple(tools)
        if not calls:
            return None
        call = calls[0]
        tool = tools.get(call.tool_name)
        if tool is None:
            log.warning("the LLM called %r, which was not offered (offered: %s)", call.tool_name, ", ".join(offered))
            return None
        arguments = call.tool_kwargs if isinstance(call.tool_kwargs, dict) else {}
        return ToolChoice(action=tool.action, arguments=dict(arguments), offered=offered)


def tools_for(actions: Iterable[ActionDef]) -> dict[str, ActionTool]:
    """Tools by their (OpenAI-safe, unique) function names."""
    out: dict[str, ActionTool] = {}
    for action in actions:
        base = _NAME.sub("_", action.id)[:60] or "action"
        name, n = base, 2
        while name in out:
            name, n = f"{base[:57]}_{n}", n + 1
        out[name] = ActionTool(action, name)
    return out


def tool_description(action: ActionDef) -> str:
    text = action.title.rstrip(".")
    if action.description and action.description.strip() != action.title:
        text += ". " + action.description.strip()
    if not action.safe:
        text += " (changes data; the customer is asked to confirm)"
    return text[:MAX_DESCRIPTION]


def contact_only(action: ActionDef, p: Parameter) -> bool:
    """Parameters filled from the contact's email or phone: never offered to the model."""
    schema = resolved(action, p.schema_)
    if p.source in ("email", "phone") or schema.get("format") == "email":
        return True
    name = p.name.lower()
    return name in CONTACT_NAMES["email"] or name in CONTACT_NAMES["phone"]


def tool_parameters(action: ActionDef) -> dict[str, Any]:
    """The JSON Schema of the action's offered parameters (an object with properties)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in action.parameters:
        if contact_only(action, p):
            continue
        schema = _inline(action, p.schema_, depth=0, seen=frozenset())
        if p.description and "description" not in schema:
            schema["description"] = p.description[:300]
        properties[p.name] = schema
        if p.required:
            required.append(p.name)
    return {"type": "object", "properties": properties, "required": required}


def _inline(action: ActionDef, node: Any, *, depth: int, seen: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_inline(action, x, depth=depth, seen=seen) for x in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen or depth > 8 or not ref.startswith("#/"):
            return {"type": "object"}  # a circular or foreign reference: left open
        target = resolved(action, {"$ref": ref})
        if "$ref" in target:
            return {"type": "object"}
        return _inline(action, target, depth=depth + 1, seen=seen | {ref})
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: _inline(action, v, depth=depth + 1, seen=seen) for k, v in value.items()}
        else:
            out[key] = _inline(action, value, depth=depth + 1, seen=seen)
    return out


# -- vetting --------------------------------------------------------------------------------------
def vet_arguments(action: ActionDef, arguments: dict[str, Any], *, evidence: Sequence[str],
                  contact: Contact | None, found: dict[str, Any]) -> Vetted:
    """Keep the model's arguments that are known, valid and (where a guess would matter) evidenced.

    Args:
        arguments: the model's proposal. evidence: the customer's (redacted) messages.
        contact: the session's contact (its attributes are evidence too).
        found: what ``ParameterFiller`` found from the same evidence (dates written as words).
    """
    out = Vetted()
    corpus = [t for t in evidence if t] + _contact_values(contact)
    for name, value in arguments.items():
        p = action.parameter(name)
        if p is None:
            out.dropped[name] = "not a parameter of this action"
            continue
        if contact_only(action, p):
            out.dropped[name] = "comes from the contact, not from the model"
            continue
        if value is None or value == "":
            continue
        error = problem(action, p, value)
        if error is not None:
            out.dropped[name] = f"invalid: {error}"
            continue
        if _needs_evidence(action, p) and not (found.get(name) == value or _evidenced(action, p, value, corpus)):
            out.dropped[name] = "not in the conversation (a guess)"
            continue
        out.accepted[name] = value
    return out


def _needs_evidence(action: ActionDef, p: Parameter) -> bool:
    return p.required or _id_like(p.name)


def _id_like(name: str) -> bool:
    low = name.lower()
    return low == "id" or low.endswith(("_id", "id", "_number", "_no", "_code", "number"))


def _evidenced(action: ActionDef, p: Parameter, value: Any, corpus: Sequence[str]) -> bool:
    schema = resolved(action, p.schema_)
    if isinstance(value, dict | list):
        return all(_scalar_in(v, corpus) for v in _leaves(value) if _factual(v))
    if isinstance(value, bool):
        return True  # a yes/no choice; write calls are confirmed with the customer
    constrained = any(k in schema for k in ("enum", "pattern", "format", "const")) or _id_like(p.name)
    if isinstance(value, str) and not constrained and schema.get("type") in (None, "string"):
        return _free_text_in(value, corpus)
    return _scalar_in(value, corpus)


def _factual(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and any(c.isdigit() for c in value))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.lower()).strip()


def _scalar_in(value: Any, corpus: Sequence[str]) -> bool:
    forms = {str(value)} | ({str(int(value))} if isinstance(value, float) and value.is_integer() else set())
    for form in forms:
        needle = _norm(form)
        if not needle:
            continue
        pattern = re.compile(rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])")
        if any(pattern.search(_norm(text)) for text in corpus):
            return True
    return False


def _free_text_in(value: str, corpus: Sequence[str]) -> bool:
    """Free text the model wrote is evidenced when every number in it, and most of its words, are
    the customer's."""
    words = [w.lower() for w in _WORD.findall(value)]
    have = {w.lower()[:5] for text in corpus for w in _WORD.findall(text)}
    tokens = {w.lower() for text in corpus for w in _WORD.findall(text)}
    if any(any(c.isdigit() for c in w) and w not in tokens for w in words):
        return False
    content = [w for w in words if len(w) >= 3 and w not in _STOP and not w.isdigit()]
    if not content:
        return bool(words) and all(w in tokens for w in words)
    return sum(w[:5] in have for w in content) / len(content) >= 0.6


def _contact_values(contact: Contact | None) -> list[str]:
    if contact is None:
        return []
    return [v for v in (contact.email, contact.phone, contact.external_id, contact.name) if v]


