"""The customer's language, detected offline (langdetect, seeded so it is deterministic)."""

from __future__ import annotations

import re

from langdetect import DetectorFactory, LangDetectException, detect_langs

DetectorFactory.seed = 0
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN|NATIONAL_ID)\]")
MIN_WORDS = 4
MIN_PROBABILITY = 0.9


def detect_language(text: str) -> str | None:
    """An ISO 639-1 code when the text is long enough and the detection is sure, else None."""
    cleaned = _PLACEHOLDER.sub(" ", text)
    if len(cleaned.split()) < MIN_WORDS:
        return None
    try:
        best = detect_langs(cleaned)[0]
    except LangDetectException:
        return None
    return str(best.lang).split("-")[0] if best.prob >= MIN_PROBABILITY else None
