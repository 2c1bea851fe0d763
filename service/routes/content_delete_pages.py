"""Deleting authored content in the browser: a help-center article (every translation) or one of its
translations, a help-center topic, and a training scenario.

The pattern of ``service/routes/delete_pages.py``: a *Delete* button on the item's page opens a
confirmation page naming what leaves (translations, their versions, the chunks of the published ones
in the search index; a scenario's versions and whether the agent uses it now); its form posts
``confirm=yes`` with the CSRF token, and the delete is the HTTP API's own function
(``DELETE /v1/help-center/articles/{slug}``, ``.../articles/{slug}/{locale}``,
``DELETE /v1/help-center/topics/{id}``, ``DELETE /v1/training/scenarios/{id}``). Published text
leaves the index through the help center's publish path, as unpublishing it would; with knowledge CI
configured the delete is reviewed first, and a held one deletes nothing: the page goes back to the
item (still there, still served) with a notice naming the held change. A topic that
still holds articles or sub-topics, and an article's default translation, are refused with the API's
own message. This router is mounted before the help and training pages: their ``/{locale}`` and
``/{change}`` paths would otherwise take ``/delete``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.runtime import Runtime
from core.errors import NotFound
from core.ids import document_id
from helpcenter.models import Status
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes import helpcenter, training
from service.routes.delete_pages import confirmation, confirmed_delete, plural
from training.models import ScenarioKind

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
TO_HELP = ("/admin/help", "Back to the help center")
TO_TRAINING = ("/admin/training", "Back to training")


def held_delete(facts: dict[str, Any], change_id: str | None) -> str | None:
    """Where a delete knowledge CI held goes (None: it was deleted): back to the item's page, which
    still exists and is still served, saying so with the change's id."""
    if not change_id:
        return None
    notice = (f"held by knowledge CI as {change_id}: deleting {facts['what']} would break answers that work "
              f"now, so nothing was deleted and it is still served; accept or reject {change_id} "
              f"(knowdesk knowledge-ci show {change_id})")
    return f"{facts['back']}?notice={quote(notice)}"


def _scenario_held(result: Any) -> str | None:
    """The change id in a held ``DELETE /v1/training/scenarios/{id}`` answer (202), else None."""
    if isinstance(result, Response) and result.status_code == 202:
        return str(json.loads(bytes(result.body))["pending_change"])
    return None


def _chunks(rt: Runtime, workspace: str, source_id: str, native_ids: list[str]) -> int:
    return sum(rt.index.count(workspace, document_id=document_id(source_id, n)) for n in native_ids)


# -- an article, or one of its translations ------------------------------------------------------------
def article_facts(rt: Runtime, caller: Principal, slug: str, locale: str | None = None) -> dict[str, Any]:
    """What deleting article ``slug`` (or only its ``locale`` translation) removes; ``NotFound`` when
    there is no such article or translation."""
    hc = rt.helpcenter
    article = hc.store.get(caller.workspace, slug)
    if locale is not None and article.translation(locale) is None:
        raise NotFound(f"article {slug!r} has no {locale!r} translation", slug=slug, locale=locale)
    going = [t for t in article.translations if locale is None or t.locale == locale]
    live = [t.locale for t in going if t.status is Status.PUBLISHED]
    chunks = _chunks(rt, caller.workspace, hc.publisher.source_id, [f"{slug}/{x}" for x in live])
    title = going[0].title
    listed = ", ".join(f"{t.locale} ({t.status.value})" for t in going)
    index = (f"the published {', '.join(live)} text and its {plural(chunks, 'chunk')} leave the search index "
             "(as unpublishing does): the portal and the agent stop using it" if live
             else "nothing is in the search index: no translation that goes is published")
    base = f"/admin/help/articles/{quote(slug)}"
    if locale is None:
        topic = hc.store.topic_path(caller.workspace, article.topic)
        return {
            "what": f"article {slug}", "kind": "article", "name": slug, "chunks": chunks, "blocked": "",
            "action": f"{base}/delete", "back": f"{base}/{quote(article.default_locale)}", "back_label": title,
            "removes": [f"the article {title} and its {plural(len(going), 'translation')}: {listed}", index,
                        "every translation's saved versions (no rollback afterwards)"],
            "keeps": [f"its topic {' › '.join(topic) or article.topic} and the topic's other articles"],
        }
    blocked = (f"{locale!r} is the article's default locale; delete the article instead"
               if locale == article.default_locale else "")
    return {
        "what": f"the {locale} translation of {slug}", "kind": "translation", "name": slug, "chunks": chunks,
        "blocked": blocked, "default_locale": article.default_locale,
        "action": f"{base}/{quote(locale)}/delete", "back": f"{base}/{quote(locale)}", "back_label": title,
        "removes": [f"the {locale} text {title} ({going[0].status.value}) and its saved versions", index],
        "keeps": [f"the article {slug} and its other translations "
                  f"({', '.join(t.locale for t in article.translations if t.locale != locale)})"],
        "other": f"{base}/delete",
    }


@router.get("/help/articles/{slug}/delete", response_class=HTMLResponse)
def article_confirm(slug: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: article_facts(rt, caller, slug), TO_HELP)


@router.post("/help/articles/{slug}/delete", response_class=HTMLResponse)
async def article_delete(slug: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/help-center/articles/{slug}`` does, once confirmed."""
    def done(facts: dict[str, Any], result: Any) -> str:
        if (held := held_delete(facts, result["index"]["pending_change"])) is not None:
            return held
        notice = f"deleted article {slug}: {plural(result['index']['deleted'], 'published translation')} left the index"
        return f"/admin/help?notice={quote(notice)}"

    return await confirmed_delete(request, rt, lambda caller: article_facts(rt, caller, slug), TO_HELP,
                                  lambda caller: helpcenter.delete_article(slug, caller, rt), done)


@router.get("/help/articles/{slug}/{locale}/delete", response_class=HTMLResponse)
def translation_confirm(slug: str, locale: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: article_facts(rt, caller, slug, locale), TO_HELP,
                        blocked_status=422)


@router.post("/help/articles/{slug}/{locale}/delete", response_class=HTMLResponse)
async def translation_delete(slug: str, locale: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/help-center/articles/{slug}/{locale}`` does, once confirmed."""
    def done(facts: dict[str, Any], result: Any) -> str:
        if (held := held_delete(facts, result["index"]["pending_change"])) is not None:
            return held
        left = result["index"]["deleted"]
        notice = f"deleted the {locale} translation{' and removed it from the index' if left else ''}"
        return f"/admin/help/articles/{quote(slug)}/{quote(facts['default_locale'])}?notice={quote(notice)}"

    return await confirmed_delete(request, rt, lambda caller: article_facts(rt, caller, slug, locale), TO_HELP,
                                  lambda caller: helpcenter.delete_translation(slug, locale, caller, rt), done)


# -- a topic ---------------------------------------------------------------------------------------------
def topic_facts(rt: Runtime, caller: Principal, topic_id: str) -> dict[str, Any]:
    """What deleting topic ``topic_id`` removes, and why it cannot go while it holds anything."""
    store = rt.helpcenter.store
    topic = store.topic(caller.workspace, topic_id)
    articles = store.articles(caller.workspace, topic=topic_id)
    subs = [t.name for t in store.topics(caller.workspace) if t.parent == topic_id]
    holds = [x for x in (plural(len(articles), "article") if articles else "",
                         plural(len(subs), "sub-topic") if subs else "") if x]
    blocked = (f"topic {topic_id} still holds {' and '.join(holds)}: move them to another topic or delete them "
               "first; nothing was deleted" if holds else "")
    return {
        "what": f"topic {topic.name}", "kind": "topic", "name": topic_id, "blocked": blocked,
        "action": f"/admin/help/topics/{quote(topic_id)}/delete", "back": f"/admin/help#topic-{quote(topic_id)}",
        "back_label": "Help center",
        "removes": [f"the topic {topic.name} ({topic_id})"
                    + (f" and its names in {', '.join(sorted(topic.names))}" if topic.names else "")],
        "keeps": ([f"its articles: {', '.join(a.slug for a in articles)}"] if articles else [])
        + ([f"its sub-topics: {', '.join(subs)}"] if subs else []) or ["nothing else: it holds no article"],
    }


@router.get("/help/topics/{topic_id}/delete", response_class=HTMLResponse)
def topic_confirm(topic_id: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: topic_facts(rt, caller, topic_id), TO_HELP)


@router.post("/help/topics/{topic_id}/delete", response_class=HTMLResponse)
async def topic_delete(topic_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/help-center/topics/{id}`` does, once confirmed (a 409 page while it holds
    articles or sub-topics)."""
    return await confirmed_delete(request, rt, lambda caller: topic_facts(rt, caller, topic_id), TO_HELP,
                                  lambda caller: helpcenter.delete_topic(topic_id, caller, rt),
                                  lambda *_: f"/admin/help?notice={quote(f'deleted topic {topic_id}')}")


# -- a training scenario -------------------------------------------------------------------------------
def scenario_facts(rt: Runtime, caller: Principal, scenario_id: str) -> dict[str, Any]:
    """What deleting scenario ``scenario_id`` removes (``NotFound`` when there is no such scenario)."""
    t = rt.training
    record = t.store.get(caller.workspace, scenario_id)
    versions = len(t.store.versions(caller.workspace, scenario_id))
    kind = record.draft.kind
    points = _chunks(rt, caller.workspace, t.indexer.source_id, [scenario_id])
    if record.published_version is None:
        live = "it is not live, so the agent does not use it now"
    elif kind is ScenarioKind.SPECIFIC:
        live = (f"version {record.published_version} is live: the agent stops using it and its "
                f"{plural(points, 'trigger question')} leave the search index")
    else:
        live = f"version {record.published_version} is live: the agent stops applying it to every conversation"
    return {
        "what": f"scenario {scenario_id}", "kind": "scenario", "name": scenario_id, "blocked": "",
        "action": f"/admin/training/scenarios/{quote(scenario_id)}/delete",
        "back": f"/admin/training/scenarios/{quote(scenario_id)}", "back_label": record.draft.title,
        "removes": [f"the {kind.value} scenario {record.draft.title}, its draft and its "
                    f"{plural(versions, 'published version')} (no rollback afterwards)", live],
        "keeps": ["the agent's profile and the other scenarios"],
    }


@router.get("/training/scenarios/{scenario_id}/delete", response_class=HTMLResponse)
def scenario_confirm(scenario_id: str, request: Request, rt: RuntimeDep) -> Response:
    return confirmation(request, rt, lambda caller: scenario_facts(rt, caller, scenario_id), TO_TRAINING)


@router.post("/training/scenarios/{scenario_id}/delete", response_class=HTMLResponse)
async def scenario_delete(scenario_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Delete as ``DELETE /v1/training/scenarios/{id}`` does, once confirmed (a held delete: back to the
    scenario's page, which says so)."""
    def done(facts: dict[str, Any], result: Any) -> str:
        return (held_delete(facts, _scenario_held(result))
                or f"/admin/training?notice={quote(f'deleted scenario {scenario_id}')}")

    return await confirmed_delete(request, rt, lambda caller: scenario_facts(rt, caller, scenario_id), TO_TRAINING,
                                  lambda caller: training.delete_scenario(scenario_id, caller, rt), done)
