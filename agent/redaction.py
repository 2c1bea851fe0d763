"""PII redaction: runs before anything is stored, retrieved, embedded or sent to a model.

Detectors: emails (pattern), payment cards (13-19 digits, Luhn-checked), IBANs (ISO 13616
checksum via python-stdnum), national ids (pattern plus the country's checksum where one exists,
via python-stdnum), phone numbers (Google's libphonenumber port, ``phonenumbers``, valid numbers
only). Each match is replaced by a placeholder such as ``[EMAIL]``; the original is never kept,
and the trace records only kinds and counts.

Example::

    r = Redactor(RedactionConfig())
    r.redact("mail me at a@b.example").text  # 'mail me at [EMAIL]'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from pydantic import Field, field_validator
from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.it import codicefiscale
from stdnum.us import ssn

from core.models import Frozen

from .decision import Redaction

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


#: national id kind -> (pattern, validator). Validators use the country's checksum where it has one.
NATIONAL_IDS: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "us_ssn": (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), ssn.is_valid),
    "gb_nino": (
        re.compile(
            r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TY-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.I
        ),
        lambda value: True,  # no checksum: the pattern is specific enough
    ),
    "es_dni": (re.compile(r"\b\d{8}-?[A-Z]\b", re.I), dni.is_valid),
    "es_nie": (re.compile(r"\b[XYZ]-?\d{7}-?[A-Z]\b", re.I), nie.is_valid),
    "it_codice_fiscale": (re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b", re.I), codicefiscale.is_valid),
    "de_idnr": (re.compile(r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b"), idnr.is_valid),
}
DEFAULT_NATIONAL_IDS = ("us_ssn", "gb_nino", "es_dni", "es_nie", "it_codice_fiscale")


class RedactionConfig(Frozen):
    """Which kinds of personal data a workspace redacts. Phone numbers without a ``+`` country
    code are read in ``phone_regions`` (ISO 3166 codes)."""

    emails: bool = True
    phones: bool = True
    cards: bool = True
    ibans: bool = True
    national_ids: tuple[str, ...] = Field(default=DEFAULT_NATIONAL_IDS)
    phone_regions: tuple[str, ...] = ("US", "GB", "DE")

    @field_validator("national_ids")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(NATIONAL_IDS))
        if unknown:
            raise ValueError(f"unknown national id kinds {unknown}; known: {sorted(NATIONAL_IDS)}")
        return value


@dataclass(frozen=True, slots=True)
class Redacted:
    """The redacted text and what was removed (kinds and counts only)."""

    text: str
    redactions: list[Redaction]

    @property
    def kinds(self) -> set[str]:
        return {r.kind for r in self.redactions}


class Redactor:
    """Replaces personal data in text with placeholders, per a ``RedactionConfig``."""

    def __init__(self, config: RedactionConfig) -> None:
        unknown = set(config.national_ids) - set(NATIONAL_IDS)
        if unknown:
            raise ValueError(f"unknown national id kinds {sorted(unknown)}; known: {sorted(NATIONAL_IDS)}")
        self.config = config

    def redact(self, text: str) -> Redacted:
        counts: Counter[str] = Counter()
        c = self.config
        if c.emails:
            text = self._sub(EMAIL, text, "email", lambda _: True, counts)
        if c.ibans:
            text = self._sub(IBAN, text, "iban", lambda v: iban.is_valid(v.replace(" ", "")), counts)
        if c.cards:
            text = self._sub(CARD, text, "card", _luhn_card, counts)
        for kind in c.national_ids:
            pattern, check = NATIONAL_IDS[kind]
            text = self._sub(pattern, text, "national_id", _safe(check), counts)
        if c.phones:
            text = self._phones(text, counts)
        return Redacted(text=text, redactions=[Redaction(kind=k, count=n) for k, n in sorted(counts.items())])

    @staticmethod
    def _sub(pattern: re.Pattern[str], text: str, kind: str, valid: Callable[[str], bool], counts: Counter[str]) -> str:
        def replace(m: re.Match[str]) -> str:
            if not valid(m.group(0)):
                return m.group(0)
            counts[kind] += 1
            return f"[{kind.upper()}]"

        return pattern.sub(replace, text)

    def _phones(self, text: str, counts: Counter[str]) -> str:
        for region in self.config.phone_regions:
            spans = [
                (m.start, m.end)
                for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
            ]
            for start, end in reversed(spans):
                text = f"{text[:start]}[PHONE]{text[end:]}"
                counts["phone"] += 1
        return text


def _luhn_card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _safe(check: Callable[[str], bool]) -> Callable[[str], bool]:
    def valid(value: str) -> bool:
        return bool(check(re.sub(r"[\s-]", "", value)))

    return valid
