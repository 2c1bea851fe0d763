"""Per-language phrase rules for asking for a person, frustration and pleasantries (en/de/es/fr/pt).

The sentence-vector model is English-only, so every language gets its own rules; the learned
classifier (``agent/fitted/intents.json``, see ``evaluation/fit_intents.py``) adds recall in
English. All rules run on every message whatever its detected language: their words rarely
collide across languages, and short messages have no reliable language.

Text is matched lower-cased with accents removed (``folding``), so "atención", "atencion" and
"ATENCIÓN" read alike; the patterns below are written that way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LANGUAGES = ("en", "de", "es", "fr", "pt")


def fold(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes made plain, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().split())


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# -- asking for a person -------------------------------------------------------------------------
# ``_W`` allows a few words between a request verb and the person ("talk to one of your team members").
_W = r"(?:\W+[\w'-]+){0,4}?\W+"

_EN_PERSON = (
    r"(?:human(?: being)?|humen|hooman|person|people|ppl|someone|somebody|anyone|anybody|agent|rep|representative"
    r"|operator|supervisor|superior|manager|boss|staff(?: member)?|employee|colleague|team member|technician"
    r"|specialist|customer (?:service|care|support)|support(?: team| staff)?|your team|real one"
    r"|live (?:agent|person|chat))s?\b(?!-)"
)
_EN_HUMAN = _any(
    rf"\b(?:talk|tlak|speak|speek|spek|chat|deal|communicate)\w* (?:to|with)(?:\W+[\w'-]+){{0,3}}?\W+{_EN_PERSON}",
    rf"\b(?:connect|transfer|put|pass|forward|hand|switch|route|get|let|give me)\w*{_W}{_EN_PERSON}",
    rf"\b(?:want|need|like|requesting|prefer|rather have)\w*{_W}(?:a |an |some )?(?:real |live |actual )?"
    r"(?:human|humen|hooman|person|ppl|people|representative|operator|supervisor|manager|agent)s?\b(?!-)",
    rf"\b(?:have|get|let|ask|want|like|need|could|can)\b(?:\W+[\w'-]+){{0,3}}?\W+{_EN_PERSON}(?:\W+[\w'-]+){{0,4}}?\W+"
    r"(?:contact|call|email|e-mail|phone|ring|get back|reach|look|check|review|handle|take over|reply|write)\w*",
    r"\b(?:call|ring|phone) me\b|\bcall ?back\b|\bgive me a call\b|\b(?:book|arrange|schedule) a "
    r"(?:phone )?call\b|\bon the (?:phone|line)\b|\bcall\w*(?:\W+\w+){0,3}? about my\b|\bget back to me\b"
    r"|\bcontacted by\b|\btransferred\b",
    r"\bis there (?:anyone|anybody|someone|somebody|a (?:real |live )?(?:person|human))\b(?! (?:who"
    r"|that) (?!can|could))",
    r"\b(?:anyone|anybody|any (?:real )?humans?|someone|somebody) (?:actually |really )?"
    r"(?:real|there|around|home|online|on the other end)\b",
    rf"\b{_EN_PERSON} (?:could|can|would|will)(?: please)? (?:look|contact|call|email|check|review|handle"
    rf"|reply|get back)\b",
    r"\bescalat\w*(?: (?:this|it|me|my (?:case|issue|complaint|ticket|problem)))?(?: to\b.*)?\W*$"
    r"|\bescalate (?:this|it|me|my (?:case|issue|complaint|ticket|problem))\b|\bopen a ticket with\b|\btake over\b",
    rf"\bin touch with(?:\W+[\w'-]+){{0,4}}?\W+{_EN_PERSON}|\b(?:who|whom) (?:i|we) (?:can|could) (?:talk"
    rf"|speak|chat)\b",
    r"^(?:\W*(?:hi|hey|hello|yo|ok|please|pls|now)\W+)*(?:a |an )?(?:real |live )?(?:human|hooman|agent|operator"
    r"|representative|person|someone|human agent|customer service)(?:\W+(?:please|pls|now|asap|thanks|"
    r"agent|human|operator))*\W*$",
    r"\btransfer me\b",
)
# A person mentioned in the past, as a subject, or not wanted: not a request.
_EN_GUARD = _any(
    r"\b(?<!be )(?<!being )(?:talked|spoke|spoken|chatted|asked|contacted|called|emailed|told|said|says)\b"
    r"(?!\W+(?:three|twice|\d))",
    r"\b(?:no need|don't need|do not need|dont need|without|rather than talk)\b(?:\W+\w+){0,3}?\W+"
    r"(?:human|person|agent|someone)",
    r"\b(?:don't|do not|dont|never)\W+(?:\w+\W+){0,1}?(?:transfer|connect|escalate|put me)\b",
    r"\bdo i (?:need|have) to (?:talk|speak|call|contact)\b",
    # when the team is there, not a request to reach it now
    r"^\W*(?:when|what time|what hours)\b(?![^?]*\b(?:call me|talk to|speak to|contact me)\b)[^?]*"
    r"\b(?:available|open|online)\b|\b(?:support|opening|business) hours\b",
    r"\bare you (?:a |an )?(?:human|bot|robot|real person|machine)\b",
    r"\b(?:human|operator) error\b|\brepresentative sample\b|\bhuman signature\b|\bi'm a human\b|\bperson limit\b",
    r"\b(?:speak|talk)\w* (?:to|with) (?:the|my) (?:mill|app)\b|\bcall (?:my|the) (?:mill|firmware)\b",
)

_DE_PERSON = (
    r"(?:mensch\w*|person\w*|mitarbeiter\w*|berater\w*|ansprechpartner\w*|jemand\w*|vorgesetzt\w*|chef\w*"
    r"|kundenservice|kundendienst|support\S*|supervisor|techniker\w*|agent\w*|team|kolleg\w*|sachbearbeiter\w*|leitung)"
)
_DE_HUMAN = _any(
    rf"\b(?:sprechen|sprechn|reden|verbind\w*|weiterleiten|leiten|durchstellen|chatten|kummern|telefonieren|"
    rf"ubergeb\w*|hol\w* (?:sie )?mir)\b(?:\W+\S+){{0,6}}?\W+{_DE_PERSON}",
    rf"\b{_DE_PERSON}(?:\W+\w+){{0,6}}?\W+(?:sprechen|sprechn|reden|verbinden|weiterleiten|weiter|durchstellen|"
    r"chatten|kummern|anrufen|zuruckrufen|melden|telefonieren|ubergeben|schreiben|ansehen|anschauen)\b",
    r"\bzuruckrufen\b|\bruckruf\b|\bruf\w* (?:mich|mir)\b|\bmich\W+(?:\w+\W+){0,3}?anrufen\b",
    r"\b(?:ist|gibt es) (?:da |hier )?(?:jemand|ein mensch|eine person|ein echter mensch)\b",
    r"\b(?:menschlich\w*|echte\w*) (?:ansprechpartner|person|mensch|mitarbeiter)\w*",
    rf"\b(?:brauche|mochte|will|hatte gern|wunsche|geben sie mir|gib mir|erreiche\w*|wenden)\b(?:\W+\S+){{0,4}}?\W+"
    rf"(?:einen?|ein|mit|an)?\W*{_DE_PERSON}",
    rf"\b{_DE_PERSON}(?:\W+\w+){{0,4}}?\W+(?:erreiche\w*|wenden)\b|\bpersonlich\b.*\b{_DE_PERSON}"
    rf"|\b{_DE_PERSON}.*\bpersonlich\b",
    rf"^\W*{_DE_PERSON}\W+(?:bitte|sofort|jetzt)\W*$",
)
_DE_GUARD = _any(
    r"\b(?:gesprochen|geredet|telefoniert|gesagt|erledigt)\b",
    r"\b(?:keinen?|ohne|nicht)\b(?:\W+\w+){0,2}?\W+(?:mensch|person|mitarbeiter)",
    r"\bjemand anders\b|\bjemand anderes\b|\bandere\w* person\b|\bsind sie (?:ein )?(?:bot|mensch|roboter)\b",
)

_ES_PERSON = (
    r"(?:persona|humano|alguien|agente|representante|asesor|operador|supervisor|encargado|responsable|gerente"
    r"|atencion al cliente|soporte|tecnico|empleado|departamento|equipo|facturacion|companero|colega|jefe)s?\b"
)
_ES_HUMAN = _any(
    rf"\b(?:hablar|ablar|habla|comunic\w*|pas[ae]\w*|transfer\w*|contactar\w*|tratar|conect\w*)\b"
    rf"(?:\W+\w+){{0,4}}?\W+{_ES_PERSON}",
    r"\b(?:devolver(?:me)? la llamada|llamen\w*|llamarme|me (?:pueden|puede|podrian) llamar|"
    r"me llaman?|una llamada|quiero que me llamen)\b",
    r"\bque (?:me \w+ )?(?:un |una )?(?:alguien|empleado|persona|agente|asesor|humano|tecnico|responsable"
    r"|supervisor|encargado)\b",
    rf"\b{_ES_PERSON}(?:\W+\w+){{0,8}}?\W+personalmente\b",
    r"\bhay (?:alguien|alguna persona|una persona)\b",
    r"^\W*con (?:un|una) (?:humano|persona|agente|asesor|representante)\b",
    r"\b(?:necesito|quiero|prefiero)(?: hablar con)? (?:a )?(?:una persona|un humano|un agente|un asesor|alguien)\b",
    r"\bchat en vivo\b|\bpersonas? de verdad\b|\bpersona real\b",
    r"^\W*(?:humano|una persona|agente|operador|representante|asesor)(?:\W+(?:por ?favor|porfa|ya|ahora))?\W*$",
)
_ES_GUARD = _any(
    r"\b(?:hable|hablado|ya llame|le llame|llamado|dijo|dijeron)\b",
    r"\b(?:no necesito|sin)\b(?:\W+\w+){0,2}?\W+(?:persona|humano|agente)",
    r"\beres (?:un )?(?:robot|bot|humano)\b",
)

_FR_PERSON = (
    r"(?:une personne|un humain|humain|quelqu'un|quelqun|conseiller\w*|agent|responsable|superviseur|superieur"
    r"|representant|operateur|service client|support|technicien|service des \w+|equipe|manager"
    r"|vrai(?:e)? personne|interlocuteur|membre|collegue|vrais conseillers)s?\b"
)
_FR_HUMAN = _any(
    rf"\b(?:parl\w*|discuter|regler|passez|passer|transferez|transferer|joindre|contacter|mettez|mettre|"
    rf"besoin|avoir|occuper|reprenne|reprendre|transmettre|transmettez)\b(?:\W+[\w']+){{0,4}}?\W+{_FR_PERSON}",
    r"\bmettez-moi en (?:relation|contact)\b|\bmettre en relation\b|\bpassez-moi\b",
    r"\brappel\w*|\bm'appeler\b|\bappelez-moi\b|\bau telephone\b",
    rf"\b{_FR_PERSON}(?:\W+[\w'-]+){{0,6}}?\W+(?:m'ecrire|m'appeler|me rappeler|me contacter|s'occuper|"
    r"reprenne|personnellement)\b",
    r"\bqu'un (?:conseiller|agent|humain|responsable|membre|employe|technicien)\b|\bchat en direct\b",
    r"\b(?:veux|voudrais|besoin d'|prefere|souhaite)\W+(?:\S+\W+){0,2}?(?:une (?:vraie )?personne|un (?:etre )?humain"
    r"|un conseiller|un agent|quelqu'un)\b",
    r"\b(?:il y a|y a-t-il|y'a) (?:quelqu'un|un (?:etre )?humain|une (?:vraie )?personne)\b"
    r"|\bquelqu'un (?:est la|de reel)\b",
    r"^\W*(?:agent|humain|conseiller|une personne|un humain)\W+(?:s'il vous plait|svp|stp|maintenant)\W*$",
    rf"\b{_FR_PERSON}\W+(?:maintenant|immediatement|tout de suite)\b",
)
_FR_GUARD = _any(
    r"\b(?:deja parle|j'ai parle|ai discute|m'a dit|ont dit|a appele)\b",
    r"\b(?:pas besoin|sans)\b(?:\W+\w+){0,2}?\W+(?:humain|personne|conseiller)",
    r"\b(?:vous etes|etes-vous) (?:un )?(?:robot|bot|humain)\b",
)

_PT_PERSON = (
    r"(?:pessoa|humano|alguem|atendente|agente|representante|supervisor|responsavel|gerente|equipe"
    r"|financeiro|suporte|tecnico|funcionario|operador|atendimento|colega)s?\b"
)
_PT_HUMAN = _any(
    rf"\b(?:falar|fala|falo|conversar|passar|passa|transferir|transfere|encaminhar|encaminhe|atender|"
    rf"contato|resolver)\b(?:\W+\w+){{0,6}}?\W+{_PT_PERSON}",
    r"\b(?:preciso|quero|prefiro)(?: de| falar com)? (?:uma pessoa|um humano|um atendente|alguem)\b",
    r"\b(?:me ligue\w*|me liga\w*|ligar para mim|ligar pra mim|me ligar|me ligarem|retornar a ligacao|"
    r"uma ligacao|me (?:mandar|enviar) um e-?mail pessoalmente|me retorne\w*)\b",
    rf"\b{_PT_PERSON}(?:\W+\w+){{0,5}}?\W+(?:me ligar|me ligue|me retornar|me atender|me responder|pessoalmente)\b",
    r"\bque (?:um|uma|alguem) ?(?:funcionario|atendente|pessoa|humano|tecnico|responsavel|agente)?\b",
    r"\batendid\w* por\b|\bser humano\b|^\W*(?:um|uma) (?:humano|pessoa|atendente)\b",
    r"\b(?:tem|ha|existe) (?:alguem|alguma pessoa|uma pessoa)\b",
    r"\bchat ao vivo\b|\bpessoas? (?:de verdade|real)\b|\batendentes? de verdade\b",
    r"^\W*(?:atendente|humano|uma pessoa|agente)\W+(?:por ?favor|pfv|pf|agora|ja)\W*$",
)
_PT_GUARD = _any(
    r"\b(?:falei|conversei|ligaram|disse|disseram)\b",
    r"\b(?:nao preciso|sem)\b(?:\W+\w+){0,2}?\W+(?:pessoa|humano|atendente)",
    r"\b(?:voce|vc) e (?:um )?(?:robo|bot|humano)\b",
)

HUMAN_RULES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "en": (_EN_HUMAN, _EN_GUARD),
    "de": (_DE_HUMAN, _DE_GUARD),
    "es": (_ES_HUMAN, _ES_GUARD),
    "fr": (_FR_HUMAN, _FR_GUARD),
    "pt": (_PT_HUMAN, _PT_GUARD),
}


# -- frustration ---------------------------------------------------------------------------------
_FRUSTRATION: dict[str, re.Pattern[str]] = {
    "en": _any(
        r"\b(?:useless|garbage|rubbish|pathetic|incompetent|ridiculous|unacceptable|outrageous|disgraceful"
        r"|horrible|terrible|awful|nightmare|hopeless|a joke|a scam|scam\w*|worst|shit\w*|wtf|not acceptable|bloody"
        r"|unbelievable|for god's sake|had it with|so-called|driving me (?:crazy|mad|nuts)|can't believe|cannot believe"
        r"|kidding me|theft|last straw|upset|junk|(?:so|very|really|deeply|extremely) disappoint\w*|even worse"
        r"|seriously(?=\W*\?)|"
        r"asked (?:\w+ )?(?:three|four|five|several|many|\d+) times"
        r"|bullshit|fed up|sick of|sick and tired|waste of (?:my )?time|thanks for nothing|fix it\. now"
        r"|not happy|i hate|are you serious|are you kidding|are you even listening|losing my mind|had enough"
        r"|patience has run out|run out of patience|nobody cares|no one cares|i'm done with|why do i even bother"
        r"|(?:incredibly|so|really|very|extremely) (?:frustrat\w*|annoyed)|furious|angry|pissed|infuriat\w*"
        r"|every single (?:time|month)|"
        r"(?:third|fourth|fifth|3rd|4th) time|still (?:nothing|waiting)|love it\.?$|oh wonderful"
        r"|oh great|just great|enough with)\b",
    ),
    "de": _any(
        r"\b(?:inakzeptabel|unverschamt|frechheit|unfassbar|unglaublich|katastroph\w*|scheiss\w*|"
        r"verzweifeln|enttauscht|geduld|reicht (?:mir|jetzt)|es reicht|nichts funktioniert|wutend|"
        r"argerlich|nervt|nervig|lacherlich|zumutung|schlechteste\w*|nutzlos\w*|bloder?|bescheuert|"
        r"zum (?:dritten|vierten) mal|was soll (?:das|der)|(?:letzte|so ein) mist|stinksauer|schlechter witz"
        r"|nase voll|verdammt|saftladen|"
        r"horen sie auf|immer (?:denselben|dasselbe|die gleiche)|nicht wahr sein|abzocke|dreimal|drei mal)\b",
    ),
    "es": _any(
        r"\b(?:ridicul\w*|inutil|furios\w*|peor|maldit\w*|vergonzos\w*|tomadura de pelo|"
        r"no me lo puedo creer|paciencia|nada funciona|hasta las narices|harto|harta|mierda|indignante|"
        r"inaceptable|desastre|verguenza|estafa|basura|no sirve para nada|tercera vez|cabread\w*|"
        r"enfadad\w*|fatal|pesimo|horrible|deje de|dejen de|es un robo|volviendo loc\w*|tres veces)\b",
        r"[?!]{3,}|¿¿|¡¡",
    ),
    "fr": _any(
        r"\b(?:ridicule|honteu\w*|nulle?|inutile|decu|agace\w*|bon sang|lamentable|scandaleu\w*|"
        r"c'est pas possible|ce n'est pas possible|catastroph\w*|colere|bordel|n'importe quoi|j'en ai marre|"
        r"marre|inadmissible|inacceptable|pire|merde|putain|nul|troisieme fois|encore la meme|ras le bol|"
        r"insupportable|arnaque|degoute\w*|furieu\w*|enerve\w*|ne sert a rien|incroyable|arretez de|patience|"
        r"rien ne (?:marche|fonctionne)|du vol|rend (?:fou|folle)|trois fois)\b",
    ),
    "pt": _any(
        r"\b(?:lixo|terceira vez|saco cheio|nao serve pra nada|nao serve para nada|inutil|pessimo|paciencia|"
        r"nada funciona|roubo|ja chega|farto|farta|porcaria|revoltante|palhacada|absurdo|vergonha|"
        r"ridiculo|irritad\w*|cansad\w* disso|merda|droga|horrivel|inaceitavel|decepcionad\w*|raiva|"
        r"de novo a mesma|pior|golpe|inacreditavel|vergonhos\w*|parem de|nao acredito|brav[ao]|deixando louc\w*|"
        r"tres vezes)\b",
    ),
}
# Words that are frustrated in some messages and plain in others ("Damn, I missed the cutoff"):
# they count half, and a second sign (another word, "!", capitals) makes frustration.
_FRUSTRATION_WEAK: dict[str, re.Pattern[str]] = {
    "en": _any(
        r"\b(?:damn\w*|crap\w*|disappoint\w*|frustrat\w*|annoyed|ugh|again|how many times"
        r"|(?:three|four|five|\d+) times)\b"
    ),
    "de": _any(r"\b(?:sauer|mist|schon wieder|nervt|argert|langsam|endlich)\b"),
    "es": _any(r"\b(?:otra vez|de nuevo|molest\w*|increible)\b"),
    "fr": _any(r"\b(?:encore|agacant|pas normal)\b"),
    "pt": _any(r"\b(?:de novo|outra vez|chateado|chateada)\b"),
}
# A message in capitals that starts as a question is loud, not angry ("WHAT IS THE RETURN WINDOW").
_QUESTION_START = re.compile(
    r"^\W*(?:what|how|is|are|where|when|why|can|could|do|does|which|who|will|wie|was|wo|wann|gibt|kann|konnen|"
    r"como|donde|que|cual|cuando|puedo|comment|ou|quand|est-ce|quel|quelle|puis-je|onde|qual|quando|posso)\b"
)
_SHOUT_WORD = re.compile(r"\b[^\W\d_]{3,}\b")


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule's verdict: which language's rule matched (None: none) and the matched text."""

    language: str | None
    matched: str | None = None


def human_rule(text: str) -> RuleHit:
    """The first language whose request rule matches ``text`` and whose guard does not."""
    folded = fold(text)
    for language, (rule, guard) in HUMAN_RULES.items():
        found = rule.search(folded)
        if found and not guard.search(folded):
            return RuleHit(language, found.group(0).strip())
    return RuleHit(None)


def is_guarded(text: str) -> bool:
    """Whether any language's guard matches: a negated request or a past contact with a person."""
    folded = fold(text)
    return any(guard.search(folded) for _, guard in HUMAN_RULES.values())


def frustration_rule(text: str) -> RuleHit:
    """The first language whose frustration lexicon matches ``text``."""
    folded = fold(text)
    for language, rule in _FRUSTRATION.items():
        found = rule.search(folded)
        if found:
            return RuleHit(language, found.group(0).strip())
    return RuleHit(None)


def frustration_score(text: str) -> tuple[float, RuleHit]:
    """A strong word scores 0.9; otherwise half a point per weak word, 0.25 for "!" or "?!" and
    0.25 for shouting, capped at 1. Returns the score and the rule that gave it."""
    hit = frustration_rule(text)
    if hit.language is not None:
        return 0.9, hit
    folded = fold(text)
    weak = [
        (language, found.group(0)) for language, rule in _FRUSTRATION_WEAK.items() for found in rule.finditer(folded)
    ]
    shout = shouting(text)
    if shout and not _QUESTION_START.match(folded):
        return 0.6, RuleHit(None, "shouting")
    score = 0.45 * len(weak) + (0.25 if "!" in text else 0.0) + 0.25 * shout
    if not weak:
        return round(min(score, 0.45), 4), RuleHit(None)
    return round(min(1.0, score), 4), RuleHit(weak[0][0], ", ".join(w for _, w in weak))


def shouting(text: str) -> float:
    """1.0 when most words of three letters or more are in capitals (at least three of them)."""
    words = _SHOUT_WORD.findall(text)
    upper = [w for w in words if w.isupper() and w not in _PLACEHOLDERS]
    return 1.0 if len(upper) >= 3 and len(upper) >= 0.6 * len(words) else 0.0


_PLACEHOLDERS = {"EMAIL", "PHONE", "CARD", "IBAN", "NATIONAL_ID", "URL"}
