"""Reply templates: the sentence an operation answers with, written by whoever imports the spec.

An operation may carry ``x-knowdesk-reply``: one template or a list of them, tried in order; the
first whose placeholders all have a value in the response (or in the call's arguments) is used,
so a template that names an optional field can have a shorter fallback after it::

    x-knowdesk-reply:
      - "Order {order_number} is {status}; {carrier} expects to deliver it on {estimated_delivery}."
      - "Order {order_number} is {status}."

A placeholder is a field's dotted path in the response (``{shipping.carrier}``) or an argument's
name; ``{{`` and ``}}`` are literal braces. A list response uses the template for each item. When
no template fits, the reply falls back to the fields the customer asked about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TEMPLATES = 5
MAX_TEMPLATE_CHARS = 500
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")


def parse_templates(raw: Any) -> tuple[str, ...]:
    """Check an ``x-knowdesk-reply`` value; the templates it holds (none when absent).

    Raises:
        ValueError: not a string or a list of strings, too many or too long, an empty or
            malformed placeholder, or an unmatched brace; the message says which.
    """
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise ValueError("x-knowdesk-reply must be a string or a list of strings")
    if not 1 <= len(items) <= MAX_TEMPLATES:
        raise ValueError(f"x-knowdesk-reply holds 1 to {MAX_TEMPLATES} templates, not {len(items)}")
    for n, template in enumerate(items, 1):
        where = f"x-knowdesk-reply template {n}"
        if not template.strip():
            raise ValueError(f"{where} is empty")
        if len(template) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"{where} is {len(template)} characters; at most {MAX_TEMPLATE_CHARS}")
        for match in _PLACEHOLDER.finditer(template):
            token = match.group(0)
            if token in ("{{", "}}"):
                continue
            if token in ("{", "}"):
                raise ValueError(f"{where} has an unmatched {token!r} at {match.start()} (write {token * 2} "
                                 "for a literal brace)")
            name = match.group(1).strip()
            if not _NAME.fullmatch(name):
                raise ValueError(f"{where}: {token!r} is not a field name (letters, digits, _ and - , "
                                 "dotted for nested fields, e.g. {shipping.carrier})")
    return tuple(items)


def _lookup(name: str, body: Any, args: Mapping[str, Any]) -> Any:
    value: Any = body
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            value = None
            break
        value = value[part]
    if value is None and "." not in name:
        value = args.get(name)
    return value


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, Mapping):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and round(value, 2) == value:
        return f"{value:.2f}"  # amounts: 219.8 reads 219.80
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        shown = [p for p in parts if p is not None]
        return ", ".join(shown) if shown and len(shown) == len(parts) else None
    return str(value)


def fill(templates: Sequence[str], body: Any, args: Mapping[str, Any]) -> str | None:
    """The first template whose placeholders all have a value, filled; None when none fits."""
    for template in templates:
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            value = _text(_lookup(match.group(1).strip(), body, args))
            if value is None:
                missing = True
                return ""
            return value

        filled = _PLACEHOLDER.sub(replace, template)
        if not missing:
            return filled
    return None
