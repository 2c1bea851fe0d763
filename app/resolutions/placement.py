"""Where a draft goes: the locale it is written in (the conversation's language when the help center
has it) and, for a near-duplicate, whether it can be a section of that article's text in that locale.

The help center stores an article's text in its own ``default_locale``, which may be any configured
locale (``helpcenter.store`` requires the article to have text there, not in the help center's default):
a German-only article is valid and the portal shows it in every locale (readers of other locales get it
as a fallback, marked). So a German conversation's new draft is a new article whose default locale is
``de``. A near-duplicate in another locale gets the section only when the article has text in the
draft's locale; otherwise the draft stays a new article: a section cannot be added to text that does
not exist, and a translation made of this one answer would replace the whole article for its readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .models import DraftKind, Similar


@dataclass(frozen=True, slots=True)
class Placement:
    """A draft's kind, target article (edit) and locale, and a note for the reviewer when the locale or
    kind is not the obvious one (empty otherwise)."""

    kind: DraftKind
    locale: str
    slug: str = ""
    note: str = ""


def locale_for(language: str | None, locales: Sequence[str], default: str) -> tuple[str, str]:
    """The locale a draft in ``language`` is written in, and why it is not that language (or "").

    >>> locale_for("de", ("en", "de"), "en")
    ('de', '')
    >>> locale_for("it", ("en", "de"), "en")[0]
    'en'
    """
    if language is None:
        return default, ""
    for locale in locales:  # "pt" also matches a configured "pt-BR"
        if locale == language or locale.split("-")[0].lower() == language:
            return locale, ""
    return default, (f"the conversation is in {language!r}, which the help center has no locale for "
                     f"(KNOWDESK_HELPCENTER__LOCALES: {', '.join(locales)}); drafted for the default locale "
                     f"{default!r}: translate the answer before approving, or add the locale")


def place(near: Similar | None, locale: str, locales_of: dict[str, set[str]] | None = None) -> Placement:
    """New article or section of ``near``: an edit when ``near`` is in ``locale`` or its article has
    text in ``locale`` (``locales_of``: slug -> the article's locales); else a new article, with a note.
    """
    if near is None:
        return Placement(kind=DraftKind.NEW, locale=locale)
    if near.locale == locale or locale in (locales_of or {}).get(near.slug, set()):
        return Placement(kind=DraftKind.EDIT, locale=locale, slug=near.slug)
    return Placement(kind=DraftKind.NEW, locale=locale, note=(
        f"nearly duplicates {near.slug!r} ({near.locale}, coverage {near.coverage or 0.0:.2f}), which has no "
        f"{locale!r} text: "
        f"proposed as a new {locale!r} article (a section needs {locale!r} text to go into; a translation made of "
        "this answer alone would replace the whole article for its readers)"))
