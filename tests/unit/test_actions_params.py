"""Filling parameters from the message, the history and the contact; never guessing."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.models import ActionDef
from actions.openapi import parse_spec
from actions.params import ParameterFiller
from agent.sessions import Contact

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "actions" / "orders.yaml"
ACTIONS = {a.id: a for a in parse_spec(SPEC.read_bytes(), workspace="default", name="orders").actions}
CONTACT = Contact(id="c1", email="ana@example.com", external_id="cust-9")
fill = ParameterFiller().fill


def action(name: str) -> ActionDef:
    return ACTIONS[name]


@pytest.mark.parametrize("message", ["Where is order ORD-1042?", "status of ord-1042 please", "my order: ORD-1042"])
def test_a_pattern_id_is_found_in_the_message(message: str) -> None:
    assert fill(action("getOrder"), message).args == {"order_id": "ORD-1042"}


def test_a_missing_required_parameter_is_missing_not_guessed() -> None:
    filled = fill(action("getOrder"), "Where is my order? I ordered 2 bags on Monday")
    assert filled.args == {} and [p.name for p in filled.missing] == ["order_id"]


def test_an_invalid_value_is_never_used() -> None:
    filled = fill(action("getOrder"), "order ORD-12 please")
    assert "order_id" not in filled.args and filled.missing


def test_the_history_fills_what_the_message_lacks() -> None:
    filled = fill(action("cancelOrder"), "Actually, please cancel it", history=["I asked about ORD-2001 earlier"])
    assert filled.args["order_id"] == "ORD-2001" and filled.origin["order_id"] == "history"


def test_enum_values_and_dates() -> None:
    plan = fill(action("changeSubscriptionPlan"), "Switch SUB-7 to the monthly plan")
    assert plan.args == {"subscription_id": "SUB-7", "plan": "monthly"}
    pause = fill(action("pauseSubscription"), "Pause SUB-7 until 2026-05-01")
    assert pause.args["until"] == "2026-05-01"
    named = fill(action("pauseSubscription"), "Pause SUB-7 until March 5th 2031")
    assert named.args["until"] == "2031-03-05"
    reason = fill(action("cancelOrder"), "cancel ORD-1042, I changed mind")
    assert reason.args["reason"] == "changed_mind"


def test_contact_attributes_fill_emails_and_never_the_message() -> None:
    listed = fill(action("listOrders"), "Show my cancelled orders", contact=CONTACT)
    assert listed.args == {"email": "ana@example.com", "status": "cancelled"}
    anonymous = fill(action("listOrders"), "Show my orders, my email is [EMAIL]", contact=None)
    assert [p.name for p in anonymous.missing] == ["email"]


def test_integer_ids_need_their_noun_or_a_hash() -> None:
    assert fill(action("getTicket"), "What about ticket 12?").args == {"ticket_id": 12}
    assert fill(action("getTicket"), "What about #12?").args == {"ticket_id": 12}
    assert fill(action("getTicket"), "I called 3 times").missing


def test_an_answer_to_a_question_fills_a_free_text_field() -> None:
    ticket = action("createTicket")
    first = fill(ticket, "I want to open a ticket, my grinder is broken", contact=CONTACT)
    assert first.args["description"].startswith("I want to open a ticket")
    assert [p.name for p in first.missing] == ["subject"]
    answer = fill(ticket, "Broken grinder", contact=CONTACT, known=first.args, answering="subject")
    assert answer.args["subject"] == "Broken grinder" and not answer.missing


# -- the Brewly sample API's actions (service/samples/brewly-api.yaml) ---------------------------------
SAMPLE = Path(__file__).resolve().parents[2] / "service" / "samples" / "brewly-api.yaml"
BREWLY = {a.id: a for a in parse_spec(SAMPLE.read_bytes(), workspace="default", name="brewly").actions}
DANA = Contact(id="c2", email="dana@example.com")


@pytest.mark.parametrize(("message", "months"), [
    ("Pause my subscription for two months", 2), ("put my deliveries on hold for a month", 1),
    ("pause for 3 months please", 3), ("Could you pause it a couple of months?", 2),
])
def test_a_count_in_words_or_digits_before_its_unit(message: str, months: int) -> None:
    filled = fill(BREWLY["pause_subscription"], message, contact=DANA)
    assert filled.args == {"email": "dana@example.com", "months": months} and not filled.missing


@pytest.mark.parametrize("message", ["Pause my subscription", "I paused a month ago, pause it again",
                                     "Pause order BR-104233"])
def test_no_count_without_its_unit_is_asked_for(message: str) -> None:
    filled = fill(BREWLY["pause_subscription"], message, contact=DANA)
    assert "months" not in filled.args and [p.name for p in filled.missing] == ["months"]


def test_a_count_out_of_range_is_invalid_and_a_bare_number_counts_only_as_an_answer() -> None:
    too_long = fill(BREWLY["pause_subscription"], "pause for 5 months", contact=DANA)
    assert "months" not in too_long.args and "months" in too_long.invalid
    assert fill(BREWLY["pause_subscription"], "two", contact=DANA, answering="months").args["months"] == 2
    assert "months" not in fill(BREWLY["pause_subscription"], "I have 2 bags left", contact=DANA).args


@pytest.mark.parametrize(("message", "month"), [
    ("Please skip my next box", "next"), ("Skip next month's delivery", "next"), ("Skip my June box please", "june"),
    ("May I skip the box in July?", "july"), ("skip may", "may"),
])
def test_which_box_to_skip(message: str, month: str) -> None:
    assert fill(BREWLY["skip_delivery"], message, contact=DANA).args == {"email": "dana@example.com", "month": month}


def test_identifiers_of_the_sample_api() -> None:
    assert fill(BREWLY["track_order"], "Where is order br-104233 right now?").args == {"order_number": "BR-104233"}
    assert fill(BREWLY["gift_card_balance"], "balance of BRW-7K2M-9QXP-4TZD?").args == {"code": "BRW-7K2M-9QXP-4TZD"}
    invoice = fill(BREWLY["resend_invoice"], "Send me the invoice INV-2026-0012345 again", contact=DANA)
    assert invoice.args == {"invoice_number": "INV-2026-0012345", "email": "dana@example.com"}
    anonymous = fill(BREWLY["resend_invoice"], "Send me the invoice INV-2026-0012345 again")
    assert [p.name for p in anonymous.missing] == ["email"]


def test_failure_replies_name_the_identifier_and_say_what_happened() -> None:
    from actions.caller import CallResult, Outcome
    from actions.render import render_failure

    track = BREWLY["track_order"]
    missing = render_failure(track, {"order_number": "BR-999999"},
                             CallResult(Outcome.CLIENT_ERROR, 404, {"error": "not_found"}, "404 Not Found", 3.0))
    assert "BR-999999" in missing and "404" in missing and "couldn't find" in missing
    down = render_failure(track, {"order_number": "BR-104233"},
                          CallResult(Outcome.NETWORK, None, None, "could not reach the API (ConnectError)", 1.0))
    assert "not reachable" in down and "BR-104233" in down
