"""Does a message ask *how* to do something, or ask the agent to *do* it?

"How do I skip a box?", "What's the deadline to skip a box?" and "Is there a fee for cancelling?"
ask for instructions or policy: the help center answers them. "Please skip my next box", "Can you
send me my invoice?" and "Where is my order?" ask the agent to act or to look something up. An
action hook matches actions by meaning, and both kinds of message are close in meaning to the
action's phrasings, so the phrasing decides:

- a how-to question starts (in its question clause) with ``how do/can/should I``, ``how long``,
  ``how many``, ``how much``, ``how often``, ``where can/do I``, ``what is/are the``, ``what happens``,
  ``which``, ``why``, ``can/could/should/do/will I``, ``is/are there``, ``is it``, ``do you``,
  ``does it``... and
- it carries no argument of the action from this very message (a question naming gift card
  ``BRW-7K2M-9QXP-4TZD`` or order ``BR-104233`` is a lookup, whatever its wording).

``how_to_question(text)`` is the first test; ``identifiers_in_message(action, filled)`` the second.
"""

from __future__ import annotations

import re

from agent.sessions import Contact

from .models import ActionDef, Location
from .params import Filled, contact_attribute, resolved

_CLAUSE = re.compile(r"[^.!?;]*\?")
_HOW_TO = re.compile(
    r"^\W*(?:"
    r"how\s+(?:do|does|can|could|should|would|will|to)\b|how\s+(?:long|many|much|often|far|soon|late|early)\b|"
    r"where\s+(?:can|do|does|should|would)\s+(?:i|we|one|you)\b|"
    r"what(?:'s|\s+is|\s+are|\s+was)\s+(?:the|a|an|your)\b|what\s+happens\b|what\s+if\b|what\s+do\s+(?:i|we)\b|"
    r"what\s+\w+\s+(?:can|do|does|should|is|are)\s+(?:i|we|you)\b|"
    r"which\b|why\b|"
    r"(?:can|could|should|do|did|will|would|must|may)\s+(?:i|we)\b|"
    r"(?:is|are)\s+there\b|is\s+it\b|do\s+you\b|does\s+(?:it|brewly|that|this)\b|"
    r"am\s+i\b|are\s+(?:gift|your)\b"
    r")",
    re.I,
)


def how_to_question(text: str) -> bool:
    """Whether ``text`` asks how something works rather than asking for it to be done.

    The question clause decides ("I cancelled on the 27th, will I still get a box?" is a
    question about policy); a message without a question mark is judged by its start.

    >>> how_to_question("How do I skip a delivery?"), how_to_question("Please skip my next box")
    (True, False)
    """
    questions = _CLAUSE.findall(text)
    clauses = [part.strip() for q in questions for part in re.split(r"[,:]|\b(?:and|but|so)\b", q)]
    if not questions:
        clauses = [re.split(r"[.!;,]", text.strip(), maxsplit=1)[0]]
    return any(_HOW_TO.match(c) for c in clauses if c)


def identifiers_in_message(action: ActionDef, filled: Filled) -> list[str]:
    """The identifying arguments (path parameters, patterned values such as ``BR-104233``) that
    ``filled`` took from the current message; enum words such as "next" do not count."""
    out = []
    for name, origin in filled.origin.items():
        p = action.parameter(name)
        if origin != "message" or p is None:
            continue
        if p.location is Location.PATH or isinstance(resolved(action, p.schema_).get("pattern"), str):
            out.append(name)
    return out


def contact_only_missing(action: ActionDef, contact: Contact) -> list[str]:
    """Required parameters only the contact's record can fill (email, phone: typed ones are redacted
    before the agent sees them) that this contact lacks. Such an action cannot be completed for
    this visitor (an anonymous web chat), so asking would loop; the agent answers instead."""
    out = []
    for p in action.parameters:
        if not p.required:
            continue
        attribute = p.source or contact_attribute(p, resolved(action, p.schema_))
        if attribute in ("email", "phone") and not getattr(contact, attribute, None):
            out.append(p.name)
    return out
