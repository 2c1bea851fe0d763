"""The evaluation dataset format (JSONL, version 1): a header line, then one case per line.

A dataset is a UTF-8 JSONL file. The first line may be a header; every other line is a case::

    {"kind": "knowdesk.eval.dataset", "version": 1, "name": "brewly-v1", "description": "...",
     "config": {"prohibited_topics": ["legal action against Brewly; suing"]}}
    {"id": "skip-1", "messages": ["How do I skip next month's box?"], "channel": "web",
     "expect": {"outcome": "answer", "relevant": ["skip-a-delivery"], "reference": "Skip it by the 25th ...",
                "must_include": ["25th"]},
     "tags": ["answerable", "subscriptions"]}

- ``messages``: the customer's messages in order, played into one fresh session. An item is a string,
  or ``{"text": ..., "expect": {...}}`` to check that turn too; ``expect`` checks the last turn.
- ``expect.outcome``: ``answer``, ``clarify``, ``handoff``, ``action_call`` or ``no_answer``
  (handoff or clarify: anything but an answer). ``handoff_reason`` names the expected reason.
- ``expect.relevant``: documents that answer the question, as document ids
  (``help-center:skip-a-delivery/en``), urls, or article slugs (``skip-a-delivery``, or
  ``skip-a-delivery/de`` for one translation). Slugs survive changes of the id scheme.
- ``expect.action``: the expected action call ``{"name": ..., "arguments": {...}, "outcome": ...}``,
  checked against the session's ``action_call`` events (the last one of that name); ``outcome`` is
  ``ok``, ``client_error`` (e.g. a 404), ``server_error``, ``timeout``, ``network``, ``blocked`` or
  ``declined``. Cases that need actions list ``"requires": ["actions"]`` and are reported as not
  supported while no action is enabled in the workspace.
- ``config`` (header or case): ``AgentConfig`` fields applied over the workspace's agent config for the
  evaluation only (e.g. ``{"autopilot": {"phone": false}}``); the workspace's stored config is untouched.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from agent.decision import HandoffReason
from agent.sessions import ContactRef
from core.errors import InvalidInput
from core.models import Channel, Frozen

FORMAT_KIND = "knowdesk.eval.dataset"
FORMAT_VERSION = 1
#: What a case can require beyond the answering agent (issue 9 adds actions).
Capability = Literal["actions", "llm"]


class Outcome(StrEnum):
    """The expected decision; ``no_answer`` accepts a handoff or a clarifying question."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    ACTION_CALL = "action_call"
    NO_ANSWER = "no_answer"

    def accepts(self, action: str) -> bool:
        if self is Outcome.NO_ANSWER:
            return action in ("handoff", "clarify")
        return action == self.value


#: How an action call ended, as its ``action_call`` session event records it.
CallOutcome = Literal["ok", "client_error", "server_error", "timeout", "network", "blocked", "declined"]


class ExpectedAction(Frozen):
    """An expected action call: its name, the arguments that must match (others are ignored) and,
    optionally, how the call ended (``ok``; ``client_error`` for a 404; ``declined`` when the customer
    said no to the confirmation, so nothing was called)."""

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    outcome: CallOutcome | None = None


class Expectation(Frozen):
    """What a turn's decision must show. Every field is optional; unset fields are not checked."""

    outcome: Outcome | None = None
    handoff_reason: HandoffReason | None = None
    relevant: tuple[str, ...] = ()
    reference: str | None = None
    must_include: tuple[str, ...] = ()
    scenario: str | None = None
    action: ExpectedAction | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if self.handoff_reason is not None and self.outcome not in (None, Outcome.HANDOFF):
            raise ValueError(f"handoff_reason is set but outcome is {self.outcome}; use outcome 'handoff'")
        if self.action is not None and self.outcome in (Outcome.CLARIFY, Outcome.NO_ANSWER):
            raise ValueError(f"action is set but outcome is {self.outcome}: an action is called (action_call), "
                             "declined (answer) or fails (handoff)")
        return self

    @property
    def expects_handoff(self) -> bool:
        return self.outcome is Outcome.HANDOFF or self.handoff_reason is not None


class Turn(Frozen):
    """One customer message, with an optional expectation for its decision."""

    text: str = Field(min_length=1)
    expect: Expectation | None = None


class Contact(Frozen):
    """The session's contact: an email, phone or external id, segments and free attributes."""

    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    name: str = ""
    segments: tuple[str, ...] = ()
    attributes: dict[str, Any] = Field(default_factory=dict)

    def ref(self) -> ContactRef:
        return ContactRef(email=self.email, phone=self.phone, external_id=self.external_id, name=self.name,
                          segments=self.segments)


class Case(Frozen):
    """One conversation to play through the agent and what its outcome must be."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    messages: tuple[Turn, ...] = Field(min_length=1)
    channel: Channel = Channel.WEB
    contact: Contact | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation = Expectation()
    tags: tuple[str, ...] = ()
    requires: tuple[Capability, ...] = ()
    language: str | None = None
    notes: str = ""

    @field_validator("messages", mode="before")
    @classmethod
    def _turns(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value

    @property
    def last(self) -> str:
        return self.messages[-1].text

    def fingerprint(self) -> str:
        """A hash of the case's content: a resumed run re-plays a case whose content changed."""
        data = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


class DatasetHeader(Frozen):
    """The optional first line: format, version, name and evaluation-wide agent config."""

    kind: Literal["knowdesk.eval.dataset"] = "knowdesk.eval.dataset"
    version: int = FORMAT_VERSION
    name: str = "dataset"
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"dataset format version {value} is not supported; this knowdesk reads {FORMAT_VERSION}")
        return value


class Dataset(Frozen):
    """A header and its cases (ids unique)."""

    header: DatasetHeader
    cases: tuple[Case, ...]
    path: str | None = None
    sha256: str = ""

    @model_validator(mode="after")
    def _unique(self) -> Dataset:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} appears twice; case ids must be unique")
            seen.add(case.id)
        return self

    @property
    def name(self) -> str:
        return self.header.name


def parse_dataset(text: str, *, path: str | None = None) -> Dataset:
    """A dataset from JSONL text.

    Raises:
        InvalidInput: malformed JSON, an unknown field, an unsupported version or duplicate ids;
        the message names the line.
    """
    header = DatasetHeader()
    cases: list[Case] = []
    where = path or "the dataset"
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(data, dict):
            problems.append(f"line {number}: expected a JSON object")
            continue
        try:
            if data.get("kind") == FORMAT_KIND:
                if cases:
                    problems.append(f"line {number}: the header must be the first line")
                    continue
                header = DatasetHeader.model_validate(data)
            else:
                cases.append(Case.model_validate(data))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'case'}: {e['msg']}" for e in exc.errors())
            problems.append(f"line {number}: {detail}")
    if problems:  # every bad line at once, so one round of fixes is enough
        shown = "; ".join(problems[:50]) + (f"; ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        first = int(problems[0].split(":", 1)[0].removeprefix("line "))
        raise InvalidInput(f"{where}: {len(problems)} bad line(s), nothing was run: {shown}", line=first,
                           problems=problems)
    if not cases:
        raise InvalidInput(f"{where} has no cases; write one JSON case per line")
    try:
        return Dataset(header=header, cases=tuple(cases), path=path,
                       sha256=hashlib.sha256(text.encode()).hexdigest())
    except ValidationError as exc:
        raise InvalidInput(f"{where}: {exc.errors()[0]['msg']}") from exc


def load_dataset(path: str | Path) -> Dataset:
    """Read a JSONL dataset file (see the module docstring for the format)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"dataset {str(p)!r} does not exist; give the path of a .jsonl dataset", path=str(p))
    return parse_dataset(p.read_text(encoding="utf-8"), path=str(p))


def bundled_dataset_path() -> Path:
    """The dataset for the bundled Brewly sample knowledge (``knowdesk quickstart``)."""
    return Path(__file__).with_name("datasets") / "brewly-v1.jsonl"


def relevance_keys(document_id: str, url: str | None) -> set[str]:
    """The names a relevant-document reference may use for a document: id, url, native id, slug.

    ``help-center:skip-a-delivery/en`` with url ``https://help.example/en/articles/skip-a-delivery`` is
    matched by its id, its url, ``skip-a-delivery/en`` and ``skip-a-delivery``.
    """
    keys = {document_id}
    native = document_id.split(":", 1)[1] if ":" in document_id else document_id
    keys.add(native)
    head, sep, tail = native.rpartition("/")
    if sep and 2 <= len(tail) <= 5 and tail.replace("-", "").isalpha():  # a trailing locale
        keys.add(head)
    if url:
        keys.add(url)
        keys.add(url.rstrip("/").rsplit("/", 1)[-1])
    return keys


def is_relevant(document_id: str, url: str | None, relevant: tuple[str, ...]) -> bool:
    return bool(relevance_keys(document_id, url) & set(relevant))
