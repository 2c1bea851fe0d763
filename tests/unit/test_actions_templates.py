"""Reply templates (``x-knowdesk-reply``): checked at import, filled from the response and the call's
arguments, first fitting template wins, and every sample operation answers in a sentence (issue 24)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from actions.caller import CallResult, Outcome
from actions.openapi import parse_spec
from actions.render import render_success
from actions.templates import fill, parse_templates
from service.samples.brewly_api import SAMPLE_KEY, SPEC_NAME, BrewlyApi, spec_text

SPEC = """openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: "https://shop.example"}]
paths:
  /orders/{n}:
    get:
      operationId: get_order
      x-knowdesk-reply: %s
      parameters: [{name: n, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"""


def test_a_template_is_filled_from_nested_fields_and_arguments() -> None:
    body = {"status": "shipped", "shipping": {"carrier": "DHL"}, "items": ["mug", "beans"], "paid": True}
    templates = ("Order {n} is {status} with {shipping.carrier}; items {items}; paid {paid}; {{literal}}",)
    filled = fill(templates, body, {"n": "BR-1"})
    assert filled == "Order BR-1 is shipped with DHL; items mug, beans; paid yes; {literal}"


def test_the_first_template_whose_fields_all_have_values_wins() -> None:
    templates = ("{status}, arriving {eta}.", "{status}.")
    assert fill(templates, {"status": "shipped", "eta": None}, {}) == "shipped."
    assert fill(templates, {"status": "shipped", "eta": "2026-05-14"}, {}) == "shipped, arriving 2026-05-14."
    assert fill(("{missing}",), {"status": "x"}, {}) is None
    assert fill(("{status}",), {"status": {"nested": 1}}, {}) is None  # an object is not a value
    assert fill(("{n.__class__}",), {"n": "x"}, {}) is None  # names are keys, never attributes


@pytest.mark.parametrize("raw, message", [
    (42, "a string or a list of strings"),
    (["ok {a}", 3], "a string or a list of strings"),
    ([], "1 to 5 templates"),
    (["  "], "template 1 is empty"),
    (["x" * 501], "at most 500"),
    (["Order {n is late"], "unmatched '{'"),
    (["Order n} is late"], "unmatched '}'"),
    (["Order {} is late"], "is not a field name"),
    (["Order {n!r} is late"], "is not a field name"),
])
def test_bad_templates_are_refused_with_the_reason(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_templates(raw)


def test_an_operation_with_a_bad_template_is_skipped_with_its_reason() -> None:
    parsed = parse_spec((SPEC % '"Order {n is late"').encode(), workspace="default", name="shop")
    assert not parsed.actions and "unmatched" in parsed.skipped[0].reason
    good = parse_spec((SPEC % '["Order {n} is {status}."]').encode(), workspace="default", name="shop")
    assert good.actions[0].reply == ("Order {n} is {status}.",)


@pytest.fixture
def shop() -> Iterator[httpx.Client]:
    with BrewlyApi(today=date(2026, 5, 12)) as api, httpx.Client(
            base_url=api.base_url, headers={"X-Brewly-Key": SAMPLE_KEY}, timeout=5) as client:
        yield client


ARGS = {"order_number": "BR-104233", "code": "BRW-7K2M-9QXP-4TZD", "invoice_number": "INV-2026-0012345",
        "email": "dana@example.com", "month": "next", "months": 2, "address": "Hauptstr. 1, 10115 Berlin"}
DUMP = re.compile(r"\b[a-z ]+: [^;]+; [a-z ]+: ")  # "order number: BR-1; status: shipped"


def test_every_sample_operation_answers_in_a_sentence(shop: httpx.Client) -> None:
    for action in parse_spec(spec_text().encode(), workspace="default", name=SPEC_NAME).actions:
        assert action.reply, f"{action.id} has no reply template"
        path = action.path
        for name, value in ARGS.items():
            path = path.replace("{" + name + "}", str(value))
        body_names = {p.name for p in action.parameters if p.location.value == "body"}
        args = {k: v for k, v in ARGS.items() if k in body_names or "{" + k + "}" in action.path}
        response = shop.request(action.method, path, params={"email": ARGS["email"]} if action.method == "GET"
                                else None, json=args if action.method != "GET" else None)
        assert response.status_code == 200, (action.id, response.text)
        result = CallResult(outcome=Outcome.OK, status=200, body=response.json(), message="ok", duration_ms=1.0)
        reply = render_success(action, args, result, "")
        assert not DUMP.search(reply), (action.id, reply)
        assert "{" not in reply and "None" not in reply, (action.id, reply)
    track = next(a for a in parse_spec(spec_text().encode(), workspace="default", name=SPEC_NAME).actions
                 if a.id == "track_order")
    body = shop.get("/orders/BR-104233/tracking").json()
    reply = render_success(track, {"order_number": "BR-104233"}, CallResult(
        outcome=Outcome.OK, status=200, body=body, message="ok", duration_ms=1.0), "where is it?")
    assert reply.startswith("Order BR-104233 is shipped. DHL tracking number"), reply
