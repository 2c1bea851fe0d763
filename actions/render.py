"""Turning an action's result into a plain reply: the fields the customer asked about.

The response's scalar fields are flattened (``shipping.carrier`` -> "shipping carrier") and
matched to the message's words (stems of 4+ letters, and a few support synonyms: "arrive" asks
for delivery dates, "where" for status and tracking). When nothing specific was asked, the
identifying and status-like fields are shown. Lists show their first items.
"""

from __future__ import annotations

import re
from typing import Any

from .caller import CallResult, Outcome
from .models import ActionDef, humanize
from .templates import fill

MAX_FIELDS = 6
MAX_ITEMS = 5
SUMMARY_KEYS = ("id", "number", "name", "subject", "title", "status", "state", "plan", "total", "amount")
SYNONYMS = {
    "arrive": ("delivery", "eta", "estimated"), "when": ("delivery", "date", "next"), "where": ("status", "tracking"),
    "ship": ("status", "tracking", "carrier"), "track": ("tracking", "carrier"), "cost": ("total", "amount", "price"),
    "much": ("total", "amount", "price"), "pay": ("total", "amount"), "plan": ("plan",), "charge": ("total", "amount"),
}
_WORD = re.compile(r"[a-z]+")


def _stems(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    out = {w[:5] for w in words if len(w) >= 4}
    for w in words:
        for key, extra in SYNONYMS.items():
            if w.startswith(key):
                out.update(e[:5] for e in extra)
    return out


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif not isinstance(value, list) and value is not None and value != "":
        out.append((prefix, value))
    return out


def _label(path: str) -> str:
    return humanize(path.replace(".", " "))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fields(obj: dict[str, Any], message: str) -> list[tuple[str, Any]]:
    flat = _flatten(obj)
    asked = _stems(message)
    chosen = [(k, v) for k, v in flat if asked & {w[:5] for w in _label(k).split() if len(w) >= 4}]
    if not chosen:
        chosen = [(k, v) for k, v in flat if k.split(".")[-1].lower() in SUMMARY_KEYS]
    return (chosen or flat)[:MAX_FIELDS]


def _item(item: Any, action: ActionDef, args: dict[str, Any], message: str) -> str:
    if not isinstance(item, dict):
        return _fmt(item)
    if action.reply and (sentence := fill(action.reply, item, args)) is not None:
        return sentence
    return _line(item, message)


def _line(obj: dict[str, Any], message: str) -> str:
    return "; ".join(f"{_label(k)}: {_fmt(v)}" for k, v in _fields(obj, message))


def render_success(action: ActionDef, args: dict[str, Any], result: CallResult, message: str) -> str:
    """The reply after a successful call: the operation's sentence template when one fits,
    otherwise the fields the customer asked about."""
    body = result.body
    what = _subject(action, args)
    done = "" if action.safe else "Done. "
    if isinstance(body, dict):
        if action.reply and (sentence := fill(action.reply, body, args)) is not None:
            return f"{done}{sentence}"
        items = next((v for v in body.values() if isinstance(v, list) and v and isinstance(v[0], dict)), None)
        if items is not None and not any(k.split(".")[-1] in ("id", "status") for k, _ in _flatten(body)):
            body = items
        else:
            line = _line(body, message)
            return f"{done}{what}: {line}." if line else f"{done}{what}: the request succeeded."
    if isinstance(body, list):
        if not body:
            return f"{done}{what}: nothing found."
        lines = [f"- {_item(x, action, args, message)}" for x in body[:MAX_ITEMS]]
        more = f"\n(and {len(body) - MAX_ITEMS} more)" if len(body) > MAX_ITEMS else ""
        return f"{done}{what}: {len(body)} found.\n" + "\n".join(lines) + more
    if isinstance(body, str) and body.strip():
        return f"{done}{what}: {body.strip()[:300]}"
    return f"{done}{what}: the request succeeded ({result.status})."


def render_failure(action: ActionDef, args: dict[str, Any], result: CallResult) -> str:
    """An honest reply after a failed call: what failed and why, never a made-up result."""
    what = _subject(action, args)
    if result.outcome is Outcome.CLIENT_ERROR and result.status == 404:
        return f"I couldn't find that: {what} returned nothing (404 Not Found). Please check the number."
    if result.outcome is Outcome.CLIENT_ERROR:
        return f"I couldn't complete this ({what}): the system refused the request ({result.message})."
    if result.outcome is Outcome.TIMEOUT:
        return f"I couldn't complete this ({what}): the system did not answer in time."
    if result.outcome is Outcome.BLOCKED:
        return f"I couldn't complete this ({what}): the call is not allowed from here."
    if result.outcome is Outcome.NETWORK:
        return f"I couldn't complete this ({what}): the system that handles it is not reachable right now."
    return f"I couldn't complete this ({what}): the system had an error ({result.message})."


_ID_NAME = re.compile(r"(?:^|_|\b)(?:id|number|no|code|reference|ref)$|[a-z]Id$|[a-z]Number$")


def _subject(action: ActionDef, args: dict[str, Any]) -> str:
    """The action's title and the identifiers it was called with ("Track an order BR-104233")."""
    ids = [f"{v}" for k, v in args.items() if _ID_NAME.search(k) and not isinstance(v, dict | list | bool)]
    return action.title.rstrip(".") + (f" {', '.join(ids)}" if ids else "")


def describe_call(action: ActionDef, args: dict[str, Any]) -> str:
    """How a pending call is described when asking for confirmation."""
    shown = ", ".join(f"{humanize(k)} {_fmt(v)}" for k, v in args.items() if not isinstance(v, dict | list))
    return action.title.rstrip(".") + (f" ({shown})" if shown else "")
