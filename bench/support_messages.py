"""Generated customer messages for the insights benchmark: a fictional e-bike subscription service.

Each message is one of a theme's phrasings with its slots filled, often with a greeting, a
detail of the customer's situation and a closing line around it, so the same question comes in
many wordings (as it does in a real inbox) and nearly every text is different. About one message
in seven is a one-off that belongs to no theme. Knowledge-gap themes are mostly handed off for
``low_confidence``; complaints sometimes for ``frustration``. All text is written here.

``generate(n, seed=...)`` is deterministic for a given ``n`` and ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

_SLOTS: dict[str, tuple[str, ...]] = {
    "island": ("Gotland", "Bornholm", "the Isle of Wight", "Texel", "Mallorca", "Sylt", "Corsica", "Rugen"),
    "city": ("Leipzig", "Ghent", "Utrecht", "Malmo", "Graz", "Lyon", "Aarhus", "Bristol", "Porto", "Basel"),
    "model": ("Glide 2", "Glide 3", "Cargo Duo", "Urban S", "Urban M", "Trail X"),
    "size": ("small", "medium", "large", "XL"),
    "amount": ("29", "39", "49", "59", "89", "119"),
    "month": ("January", "February", "March", "October", "November", "December"),
    "days": ("two", "three", "four", "five", "ten"),
    "km": ("20", "25", "30", "35", "40"),
    "was_km": ("60", "70", "80", "90"),
    "code": ("E04", "E07", "E11", "E21", "E33"),
    "app": ("Strava", "Komoot", "Apple Health", "Google Fit", "Garmin Connect"),
    "child": ("my daughter", "my son", "my toddler", "our two-year-old", "my kid"),
    "phone": ("iPhone 12", "iPhone 15", "Pixel 7", "Galaxy S21", "Fairphone 4", "Xperia 10"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
}

_OPENERS = ("", "", "", "Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Hello team,", "Quick question:",
            "Hi support,", "Sorry to bother you,")
_DETAILS = ("", "", "", "", "I have been subscribed since {year}.", "My subscription number is KD-{num}.",
            "I ride to work every day.", "This is the {nth} time I write about this.", "I am on the {plan} plan.",
            "I got the bike in {month}.", "We have two bikes on one account.", "I am writing from my {phone}.")
_CLOSERS = ("", "", "", "", "Thanks!", "Thank you.", "Thanks in advance.", "Any help appreciated.",
            "Please get back to me soon.", "Cheers.", "Kind regards.")
_DETAIL_SLOTS = {"year": ("2021", "2022", "2023", "2024", "2025"), "nth": ("second", "third", "fourth"),
                 "plan": ("Commuter", "Family", "Weekend", "Student")}


@dataclass(frozen=True)
class Theme:
    """A recurring question: its phrasings, how often it comes, who ends up answering it."""

    name: str
    phrasings: tuple[str, ...]
    weight: float
    handoff: str | None = None  # the handoff reason most of its sessions end with
    handoff_share: float = 0.0
    growth: float = 1.0  # messages in the current week per message in the previous one


THEMES: tuple[Theme, ...] = (
    Theme("island delivery", (
        "Do you deliver bikes to {island}?",
        "Can I get a subscription if I live on {island}?",
        "Is delivery to {island} possible, or only to the mainland?",
        "My family moves to {island} in {month}. Will you still deliver and service the bike there?",
        "Does your service area include {island}?",
    ), 1.0, "low_confidence", 0.75, 1.8),
    Theme("child seat", (
        "Can I mount a child seat on the {model}?",
        "Is the {model} compatible with a rear child seat for {child}?",
        "Which child seats fit the {model}? I want to take {child} to daycare.",
        "Are child seats allowed on a subscription bike or does that void the insurance?",
        "Do you sell or rent child seats that fit the {model}?",
    ), 0.9, "low_confidence", 0.7, 1.0),
    Theme("battery range", (
        "The battery of my {model} only lasts {km} km now, it used to be {was_km}.",
        "Range dropped to about {km} km since it got cold. Is the battery failing?",
        "My battery drains much faster than before, barely {km} km on a full charge.",
        "The battery indicator jumps from full to half after {km} km. Can you swap the battery?",
    ), 1.2, "frustration", 0.2, 1.0),
    Theme("two-factor code", (
        "I never receive the login code by SMS, so I cannot open the app.",
        "The app asks for a verification code but no text message arrives on my {phone}.",
        "Two-factor code does not arrive, I tried {days} times today.",
        "I changed my phone number and now the login code goes to the old number.",
    ), 1.0, None, 0.0, 1.0),
    Theme("pause in winter", (
        "Can I pause my subscription over the winter months?",
        "Is it possible to put the subscription on hold from {month} until spring?",
        "I will not ride in {month}. Can I pause and keep my bike stored with you?",
        "How do I pause the plan for {days} months without cancelling?",
    ), 1.1, None, 0.0, 1.3),
    Theme("double charge", (
        "You charged me {amount} euros twice this month.",
        "There are two payments of {amount} EUR on my card for the same month. Please refund one.",
        "I was billed twice for my subscription, {amount} euros each time. This is not okay.",
        "Why did my bank statement show a double charge of {amount} euros?",
    ), 0.8, "frustration", 0.35, 2.2),
    Theme("vat invoice", (
        "Please add my company VAT number to the invoices.",
        "Could you add a field for a VAT ID on invoices? I need it for my business expenses.",
        "I would love to see my company name and VAT number on the monthly invoice.",
        "Any plans to offer invoices with a VAT number for business customers?",
    ), 0.6, None, 0.0, 1.0),
    Theme("ride export", (
        "Please add an export of my rides to {app}.",
        "Would be great if the app could sync rides with {app}.",
        "Any plans to connect the app to {app}? I want my commute in one place.",
        "I wish you had an integration with {app} for ride history.",
    ), 0.6, None, 0.0, 1.0),
    Theme("display error code", (
        "The display shows error {code} and the motor stops.",
        "My {model} shows {code} on the screen after a few minutes of riding.",
        "Error {code} keeps coming back even after restarting the bike.",
        "What does error code {code} mean? The assist turns off.",
    ), 0.9, None, 0.0, 0.6),
    Theme("flat tyre", (
        "I have a flat tyre on the {model}. Do you come to fix it?",
        "Puncture on the rear wheel this morning in {city}, how fast can a mechanic come?",
        "My front tyre is flat again. Is tyre repair included in the subscription?",
        "Got a flat on {weekday}. Do I fix it myself or wait for a technician?",
    ), 1.0, None, 0.0, 1.0),
    Theme("lock code", (
        "I forgot the code of my frame lock.",
        "How do I reset the lock combination? I cannot unlock the bike.",
        "The lock does not accept my code anymore, the bike is stuck in front of my office in {city}.",
        "Can you send me the lock code again? I lost the card it came with.",
    ), 0.7, None, 0.0, 1.0),
    Theme("bike size swap", (
        "The {size} frame is too big for me, can I swap to a smaller size?",
        "Can I change my {model} to a {size} frame without a fee?",
        "My partner needs a {size} frame. Can we exchange the bike?",
        "Is it possible to switch sizes after the first month?",
    ), 0.6, None, 0.0, 1.0),
    Theme("theft", (
        "My bike was stolen last night in {city}. What do I do now?",
        "Someone stole my {model} from the bike rack. Am I covered?",
        "The bike got stolen on {weekday}. I filed a police report, what happens next?",
        "Theft: my e-bike disappeared from our courtyard. How does the insurance work?",
    ), 0.5, "human_requested", 0.5, 1.0),
    Theme("cancellation fee", (
        "How much does it cost to cancel before the minimum term ends?",
        "Is there a fee if I cancel after {days} months?",
        "I am moving abroad. Can I cancel without the early termination fee?",
        "What is the notice period to end my subscription?",
    ), 0.8, None, 0.0, 1.0),
)

_ONE_OFFS = (
    "Can I pay with a gift card from my employer?", "Is your office open on public holidays?",
    "Do you have a job opening for mechanics in {city}?", "Where can I leave feedback about the mechanic who came?",
    "Can a friend borrow my bike for a weekend?", "My neighbour wants to sign up, is there a referral bonus?",
    "Can I ride the {model} in the rain without damaging the motor?",
    "What is the maximum rider weight for the {model}?",
    "Do you offer helmets in size {size}?", "Is the bike allowed on regional trains in {city}?",
    "The bell on my handlebar is broken.", "Can I change the saddle to my own one?",
    "Does the subscription include lights for winter?", "My kickstand feels loose.",
    "Can I get a paper copy of the contract?", "Which tyre pressure should I use?",
    "The mudguard rattles on cobblestones.", "Can I add a basket to the front?",
    "Do you deliver on {weekday} evenings?", "Is there a student discount if I show my card?",
    "The chain makes a clicking noise when I pedal hard.", "Where do I find my invoices from last year?",
    "Can I take the bike with me on holiday to {island}?", "My brakes squeak when it is wet.",
    "I want to change the email address of my account.", "Can I charge the battery overnight safely?",
)


@dataclass(frozen=True)
class GeneratedMessage:
    """One customer's message, its time and theme (``None`` for a one-off) and the session's handoff."""

    text: str
    created_at: datetime
    theme: str | None
    handoff: str | None


def _fill(rng: random.Random, template: str) -> str:
    return template.format(**{k: rng.choice(v) for k, v in _SLOTS.items()})


def _wrap(rng: random.Random, core: str) -> str:
    detail = rng.choice(_DETAILS).format(num=rng.randrange(10_000, 99_999), month=rng.choice(_SLOTS["month"]),
                                         phone=rng.choice(_SLOTS["phone"]),
                                         **{k: rng.choice(v) for k, v in _DETAIL_SLOTS.items()})
    parts = [rng.choice(_OPENERS), core, detail] if rng.random() < 0.5 else [rng.choice(_OPENERS), detail, core]
    parts.append(rng.choice(_CLOSERS))
    return " ".join(p for p in parts if p)


def generate(n: int, *, end: datetime, days: int = 14, seed: int = 22, one_off_share: float = 0.15
             ) -> list[GeneratedMessage]:
    """``n`` messages over the ``days`` before ``end`` (the later half weighted by each theme's growth)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    half = timedelta(days=days) / 2
    weights = [t.weight for t in THEMES]
    out: list[GeneratedMessage] = []
    for _ in range(n):
        if rng.random() < one_off_share:
            theme, text, reason, growth = None, _fill(rng, rng.choice(_ONE_OFFS)), None, 1.0
        else:
            t = rng.choices(THEMES, weights=weights)[0]
            theme, text = t.name, _fill(rng, rng.choice(t.phrasings))
            reason = t.handoff if t.handoff and rng.random() < t.handoff_share else None
            growth = t.growth
        recent = rng.random() < growth / (1 + growth)
        offset = timedelta(seconds=rng.uniform(1, half.total_seconds() - 1))
        created = end - offset if recent else end - half - offset
        out.append(GeneratedMessage(text=_wrap(rng, text), created_at=created, theme=theme, handoff=reason))
    return out
