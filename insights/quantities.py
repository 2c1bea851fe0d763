"""Quantities in help text: numbers with their unit and the words around them (issue 20, item 4).

``quantities(text)`` finds prices (``€29``, ``29 euros``, ``$5.90``), durations (``14 days``,
``2 weeks``, ``3 business days``, ``48 hours``, ``14 Tage``, ``30 jours``, ``30 días``),
percentages (``20%``, ``20 Prozent``), weights and volumes (``250 g``, ``1.5 kg``), days of the
month (``the 25th``, ``am 25.``), clock times (``23:59``) and counted limits (``up to 3 pauses``,
``40 guests``: any word after a number counts what it names), single values or ranges
(``1 to 7 business days``). Each value is normalised to a
base of its dimension (days for calendar durations, hours for hours and minutes, the currency for
money), so ``2 weeks`` and ``14 days`` are the same value and never a conflict.

Words for units cover English, German, French and Spanish; a language outside those still
yields its digits with symbols (``€``, ``%``, ``kg``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# unit word -> (dimension, factor to the dimension's base)
_DURATION = {
    "minute": ("hours", 1 / 60), "minutes": ("hours", 1 / 60), "min": ("hours", 1 / 60), "mins": ("hours", 1 / 60),
    "minuten": ("hours", 1 / 60), "minutos": ("hours", 1 / 60),
    "hour": ("hours", 1.0), "hours": ("hours", 1.0), "hrs": ("hours", 1.0), "h": ("hours", 1.0),
    "stunde": ("hours", 1.0), "stunden": ("hours", 1.0), "heure": ("hours", 1.0), "heures": ("hours", 1.0),
    "hora": ("hours", 1.0), "horas": ("hours", 1.0),
    "day": ("days", 1.0), "days": ("days", 1.0), "tag": ("days", 1.0), "tage": ("days", 1.0),
    "tagen": ("days", 1.0), "jour": ("days", 1.0), "jours": ("days", 1.0), "día": ("days", 1.0),
    "días": ("days", 1.0), "dia": ("days", 1.0), "dias": ("days", 1.0),
    "week": ("days", 7.0), "weeks": ("days", 7.0), "woche": ("days", 7.0), "wochen": ("days", 7.0),
    "semaine": ("days", 7.0), "semaines": ("days", 7.0), "semana": ("days", 7.0), "semanas": ("days", 7.0),
    **dict.fromkeys(("month", "months", "monat", "monate", "monaten", "mois", "mes", "meses"), ("days", 365 / 12)),
    "year": ("days", 365.0), "years": ("days", 365.0), "jahr": ("days", 365.0), "jahre": ("days", 365.0),
    "jahren": ("days", 365.0), "an": ("days", 365.0), "ans": ("days", 365.0), "année": ("days", 365.0),
    "années": ("days", 365.0), "año": ("days", 365.0), "años": ("days", 365.0),
}
_BUSINESS = {"business", "working", "werktag", "werktage", "werktagen", "arbeitstage", "arbeitstagen",
             "ouvrés", "ouvrables", "hábiles", "habiles", "laborables"}
_MEASURE = {"g": ("grams", 1.0), "gram": ("grams", 1.0), "grams": ("grams", 1.0), "gramm": ("grams", 1.0),
            "gramos": ("grams", 1.0), "grammes": ("grams", 1.0), "kg": ("grams", 1000.0),
            "kilo": ("grams", 1000.0), "kilos": ("grams", 1000.0), "ml": ("ml", 1.0), "l": ("ml", 1000.0),
            "litre": ("ml", 1000.0), "liter": ("ml", 1000.0), "litres": ("ml", 1000.0), "liters": ("ml", 1000.0),
            "cm": ("cm", 1.0), "mm": ("cm", 0.1), "w": ("watts", 1.0), "watts": ("watts", 1.0)}
_PERCENT = {"%", "percent", "per cent", "prozent", "pour cent", "por ciento"}
_CURRENCY = {"€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "$": "USD", "usd": "USD", "dollars": "USD",
             "£": "GBP", "gbp": "GBP", "pounds": "GBP", "chf": "CHF", "franken": "CHF", "nok": "NOK", "kr": "NOK"}
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30,
          "sixty": 60, "ninety": 90, "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4,
          "fünf": 5, "sechs": 6, "sieben": 7, "zehn": 10, "vierzehn": 14, "dreißig": 30, "un": 1, "une": 1,
          "deux": 2, "trois": 3, "cinq": 5, "sept": 7, "dix": 10, "quinze": 15, "trente": 30, "uno": 1,
          "dos": 2, "tres": 3, "cinco": 5, "siete": 7, "diez": 10, "quince": 15, "treinta": 30}
#: Words after a number that are no counted thing ("4.3 or later", "16 and up").
_NOT_COUNTED = {"or", "and", "to", "per", "a", "an", "the", "of", "x", "pm", "am", "oder", "und", "ou", "et", "o", "y"}
_NUM = r"(\d{1,3}(?:[ ,.]\d{3})+|\d+(?:[.,]\d+)?)"
_WORD_NUM = "|".join(sorted(_WORDS, key=len, reverse=True))
_VALUE = rf"(?:{_NUM}|\b(?:{_WORD_NUM})\b)"
_RANGE = rf"(?P<lo>{_VALUE})(?:\s*(?:-|–|to|and|or|bis|und|à|et|a|y|o)\s*(?P<hi>{_VALUE}))?"
_TOKEN = re.compile(
    rf"(?P<pre>[€$£])\s?(?P<pv>{_NUM})"
    rf"|(?<![\w.,:])(?P<time>\d{{1,2}}:\d{{2}})(?![\d:])"
    rf"|\b(?P<ord>\d{{1,2}})(?:st|nd|rd|th)\b(?:\s+(?P<ordnoun>(?!of\b)[^\W\d_]{{3,}}))?"
    rf"|(?:\b(?:am|le|el|bis zum|zum)\s+)(?P<gord>\d{{1,2}})\.(?!\d)"
    rf"|(?<![\w.,]){_RANGE}\s*(?P<unit>%|[€$£](?!\s?\d)|per cent|pour cent|por ciento|[^\W\d_]+(?:[ -][^\W\d_]+)?)?",
    re.IGNORECASE,
)
_STOP = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "by", "with", "from", "and", "or", "is", "are", "be",
    "was", "it", "its", "this", "that", "these", "those", "your", "you", "we", "our", "us", "can", "will", "may",
    "per", "each", "every", "any", "all", "up", "within", "after", "before", "than", "more", "less", "least",
    "most", "no", "not", "as", "if", "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "und",
    "oder", "ist", "sind", "für", "mit", "von", "zu", "im", "am", "auf", "bei", "nach", "innerhalb", "le", "la",
    "les", "un", "une", "et", "ou", "est", "sont", "pour", "avec", "de", "du", "dans", "sous", "après",
    "en", "au", "aux", "el", "los", "las", "una", "y", "o", "es", "son", "para", "con", "del",
    "tras", "por"
})
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
STEM = 5
#: Words each side of a quantity that say what it qualifies (stop words included in the count).
WINDOW = 10


@dataclass(frozen=True, slots=True)
class Quantity:
    """One quantity: its dimension (``days``, ``business_days``, ``hours``, ``EUR``, ``percent``,
    ``grams``, ``day_of_month``, ``time``, ``count:<noun>``...), the value range in the dimension's
    base (``lo == hi`` for a single value), the text as written and the words of its clause."""

    dimension: str
    lo: float
    hi: float
    text: str
    context: frozenset[str]
    sentence: str
    position: int

    def same_value(self, other: Quantity, tolerance: float = 0.01) -> bool:
        return (abs(self.lo - other.lo) <= tolerance * max(1.0, abs(self.lo))
                and abs(self.hi - other.hi) <= tolerance * max(1.0, abs(self.hi)))

    @property
    def shown(self) -> str:
        return self.text.strip()


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    word = raw.lower()
    if word in _WORDS:
        return float(_WORDS[word])
    cleaned = raw.replace(" ", "")
    if re.fullmatch(r"\d{1,3}(?:[,.]\d{3})+", cleaned):  # thousands separators: 1,000 / 1.000
        return float(re.sub(r"[,.]", "", cleaned))
    try:
        return float(cleaned.replace(",", "."))
    except ValueError:
        return None


def _unit(raw: str) -> tuple[str, float, int] | None:
    """The dimension, factor and number of words of a unit written after a number (None: no unit)."""
    words = raw.lower().replace("-", " ").split()
    if not words:
        return None
    first = words[0]
    if " ".join(words[:2]) in _PERCENT:
        return "percent", 1.0, 2
    if first in _PERCENT:
        return "percent", 1.0, 1
    if first in _CURRENCY:
        return _CURRENCY[first], 1.0, 1
    if first in _BUSINESS:
        if first.startswith(("werktag", "arbeitstag")):
            return "business_days", 1.0, 1
        if len(words) > 1 and words[1] in _DURATION:
            return "business_days", _DURATION[words[1]][1], 2
    if first in _DURATION:
        dimension, factor = _DURATION[first]
        if len(words) > 1 and words[1] in _BUSINESS:  # "jours ouvrés", "días hábiles"
            return "business_days", factor, 2
        return dimension, factor, 1
    if first in _MEASURE:
        return (*_MEASURE[first], 1)
    if len(first) >= 3 and first not in _NOT_COUNTED and first not in _STOP:  # "3 pauses", "40 guests"
        noun = first[:-1] if first.endswith("s") and len(first) > 3 else first
        return f"count:{noun}", 1.0, 1
    return None


_RATE = re.compile(r"\s*(?:per|a|an|each|every|/|pro|je|par|por|al|à)\s*([^\W\d_]{3,})", re.IGNORECASE)
_EVERY = re.compile(r"(?:every|each|alle|tous les|toutes les|cada)\s*$", re.IGNORECASE)
_OLD = re.compile(r"\s*(?:old|alt|d'âge|de edad)\b", re.IGNORECASE)


def _qualified(dimension: str, sentence: str, start: int, end: int) -> str:
    """The dimension with what a value is per, how often, or an age: "€15 per month" is a monthly
    price (``EUR/month``), never compared with "€60 for 6 months"; "every 4 months" is an interval
    (``every:days``), not a period; "16 years old" is an age."""
    rest = sentence[end:]
    if dimension.isupper() and (rate := _RATE.match(rest)):  # a currency
        return f"{dimension}/{rate.group(1).lower()[:STEM]}"
    if dimension in ("days", "hours", "business_days"):
        if _OLD.match(rest):
            return "age"
        if _EVERY.search(sentence[:start]):
            return f"every:{dimension}"
    return dimension


def _sentences(text: str) -> list[tuple[int, str]]:
    out, start = [], 0
    for m in re.finditer(r"(?<=[.!?;])\s+|\n+|\s\|\s", text):
        out.append((start, text[start:m.start()]))
        start = m.end()
    out.append((start, text[start:]))
    return [(s, t) for s, t in out if t.strip()]


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of ``text`` without stop words, cut to ``STEM`` letters (a crude stem that
    joins "refund"/"refunds"/"refunded", "cater"/"catering")."""
    return frozenset(w.lower()[:STEM] for w in _WORD.findall(text) if w.lower() not in _STOP)


def quantities(text: str) -> list[Quantity]:
    """Every quantity of ``text`` with its clause's content words (see the module docstring)."""
    found: list[Quantity] = []
    for start, sentence in _sentences(text):
        for m in _TOKEN.finditer(sentence):
            q = _quantity(m, sentence, start)
            if q is not None:
                found.append(q)
    return found


def _quantity(m: re.Match[str], sentence: str, offset: int) -> Quantity | None:
    text = m.group(0)
    if m.group("pre"):
        value = _number(m.group("pv"))
        dimension, lo, hi = _CURRENCY[m.group("pre")], value, value
    elif m.group("time"):
        hours, minutes = m.group("time").split(":")
        dimension, lo = "time", int(hours) + int(minutes) / 60
        hi = lo
    elif m.group("ord") or m.group("gord"):
        lo = hi = float(m.group("ord") or m.group("gord"))
        noun = (m.group("ordnoun") or "").lower()
        # "the 10th of the month" is a date; "your 10th coffee" counts coffees
        dimension = f"ordinal:{noun[:STEM]}" if noun and noun not in _STOP else "day_of_month"
    else:
        unit = _unit(m.group("unit") or "")
        if unit is None:
            return None
        dimension, factor, used = unit
        if used == 1 and " " in m.group("unit").replace("-", " ").strip():  # the second word is no unit's
            text = text[:m.start("unit") - m.start()] + re.split(r"[ -]", m.group("unit"))[0]
        low, high = _number(m.group("lo")), _number(m.group("hi"))
        if low is None:
            return None
        spelled = not re.match(r"\d", m.group("lo"))
        if spelled and not dimension.endswith(("days", "hours")):  # "a", "un", "one €": no amount
            return None
        lo, hi = low * factor, (high if high is not None else low) * factor
        dimension = _qualified(dimension, sentence, m.start(), m.start() + len(text))
    if lo is None or hi is None:
        return None
    if m.group("pre"):
        dimension = _qualified(dimension, sentence, m.start(), m.end())
    before = _WORD.findall(sentence[:m.start()])
    after = _WORD.findall(sentence[m.start() + len(text):])
    words = content_words(" ".join(before[-WINDOW:] + after[:WINDOW]))
    return Quantity(dimension=dimension, lo=float(lo), hi=float(hi), text=text, context=words,
                    sentence=sentence.strip(), position=offset + m.start())


__all__ = ["Quantity", "content_words", "quantities"]
