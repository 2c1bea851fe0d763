"""BM25 sparse vectors, computed here; Qdrant applies IDF through the collection's ``Modifier.IDF``.

Text is split into unicode words (hyphenated codes such as ``E-12`` are kept whole as well as
split), lowercased, stripped of the language's stop words (spaCy's lists) and of one-letter
tokens, stemmed with Snowball (PyStemmer) when the language has a stemmer, and finally folded
to unaccented form, so "café" and "cafe" meet. Each token maps to ``mmh3`` (unsigned) as its index.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import mmh3
from qdrant_client import models

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"

#: ISO 639-1 codes to Snowball algorithm names (those PyStemmer ships).
SNOWBALL: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "eo": "esperanto",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "st": "sesotho",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}

# spaCy has one Norwegian list, under Bokmål.
_STOP_WORD_ALIASES = {"no": "nb", "nn": "nb"}

# Words, optionally joined by "-", "_", "." or "/" into one code ("E-12", "v2.3", "sign-in").
_WORD = re.compile(r"\w+(?:[-./]\w+)*")
_PART = re.compile(r"[^\W_]+")


def normalize_language(language: str | None) -> str:
    """Primary ISO 639 subtag in lowercase ("pt-BR" -> "pt"); ``en`` when unknown."""
    if not language:
        return DEFAULT_LANGUAGE
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or DEFAULT_LANGUAGE


_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")


@functools.lru_cache(maxsize=256)
def is_language_tag(tag: str) -> bool:
    """Whether ``tag`` is a language tag whose primary subtag is an ISO 639 code ("de", "pt-BR",
    "deu"); "xx", "english" and "" are not."""
    match = _TAG.match(tag.strip())
    if match is None:
        return False
    from iso639 import Language, LanguageNotFoundError

    try:
        Language.match(match.group(1).lower())
    except LanguageNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words of a language (empty when spaCy has no list for it).

    The list files are plain sets, read without importing spaCy's package: ``import spacy``
    costs over a second, and ``spacy.lang.fr`` another two for its tokenizer exceptions.
    """
    code = normalize_language(language)
    code = _STOP_WORD_ALIASES.get(code, code)
    spec = importlib.util.find_spec("spacy") if code.isalpha() else None
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = next((p for f in folders if (p := Path(f, "lang", code, "stop_words.py")).is_file()), None)
    module_spec = importlib.util.spec_from_file_location(f"_stop_words_{code}", path) if path else None
    if module_spec is None or module_spec.loader is None:
        logger.debug("no spaCy stop words for language %r", code)
        return frozenset()
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return frozenset(word.lower() for word in getattr(module, "STOP_WORDS", ()))


#: Languages a query may be guessed in from its stop words (those with a Snowball stemmer and a
#: spaCy stop list that questions in them use often).
GUESSABLE = ("de", "es", "fr", "pt", "it", "nl", "sv", "da", "nb", "fi", "pl", "ro", "hu", "cs", "tr", "ru")


@functools.lru_cache(maxsize=1)
def _stop_word_owners() -> dict[str, frozenset[str]]:
    """Each stop word of a guessable language or English -> the languages whose list has it."""
    owners: dict[str, set[str]] = {}
    for code in (DEFAULT_LANGUAGE, *GUESSABLE):
        for word in stop_words(code):
            owners.setdefault(word, set()).add(code)
    return {word: frozenset(codes) for word, codes in owners.items()}


def guess_languages(text: str, *, most: int = 2) -> list[str]:
    """The languages (other than English) a short text is most likely written in, judged by its
    stop words: a language counts when at least two of the text's words, and more of them than
    English's list holds, are its stop words. Ties are all kept (Spanish and Portuguese share
    many), up to ``most``; none for English text, codes, or text without stop words.

    Cheap and deterministic (no model): used to stem a query that comes without a language filter,
    so "Wie pausiere ich mein Abonnement?" meets the German chunks' stems.

    >>> guess_languages("Wie kann ich mein Abonnement pausieren?")
    ['de']
    """
    owners = _stop_word_owners()
    counts: Counter[str] = Counter()
    for match in _WORD.finditer(unicodedata.normalize("NFC", text[:2000]).lower()):
        counts.update(owners.get(match.group(), ()))
    english = counts.pop(DEFAULT_LANGUAGE, 0)
    if not counts:
        return []
    top = max(counts.values())
    if top < 2 or top <= english:
        return []
    return sorted((code for code, n in counts.items() if n == top), key=GUESSABLE.index)[:most]


_local = threading.local()


def _stemmer(language: str) -> Any | None:
    # PyStemmer's stemmers are not thread-safe: one cached stemmer per thread and language.
    code = normalize_language(language)
    stemmers: dict[str, Any] = _local.__dict__.setdefault("stemmers", {})
    if code not in stemmers:
        algorithm = SNOWBALL.get(code)
        if algorithm is None:
            stemmers[code] = None
        else:
            import Stemmer

            stemmers[code] = Stemmer.Stemmer(algorithm, 10_000)
    return stemmers[code]


def fold_accents(token: str) -> str:
    """Drop combining marks: "café" -> "cafe", "kündig" -> "kundig"."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str, language: str | None) -> list[str]:
    """Index terms of ``text`` in order: lowercase, no stop words, stemmed, accent-folded.

    >>> tokenize("The subscriptions were cancelled", "en")
    ['subscript', 'cancel']
    """
    code = normalize_language(language)
    stops = stop_words(code)
    raw: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFC", text).lower()):
        word = match.group()
        raw.append(word)
        if not word.isalnum():  # a code: index its parts too, so "E-12" meets "12"
            raw.extend(_PART.findall(word))
    words = [w for w in raw if len(w) > 1 and w not in stops and w.strip("_")]
    stemmer = _stemmer(code)
    stems: list[str] = stemmer.stemWords(words) if stemmer is not None else words
    return [fold_accents(stem) for stem in stems if stem]


def token_index(token: str) -> int:
    """The sparse-vector index of a token: unsigned 32-bit murmur3."""
    return int(mmh3.hash(token, signed=False))


def _to_sparse(weights: dict[int, float]) -> models.SparseVector:
    indices = sorted(weights)
    return models.SparseVector(indices=indices, values=[weights[i] for i in indices])


class BM25Encoder:
    """Turns text into BM25 sparse vectors for a Qdrant sparse vector with ``Modifier.IDF``.

    Documents get BM25's saturated term frequency ``tf*(k1+1)/(tf + k1*(1-b+b*len/avg_len))``;
    queries get 1.0 per unique term, stemmed for every language given (and always English).
    Output is deterministic: indices sorted, no randomness.

    Args:
        k1: term-frequency saturation.
        b: length normalization.
        avg_len: assumed average document length, in index terms (after stop words).

    Example::

        bm25 = BM25Encoder()
        doc = bm25.encode_document("Cancel a subscription", "en")
        query = bm25.encode_query("cancelling subscriptions", ["en"])
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avg_len: float = 90.0) -> None:
        if k1 < 0 or not 0 <= b <= 1 or avg_len <= 0:
            raise ValueError("BM25 needs k1 >= 0, 0 <= b <= 1 and avg_len > 0")
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len

    def encode_document(self, text: str, language: str | None) -> models.SparseVector:
        """BM25 term weights of one chunk, stemmed for its language."""
        terms = tokenize(text, language)
        if not terms:
            return models.SparseVector(indices=[], values=[])
        norm = self.k1 * (1 - self.b + self.b * len(terms) / self.avg_len)
        # Hash collisions merge their counts rather than sending a duplicate index.
        tf: Counter[int] = Counter(token_index(term) for term in terms)
        return _to_sparse({i: n * (self.k1 + 1) / (n + norm) for i, n in tf.items()})

    def encode_query(self, text: str, languages: Sequence[str] = ()) -> models.SparseVector:
        """1.0 per unique term, over the union of the languages' analyses (English always)."""
        return _to_sparse(dict.fromkeys(self.query_terms(text, languages), 1.0))

    def query_terms(self, text: str, languages: Iterable[str] = ()) -> list[int]:
        """Indices of the query's unique terms, in first-seen order."""
        codes = dict.fromkeys([*(normalize_language(lang) for lang in languages), DEFAULT_LANGUAGE])
        seen: dict[int, None] = {}
        for code in codes:
            for term in tokenize(text, code):
                seen.setdefault(token_index(term), None)
        return list(seen)

    def __repr__(self) -> str:
        return f"BM25Encoder(k1={self.k1}, b={self.b}, avg_len={self.avg_len})"


def term_cover(query: str, languages: Iterable[str], documents: Iterable[tuple[str, str | None]]) -> float:
    """How much of the query the keyword side matches: the largest share of the query's index terms
    that one of ``documents`` (text, language) holds, taking each of the query's analyses (its
    languages and English) on its own, so a German query is not measured against its English stems.

    0.0 for a query without index terms or without documents.

    >>> term_cover("cancel my subscription", ["en"], [("How to cancel an order", "en")])
    0.5
    """
    codes = dict.fromkeys([*(normalize_language(lang) for lang in languages), DEFAULT_LANGUAGE])
    analyses = [set(map(token_index, tokenize(query, code))) for code in codes]
    analyses = [terms for terms in analyses if terms]
    if not analyses:
        return 0.0
    best = 0.0
    for text, language in documents:
        held = _held_terms(text, language)
        best = max(best, *(len(terms & held) / len(terms) for terms in analyses))
    return best


@functools.lru_cache(maxsize=4096)
def _held_terms(text: str, language: str | None) -> frozenset[int]:
    """A candidate's index terms (kept: the best BM25 candidates of nearby queries repeat)."""
    return frozenset(map(token_index, tokenize(text, language)))
