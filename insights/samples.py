"""Sample sessions with planted themes, for the demo (``knowdesk insights --demo``), tests and
the benchmark.

Four themes are planted among one-off questions (noise), spread over the current and the
previous window so trends show:

- ``grinder-e12`` (complaint): "the E-12 error keeps coming back", angry; a third handed off
  for frustration; rising.
- ``packaging`` (knowledge gap, nothing in the help center): "is the bag recyclable /
  compostable?"; most handed off for low confidence; new in the current window.
- ``norway`` (knowledge gap, an article mentions it in a table): "do you ship to Norway?";
  most handed off for low confidence.
- ``oat-milk`` (request): "please add oat milk to the shop"; answered, never handed off.

``generate()`` is pure (seeded), ``seed()`` writes the sessions with backdated timestamps.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import Field
from sqlalchemy import update

from agent.sessions import ContactRef, Role, SessionStatus, SessionStore
from agent.tables import EventRow, HandoffRow, MessageRow, SessionRow
from core.models import Channel, Frozen
from core.tables import utcnow

SAMPLE_MARKER = "knowdesk-sample"

_OPENERS = ["", "", "Hi, ", "Hello, ", "Hey, ", "Good morning, ", "Hi there. ", "Quick question: "]

class Theme(Frozen):
    """A planted theme: its kind, message bodies, handoff reason and share, weight per window."""

    kind: str
    bodies: tuple[str, ...]
    handoff: str | None = None
    handoff_share: float = 0.0
    weights: tuple[float, float] = (1.0, 1.0)  # (current window, previous window)


THEMES: dict[str, Theme] = {
    "grinder-e12": Theme(
        kind="complaint",
        bodies=(
            "my Brewly Mill shows error E-12 again and it keeps coming back. This is ridiculous.",
            "the E-12 burr jam error keeps coming back on my grinder, I am fed up with it.",
            "E-12 again!! Third time this week, the grinder is useless and I want my money back.",
            "I cleared the burrs like you said but the E-12 error keeps coming back. Terrible quality.",
            "the grinder stopped with E-12 AGAIN. Awful, it never works for more than two days.",
            "error E-12 came back on the mill after cleaning it. Really disappointed and angry.",
            "your grinder keeps jamming with error code E-12, worst purchase I have made this year.",
            "the mill keeps throwing E-12 burr jam errors even with fresh beans. So frustrating.",
        ),
        handoff="frustration", handoff_share=0.35, weights=(1.0, 0.45),
    ),
    "packaging": Theme(
        kind="knowledge_gap",
        bodies=(
            "is the coffee bag recyclable or compostable?",
            "can I put your coffee packaging in the compost bin?",
            "are the bags your beans come in recyclable?",
            "what should I do with the empty coffee bags, can they be recycled?",
            "is your packaging plastic free and compostable?",
            "which bin do the empty coffee pouches go in, paper or plastic recycling?",
            "are your coffee bags home compostable?",
        ),
        handoff="low_confidence", handoff_share=0.85, weights=(1.0, 0.0),
    ),
    "norway": Theme(
        kind="knowledge_gap",
        bodies=(
            "do you ship to Norway?",
            "can I get the subscription box delivered to Oslo in Norway?",
            "I live in Norway, do you deliver there?",
            "is shipping to Norway possible and how much does it cost?",
            "do you deliver coffee to Bergen, Norway?",
            "I am moving to Norway next month, can you still send my box there?",
        ),
        handoff="low_confidence", handoff_share=0.8, weights=(1.0, 0.8),
    ),
    "oat-milk": Theme(
        kind="request",
        bodies=(
            "please add oat milk to the shop, I would love to order it with my beans.",
            "could you add oat milk to your shop?",
            "it would be great if you sold oat milk alongside the coffee.",
            "any plans to add barista oat milk to the shop? I would buy it every month.",
            "I wish you offered oat milk in the store so I can order everything in one box.",
            "please consider selling oat milk, it would be a great addition to the shop.",
        ),
        weights=(1.0, 0.7),
    ),
}

NOISE = [
    "how do I reset my password?", "can I skip next month's box?", "where is my parcel?",
    "how do I change my delivery address?", "I need an invoice with my company VAT number.",
    "how do I cancel my subscription?", "can I pause the subscription during my holiday?",
    "which payment methods do you accept?", "my card payment failed, what now?",
    "how do I redeem a gift card?", "what grind size should I use for a French press?",
    "how do I connect the mill to Wi-Fi?", "how long does a refund take?",
    "how do I turn on two factor authentication?", "can I change my coffee to a darker roast?",
    "is there a student discount?", "how do I download a copy of my data?",
    "how do I update the mill firmware?", "what is the ratio for pour over coffee?",
    "can I return an unopened bag?", "my parcel arrived damaged.", "how do I change my email address?",
    "what is the Office plan?", "how do I clean the burrs?", "how much is express delivery in Germany?",
    "can I buy a gift subscription for my dad?", "how do I stop marketing emails?",
    "what roast is best for espresso?", "how do I save a grind profile?", "I am locked out of my account.",
]
_FOLLOW_UPS = ["Thanks!", "ok", "Thank you, that helps.", "Great, thanks a lot.", "Cheers"]
_ASSIGNEES = ["alice@brewly.example", "bob@brewly.example", "chandra@brewly.example"]
_CHANNELS = [Channel.WEB, Channel.WEB, Channel.EMAIL, Channel.WHATSAPP, Channel.SMS]


class SampleHandoff(Frozen):
    """A planted handoff: reason, the customer's sentiment and the human who took it."""

    reason: str
    compound: float
    assignee: str


class SampleSession(Frozen):
    """One generated session; ``theme`` is the planted theme or ``noise``."""

    theme: str
    channel: Channel
    email: str
    created_at: datetime
    customer: tuple[str, ...]
    handoff: SampleHandoff | None = None
    csat: int | None = Field(default=None, ge=1, le=5)


def generate(*, sessions: int = 320, seed: int = 11, now: datetime | None = None, days: int = 7) -> list[SampleSession]:
    """Sessions over the last ``2 * days`` days: planted themes (about 45%) and noise."""
    rng = random.Random(seed)
    now = now or utcnow()
    out: list[SampleSession] = []
    themes = list(THEMES)
    for i in range(sessions):
        current = rng.random() < 0.55
        start = now - timedelta(days=days if current else 2 * days)
        at = start + timedelta(seconds=rng.uniform(60, days * 86400 - 60))
        theme = "noise"
        if rng.random() < 0.5:
            pick = rng.choice(themes)
            if rng.random() < THEMES[pick].weights[0 if current else 1]:
                theme = pick
        if theme == "noise":
            text = rng.choice(_OPENERS) + rng.choice(NOISE)
            handoff = None
        else:
            spec = THEMES[theme]
            body = rng.choice(spec.bodies)
            opener = rng.choice(_OPENERS)
            text = opener + (body if opener else body[0].upper() + body[1:])
            handoff = None
            if spec.handoff and rng.random() < spec.handoff_share:
                compound = -0.7 if spec.kind == "complaint" else rng.uniform(-0.1, 0.3)
                handoff = SampleHandoff(reason=spec.handoff, compound=round(compound, 3),
                                        assignee=rng.choice(_ASSIGNEES))
        text = text[0].upper() + text[1:]
        customer = (text,) + ((rng.choice(_FOLLOW_UPS),) if rng.random() < 0.4 else ())
        score = _csat(rng, theme, handoff) if rng.random() < 0.6 else None
        out.append(SampleSession(theme=theme, channel=rng.choice(_CHANNELS), email=f"customer{i}@example.com",
                                 created_at=at, customer=customer, handoff=handoff, csat=score))
    return out


def _csat(rng: random.Random, theme: str, handoff: SampleHandoff | None) -> int:
    base = {"grinder-e12": 2, "packaging": 3, "norway": 3, "oat-milk": 4}.get(theme, 4)
    if handoff is not None:
        base += 1 if theme != "grinder-e12" else 0
    return max(1, min(5, base + rng.choice([-1, 0, 0, 1])))


def comment(sample: SampleSession) -> str:
    """A low score's comment, in the words of the theme."""
    return {"grinder-e12": "The E-12 error is still not fixed.", "packaging": "Nobody could tell me about the bags.",
            "norway": "I still do not know if you ship to Norway.",
            "oat-milk": "Still no oat milk."}.get(sample.theme, "The answer did not help me.")


def seed(store: SessionStore, workspace: str, sessions: Sequence[SampleSession]) -> list[str]:
    """Write ``sessions`` (resolved, timestamps backdated); returns their ids in order.

    CSAT scores are not written here (``csat`` records them through its own service).
    """
    ids: list[str] = []
    for sample in sessions:
        info = store.create(workspace, channel=sample.channel,
                            contact=ContactRef(email=sample.email, segments=(SAMPLE_MARKER,)))
        for text in sample.customer:
            store.add_message(workspace, info.id, Role.CUSTOMER, text)
            store.add_message(workspace, info.id, Role.AGENT, "Thanks for your message, here is what I found.")
        if sample.handoff is not None:
            h = sample.handoff
            label = "negative" if h.compound <= -0.05 else "neutral"
            store.record_handoff(workspace, info.id, reason=h.reason, trigger_score=0.8, confidence=0.2,
                                 summary=sample.customer[0], sentiment={"label": label, "compound": h.compound},
                                 documents=[], scenarios=[], transcript=[])
        store.set_status(workspace, info.id, SessionStatus.RESOLVED)
        _backdate(store, info.id, sample.created_at)
        ids.append(info.id)
    return ids


def _backdate(store: SessionStore, session_id: str, at: datetime) -> None:
    later = at + timedelta(minutes=9)
    with store.db.session() as s:
        s.execute(update(SessionRow).where(SessionRow.id == session_id).values(created_at=at, updated_at=later))
        for table in (MessageRow, EventRow, HandoffRow):
            s.execute(update(table).where(table.session_id == session_id).values(created_at=at))


