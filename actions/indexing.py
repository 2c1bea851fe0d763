"""Actions in the index (kind=action), so the agent matches a message to an action by meaning.

An action enabled on at least one channel becomes one ``Document`` (source id ``actions``,
native id the action id) whose chunks are its phrasings: the summary, the description's first
sentence, the humanized operation id and any ``x-knowdesk-examples``, each embedded on its own.
``meta.channels`` lets search filter by the session's channel; disabled actions are not indexed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from core.db import Database
from core.models import Document, DocumentKind
from ingest.phrases import PhraseIndexer
from ingest.sync import Pipeline

from .models import ActionDef, humanize

log = logging.getLogger(__name__)

SOURCE_ID = "actions"
CHUNKER_VERSION = "phrases-1"


def phrases(action: ActionDef) -> list[str]:
    """The texts an action is matched by."""
    first = re.split(r"(?<=[.!?])\s", action.description.strip(), maxsplit=1)[0][:300] if action.description else ""
    out = [action.summary, first, humanize(action.id), *action.examples]
    return list(dict.fromkeys(p.strip() for p in out if p and p.strip()))


def action_document(action: ActionDef) -> Document:
    meta = {"action_id": action.id, "spec": action.spec, "channels": " ".join(sorted(c.value for c in action.channels))}
    if action.segments:
        meta["segments"] = " ".join(sorted(action.segments))
    return Document(workspace=action.workspace, source_id=SOURCE_ID, native_id=action.id, title=action.title,
                    uri=f"action:{action.id}", kind=DocumentKind.ACTION, media_type="text/plain",
                    content="\n".join(phrases(action)).encode("utf-8"), metadata=meta)


class ActionIndexer(PhraseIndexer):
    """Keeps the index equal to the enabled actions (an action with no channel is not indexed).

    Args:
        pipeline: returns the live embedder and index writer (called per write).
        db: the state database (indexed actions are tracked like a source's documents).
    """

    chunker_version = CHUNKER_VERSION

    def __init__(self, *, pipeline: Callable[[], Pipeline], db: Database) -> None:
        super().__init__(pipeline=pipeline, db=db, source_id=SOURCE_ID)

    def index(self, action: ActionDef) -> bool:
        """Write an enabled action's phrasings, or remove a disabled one; returns whether it changed."""
        if not action.channels:
            return self.remove(action.workspace, [action.id]) > 0
        texts = phrases(action)
        if not self.write_phrases(action_document(action), texts):
            return False
        log.info("indexed action %s (%d phrasings)", action.id, len(texts))
        return True
