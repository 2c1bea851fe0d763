"""Pleasantries: greetings, thanks, goodbyes and acknowledgements get a short courteous reply.

A message is a pleasantry when it consists only of such phrases (in en/de/es/fr/pt, in any mix,
with punctuation and emoji ignored): "ok great, thanks", "Hallo", "Merci beaucoup, ça m'a aidé".
Anything else in it ("thanks, but where is my order?", "thanks for nothing") makes it an ordinary
message. The reply is in the language of the phrases, never a handoff or a ticket.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from .intents import LANGUAGES, fold


class Courtesy(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    ACKNOWLEDGEMENT = "acknowledgement"


# language -> kind -> phrases (folded: lower case, no accents)
_PHRASES: dict[str, dict[Courtesy, tuple[str, ...]]] = {
    "en": {
        Courtesy.GREETING: (
            "hi",
            "hello",
            "hey",
            "hiya",
            "yo",
            "greetings",
            "good morning",
            "good afternoon",
            "good evening",
            "morning",
            "there",
            "hi there",
            "hello there",
            "hey there",
        ),
        Courtesy.THANKS: (
            "thanks",
            "thank you",
            "thankyou",
            "thx",
            "ty",
            "tysm",
            "cheers",
            "thanks a lot",
            "many thanks",
            "much appreciated",
            "appreciate it",
            "appreciated",
            "so much",
            "a lot",
            "very much",
            "that helped",
            "this helped",
            "it helped",
            "that's helpful",
            "very helpful",
            "helpful",
            "for your help",
            "for the help",
            "for your help today",
            "for helping",
            "again",
            "today",
            "that's all",
            "that is all",
            "that's it",
            "all good",
            "that was it",
            "that's everything",
            "you've been",
            "you have been",
            "very helpful",
            "that's exactly what i needed",
            "exactly what i needed",
            "now",
            "no",
            "nope",
            "nice one",
        ),
        Courtesy.GOODBYE: (
            "bye",
            "goodbye",
            "bye bye",
            "see you",
            "see ya",
            "have a nice day",
            "have a good day",
            "take care",
            "later",
            "good night",
            "have a great day",
            "have a great weekend",
            "have a nice weekend",
            "have a good weekend",
        ),
        Courtesy.ACKNOWLEDGEMENT: (
            "ok",
            "okay",
            "okey",
            "k",
            "kk",
            "great",
            "awesome",
            "super",
            "perfect",
            "cool",
            "nice",
            "got it",
            "understood",
            "alright",
            "all right",
            "sounds good",
            "fine",
            "good",
            "brilliant",
            "excellent",
            "lovely",
            "wonderful",
            "noted",
            "i see",
            "makes sense",
            "oh",
            "ah",
        ),
    },
    "de": {
        Courtesy.GREETING: ("hallo", "guten morgen", "guten tag", "guten abend", "servus", "moin", "gruss gott"),
        Courtesy.THANKS: (
            "danke",
            "vielen dank",
            "danke schon",
            "dankeschon",
            "besten dank",
            "herzlichen dank",
            "das hat geholfen",
            "hat geholfen",
            "das war's",
            "das wars",
            "das war alles",
            "sehr",
            "vielmals",
        ),
        Courtesy.GOODBYE: ("tschuss", "auf wiedersehen", "bis bald", "schonen tag noch", "schonen tag", "ciao"),
        Courtesy.ACKNOWLEDGEMENT: (
            "alles klar",
            "passt",
            "perfekt",
            "verstanden",
            "prima",
            "gut",
            "ok",
            "okay",
            "super",
            "toll",
        ),
    },
    "es": {
        Courtesy.GREETING: ("hola", "buenos dias", "buenas tardes", "buenas noches", "buenas"),
        Courtesy.THANKS: (
            "gracias",
            "muchas gracias",
            "mil gracias",
            "me sirvio",
            "me ayudo",
            "me ha ayudado",
            "eso es todo",
            "muy amable",
        ),
        Courtesy.GOODBYE: (
            "adios",
            "hasta luego",
            "hasta pronto",
            "chao",
            "que tengas buen dia",
            "que tenga un buen dia",
            "que tengas un buen dia",
            "buen dia",
        ),
        Courtesy.ACKNOWLEDGEMENT: (
            "vale",
            "perfecto",
            "genial",
            "entendido",
            "de acuerdo",
            "estupendo",
            "ok",
            "super",
            "claro",
        ),
    },
    "fr": {
        Courtesy.GREETING: ("bonjour", "salut", "bonsoir", "coucou"),
        Courtesy.THANKS: ("merci", "merci beaucoup", "merci bien", "ca m'a aide", "c'est tout", "mille merci"),
        Courtesy.GOODBYE: ("au revoir", "a bientot", "bonne journee", "bonne soiree", "a plus"),
        Courtesy.ACKNOWLEDGEMENT: (
            "d'accord",
            "parfait",
            "compris",
            "ca marche",
            "genial",
            "top",
            "tres bien",
            "ok",
            "super",
            "entendu",
        ),
    },
    "pt": {
        Courtesy.GREETING: ("ola", "oi", "bom dia", "boa tarde", "boa noite"),
        Courtesy.THANKS: (
            "obrigado",
            "obrigada",
            "muito obrigado",
            "muito obrigada",
            "valeu",
            "ajudou",
            "ajudou bastante",
            "ajudou muito",
            "e isso",
            "e so isso",
            "so isso",
            "era isso",
        ),
        Courtesy.GOODBYE: ("tchau", "ate logo", "ate mais", "tenha um bom dia", "ate breve"),
        Courtesy.ACKNOWLEDGEMENT: ("perfeito", "otimo", "certo", "entendi", "beleza", "show", "ok", "combinado"),
    },
}
_INDEX: dict[str, list[tuple[str, Courtesy]]] = {}
for _language, _kinds in _PHRASES.items():
    for _kind, _phrases in _kinds.items():
        for _phrase in _phrases:
            _INDEX.setdefault(_phrase, []).append((_language, _kind))
_KINDS = {(phrase, kind) for phrase, found in _INDEX.items() for _, kind in found}
_LONGEST = max(len(p.split()) for p in _INDEX)
_TOKEN = re.compile(r"[\w']+")
MAX_WORDS = 12
#: Phrases that end the conversation as a goodbye does ("thanks, that's all", "das war's, danke").
_CLOSERS = {
    "that's all",
    "that is all",
    "that's it",
    "that was it",
    "that's everything",
    "das war's",
    "das wars",
    "das war alles",
    "eso es todo",
    "c'est tout",
    "e isso",
    "e so isso",
    "so isso",
    "era isso",
}
#: Kinds that say nothing on their own once the message has a greeting, thanks or goodbye.
_FILLER = {"there", "now", "no", "so much", "a lot", "very much", "again", "today", "sehr", "vielmals", "oh", "ah"}

_REPLIES: dict[Courtesy, dict[str, str]] = {
    Courtesy.GREETING: {
        "en": "Hello! How can I help you today?",
        "de": "Hallo! Wie kann ich Ihnen helfen?",
        "es": "¡Hola! ¿En qué puedo ayudarte?",
        "fr": "Bonjour ! Comment puis-je vous aider ?",
        "pt": "Olá! Como posso ajudar?",
    },
    Courtesy.THANKS: {
        "en": "You're welcome! Is there anything else I can help with?",
        "de": "Gern geschehen! Kann ich sonst noch helfen?",
        "es": "¡De nada! ¿Puedo ayudarte en algo más?",
        "fr": "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        "pt": "De nada! Posso ajudar em algo mais?",
    },
    Courtesy.GOODBYE: {
        "en": "Goodbye, and have a nice day!",
        "de": "Auf Wiedersehen und einen schönen Tag!",
        "es": "¡Hasta luego, que tengas un buen día!",
        "fr": "Au revoir et bonne journée !",
        "pt": "Até logo, tenha um bom dia!",
    },
    Courtesy.ACKNOWLEDGEMENT: {
        "en": "Great! Let me know if there's anything else I can help with.",
        "de": "Gut! Sagen Sie Bescheid, wenn ich noch etwas tun kann.",
        "es": "¡Perfecto! Avísame si necesitas algo más.",
        "fr": "Parfait ! N'hésitez pas si vous avez besoin d'autre chose.",
        "pt": "Perfeito! Se precisar de mais alguma coisa, é só dizer.",
    },
}


#: Thanks that end the conversation ("thanks, that's all") are answered and said goodbye to.
_WELCOME_GOODBYE = {
    "en": "You're welcome! Goodbye, and have a nice day.",
    "de": "Gern geschehen! Auf Wiedersehen und einen schönen Tag.",
    "es": "¡De nada! Hasta luego, que tengas un buen día.",
    "fr": "Avec plaisir ! Au revoir et bonne journée.",
    "pt": "De nada! Até logo, tenha um bom dia.",
}


@dataclass(frozen=True, slots=True)
class Pleasantry:
    """A recognised pleasantry: its kind (the strongest one said), language and the reply."""

    kind: Courtesy
    language: str
    phrases: tuple[str, ...]

    @property
    def closes(self) -> bool:
        """Whether the customer ends the conversation: a goodbye or "that's all" ("thanks, bye",
        "that's everything, cheers", "eso es todo, gracias"); thanks alone invite a next question."""
        return any(p in _CLOSERS or (p, Courtesy.GOODBYE) in _KINDS for p in self.phrases)

    @property
    def reply(self) -> str:
        """The courteous reply; a closing message gets a goodbye (after a "you're welcome" for thanks)."""
        if self.closes and self.kind is Courtesy.THANKS:
            return _WELCOME_GOODBYE[self.language]
        return _REPLIES[Courtesy.GOODBYE if self.closes else self.kind][self.language]


_COURTEOUS_EMOJI = {
    "\U0001f44d": Courtesy.ACKNOWLEDGEMENT,
    "\U0001f44c": Courtesy.ACKNOWLEDGEMENT,
    "\U0001f64f": Courtesy.THANKS,
    "\U0001f44b": Courtesy.GREETING,
    "\U0001f642": Courtesy.ACKNOWLEDGEMENT,
    "\U0001f60a": Courtesy.ACKNOWLEDGEMENT,
}


def pleasantry(text: str) -> Pleasantry | None:
    """The pleasantry ``text`` is made of, or None when it says anything else."""
    symbols = [
        c for c in text if not c.isspace() and c not in "\ufe0f\u200d" and not unicodedata.category(c).startswith("Sk")
    ]
    if symbols and len(symbols) <= 3 and all(c in _COURTEOUS_EMOJI for c in symbols):
        return Pleasantry(kind=_COURTEOUS_EMOJI[symbols[0]], language="en", phrases=tuple(symbols))
    tokens = _TOKEN.findall(fold(text).replace("_", " "))
    if not tokens or len(tokens) > MAX_WORDS:
        return None
    found: list[str] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_LONGEST, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + size])
            if phrase in _INDEX:
                found.append(phrase)
                i += size
                break
        else:
            return None
    meaningful = [p for p in found if p not in _FILLER]
    if not meaningful:
        return None
    votes: Counter[str] = Counter(language for p in meaningful for language, _ in _INDEX[p])
    best = max(votes.values())
    language = next(code for code in LANGUAGES if votes.get(code) == best)
    kinds = {kind for p in meaningful for _, kind in _INDEX[p]}
    # a goodbye closes, thanks invite a next question, a greeting opens; a bare "ok" acknowledges
    kind = next(
        k for k in (Courtesy.GOODBYE, Courtesy.THANKS, Courtesy.GREETING, Courtesy.ACKNOWLEDGEMENT) if k in kinds
    )
    return Pleasantry(kind=kind, language=language, phrases=tuple(found))
