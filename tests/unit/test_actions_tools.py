"""Actions as LLM tools: the JSON Schema offered per action, and what "never guess" means for the
model's arguments (vet_arguments)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.models import ActionDef
from actions.openapi import parse_spec
from actions.params import ParameterFiller
from actions.tools import tool_parameters, tools_for, vet_arguments
from agent.sessions import Contact

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "actions" / "orders.yaml"


@pytest.fixture(scope="module")
def actions() -> dict[str, ActionDef]:
    return {a.id: a for a in parse_spec(SPEC.read_bytes(), workspace="w", name="orders").actions}


def vet(action: ActionDef, args: dict[str, object], *messages: str, contact: Contact | None = None) -> tuple[
        dict[str, object], dict[str, str]]:
    found = ParameterFiller().fill(action, messages[-1], history=list(messages[:-1])[::-1], contact=contact).args
    out = vet_arguments(action, args, evidence=list(messages), contact=contact, found=found)
    return out.accepted, out.dropped


def test_the_schema_inlines_refs_and_hides_contact_fields(actions: dict[str, ActionDef]) -> None:
    order = tool_parameters(actions["getOrder"])
    assert order["required"] == ["order_id"]
    assert order["properties"]["order_id"]["pattern"] == "^ORD-[0-9]{4,}$"
    assert order["properties"]["order_id"]["description"].startswith("The order number")
    listing = tool_parameters(actions["listOrders"])
    assert "email" not in listing["properties"] and "email" not in listing["required"]  # the contact's own
    assert listing["properties"]["status"]["enum"] == ["pending", "paid", "shipped", "delivered", "cancelled"]
    ticket = tool_parameters(actions["createTicket"])
    text = json.dumps(ticket)
    assert "$ref" not in text and "x-knowdesk" not in text
    assert json.dumps(ticket["properties"])  # circular Ticket.replies: closed off, serializable


def test_tool_names_are_safe_and_unique(actions: dict[str, ActionDef]) -> None:
    odd = actions["getOrder"].model_copy(update={"id": "get /orders/{id}"})
    twin = actions["getOrder"].model_copy(update={"id": "get_/orders/{id}"})
    names = list(tools_for([odd, twin, actions["getOrder"]]))
    assert names == ["get__orders__id_", "get__orders__id__2", "getOrder"]


def test_an_id_the_customer_wrote_is_kept(actions: dict[str, ActionDef]) -> None:
    accepted, dropped = vet(actions["getOrder"], {"order_id": "ORD-1042"}, "has ord-1042 shipped?")
    assert accepted == {"order_id": "ORD-1042"} and not dropped


def test_an_invented_id_is_a_guess(actions: dict[str, ActionDef]) -> None:
    accepted, dropped = vet(actions["getOrder"], {"order_id": "ORD-1043"}, "where is my order? it was ORD-1042")
    assert accepted == {} and "a guess" in dropped["order_id"]
    # a longer id that merely contains what was written is not evidence either
    accepted, _ = vet(actions["getOrder"], {"order_id": "ORD-10420"}, "my order ORD-1042")
    assert accepted == {}


def test_an_id_from_an_earlier_message_or_the_contact_counts(actions: dict[str, ActionDef]) -> None:
    accepted, _ = vet(actions["getOrder"], {"order_id": "ORD-2001"}, "I ordered ORD-2001 last week", "where is it?")
    assert accepted == {"order_id": "ORD-2001"}
    ticket = actions["getTicket"]
    accepted, _ = vet(ticket, {"ticket_id": 7}, "what about ticket #7?")
    assert accepted == {"ticket_id": 7}
    accepted, dropped = vet(ticket, {"ticket_id": 71}, "what about ticket #7?")
    assert accepted == {} and "guess" in dropped["ticket_id"]


def test_invalid_unknown_and_contact_values_are_dropped(actions: dict[str, ActionDef]) -> None:
    accepted, dropped = vet(actions["getOrder"], {"order_id": "1042", "force": True}, "order 1042 please")
    assert accepted == {} and dropped["order_id"].startswith("invalid") and "not a parameter" in dropped["force"]
    listing = actions["listOrders"]
    accepted, dropped = vet(listing, {"email": "someone@else.example", "status": "shipped"}, "my shipped orders",
                            contact=Contact(id="c", email="ana@example.com"))
    assert accepted == {"status": "shipped"} and "contact" in dropped["email"]


def test_required_values_need_evidence_optional_choices_do_not(actions: dict[str, ActionDef]) -> None:
    plan = actions["changeSubscriptionPlan"]
    accepted, _ = vet(plan, {"subscription_id": "SUB-7", "plan": "weekly"}, "switch SUB-7 to the weekly plan")
    assert accepted == {"subscription_id": "SUB-7", "plan": "weekly"}
    accepted, dropped = vet(plan, {"subscription_id": "SUB-7", "plan": "monthly"}, "change the plan of SUB-7")
    assert accepted == {"subscription_id": "SUB-7"} and "guess" in dropped["plan"]
    cancel = actions["cancelOrder"]  # reason: an optional enum the model may infer from the wording
    accepted, _ = vet(cancel, {"order_id": "ORD-1042", "reason": "changed_mind"}, "cancel ORD-1042, I don't want it")
    assert accepted == {"order_id": "ORD-1042", "reason": "changed_mind"}


def test_dates_the_filler_reads_count_as_written(actions: dict[str, ActionDef]) -> None:
    pause = actions["pauseSubscription"]
    found = ParameterFiller().fill(pause, "pause SUB-7 until March 5").args
    accepted, _ = vet(pause, {"subscription_id": "SUB-7", "until": found["until"]}, "pause SUB-7 until March 5")
    assert accepted["until"] == found["until"]
    accepted, dropped = vet(pause, {"subscription_id": "SUB-7", "until": "2031-01-01"}, "pause SUB-7 for a while")
    assert "until" not in accepted and "guess" in dropped["until"]


def test_free_text_is_evidenced_by_the_customers_words(actions: dict[str, ActionDef]) -> None:
    create = actions["createTicket"]
    said = "My grinder is broken since yesterday, the burr makes a loud noise"
    accepted, _ = vet(create, {"subject": "Broken grinder, loud burr noise"}, said)
    assert accepted == {"subject": "Broken grinder, loud burr noise"}
    accepted, dropped = vet(create, {"subject": "Refund request for invoice 5531"}, said)
    assert "subject" not in accepted and "guess" in dropped["subject"]
