"""PII redaction: runs before anything is stored, retrieved, embedded or sent to a model.

Detectors: emails (pattern), payment cards (13-19 digits in groups separated by spaces, dashes,
dots, slashes or underscores, Luhn-checked), IBANs (any case, spaced, dashed or compact; ISO 13616
checksum via python-stdnum), national ids (pattern plus the country's checksum where one exists,
via python-stdnum), phone numbers (Google's libphonenumber port, ``phonenumbers``, valid numbers
only, not when glued into a reference such as ``INV-2025-000123``). ``scrub`` is the one function
every stored or sent free text goes through; recall and false positives on the written test set
are in the README's Security section. Each match is replaced by a placeholder such as
``[EMAIL]``; the original is never kept, and the trace records only kinds and counts.

Example::

    r = Redactor(RedactionConfig())
    r.redact("mail me at a@b.example").text  # 'mail me at [EMAIL]'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from pydantic import Field, field_validator
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

from core.models import Frozen

from .decision import Redaction

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")
#: One separator between digit groups: space (also no-break and thin), dash, dot, slash, underscore.
_SEP = "[ \u00a0\u2009\u202f.\\-/_]"
CARD = re.compile(rf"(?<![\d\-./])(?:\d{_SEP}?){{12,18}}\d(?![\d]|[\-./]\d)")
#: An IBAN candidate: country, check digits, then up to 30 characters in groups; the longest
#: prefix that ends a group and passes ISO 13616 is the IBAN (any case, spaced or not).
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \u00a0-]?[A-Za-z0-9]){10,32}")


#: national id kind -> (pattern, validator). Validators use the country's checksum where it has one.
NATIONAL_IDS: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "us_ssn": (re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), ssn.is_valid),
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
    "br_cpf": (re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d-])"), cpf.is_valid),
    "fr_nir": (re.compile(r"(?<!\d)[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)", re.I),
               nir.is_valid),
}
#: A national id kind in the published schema.
_KIND_SCHEMA: dict[str, Any] = {"type": "string", "enum": sorted(NATIONAL_IDS)}
DEFAULT_NATIONAL_IDS = ("us_ssn", "gb_nino", "es_dni", "es_nie", "it_codice_fiscale", "br_cpf", "fr_nir")


class RedactionConfig(Frozen):
    """Which kinds of personal data a workspace redacts. Phone numbers without a ``+`` country
    code are read in ``phone_regions`` (ISO 3166 codes)."""

    emails: bool = True
    phones: bool = True
    cards: bool = True
    ibans: bool = True
    national_ids: tuple[str, ...] = Field(default=DEFAULT_NATIONAL_IDS, json_schema_extra={"items": _KIND_SCHEMA})
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
            text = _ibans(text, counts)
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
                if not _inside_identifier(text, m.start, m.end)
            ]
            for start, end in reversed(spans):
                text = f"{text[:start]}[PHONE]{text[end:]}"
                counts["phone"] += 1
        return text


_DEFAULT = RedactionConfig()


def scrub(text: str, config: RedactionConfig | None = None) -> str:
    """``text`` with its personal data replaced: the one function every free text goes through
    before it is stored or sent (messages, CSAT comments, handoff summaries and transcripts,
    ticket bodies, event notes). Default config unless the workspace's is given."""
    if not text:
        return text
    return Redactor(config or _DEFAULT).redact(text).text


#: Keys whose values are free text wherever they appear in stored or sent JSON (event data,
#: handoff transcripts, webhook payloads); ids, urls and scores beside them are left alone.
FREE_TEXT_KEYS = frozenset({"reply", "text", "message", "summary", "comment", "note", "notes", "body",
                            "details", "description", "quote", "snippet", "evidence"})


def scrub_json(value: Any, config: RedactionConfig | None = None, *, free: bool = False) -> Any:
    """``scrub`` applied to the free text inside a JSON-like value: every string under a key of
    ``FREE_TEXT_KEYS`` (or everywhere with ``free=True``); keys and other values kept."""
    if isinstance(value, str):
        return scrub(value, config) if free else value
    if isinstance(value, dict):
        return {k: scrub_json(v, config, free=free or k in FREE_TEXT_KEYS) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v, config, free=free) for v in value]
    return value


def _ibans(text: str, counts: Counter[str]) -> str:
    def replace(m: re.Match[str]) -> str:
        candidate = m.group(0)
        # cut after each character that ends a group (the next one is a separator, or the end)
        for end in range(len(candidate), 14, -1):
            if end < len(candidate) and candidate[end] not in " \u00a0-":
                continue
            if iban.is_valid(re.sub(r"[ \u00a0-]", "", candidate[:end]).upper()):
                counts["iban"] += 1
                return "[IBAN]" + candidate[end:]
        # no group boundary: the whole run without separators (a compact IBAN glued to nothing)
        return candidate

    return IBAN.sub(replace, text)


def _inside_identifier(text: str, start: int, end: int) -> bool:
    """``INV-2025-000123``: digits glued by a dash or slash to letters or digits belong to a
    reference, not a phone number."""
    before = text[max(0, start - 2):start]
    after = text[end:end + 2]
    return (len(before) == 2 and before[1] in "-/_" and before[0].isalnum()) or \
        (len(after) == 2 and after[0] in "-/_" and after[1].isalnum())


def _luhn_card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _safe(check: Callable[[str], bool]) -> Callable[[str], bool]:
    def valid(value: str) -> bool:
        return bool(check(re.sub(r"[\s-]", "", value)))

    return valid
