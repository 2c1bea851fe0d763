"""PII redaction: each detector, its checksum guard, and per-workspace switches."""

from __future__ import annotations

import pytest

from agent.redaction import RedactionConfig, Redactor


def redact(text: str, **config: object) -> tuple[str, dict[str, int]]:
    result = Redactor(RedactionConfig(**config)).redact(text)  # type: ignore[arg-type]
    return result.text, {r.kind: r.count for r in result.redactions}


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        ("write to jane.doe+orders@example.co.uk please", "email", "jane.doe"),
        ("my card is 4111 1111 1111 1111, charge it", "card", "4111"),
        ("card 5500-0000-0000-0004 expired", "card", "5500"),
        ("IBAN DE89 3704 0044 0532 0130 00 for the refund", "iban", "DE89"),
        ("pay to GB82WEST12345698765432", "iban", "GB82"),
        ("call me on +44 20 7946 0958 tonight", "phone", "7946"),
        ("or (415) 555-2671 in the US", "phone", "555"),
        ("my SSN is 536-22-1234", "national_id", "536-22"),
        ("DNI 12345678Z", "national_id", "12345678"),
        ("codice fiscale RSSMRA85T10A562S", "national_id", "RSSMRA"),
    ],
)
def test_each_kind_is_replaced_and_counted(text: str, kind: str, secret: str) -> None:
    redacted, counts = redact(text)
    assert secret not in redacted
    assert f"[{kind.upper()}]" in redacted
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "IBAN DE89 3704 0044 0532 0130 01 has a wrong checksum",
        "order 123456 on 2024-10-25 costs 12.50",
        "My Brewly Mill shows error E-12 at 220-240 V",
        "SSN 000-12-3456 is not a valid number",
    ],
)
def test_numbers_that_fail_their_checks_stay(text: str) -> None:
    assert redact(text) == (text, {})


def test_a_workspace_can_switch_kinds_off() -> None:
    text = "mail a@b.example, card 4111111111111111"
    redacted, counts = redact(text, emails=False)
    assert "a@b.example" in redacted and "[CARD]" in redacted and counts == {"card": 1}


def test_unknown_national_id_kinds_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown national id kinds"):
        RedactionConfig(national_ids=("xx_nope",))
