"""Extractive drafting: the customer's question and the reusable sentences of a person's reply.

No model writes anything here. The question is the customer's asking sentence(s) before the handoff;
the answer keeps the reply's sentences in their order and drops what only fits one conversation:
greetings, thanks, sign-offs, the person's own actions on this case ("I've refunded ..."), ticket and
order numbers, and sentences that held personal data (already replaced by ``agent.redaction.scrub``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from agent.intents import human_rule
from agent.language import detect_language
from agent.redaction import scrub
from retrieval.sparse import guess_languages, stop_words

MAX_TITLE = 150
MAX_QUESTION_SENTENCES = 2

_SENTENCE = re.compile(r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bSr\.)(?<!\bSra\.)(?<!e\.g\.)(?<!i\.e\.)"
                       r"(?<!z\.B\.)(?<=[.!?])\s+(?=\S)")
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]+\]")
#: Greeting words of English, German, Spanish, French and Portuguese (the languages drafts are tested in).
_HELLO = (r"hi|hello|hey|dear|good (morning|afternoon|evening)|greetings|hallo|servus|moin|guten (morgen|tag|abend)|"
          r"liebe[rs]?|sehr geehrte[rs]?|hola|buen[oa]s( (d[ií]as|tardes|noches))?|estimad[oa]s?|querid[oa]s?|"
          r"bonjour|bonsoir|salut|cher|ch[eè]re|ol[aá]|oi|bom dia|boa (tarde|noite)|prezad[oa]s?|car[oa]")
_HONORIFIC = (r"mr|mrs|ms|dr|herr|frau|sr|sra|srta|se[nñ]or|se[nñ]ora|don|do[nñ]a|m|mme|monsieur|madame|"
              r"senhor|senhora|dona")
#: "Hi Ole, only the cup ..." / "Dear Mr. Braun, we ..." / "Hola Marta, sí ...": the salutation goes, the
#: sentence stays.
_SALUTATION = re.compile(rf"^[¡]?({_HELLO})( there)?(,? ({_HONORIFIC})\.?)?( [^\W\d_][\w'-]*){{0,2}}[,!:]\s+(?=\S)",
                         re.I)
_GREETING = re.compile(rf"^[¡]?({_HELLO})\b", re.I)
_LEAD_IN = re.compile(
    r"^((hi|hello|hey|hallo|hola|bonjour|bonsoir|salut|ol[aá]|oi|good (morning|afternoon|evening)|"
    r"guten (morgen|tag|abend)|buen[oa]s (d[ií]as|tardes|noches)|bom dia|boa (tarde|noite))"
    r"( there| team| zusammen| equipo| à tous| pessoal| brewly)?"
    r"[,!.:]?\s+|((quick|short) question|kurze frage|eine frage|(una )?pregunta( r[aá]pida)?|(petite|une) question|"
    r"(uma )?pergunta( r[aá]pida)?)[:,]?\s+|(sorry|excuse me|entschuldigung|perd[oó]n|disculpe?|pardon|excusez-moi|"
    r"desculpe?)[,!.]?\s+|(so|ok|okay|well|also|and|but|und|aber|also|bueno|pues|entonces|alors|donc|et|mais|"
    r"ent[aã]o|bem|mas)[,]?\s+)", re.I)
_THANKS = re.compile(
    r"^(many |big |vielen |herzlichen |muchas |mil |muito )?(thanks|thank you|danke|dank|gracias|merci|obrigad[oa])\b"
    r".*\b(reaching out|contacting|getting in touch|your (message|patience|question|email)|writing|asking|waiting|"
    r"nachricht|anfrage|geduld|kontakt\w*|melden|schreiben|contactar\w*|escribir\w*|mensaje|paciencia|consulta|"
    r"pregunta|message|patience|question|contact\w*|[ée]crit|mensagem|paci[eê]ncia|contato|escrever|pergunta)", re.I)
#: A thank-you on its own ("Danke!", "Muchas gracias.") is never part of an answer.
_BARE_THANKS = re.compile(r"^(many |vielen |muchas |merci |muito )?(thanks|thank you|danke( sch[oö]n)?|dank|gracias|"
                          r"merci( beaucoup)?|obrigad[oa])( again| nochmals| de nuevo| encore)?[\s!.,]*$", re.I)
_CLOSING = re.compile(
    r"^(let (me|us) know|hope (this|that) helps|i hope|have a (great|nice|good|lovely)|(best|kind|warm)( regards)?"
    r"\b|regards\b|cheers\b|all the best|thanks again|feel free to|don'?t hesitate|happy brewing|enjoy your|"
    r"good luck|see you|talk soon|speak soon|if you have (any )?(other |more |further )?questions|"
    # German
    r"(mit )?(freundlichen|besten|lieben|herzlichen|vielen) gr[üu](ß|ss)en|(beste|liebe|viele) gr[üu](ß|ss)e|"
    r"gr[üu](ß|ss)e\b|lg\b|ich hoffe|wir hoffen|melden sie sich|melde dich|bei (weiteren )?fragen|"
    r"(wenn|falls) (sie|du) (noch )?(weitere |andere )?fragen|"
    r"(einen )?sch[öo]nen (tag|abend)|alles gute|bis bald|viel (spa(ß|ss)|erfolg)|"
    # Spanish
    r"(un )?saludos?\b|atentamente|cordialmente|espero que|que tengas?|no dudes?|si (tienes|tiene) (m[aá]s|alguna|"
    r"otra|cualquier)|qued(o|amos) a (tu|su) disposici[oó]n|hasta pronto|un abrazo|"
    # French
    r"bien (cordialement|à (vous|toi))|bonne (journ[ée]e|soir[ée]e|continuation)|n['’]h[ée]sitez pas|"
    r"j['’]esp[eè]re|nous esp[ée]rons|si vous avez (d['’]autres|des|la moindre) question|"
    r"[àa] bient[oô]t|belle journ[ée]e|sinc[eè]res salutations|"
    # Portuguese
    r"atenciosamente|(um )?abra[çc]os?|cumprimentos|qualquer d[uú]vida|n[aã]o hesite|tenha um|at[ée] (logo|breve)|"
    r"se (tiver|tiveres) (mais|alguma|qualquer|outra)|"
    r"(estamos|fico|ficamos) [àa] disposi[çc][aã]o)", re.I)
_CASE = re.compile(
    r"\b(i'?ve|i have|i just|i'?ll|i will|i went ahead|i checked|i can see|i looked|i'?m sorry|i am sorry|"
    r"we'?ve (refunded|sent|credited|issued|reset|updated|cancell?ed)|your (ticket|case)|"
    # German: the person's own actions on this case
    r"ich habe|ich hab|ich werde|ich sehe|ich habe gerade|es tut mir leid|wir haben (ihnen |dir )?(\w+ )?"
    r"(erstattet|zur[üu]ckerstattet|geschickt|gesendet|gutgeschrieben|storniert|zur[üu]ckgesetzt|aktualisiert)|"
    r"ihr(e|en)? (ticket|fall)|dein(e|en)? (ticket|fall)|"
    # Spanish
    r"(ya )?(te |le )?he (reembolsado|enviado|revisado|comprobado|actualizado|cancelado|cambiado|mandado)|"
    r"acabo de|lo siento|sentimos|hemos (reembolsado|enviado|cancelado|actualizado)|(tu|su) (ticket|caso)|"
    # French
    r"j['’]ai|je viens de|je vais|je vois|d[ée]sol[ée]e?|nous avons (rembours[ée]|envoy[ée]|annul[ée]|mis [àa] jour)|"
    r"votre (ticket|dossier)|"
    # Portuguese
    r"(eu )?(j[áa] )?(reembolsei|enviei|verifiquei|atualizei|cancelei|troquei|mandei)|acabei de|sinto muito|"
    r"lamento|(seu|o seu) (ticket|chamado|pedido n)|sua solicita[çc][aã]o)\b"
    r"|#\d{3,}|\b[A-Z]{2}-\d{4,}\b", re.I)


@dataclass(frozen=True, slots=True)
class Extract:
    """What a draft is made of: the question (title), the answer sentences, and what was dropped."""

    question: str
    title: str
    answer: str
    dropped: tuple[str, ...]


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (line breaks and sentence ends), blank ones dropped."""
    out = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE.split(line) if s.strip()]
    return out


def question_of(messages: Sequence[str]) -> str:
    """The customer's question: their asking sentences (ending in '?', else their longest ones), without
    requests for a person, at most ``MAX_QUESTION_SENTENCES``, redacted."""
    found = []
    for message in messages:
        for s in sentences(scrub(message)):
            if human_rule(s).language is not None or _THANKS.match(s) or _BARE_THANKS.match(s):
                continue
            s = _lead_in(s)
            if len(s.split()) >= 3 and not (_GREETING.match(s) and not s.endswith("?")):
                found.append(s)
    asking = [s for s in found if s.endswith("?")]
    chosen = asking or sorted(found, key=len, reverse=True)[:1]
    return " ".join(chosen[:MAX_QUESTION_SENTENCES])


def title_of(question: str) -> str:
    """The article title: the question's first asking sentence, capitalised and bounded."""
    parts = sentences(question)
    first = next((s for s in parts if s.endswith("?")), parts[0] if parts else "")
    first = _lead_in(first)
    if len(first) > MAX_TITLE:
        first = first[: MAX_TITLE - 1].rsplit(" ", 1)[0] + "…"
    return _capital(first)


def answer_of(replies: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The reusable sentences of the person's replies, paragraph breaks kept, and the dropped ones."""
    kept_paragraphs: list[str] = []
    dropped: list[str] = []
    for reply in replies:
        for paragraph in re.split(r"\n\s*\n", scrub(reply)):
            kept = []
            for s in sentences(paragraph):
                s = _unsalute(s)
                if _reusable(s):
                    kept.append(s)
                    continue
                # a clause with personal data goes, its sibling clauses may stay ("see /jobs; or mail [EMAIL]")
                clauses = [c.strip() for c in s.split(";")] if _PLACEHOLDER.search(s) and ";" in s else []
                good = [c for c in clauses if len(c.split()) >= 4 and _reusable(c)]
                if good:
                    kept.append(_sentence_end("; ".join(good)))
                dropped.append(s)
            if kept:
                kept_paragraphs.append(" ".join(kept))
    return "\n\n".join(kept_paragraphs), tuple(dropped)


def extract(customer: Sequence[str], replies: Sequence[str]) -> Extract:
    """Question, title and answer of one resolution."""
    question = question_of(customer)
    answer, dropped = answer_of(replies)
    return Extract(question=question, title=title_of(question) if question else "", answer=answer, dropped=dropped)


def slug_of(title: str, taken: set[str], language: str = "en") -> str:
    """A help-center slug from the title's words (at most 8, accents folded: "kündigen" -> "kundigen"),
    without the stop words of English and of ``language``, unique among ``taken``."""
    stop = _STOP if language == "en" else _STOP | {_fold(w) for w in stop_words(language)}
    words = [w for w in re.findall(r"[a-z0-9]+", _fold(title.lower())) if w not in stop][:8] or ["answer"]
    base = "-".join(words)[:56].strip("-") or "answer"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def language_of(question: str, answer: str) -> str | None:
    """The language (ISO 639-1) the question and answer are written in, or None when unsure.

    The answer and the question are judged together (the draft holds both); a text too short for
    ``agent.language.detect_language`` falls back to its stop words (``retrieval.sparse.guess_languages``).
    Unsure (mixed, too short, no known words) gives None: the help center's default locale is used.
    """
    text = f"{question}\n{answer}"
    found = detect_language(text)
    if found is not None:
        return found
    guessed = guess_languages(text, most=1)
    return guessed[0] if guessed else None


def _fold(text: str) -> str:
    text = text.replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _reusable(sentence: str) -> bool:
    words = sentence.split()
    if _PLACEHOLDER.search(sentence) or _CASE.search(sentence):
        return False
    if _GREETING.match(sentence) and len(words) <= 6:
        return False
    if _THANKS.match(sentence) or _BARE_THANKS.match(sentence) or _CLOSING.match(sentence):
        return False
    # a bare sign-off: a name or a team on its own line ("Tom", "The Brewly team")
    return not (len(words) <= 3 and not sentence.rstrip().endswith((".", "!", "?", ":")))


def _unsalute(sentence: str) -> str:
    rest = _SALUTATION.sub("", sentence, count=1)
    return _capital(rest) if rest != sentence and len(rest.split()) >= 3 else sentence


def _sentence_end(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _lead_in(sentence: str) -> str:
    previous = None
    while previous != sentence:
        previous, sentence = sentence, _LEAD_IN.sub("", sentence, count=1)
        # "¿Hola, puedo ...?" / "¡Hola! ¿Puedo ...?": the inverted mark stays with what follows the lead-in
        if sentence[:1] in "¿¡" and _LEAD_IN.match(sentence[1:]):
            sentence = sentence[0] + _LEAD_IN.sub("", sentence[1:], count=1)
    return _capital(sentence)


def _capital(text: str) -> str:
    """``text`` with its first letter upper-cased (after a leading "¿" or "¡")."""
    lead = len(text) - len(text.lstrip("¿¡"))
    return text[:lead] + text[lead:lead + 1].upper() + text[lead + 1:]


_STOP = frozenset(("a", "an", "the", "i", "my", "me", "we", "our", "you", "your", "is", "are", "do", "does", "can",
                   "could", "would", "should", "will", "to", "of", "for", "in", "on", "at", "with", "and", "or", "it",
                   "this", "that", "be", "there", "how", "what", "when", "which", "who"))
