"""Resolutions: a person's reply to a handed-off session, the draft it proposes, and its review.

``reply`` stores the person's reply (from the helpdesk or the admin pages) and, when it resolves the
session, ``propose`` drafts a Q&A article from the customer's question and the reply: extractive
(``drafting``), redacted, and checked against the published help center sentence by sentence
(``duplicates``: how much of the answer an article's retrieved chunks already state); a
near-duplicate makes the draft an edit of that article (a Q&A section appended) instead of a new one.
Drafts wait as pending; ``approve`` publishes through ``HelpCenter`` (so knowledge CI's gate reviews
it like any publish), ``reject`` discards. Nothing here publishes by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.sessions import HandoffInfo, MessageInfo, Role, SessionInfo, SessionStatus, SessionStore
from core.errors import Conflict, InvalidInput, KnowdeskError, NotFound
from core.models import Hit
from helpcenter.models import ArticleInput, Status, TopicInput, TranslationInput
from helpcenter.publisher import PublishReport
from helpcenter.service import HelpCenter

from . import drafting, duplicates
from .models import ApproveAs, Draft, DraftKind, DraftStatus, Similar
from .placement import Placement, locale_for, place
from .scenarios import ScenarioAuthor, approve_as, create_scenario
from .store import DraftStore

log = logging.getLogger(__name__)

#: Coverage of the draft's answer (``duplicates.COVERAGE``) from which published content counts as a
#: near-duplicate: the draft becomes an edit of that article.
DUPLICATE = duplicates.COVERAGE
#: The topic new answers go to when no published article is near (created on first use).
FALLBACK_TOPIC = TopicInput(id="answers", name="Answers from our team")
MAX_REPLY_CHARS = 8000
RESOLVED = (SessionStatus.RESOLVED, SessionStatus.CLOSED)

Search = Callable[[str, str], list[Hit]]


@dataclass(frozen=True, slots=True)
class ReplyResult:
    """What a person's reply did: the stored message, the session after it, the draft it proposed
    (or why none: ``skipped``)."""

    message_id: int
    session: SessionInfo
    draft: Draft | None
    skipped: str | None


class Resolutions:
    """Drafts from human resolutions.

    Args:
        sessions: the session store (handoffs, transcript). drafts: the draft store.
        helpcenter: publishes approved drafts. search: ``(query, workspace) -> hits`` over the published
        help center (cosines on the MiniLM scale in ``Hit.dense_score``). embed: texts -> vectors of the index's
        model (answer sentences and article units are compared with it). locale: the help center's default
        locale: drafts are written in the conversation's language when the help center has that locale,
        else in this one. duplicate: the coverage from which an article is a near-duplicate (in (0, 1]).
        training: creates and publishes training scenarios (approving a draft as a scenario); None: only
        articles can be approved. scenarios: ``(query, workspace) -> hits`` over the published training
        scenarios (their trigger questions); a draft whose question one matches at ``scenario_threshold``
        (the agent's) gets a note naming it, since approving it as a scenario would duplicate that one.
    """

    def __init__(self, *, sessions: SessionStore, drafts: DraftStore, helpcenter: HelpCenter, search: Search,
                 embed: duplicates.Embed, locale: str = "en", duplicate: float = DUPLICATE,
                 training: ScenarioAuthor | None = None, scenarios: Search | None = None,
                 scenario_threshold: float = 0.72) -> None:
        if not 0.0 < duplicate <= 1.0:
            raise InvalidInput(f"the near-duplicate coverage must be in (0, 1], got {duplicate}", field="duplicate")
        self.sessions, self.drafts, self.helpcenter, self.search = sessions, drafts, helpcenter, search
        self.embed, self.scenarios, self.scenario_threshold = embed, scenarios, scenario_threshold
        self.locale, self.duplicate, self.training = locale, duplicate, training
        self._lock = threading.Lock()

    # -- a person's reply ---------------------------------------------------------------------------
    def reply(self, workspace: str, handoff_id: str, text: str, *, by: str, resolve: bool = True) -> ReplyResult:
        """Store the person's reply to the handoff's session (role human); with ``resolve``, mark the
        session resolved and propose a draft from it.

        Raises:
            NotFound: no such handoff. InvalidInput: an empty or too long reply.
            Conflict: the session is closed.
        """
        text = (text or "").strip()
        if not text:
            raise InvalidInput("the reply is empty; write the answer the customer got", field="text")
        if len(text) > MAX_REPLY_CHARS:
            raise InvalidInput(f"the reply has {len(text)} characters; at most {MAX_REPLY_CHARS}", field="text")
        handoff = self.sessions.handoff(workspace, handoff_id)
        session = self.sessions.get(workspace, handoff.session_id)
        if session.status is SessionStatus.CLOSED:
            raise Conflict(f"session {session.id!r} (ticket #{session.ticket}) is closed; it takes no more replies")
        message_id = self.sessions.add_message(workspace, session.id, Role.HUMAN, text)
        self.sessions.add_event(workspace, session.id, "human_reply",
                                {"handoff_id": handoff_id, "message_id": message_id, "by": by[:200]})
        if not resolve:
            return ReplyResult(message_id=message_id, session=self.sessions.get(workspace, session.id), draft=None,
                               skipped="the session stays open (resolve=false)")
        session = self.sessions.set_status(workspace, session.id, SessionStatus.RESOLVED, by=by[:200])
        draft, skipped = self.on_resolved(workspace, session.id)
        return ReplyResult(message_id=message_id, session=session, draft=draft, skipped=skipped)

    def on_resolved(self, workspace: str, session_id: str) -> tuple[Draft | None, str | None]:
        """After a session was resolved: propose a draft when it was handed off and a person replied;
        else say why not. Never raises for a session that does not qualify."""
        handoffs = self.sessions.handoffs(workspace, session_id=session_id, limit=1)
        if not handoffs:
            return None, "the session was never handed off"
        existing = self.drafts.for_handoff(workspace, handoffs[0].id)
        if existing is not None:
            return existing, None
        try:
            return self.propose(workspace, handoff_id=handoffs[0].id), None
        except (InvalidInput, Conflict) as exc:
            log.info("no draft from session %s: %s", session_id, exc.message)
            return None, exc.message
        except KnowdeskError as exc:  # the resolution stands; the draft can be proposed again later
            log.warning("no draft from session %s yet: %s", session_id, exc.message)
            return None, f"drafting failed ({exc.message}); propose it again with POST /v1/resolutions"

    # -- drafts -------------------------------------------------------------------------------------
    def propose(self, workspace: str, *, handoff_id: str | None = None, session_id: str | None = None) -> Draft:
        """Draft a Q&A article (or an edit) from a resolved handoff (by its id, or its session's latest).

        Raises:
            InvalidInput: neither or both ids given; the session was never handed off; no person replied;
                nothing reusable in the question or the reply.
            NotFound: no such handoff or session. Conflict: the session is not resolved yet, or the
                handoff has a draft already.
        """
        handoff, session = self._resolved(workspace, handoff_id, session_id)
        messages = self.sessions.messages(workspace, session.id)
        replies = [m.text for m in messages if m.role is Role.HUMAN and m.created_at >= handoff.created_at]
        if not replies:
            raise InvalidInput(f"no person replied in session {session.id!r} (ticket #{session.ticket}) after its "
                               "handoff; reply first (POST /v1/handoffs/{id}/reply or the handoff's admin page)")
        extract = drafting.extract(_asked(handoff, messages), replies)
        if not extract.question:
            raise InvalidInput(f"ticket #{session.ticket}: the customer's messages hold no question to answer")
        if not extract.answer:
            raise InvalidInput(f"ticket #{session.ticket}: every sentence of the reply is specific to this "
                               "conversation (greetings, actions on the case, personal data); nothing to reuse")
        locale, why = locale_for(drafting.language_of(extract.question, extract.answer),
                                 self.helpcenter.store.rules.locales, self.locale)
        similar = self.similar(workspace, extract.title, extract.answer)
        placed = self._place(workspace, similar, locale)
        scenario = self._scenario_note(workspace, extract.question)
        slug, topic = placed.slug, ""
        if placed.kind is DraftKind.NEW:
            slug = drafting.slug_of(extract.title, self._slugs(workspace), locale.split("-")[0])
            topic = self._topic_near(workspace, similar)
        return self.drafts.add(workspace, session_id=session.id, handoff_id=handoff.id, ticket=session.ticket,
                               kind=placed.kind.value, question=extract.question, reply="\n\n".join(replies),
                               title=extract.title, answer=extract.answer, slug=slug, topic=topic, locale=locale,
                               similar=[s.model_dump() for s in similar],
                               note="; ".join(n for n in (why, placed.note, scenario) if n)[:2000])

    def similar(self, workspace: str, title: str, answer: str) -> list[Similar]:
        """Published articles nearest to the draft, by coverage of its answer (``duplicates``), best first
        (one entry each, at most 3): retrieval with its title, its answer and each answer sentence."""
        hits = [hit for query in duplicates.queries(title, answer) for hit in self.search(query, workspace)]
        found = duplicates.candidates(hits)
        covered = duplicates.coverage(answer, found, self.embed)
        best: dict[tuple[str, str], Similar] = {}
        for c in found:
            slug, _, locale = c.document_id.partition(":")[2].partition("/")
            if slug and (slug, locale) not in best:
                best[(slug, locale)] = Similar(slug=slug, locale=locale, title=c.title, score=round(c.cosine, 4),
                                               coverage=covered.get(c.document_id, 0.0))
        return sorted(best.values(), key=lambda s: (-(s.coverage or 0.0), -s.score))[:3]

    def approve(self, workspace: str, draft_id: str, *, by: str, title: str | None = None,
                answer: str | None = None, as_: ApproveAs | str = ApproveAs.ARTICLE) -> Draft:
        """Publish the draft through the help center (a reviewer may change its title and answer first),
        or with ``as_="scenario"`` as a training scenario (the question its trigger, the answer its reply).

        Raises:
            NotFound: no such draft. Conflict: it was approved or rejected already, or the article an
                edit targets is gone. InvalidInput: an empty title or answer, an unknown ``as_``, or
                scenarios without a training service (nothing changes).
        """
        choice = approve_as(as_)
        if choice is ApproveAs.SCENARIO and self.training is None:
            raise InvalidInput("this service has no training scenarios; approve the draft as an article", field="as")
        draft = self.drafts.get(workspace, draft_id)
        rules = self.helpcenter.store.rules
        changes = {}
        if title is not None:
            changes["title"] = rules.title(title)
        if answer is not None:
            changes["answer"] = rules.body(answer)
        draft = draft.model_copy(update=changes)
        if choice is ApproveAs.SCENARIO:
            assert self.training is not None
            with self._lock:
                self.drafts.claim(workspace, draft_id, DraftStatus.APPROVED, by=by, note=draft.note)
                try:
                    published = create_scenario(self.training, workspace, draft)
                except KnowdeskError:
                    self.drafts.release(workspace, draft_id, note=draft.note)
                    raise
            return self.drafts.set_published(workspace, draft_id, published)
        if draft.kind is DraftKind.NEW:  # published since it was drafted (another draft's article, say)?
            placed = self._place(workspace, self.similar(workspace, draft.title, draft.answer), draft.locale)
            if placed.kind is DraftKind.EDIT:
                draft = draft.model_copy(update={"kind": DraftKind.EDIT, "slug": placed.slug})
        with self._lock:
            self.drafts.claim(workspace, draft_id, DraftStatus.APPROVED, by=by, note=draft.note)
            try:
                report, slug = self._publish(workspace, draft)
            except KnowdeskError:
                self.drafts.release(workspace, draft_id, note=draft.note)
                raise
        published = {"as": ApproveAs.ARTICLE.value, "slug": slug, "locale": draft.locale, "kind": draft.kind.value,
                     "written": report.written, "pending_change": report.pending_change,
                     "title": draft.title, "answer": draft.answer}
        return self.drafts.set_published(workspace, draft_id, published)

    def reject(self, workspace: str, draft_id: str, *, by: str, note: str = "") -> Draft:
        """Discard the draft: nothing is published.

        Raises:
            NotFound: no such draft. Conflict: it was approved or rejected already.
        """
        return self.drafts.claim(workspace, draft_id, DraftStatus.REJECTED, by=by, note=note[:2000])

    # -- internals ----------------------------------------------------------------------------------
    def _resolved(self, workspace: str, handoff_id: str | None,
                  session_id: str | None) -> tuple[HandoffInfo, SessionInfo]:
        if (handoff_id is None) == (session_id is None):
            raise InvalidInput("give a handoff id or a session id (one of the two)")
        if handoff_id is not None:
            handoff = self.sessions.handoff(workspace, handoff_id)
            session = self.sessions.get(workspace, handoff.session_id)
        else:
            assert session_id is not None
            session = self.sessions.get(workspace, session_id)
            found = self.sessions.handoffs(workspace, session_id=session_id, limit=1)
            if not found:
                raise InvalidInput(f"session {session_id!r} (ticket #{session.ticket}) was never handed off; drafts "
                                   "come from handed-off sessions a person resolved", session_id=session_id)
            handoff = found[0]
        if session.status not in RESOLVED:
            raise Conflict(f"ticket #{session.ticket} is {session.status.value}, not resolved; resolve it first "
                           "(a reply with resolve, or POST /v1/sessions/{id}/resolve)", session_id=session.id)
        existing = self.drafts.for_handoff(workspace, handoff.id)
        if existing is not None:
            raise Conflict(f"handoff {handoff.id!r} has a draft already ({existing.id}, {existing.status.value})",
                           draft_id=existing.id)
        return handoff, session

    def _publish(self, workspace: str, draft: Draft) -> tuple[PublishReport, str]:
        store = self.helpcenter.store
        note = f"answer from ticket #{draft.ticket} (resolution draft {draft.id})"
        if draft.kind is DraftKind.EDIT:
            try:
                article = store.get(workspace, draft.slug)
            except NotFound as exc:
                raise Conflict(f"article {draft.slug!r} this draft edits no longer exists; reject the draft") from exc
            current = article.translation(draft.locale)
            if current is None:
                raise Conflict(f"article {draft.slug!r} has no {draft.locale!r} text any more; reject the draft")
            body = f"{current.body.rstrip()}\n\n{draft.section()}"
            _, report = self.helpcenter.put_translation(
                workspace, draft.slug, TranslationInput(locale=draft.locale, title=current.title, body=body),
                note=note[:200])
            return report, draft.slug
        slug = draft.slug if draft.slug not in self._slugs(workspace) else drafting.slug_of(
            draft.title, self._slugs(workspace))
        topic = draft.topic
        if topic not in {t.id for t in store.topics(workspace)}:
            topic = FALLBACK_TOPIC.id
            if topic not in {t.id for t in store.topics(workspace)}:
                self.helpcenter.create_topic(workspace, FALLBACK_TOPIC)
        _, report = self.helpcenter.create_article(workspace, ArticleInput(
            slug=slug, topic=topic, default_locale=draft.locale,
            translations=(TranslationInput(locale=draft.locale, title=draft.title, body=draft.answer,
                                           status=Status.PUBLISHED),)))
        return report, slug

    def _place(self, workspace: str, similar: list[Similar], locale: str) -> Placement:
        """A section of the nearest article when it is a near-duplicate with text in ``locale``, else new."""
        near = similar[0] if similar and (similar[0].coverage or 0.0) >= self.duplicate else None
        if near is None or near.locale == locale:
            return place(near, locale)
        try:
            article = self.helpcenter.store.get(workspace, near.slug)
        except NotFound:
            return place(None, locale)
        return place(near, locale, {near.slug: {t.locale for t in article.translations}})

    def _scenario_note(self, workspace: str, question: str) -> str:
        """A note when a published training scenario already answers ``question`` (its trigger questions
        match at the agent's scenario threshold), else ""."""
        if self.scenarios is None:
            return ""
        for hit in self.scenarios(question, workspace):
            cosine = float(hit.dense_score if hit.dense_score is not None else hit.score)
            if cosine >= self.scenario_threshold:
                scenario_id = hit.document_id.partition(":")[2]
                return (f"training scenario {scenario_id!r} ({hit.title}) already answers this question (cosine "
                        f"{cosine:.2f}): approving as a scenario would make a second one; edit that scenario "
                        "instead, or approve as an article")
        return ""

    def _slugs(self, workspace: str) -> set[str]:
        return {a.slug for a in self.helpcenter.store.articles(workspace)}

    def _topic_near(self, workspace: str, similar: list[Similar]) -> str:
        """The topic of the nearest published article (new answers sit beside related ones)."""
        for s in similar:
            try:
                return self.helpcenter.store.get(workspace, s.slug).topic
            except NotFound:
                continue
        return FALLBACK_TOPIC.id


def _asked(handoff: HandoffInfo, messages: list[MessageInfo]) -> list[str]:
    """The customer's messages behind the handoff: the one that triggered it, else (a bare request for a
    person) the ones before it, newest first until one holds a question."""
    customer = [str(m.get("text") or "") for m in handoff.transcript
                if isinstance(m, dict) and m.get("role") == Role.CUSTOMER.value]
    if not customer:
        customer = [m.text for m in messages if m.role is Role.CUSTOMER and m.created_at <= handoff.created_at]
    for i in range(len(customer) - 1, -1, -1):
        if drafting.question_of([customer[i]]):
            return [customer[i]]
    return customer[-1:]
