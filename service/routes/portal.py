"""The help portal at /help: server-rendered pages (Jinja2) over the published help center.

Public (no API key), for one workspace (``KNOWDESK_HELPCENTER__PORTAL_WORKSPACE``, default the
default workspace). Pages: topics, a topic's articles, an article (Markdown rendered, then
sanitized with nh3), and search backed by retrieval (titles and snippets). A missing
translation falls back to the default locale and the page says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import markdown
import nh3
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from helpcenter.models import Article, Topic
from retrieval.search import SearchFilters
from service.deps import RuntimeDep

router = APIRouter(prefix="/help", tags=["help portal"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates" / "portal"))

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "es": "Español", "fr": "Français", "it": "Italiano",
                  "nl": "Nederlands", "pt": "Português", "pl": "Polski", "sv": "Svenska", "da": "Dansk",
                  "fi": "Suomi", "nb": "Norsk", "cs": "Čeština", "ja": "日本語", "zh": "中文"}
_UI = {
    "en": {"title": "Help center", "search": "Search", "search_label": "Search the help center",
           "topics": "Topics", "articles": "Articles", "results": "Results for", "no_results":
           "No articles match your search. Try other words.", "fallback": "This article is not available in {lang} "
           "yet; it is shown in {orig}.", "language": "Language", "skip": "Skip to content", "home": "Help center",
           "not_found": "Page not found", "updated": "Updated", "empty": "No articles yet."},
    "de": {"title": "Hilfe-Center", "search": "Suchen", "search_label": "Im Hilfe-Center suchen",
           "topics": "Themen", "articles": "Artikel", "results": "Ergebnisse für", "no_results":
           "Keine Artikel gefunden. Versuchen Sie andere Wörter.", "fallback": "Dieser Artikel ist noch nicht auf "
           "{lang} verfügbar; er wird auf {orig} angezeigt.", "language": "Sprache", "skip": "Zum Inhalt springen",
           "home": "Hilfe-Center", "not_found": "Seite nicht gefunden", "updated": "Aktualisiert",
           "empty": "Noch keine Artikel."},
    "es": {"title": "Centro de ayuda", "search": "Buscar", "search_label": "Buscar en el centro de ayuda",
           "topics": "Temas", "articles": "Artículos", "results": "Resultados para", "no_results":
           "Ningún artículo coincide con su búsqueda.", "fallback": "Este artículo aún no está disponible en {lang}; "
           "se muestra en {orig}.", "language": "Idioma", "skip": "Saltar al contenido", "home": "Centro de ayuda",
           "not_found": "Página no encontrada", "updated": "Actualizado", "empty": "Aún no hay artículos."},
}
_ALLOWED_TAGS = nh3.ALLOWED_TAGS | {"table", "thead", "tbody", "tr", "th", "td", "pre", "code", "hr"}
_MD_SYNTAX = re.compile(r"[#*_`>|]+|\[([^\]]*)\]\([^)]*\)|-{3,}")


def render_markdown(text: str) -> str:
    """Markdown to HTML, sanitized (no scripts, no event handlers, no javascript: urls)."""
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=_ALLOWED_TAGS, link_rel="noopener noreferrer")


def snippet(text: str, limit: int = 220) -> str:
    plain = re.sub(r"\s+", " ", _MD_SYNTAX.sub(lambda m: m.group(1) or "", text)).strip()
    return plain if len(plain) <= limit else plain[: limit - 1].rsplit(" ", 1)[0] + "…"


class _Site:
    """What every page needs: workspace, locales, topics and published articles."""

    def __init__(self, rt: Any, request: Request, locale: str) -> None:
        settings = rt.settings.helpcenter
        self.rt = rt
        self.request = request
        self.workspace = settings.portal_workspace or rt.settings.default_workspace
        self.default = settings.default_locale
        self.store = rt.helpcenter.store
        self.topics: list[Topic] = self.store.topics(self.workspace)
        every = self.store.articles(self.workspace)
        self.articles: list[Article] = [a for a in every if a.published(locale)]
        published = {t.locale for a in every for t in a.translations if t.status.value == "published"}
        self.locales = sorted(published | {self.default}, key=lambda loc: (loc != self.default, loc))
        self.locale = locale

    @property
    def ok(self) -> bool:
        return self.locale in self.locales

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        ui = _UI.get(self.locale, _UI["en"])
        path = self.request.url.path
        rest = path.split("/", 3)[3] if path.count("/") >= 3 else ""
        switch = [{"code": loc, "name": LANGUAGE_NAMES.get(loc, loc), "current": loc == self.locale,
                   "href": f"/help/{loc}/{rest}" + (f"?{self.request.url.query}" if self.request.url.query else "")}
                  for loc in self.locales]
        return templates.TemplateResponse(self.request, name, {
            "ui": ui, "locale": self.locale, "switch": switch, "query": context.pop("query", ""),
            "language_name": LANGUAGE_NAMES.get(self.locale, self.locale), **context}, status_code=status)

    def not_found(self) -> HTMLResponse:
        if not self.ok:
            self.locale = self.default
        return self.page("not_found.html", status=404)

    def topic_label(self, topic: Topic) -> str:
        return topic.label(self.locale)

    def topic(self, topic_id: str | None) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None) if topic_id else None

    def children(self, parent: str | None) -> list[Topic]:
        return [t for t in self.topics if t.parent == parent]

    def articles_of(self, topic_id: str) -> list[dict[str, Any]]:
        found = []
        for a in self.articles:
            if a.topic != topic_id:
                continue
            published = a.published(self.locale)
            assert published is not None
            text, fallback = published
            found.append({"slug": a.slug, "title": text.title, "fallback": fallback, "lang": text.locale})
        return found


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def portal_root(rt: RuntimeDep) -> Response:
    return RedirectResponse(f"/help/{rt.settings.helpcenter.default_locale}", status_code=307)


@router.get("/{locale}", response_class=HTMLResponse)
def home(locale: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    site = _Site(rt, request, locale)
    if not site.ok:
        return site.not_found()
    sections = []
    for top in site.children(None):
        counts = {t.id: len(site.articles_of(t.id)) for t in site.children(top.id)}
        subs = [{"id": t.id, "name": site.topic_label(t), "count": counts[t.id]} for t in site.children(top.id)
                if counts[t.id]]
        count = len(site.articles_of(top.id)) + sum(counts.values())
        if count:  # topics without published articles are not shown
            sections.append({"id": top.id, "name": site.topic_label(top), "count": count, "children": subs})
    return site.page("home.html", sections=sections)


@router.get("/{locale}/topics/{topic_id}", response_class=HTMLResponse)
def topic_page(locale: str, topic_id: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    site = _Site(rt, request, locale)
    topic = site.topic(topic_id)
    if not site.ok or topic is None:
        return site.not_found()
    parent = site.topic(topic.parent)
    groups = [{"id": topic.id, "name": None, "articles": site.articles_of(topic.id)}]
    groups += [{"id": t.id, "name": site.topic_label(t), "articles": site.articles_of(t.id)}
               for t in site.children(topic.id)]
    return site.page("topic.html", topic={"id": topic.id, "name": site.topic_label(topic)},
                     parent={"id": parent.id, "name": site.topic_label(parent)} if parent else None,
                     groups=[g for g in groups if g["articles"] or g["name"] is None])


@router.get("/{locale}/articles/{slug}", response_class=HTMLResponse)
def article_page(locale: str, slug: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    site = _Site(rt, request, locale)
    article = next((a for a in site.articles if a.slug == slug), None)
    if not site.ok or article is None:
        return site.not_found()
    published = article.published(locale)
    assert published is not None
    text, fallback = published
    topic = site.topic(article.topic)
    parent = site.topic(topic.parent) if topic else None
    crumbs = [{"id": t.id, "name": site.topic_label(t)} for t in (parent, topic) if t is not None]
    return site.page("article.html", title=text.title, html=render_markdown(text.body), crumbs=crumbs,
                     fallback=fallback, text_lang=text.locale, updated=text.updated_at.date().isoformat(),
                     orig_name=LANGUAGE_NAMES.get(text.locale, text.locale))


@router.get("/{locale}/search", response_class=HTMLResponse)
def search_page(locale: str, request: Request, rt: RuntimeDep, q: str = "") -> HTMLResponse:
    site = _Site(rt, request, locale)
    if not site.ok:
        return site.not_found()
    query = q.strip()[:300]
    results: list[dict[str, Any]] = []
    if query:
        hc = rt.helpcenter
        filters = SearchFilters(kind="article", source_id=hc.publisher.source_id,
                                language=list(dict.fromkeys([locale, site.default])))
        hits = rt.retrieve(query, workspace=site.workspace, filters=filters, top_k=20, per_document=1)
        picked: dict[str, Any] = {}  # slug -> hit; keeps the rank of the first hit of an article
        for h in hits:
            slug = str(h.payload.get("meta", {}).get("article_id") or h.document_id.split(":", 1)[-1].split("/")[0])
            kept = picked.get(slug)
            if kept is None or (kept.language != locale and h.language == locale):
                picked[slug] = h
        results = [{"slug": slug, "title": h.title, "snippet": snippet(h.text), "lang": h.language,
                    "topic": " › ".join(h.topic)} for slug, h in picked.items()]
    return site.page("search.html", query=query, results=results[:10])
