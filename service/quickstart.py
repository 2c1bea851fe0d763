"""`knowdesk quickstart`: ingest the bundled sample knowledge, then show cited passages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console

from actions.models import ImportReport
from agent.sessions import ContactRef
from app.runtime import Runtime
from core.errors import NotFound
from core.models import Channel, RunReport, Source, SourceKind
from retrieval.search import SearchFilters
from service import output
from service.commands.agent import agent_demo, print_decision, undelivered
from service.samples.brewly_api import DEFAULT_BASE_URL, HOST, SAMPLE_KEY, SCHEME, SPEC_NAME, BrewlyApi, spec_text

SAMPLES = Path(__file__).with_name("samples")
#: The sample questions cite knowledge (articles, pages, files), not training scenarios.
KNOWLEDGE = SearchFilters(kind=["article", "page", "file"])
#: Channels the sample actions are enabled on (a re-import keeps what the user changed since).
ACTION_CHANNELS = (Channel.WEB, Channel.API)
#: Imported but not enabled at first: the sample training's retention scenario handles "I want to cancel"
#: (offer a pause or a skip first); `knowdesk actions enable cancel_subscription --channel web` turns it on.
DISABLED_AT_FIRST = ("cancel_subscription",)
ACTION_DEMO = ("Where is my order BR-104233?", "dana@example.com")


def sample_sources(workspace: str) -> list[Source]:
    """The sample folder source (the sample help center is authored content, see ``import_samples``)."""
    return [
        Source(workspace=workspace, name="files", kind=SourceKind.FOLDER, options={"path": str(SAMPLES / "files")}),
    ]


def import_samples(rt: Runtime, workspace: str) -> dict[str, Any]:
    """Seed the sample help center and training: only topics, articles and scenarios the workspace does
    not have yet are imported (and published as the samples say), so a re-run never reverts an edit,
    re-publishes an unpublished article or re-embeds anything."""
    from helpcenter.markdown_io import from_export
    from training.yaml_io import import_yaml

    try:  # earlier quickstarts synced the sample as a help-center export source under the same id
        legacy = rt.sources.get(workspace, "help-center")
        if legacy.kind is SourceKind.HELPCENTER_EXPORT:
            rt.remove_source(workspace, "help-center")
    except NotFound:
        pass
    bundle = from_export(json.loads((SAMPLES / "helpcenter.json").read_text(encoding="utf-8")))
    store = rt.helpcenter.store
    topics, slugs = {t.id for t in store.topics(workspace)}, {a.slug for a in store.articles(workspace)}
    missing = bundle.model_copy(update={"topics": tuple(t for t in bundle.topics if t.id not in topics),
                                        "articles": tuple(a for a in bundle.articles if a.slug not in slugs)})
    imported = rt.helpcenter.import_bundle(workspace, missing)
    training = import_yaml(rt.training, workspace, (SAMPLES / "training.yaml").read_text(encoding="utf-8"),
                           missing_only=True)
    return {"helpcenter": imported.model_dump(mode="json", exclude={"index": {"documents"}}),
            "training": training.model_dump(mode="json")}


def install_sample_actions(rt: Runtime, workspace: str, *, base_url: str = DEFAULT_BASE_URL) -> ImportReport:
    """Import the Brewly sample API's spec as the workspace's ``brewly`` actions, pointed at ``base_url``,
    with the sample key as its secret and the sample server's loopback address on the allowlist.

    Idempotent: a re-import keeps each action's channels, segments and confirmation flag, and
    unchanged actions are not embedded again. Other allowlist entries are kept. New actions are
    enabled on web and api, except ``DISABLED_AT_FIRST``.
    """
    before = {a.id for a in rt.actions.store.actions(workspace, spec=SPEC_NAME)}
    # imported without channels, so a re-import leaves every action as the user left it (an import's
    # channels also apply to actions that are disabled now); only new actions are enabled here
    report = rt.actions.import_spec(workspace, SPEC_NAME, spec_text(), base_url=base_url)
    for action_id in report.imported:
        if action_id not in before and action_id not in DISABLED_AT_FIRST:
            rt.actions.update(workspace, action_id, channels=ACTION_CHANNELS)
    rt.actions.store.set_secret(workspace, SPEC_NAME, SCHEME, {"value": SAMPLE_KEY})
    allow = rt.actions.store.allowlist(workspace)
    if HOST not in allow:
        rt.actions.store.set_allowlist(workspace, [*allow, HOST])
    return report


@contextmanager
def running_sample_api(rt: Runtime, workspace: str) -> Iterator[BrewlyApi]:
    """Serve the sample API on a free loopback port and point the workspace's sample actions at it;
    afterwards stop it and point them back at ``DEFAULT_BASE_URL`` (``knowdesk samples api``), so no
    action is left aiming at a port that closed with this process."""
    with BrewlyApi(port=0) as api:
        install_sample_actions(rt, workspace, base_url=api.base_url)
        try:
            yield api
        finally:
            rt.actions.store.set_base_url(workspace, SPEC_NAME, DEFAULT_BASE_URL)


def holds_the_samples(rt: Runtime, workspace: str) -> bool:
    """Whether ``workspace`` is a quickstart workspace (it syncs the bundled sample files)."""
    try:
        source = rt.sources.get(workspace, "files")
    except NotFound:
        return False
    return Path(str(source.options.get("path", ""))).resolve() == (SAMPLES / "files").resolve()


def sample_actions_for_eval(rt: Runtime, workspace: str, *, warn: Callable[[str], None]) -> AbstractContextManager[Any]:
    """For ``eval bundled``: the sample API, served and wired in, on a quickstart workspace only, so
    evaluating another workspace never imports Brewly's actions into it (its action cases then come
    out as not supported, with ``warn`` saying why)."""
    if holds_the_samples(rt, workspace):
        return running_sample_api(rt, workspace)
    warn(f"workspace {workspace!r} does not hold the quickstart's sample knowledge, so the sample actions "
         "are not installed there and the action cases are reported as not supported (run `knowdesk "
         "quickstart`, or evaluate its workspace)")
    return nullcontext()


def action_demo(rt: Runtime, out: Console, *, quiet: bool = False) -> dict[str, Any]:
    """One action in the scripted conversation: the customer asks where an order is; the agent calls
    ``track_order`` on the sample API and answers from its result."""
    ws = rt.settings.default_workspace
    message, email = ACTION_DEMO
    agent = undelivered(rt.agent)
    session = agent.store.create(ws, channel=Channel.WEB, contact=ContactRef(email=email))
    if not quiet:
        out.print(f"\n[bold]An action[/] (ticket #{session.ticket}, web, signed in as {email}; "
                  "the Brewly sample API answers on 127.0.0.1):")
    decision = agent.handle(ws, session.id, message)
    if not quiet:
        print_decision(out, decision, message=message)
    calls = [e.data for e in rt.agent.store.events(ws, session.id) if e.type == "action_call"]
    return {"session_id": session.id, "ticket": session.ticket,
            "turns": [{"message": message, "decision": decision.to_json()}], "action_calls": calls}


def held_changes(result: dict[str, Any]) -> list[str]:
    """The knowledge-CI changes a quickstart's sample imports wait on (none unless a gate is configured)."""
    found = [result["helpcenter"]["index"].get("pending_change"), result["training"].get("pending_change")]
    return [c for c in found if c]


def run_quickstart(
    rt: Runtime, *, out: Console, err: Console, as_json: bool, sync: Callable[..., RunReport]
) -> dict[str, Any]:
    ws = rt.settings.default_workspace
    authored = import_samples(rt, ws)
    if not as_json:
        index = authored["helpcenter"]["index"]
        err.print(f"help center: {authored['helpcenter']['articles']} sample articles added, {index['written']} "
                  f"documents indexed; training: {len(authored['training']['created'])} sample scenarios added "
                  "(what is already there, edited or unpublished, is kept as it is)")
    reports = []
    for source in sample_sources(ws):
        try:
            existing = rt.sources.get(ws, source.name)
            if existing.options != source.options:
                existing = rt.sources.update(ws, source.name, options=source.options)
        except NotFound:
            existing = rt.sources.add(source)
        report = sync(rt, existing, quiet=as_json)
        reports.append(report)
        if not as_json:
            output.print_report(err, report)
    questions = json.loads((SAMPLES / "questions.json").read_text(encoding="utf-8"))["questions"]
    answers = []
    for q in questions:
        hits = rt.retrieve(q["q"], workspace=ws, top_k=3, filters=KNOWLEDGE)
        answers.append({"query": q["q"], "hits": output.hits_json(hits)})
        if not as_json:
            output.print_hits(out, q["q"], hits)
            out.print()
    result = {"syncs": [r.summary() for r in reports], **authored, "questions": answers}
    result["held"] = held_changes(result)
    with running_sample_api(rt, ws):
        result["conversation"] = agent_demo(rt, out, quiet=as_json)
        result["action"] = action_demo(rt, out, quiet=as_json)
    if as_json:
        print(json.dumps(result))
    else:
        out.print('Next: `knowdesk retrieve "your question"`, `knowdesk sources add`, `knowdesk serve`.')
        out.print(f"The sample actions ({SPEC_NAME}) call {DEFAULT_BASE_URL}: run `knowdesk samples api` beside "
                  "`knowdesk serve` to try them; without it they fail and the agent hands off (action_failed).")
    return result
