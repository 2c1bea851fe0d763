"""Filling an action's parameters from the conversation, and validating them (jsonschema).

Values come only from evidence: the current message, the customer's earlier messages (newest
first), the contact's attributes (email, phone, external id, name) and answers to the agent's
own questions. Per parameter, by its schema:

- ``pattern``: the pattern found in the text (``ORD-1042``; case folded when that validates);
- ``enum``: an enum value named in the text (``weekly``; ``changed mind`` for ``changed_mind``);
- ``format: date``/``date-time``: an ISO date, or a month name with a day (``March 5``);
- ids (``*_id``): a token right after the parameter's noun (``order 1042``, ``ticket #7``), or a
  token mixing letters and digits / starting with ``#``; never a bare short number elsewhere;
- email/phone/customer ids: the contact's attributes (message PII is redacted before this);
- free text (``description``, ``message``, ``details``...): the customer's message;
- counts named after a unit (``months``, ``weeks``, ``boxes``): a number, in digits or words, before
  that unit (``for two months``, ``a month``); a bare number only when it answers the agent's question.

A required parameter without evidence is missing (the agent asks for it); a value that fails
the schema is never sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jsonschema import Draft202012Validator
from openapi_schema_validator import OAS30Validator, OAS31Validator

from agent.sessions import Contact

from .models import ActionDef, Parameter, humanize

FREE_TEXT = {"description", "details", "message", "comment", "body", "text", "content", "note", "problem"}
CONTACT_NAMES = {
    "email": ("email", "customer_email", "contact_email", "user_email", "email_address"),
    "phone": ("phone", "phone_number", "customer_phone", "mobile"),
    "external_id": ("customer_id", "contact_id", "user_id", "external_id", "account_id"),
}
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_ISO_DATETIME = re.compile(r"\b(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)\b")
_MONTH_DAY = re.compile(rf"\b(?P<m>{_MONTHS})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?\b", re.I)
_DAY_MONTH = re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>{_MONTHS})(?:,?\s+(?P<y>\d{{4}}))?\b",
                        re.I)
_TOKEN = re.compile(r"(?<![\w\[-])#?[A-Za-z0-9][\w-]*")
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "couple of": 2}
_NUMBER = r"\d+(?:[.,]\d+)?|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
#: "may" the month and "may" the verb ("May I skip...?")
_MODAL_MAY = re.compile(r"\bmay\s+(?:i|we|you|he|she|they|it|be|have|not)\b", re.I)
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")


@dataclass
class Filled:
    """The arguments found, the required parameters still missing, and values that failed validation."""

    args: dict[str, Any] = field(default_factory=dict)
    missing: list[Parameter] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # name -> message | history | contact | answer


def validator_for(action: ActionDef, schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of one parameter's schema, with the spec fragments its ``$ref``s point to."""
    cls = OAS31Validator if action.dialect == "3.1" else OAS30Validator
    root = {**action.defs, **schema}
    return cls(root, format_checker=cls.FORMAT_CHECKER)


def problem(action: ActionDef, p: Parameter, value: Any) -> str | None:
    """Why ``value`` is not valid for ``p`` (None when it is)."""
    error = next(iter(validator_for(action, p.schema_).iter_errors(value)), None)
    return None if error is None else error.message[:200]


def resolved(action: ActionDef, schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with top-level ``$ref``s followed inside ``action.defs`` (for type, enum, pattern)."""
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/") and schema["$ref"] not in seen:
        seen.add(schema["$ref"])
        node: Any = action.defs
        for part in schema["$ref"][2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            break
        schema = node
    return schema


class ParameterFiller:
    """Finds and validates an action's arguments in a conversation."""

    def fill(self, action: ActionDef, message: str, *, history: Iterable[str] = (), contact: Contact | None = None,
             known: dict[str, Any] | None = None, answering: str | None = None) -> Filled:
        """Args: message: the current (redacted) message. history: earlier customer messages, newest
        first. known: arguments kept from earlier turns. answering: the parameter the agent asked for."""
        out = Filled()
        used: set[str] = set()
        texts = [("message", message), *[("history", h) for h in history]]
        ordered = sorted(action.parameters, key=lambda p: 0 if resolved(action, p.schema_).get("pattern") else 1)
        for p in ordered:
            if known and p.name in known:
                out.args[p.name], out.origin[p.name] = known[p.name], "answer"
                continue
            schema = resolved(action, p.schema_)
            value, origin, error = self._find(action, p, schema, texts, contact, used, answering == p.name)
            if value is not None:
                out.args[p.name], out.origin[p.name] = value, origin
                if isinstance(value, str):
                    used.add(value.lower())
            elif error:
                out.invalid[p.name] = error
            if p.name not in out.args and p.required:
                out.missing.append(p)
        return out

    def _find(self, action: ActionDef, p: Parameter, schema: dict[str, Any], texts: list[tuple[str, str]],
              contact: Contact | None, used: set[str], answering: bool) -> tuple[Any, str, str | None]:
        attribute = p.source or contact_attribute(p, schema)
        if attribute:
            value = getattr(contact, attribute, None) if contact else None
            if value and problem(action, p, value) is None:
                return value, "contact", None
            if attribute in ("email", "phone"):
                return None, "", None  # typed PII is redacted from messages; only the contact's own counts
        first_error: str | None = None
        sources = texts if (p.required or answering) else texts[:1]  # optional filters: this message only
        for origin, text in sources:
            for candidate in self._candidates(p, schema, text, answering and origin == "message"):
                if isinstance(candidate, str) and candidate.lower() in used:
                    continue
                error = problem(action, p, candidate)
                if error is None:
                    return candidate, origin, None
                first_error = first_error or f"{candidate!r}: {error}"
        return None, "", first_error

    def _candidates(self, p: Parameter, schema: dict[str, Any], text: str, answer: bool) -> list[Any]:
        text = _PLACEHOLDER.sub(" ", text)
        kind = _type(schema)
        out: list[Any] = []
        if isinstance(schema.get("enum"), list):
            low = _MODAL_MAY.sub(lambda m: " " * len(m.group(0)), text.lower())
            hits = []
            for value in schema["enum"]:
                if isinstance(value, str) and value:
                    for form in {value.lower(), value.lower().replace("_", " "), value.lower().replace("-", " ")}:
                        m = re.search(rf"\b{re.escape(form)}\b", low)
                        if m:
                            hits.append((m.start(), value))
            return [v for _, v in sorted(hits)]
        fmt = schema.get("format")
        if fmt in ("date", "date-time"):
            return _dates(text, fmt)
        if isinstance(schema.get("pattern"), str):
            core = schema["pattern"].removeprefix("^").removesuffix("$")
            try:
                found = [m.group(0) for m in re.finditer(rf"(?<![\w-])(?:{core})(?![\w-])", text, re.I)]
            except re.error:
                found = []
            return [x for f in found for x in dict.fromkeys((f, f.upper()))]
        nouns = _nouns(p.name)
        if p.name.lower() in FREE_TEXT and kind == "string":
            return [text.strip()] if text.strip() else []
        id_like = p.name.lower() == "id" or p.name.lower().endswith(("_id", "id", "_number", "_no"))
        if id_like or (nouns and kind in ("integer", "string") and p.location.value == "path"):
            for noun in nouns:
                pattern = rf"\b{noun}s?\b(?:\s+(?:id|number|no\.?|num))?\s*[:#]?\s*(#?[A-Za-z0-9][\w-]*)"
                for m in re.finditer(pattern, text, re.I):
                    token = m.group(1).lstrip("#")
                    if any(c.isdigit() for c in token):
                        out.append(token)
            for m in _TOKEN.finditer(text):
                token = m.group(0)
                if token.startswith("#") or (re.search(r"\d", token) and re.search(r"[A-Za-z]", token)) \
                        or re.fullmatch(r"\d{4,}", token):
                    out.append(token.lstrip("#"))
        elif kind in ("integer", "number"):
            out += _quantities(p.name, text, bare=answer)
        elif answer and kind == "string":
            out.append(text.strip())
        return [_coerce(v, kind) for v in dict.fromkeys(out)]


def _unit(name: str) -> str | None:
    """The unit a count parameter is named after: ``months`` / ``pause_months`` -> ``month``."""
    words = humanize(name).split()
    if not words or words[-1] in {"count", "quantity", "amount", "number", "total", "limit"}:
        return None
    word = words[-1]
    if word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _number(token: str) -> str:
    token = token.lower().strip()
    return str(NUMBER_WORDS[token]) if token in NUMBER_WORDS else token.replace(",", ".")


def _quantities(name: str, text: str, *, bare: bool) -> list[str]:
    """Numbers for a count parameter: ``for two months`` / ``3 months`` / ``a month`` for ``months``;
    when answering the agent's question, a bare number (``2``, ``two``) too."""
    out = []
    unit = _unit(name)
    if unit:
        plural = r"(?:e?s)?" if not unit.endswith("s") else ""
        counted = rf"(?<![\w.,-])({_NUMBER})\s+(?:more\s+|whole\s+|full\s+)?{re.escape(unit)}{plural}\b(?!\s+ago)"
        out += [_number(m.group(1)) for m in re.finditer(counted, text, re.I)]
    if bare and not out:
        out += [_number(m.group(1)) for m in re.finditer(rf"(?<![\w.,-])(-?\d+(?:[.,]\d+)?|{_NUMBER})(?![\w.,-]*\w)",
                                                         text.strip(), re.I) if m.group(1).lower() not in ("a", "an")]
    return out


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return str(kind or "string")


def _coerce(value: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    return value


def _nouns(name: str) -> list[str]:
    words = [w for w in humanize(name).split() if w not in {"id", "number", "no", "num", "code"}]
    return [re.escape(w) for w in words[-1:]] if words else []


def contact_attribute(p: Parameter, schema: dict[str, Any]) -> str | None:
    """The contact attribute (email, phone, external_id, name) a parameter is filled from, if any."""
    name = p.name.lower()
    if schema.get("format") == "email":
        return "email"
    for attribute, names in CONTACT_NAMES.items():
        if name in names or humanize(p.name).replace(" ", "_") in names:
            return attribute
    return None


def _dates(text: str, fmt: str) -> list[str]:
    out: list[str] = []
    if fmt == "date-time":
        out += [m.replace(" ", "T") for m in _ISO_DATETIME.findall(text)]
    out += _ISO_DATE.findall(text) if fmt == "date" else []
    today = date.today()
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(text):
            try:
                month = datetime.strptime(m.group("m")[:3].title(), "%b").month
                year = int(m.group("y")) if m.group("y") else today.year
                day = date(year, month, int(m.group("d")))
                if not m.group("y") and day < today:
                    day = day.replace(year=year + 1)  # "March 5" means the next one
            except ValueError:
                continue
            out.append(day.isoformat() if fmt == "date" else f"{day.isoformat()}T00:00:00Z")
    return out
