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


# "This answer comes from an article in {language}." in the customers' languages we ship; the
# language of the article is named in the customer's language.
_SOURCE_NOTE = {
    "en": "This answer comes from an article in {language}.",
    "de": "Diese Antwort stammt aus einem Artikel auf {language}.",
    "es": "Esta respuesta procede de un artículo en {language}.",
    "fr": "Cette réponse provient d'un article en {language}.",
    "pt": "Esta resposta vem de um artigo em {language}.",
    "it": "Questa risposta proviene da un articolo in {language}.",
    "nl": "Dit antwoord komt uit een artikel in het {language}.",
}
_NAMES = {
    "en": {"en": "English", "de": "German", "es": "Spanish", "fr": "French", "pt": "Portuguese", "it": "Italian",
           "nl": "Dutch"},
    "de": {"en": "Englisch", "de": "Deutsch", "es": "Spanisch", "fr": "Französisch", "pt": "Portugiesisch",
           "it": "Italienisch", "nl": "Niederländisch"},
    "es": {"en": "inglés", "de": "alemán", "es": "español", "fr": "francés", "pt": "portugués", "it": "italiano",
           "nl": "neerlandés"},
    "fr": {"en": "anglais", "de": "allemand", "es": "espagnol", "fr": "français", "pt": "portugais", "it": "italien",
           "nl": "néerlandais"},
    "pt": {"en": "inglês", "de": "alemão", "es": "espanhol", "fr": "francês", "pt": "português", "it": "italiano",
           "nl": "neerlandês"},
    "it": {"en": "inglese", "de": "tedesco", "es": "spagnolo", "fr": "francese", "pt": "portoghese", "it": "italiano",
           "nl": "olandese"},
    "nl": {"en": "Engels", "de": "Duits", "es": "Spaans", "fr": "Frans", "pt": "Portugees", "it": "Italiaans",
           "nl": "Nederlands"},
}
#: The same note when the article's language has no name in our templates.
_SOURCE_NOTE_OTHER = {
    "en": "This answer comes from an article in another language.",
    "de": "Diese Antwort stammt aus einem Artikel in einer anderen Sprache.",
    "es": "Esta respuesta procede de un artículo en otro idioma.",
    "fr": "Cette réponse provient d'un article dans une autre langue.",
    "pt": "Esta resposta vem de um artigo em outro idioma.",
    "it": "Questa risposta proviene da un articolo in un'altra lingua.",
    "nl": "Dit antwoord komt uit een artikel in een andere taal.",
}
NOTE_LANGUAGES = tuple(_SOURCE_NOTE)


def primary_language(code: str | None) -> str | None:
    """The primary subtag of a language code, lower case ("pt_BR" -> "pt"); None for none or blank."""
    return code.strip().lower().replace("_", "-").split("-")[0] or None if code else None


def source_language_note(customer: str | None, sources: list[str | None]) -> str | None:
    """The note that tells the customer, in their language, that the cited article is in another one.

    None when the customer's language is unknown or has no template (then nothing is added), when
    any cited source is in the customer's language, or when no source's language is known.

    Example::

        source_language_note("de", ["en"])  # "Diese Antwort stammt aus einem Artikel auf Englisch."
    """
    lang = primary_language(customer)
    known = [code for code in (primary_language(s) for s in sources) if code]
    if lang not in _SOURCE_NOTE or not known or lang in known:
        return None
    other = known[0]
    name = _NAMES[lang].get(other)
    return _SOURCE_NOTE[lang].format(language=name) if name else _SOURCE_NOTE_OTHER[lang]
