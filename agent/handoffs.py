"""Recording a handoff: an extractive summary of what the customer needs, the redacted transcript,
the documents and scenarios involved; then delivery to the configured helpdesks (outbox)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import KnowdeskError

from .decision import Handoff, HandoffReason, Sentiment
from .helpdesk import Outbox
from .language import primary_language
from .meaning import VectorCache
from .sessions import MessageInfo, Role, SessionInfo, SessionStore

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
SUMMARY_SENTENCES = 2
SUMMARY_CHARS = 300

# The handoff replies in the customers' languages we ship templates for (``agent.language.NOTE_LANGUAGES``);
# another or an unknown language gets English. ``{t}`` is the ticket number.
_AUTOPILOT_OFF = {
    "en": "Thanks for your message. A member of our team will reply here soon (ticket #{t}).",
    "de": "Danke für Ihre Nachricht. Ein Mitglied unseres Teams antwortet Ihnen bald hier (Ticket #{t}).",
    "es": "Gracias por tu mensaje. Una persona de nuestro equipo te responderá pronto aquí (ticket #{t}).",
    "fr": "Merci pour votre message. Un membre de notre équipe vous répondra bientôt ici (ticket #{t}).",
    "pt": "Obrigado pela sua mensagem. Um membro da nossa equipe responderá aqui em breve (ticket #{t}).",
    "it": "Grazie per il messaggio. Un membro del nostro team risponderà qui a breve (ticket #{t}).",
    "nl": "Bedankt voor uw bericht. Een medewerker van ons team antwoordt hier binnenkort (ticket #{t}).",
}
_LOW_CONFIDENCE = {
    "en": "I couldn't find a reliable answer to that in our help center, so I've passed your question to our "
          "team (ticket #{t}). They will reply here.",
    "de": "Dazu habe ich in unserem Hilfe-Center keine verlässliche Antwort gefunden, deshalb habe ich Ihre Frage "
          "an unser Team weitergegeben (Ticket #{t}). Sie erhalten die Antwort hier.",
    "es": "No he encontrado una respuesta fiable en nuestro centro de ayuda, así que he pasado tu pregunta a "
          "nuestro equipo (ticket #{t}). Te responderán aquí.",
    "fr": "Je n'ai pas trouvé de réponse fiable dans notre centre d'aide, j'ai donc transmis votre question à "
          "notre équipe (ticket #{t}). Elle vous répondra ici.",
    "pt": "Não encontrei uma resposta confiável na nossa central de ajuda, por isso encaminhei sua pergunta à "
          "nossa equipe (ticket #{t}). Eles vão responder aqui.",
    "it": "Non ho trovato una risposta affidabile nel nostro centro assistenza, quindi ho inoltrato la tua "
          "domanda al nostro team (ticket #{t}). Ti risponderanno qui.",
    "nl": "Ik vond hierop geen betrouwbaar antwoord in ons helpcentrum, dus heb ik uw vraag doorgegeven aan ons "
          "team (ticket #{t}). Zij antwoorden hier.",
}
_PROHIBITED_TOPIC = {
    "en": "This is something our team needs to handle personally. I've passed your conversation on (ticket #{t}); "
          "they will reply here.",
    "de": "Darum muss sich unser Team persönlich kümmern. Ich habe Ihr Gespräch weitergeleitet (Ticket #{t}); "
          "Sie erhalten die Antwort hier.",
    "es": "Esto debe gestionarlo nuestro equipo personalmente. He pasado tu conversación (ticket #{t}); "
          "te responderán aquí.",
    "fr": "Notre équipe doit traiter cette demande personnellement. J'ai transmis votre conversation "
          "(ticket #{t}) ; elle vous répondra ici.",
    "pt": "Isso precisa ser tratado pessoalmente pela nossa equipe. Encaminhei sua conversa (ticket #{t}); "
          "eles vão responder aqui.",
    "it": "Di questo deve occuparsi personalmente il nostro team. Ho inoltrato la conversazione (ticket #{t}); "
          "ti risponderanno qui.",
    "nl": "Dit moet ons team persoonlijk afhandelen. Ik heb uw gesprek doorgegeven (ticket #{t}); zij antwoorden "
          "hier.",
}
_CONNECTING = {
    "en": "I'm connecting you with a member of our team (ticket #{t}). They will reply here as soon as possible.",
    "de": "Ich verbinde Sie mit einem Mitglied unseres Teams (Ticket #{t}). Sie erhalten so bald wie möglich hier "
          "eine Antwort.",
    "es": "Te pongo en contacto con una persona de nuestro equipo (ticket #{t}). Te responderá aquí lo antes "
          "posible.",
    "fr": "Je vous mets en relation avec un membre de notre équipe (ticket #{t}). Il vous répondra ici dès que "
          "possible.",
    "pt": "Estou conectando você a um membro da nossa equipe (ticket #{t}). Ele responderá aqui o mais rápido "
          "possível.",
    "it": "Ti metto in contatto con un membro del nostro team (ticket #{t}). Ti risponderà qui il prima possibile.",
    "nl": "Ik verbind u met een medewerker van ons team (ticket #{t}). Die antwoordt hier zo snel mogelijk.",
}
_WITH_THE_TEAM = {
    "en": "Your conversation is with our team (ticket #{t}); they will reply here.",
    "de": "Ihr Gespräch liegt bei unserem Team (Ticket #{t}); Sie erhalten die Antwort hier.",
    "es": "Tu conversación está con nuestro equipo (ticket #{t}); te responderán aquí.",
    "fr": "Votre conversation est entre les mains de notre équipe (ticket #{t}) ; elle vous répondra ici.",
    "pt": "Sua conversa está com a nossa equipe (ticket #{t}); eles vão responder aqui.",
    "it": "La tua conversazione è con il nostro team (ticket #{t}); ti risponderanno qui.",
    "nl": "Uw gesprek ligt bij ons team (ticket #{t}); zij antwoorden hier.",
}
_REPLIES = {
    HandoffReason.AUTOPILOT_OFF: _AUTOPILOT_OFF,
    HandoffReason.LOW_CONFIDENCE: _LOW_CONFIDENCE,
    HandoffReason.PROHIBITED_TOPIC: _PROHIBITED_TOPIC,
}
#: The languages the handoff replies are written in.
REPLY_LANGUAGES = tuple(_CONNECTING)


def _localized(templates: dict[str, str], language: str | None, ticket: int) -> str:
    return templates.get(primary_language(language) or "en", templates["en"]).format(t=ticket)


def handoff_reply(reason: HandoffReason, ticket: int, language: str | None = None) -> str:
    """What the customer reads when the conversation goes to the team, in ``language`` (an ISO 639-1
    code; English when unknown or not one of ``REPLY_LANGUAGES``).

    Example::

        handoff_reply(HandoffReason.HUMAN_REQUESTED, 12, "de")  # "Ich verbinde Sie mit ... (Ticket #12). ..."
    """
    return _localized(_REPLIES.get(reason, _CONNECTING), language, ticket)


def already_handed_off_reply(ticket: int, language: str | None = None) -> str:
    """The reply to a message in a conversation that is already with the team, in ``language``."""
    return _localized(_WITH_THE_TEAM, language, ticket)


class HandoffRecorder:
    """Stores handoffs with their summary and transcript and hands them to the outbox.

    Args:
        store: the session store. cache: sentence vectors for the summary.
        outbox: delivery to helpdesks (None: stored only).
    """

    def __init__(self, *, store: SessionStore, cache: VectorCache, outbox: Outbox | None = None) -> None:
        self.store, self.cache, self.outbox = store, cache, outbox

    def record(
        self,
        session: SessionInfo,
        *,
        reason: HandoffReason,
        trigger_score: float | None,
        confidence: float | None,
        sentiment: Sentiment,
        documents: list[str],
        scenarios: list[Any],
        history: Sequence[MessageInfo],
        message: str,
    ) -> Handoff:
        customer = [m.text for m in history if m.role == Role.CUSTOMER] + [message]
        summary = self.summarize(customer)
        transcript: list[dict[str, str | None]] = [
            {"role": m.role.value, "text": m.text, "at": m.created_at.isoformat()} for m in history
        ]
        transcript.append({"role": Role.CUSTOMER.value, "text": message, "at": None})
        info = self.store.record_handoff(
            session.workspace,
            session.id,
            reason=reason.value,
            trigger_score=trigger_score,
            confidence=confidence,
            summary=summary,
            sentiment=sentiment.model_dump(mode="json"),
            documents=documents,
            scenarios=scenarios,
            transcript=transcript,
        )
        if self.outbox is not None and self.outbox.targets:
            self.outbox.enqueue(session.workspace, info.id)
            try:
                self.outbox.deliver_due(handoff_id=info.id)
            except KnowdeskError as exc:  # stored in the outbox; retried later
                log.warning("handoff %s stays in the outbox: %s", info.id, exc.message)
        return Handoff(reason=reason, trigger_score=trigger_score, summary=summary, sentiment=sentiment)

    def summarize(self, texts: Sequence[str]) -> str:
        """The customer's most central sentences (closest to the mean of all), in their order."""
        sentences = [s.strip() for t in texts for s in _SENTENCE.split(t) if len(s.split()) >= 3]
        if not sentences:
            return " ".join(texts)[:SUMMARY_CHARS]
        if len(sentences) > SUMMARY_SENTENCES:
            vectors = self.cache.vectors(sentences)
            centre = vectors.mean(axis=0)
            keep = sorted(np.argsort(-(vectors @ centre))[:SUMMARY_SENTENCES].tolist())
            sentences = [sentences[i] for i in keep]
        summary = " ".join(sentences)
        return summary if len(summary) <= SUMMARY_CHARS else summary[: SUMMARY_CHARS - 1].rstrip() + "…"
