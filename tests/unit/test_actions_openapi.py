"""Importing specs: OpenAPI 3.1 (YAML), 3.0 (JSON), Swagger 2.0, broken specs, a large generated one."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.models import Location
from actions.openapi import InvalidSpec, parse_spec
from actions.params import problem
from tests.fixtures.actions.generate_large_spec import BROKEN, build

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "actions"


def parse(name: str):  # type: ignore[no-untyped-def]
    return parse_spec((FIXTURES / name).read_bytes(), workspace="default", name="spec")


def test_openapi_31_yaml_imports_every_operation() -> None:
    p = parse("orders.yaml")
    ids = {a.id for a in p.actions}
    assert p.version == "3.1" and len(ids) == 13 and not p.skipped and not p.problems
    assert p.base_url == "https://eu.api.brewly.example/v1"  # server variables take their defaults
    get = next(a for a in p.actions if a.id == "getOrder")
    assert [(x.name, x.location, x.required) for x in get.parameters] == [("order_id", Location.PATH, True)]
    assert not get.confirm and get.security == (("ShopKey",),)
    by_id = {a.id: a for a in p.actions}
    assert by_id["cancelSubscription"].confirm and by_id["changeSubscriptionPlan"].confirm
    assert by_id["getInvoice"].security == (("CustomerToken",),)
    assert by_id["listOrders"].parameter("email").source == "email"  # type: ignore[union-attr]


def test_enums_formats_patterns_and_circular_refs_validate() -> None:
    by_id = {a.id: a for a in parse("orders.yaml").actions}
    plan = by_id["changeSubscriptionPlan"]
    assert problem(plan, plan.parameter("plan"), "weekly") is None  # type: ignore[arg-type]
    assert problem(plan, plan.parameter("plan"), "hourly")  # type: ignore[arg-type]
    pause = by_id["pauseSubscription"]
    assert problem(pause, pause.parameter("until"), "2026-02-30")  # type: ignore[arg-type]
    assert problem(pause, pause.parameter("until"), "2026-02-28") is None  # type: ignore[arg-type]
    order = by_id["getOrder"]
    assert problem(order, order.parameter("order_id"), "1042")  # type: ignore[arg-type]
    ticket = by_id["createTicket"]  # Ticket.replies -> Ticket: circular, resolved lazily
    parent = ticket.parameter("parent")
    assert problem(ticket, parent, {"id": 1, "replies": [{"id": 2, "replies": []}]}) is None  # type: ignore[arg-type]
    assert problem(ticket, parent, {"id": 1, "replies": [{"id": "two"}]})  # type: ignore[arg-type]


def test_openapi_30_json() -> None:
    p = parse("tickets-3.0.json")
    by_id = {a.id: a for a in p.actions}
    assert p.version == "3.0" and p.base_url == "https://help.brewly.example/api/v3"
    assert set(by_id) == {"openTicket", "searchTickets", "readTicket", "purgeTicket", "head_tickets_id"}
    assert by_id["purgeTicket"].confirm and not by_id["head_tickets_id"].confirm
    assert by_id["readTicket"].parameter("id").location == Location.PATH  # type: ignore[union-attr]
    due = by_id["openTicket"].parameter("due")
    assert problem(by_id["openTicket"], due, None) is None  # type: ignore[arg-type]  # nullable (3.0)
    [skipped] = p.skipped
    assert skipped.operation == "uploadFile" and "application/octet-stream" in skipped.reason


def test_swagger_20() -> None:
    p = parse("stock-swagger2.yaml")
    by_id = {a.id: a for a in p.actions}
    assert p.version == "2.0" and p.base_url == "https://stock.brewly.example/api"
    assert by_id["requestRestock"].body_media_type == "application/x-www-form-urlencoded"
    put = by_id["putItem"]
    assert put.body_whole and put.parameter("body").required  # type: ignore[union-attr]
    assert "Item" in put.defs["definitions"]
    assert [s.operation for s in p.skipped] == ["uploadPhoto"]


def test_invalid_operations_are_reported_one_by_one_and_the_rest_imports() -> None:
    p = parse("partly-invalid.yaml")
    assert [a.id for a in p.actions] == ["goodOne"]
    reasons = {s.operation: s.reason for s in p.skipped}
    assert "'responses' is a required property" in reasons["noResponses"]
    assert "not declared" in reasons["undeclared"]
    assert "unresolvable $ref" in reasons["badRef"]
    assert "external $ref" in reasons["externalRef"]
    assert "parameters/0" in reasons["badSchema"]
    assert "nowhere" in reasons["unknownSecurity"]
    assert any("relative" in x for x in p.problems)


@pytest.mark.parametrize("text", [(FIXTURES / "malformed.yaml").read_text(), "[1, 2]", "openapi: 4.0.0\n",
                                  '{"info": {}}'])
def test_a_malformed_spec_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(InvalidSpec) as exc:
        parse_spec(text, workspace="default", name="x")
    assert exc.value.message and exc.value.code == "invalid_spec"


def test_a_large_spec_imports_and_reports_each_skip() -> None:
    spec = build(60)
    p = parse_spec(spec, workspace="default", name="big")
    total = sum(1 for item in spec["paths"].values() for k in item if k != "parameters")
    assert total >= 400 and len(p.actions) + len(p.skipped) == total and len(p.skipped) == BROKEN
    assert all(s.reason for s in p.skipped)
