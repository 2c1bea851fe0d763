"""knowdesk under test: ingest a set through its real source, read the indexed chunks back, and
retrieve with one named configuration.

This is the only module that imports knowdesk's composition root (``runtime_class``): the code
is being re-laid from ``flows/runtime.py`` into ``app/``, and only this import follows it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.retrieval.configs import Config
from bench.retrieval.sets import DevSet, Unit, served

log = logging.getLogger(__name__)

WORKSPACE = "default"
MODEL_ENV = "KNOWDESK_EMBEDDING__MODEL"
ENCODERS_ENV = "KNOWDESK_EMBEDDING__ENCODERS_DIR"
SOURCE = "devset"
#: Chunks asked of every system per question (hit@1/5, MRR@10, recall@10 are read from them).
TOP_K = 10


def runtime_class() -> Any:
    """knowdesk's composition root (``Runtime``): ``app`` after the re-layout, ``flows`` before."""
    try:
        from app.runtime import Runtime  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:
        from flows.runtime import Runtime
    return Runtime


@contextmanager
def patched_env(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def open_runtime(home: Path, env: Mapping[str, str]) -> Any:
    """A runtime on ``home`` with the configuration's KNOWDESK_* overrides applied to its settings."""
    from core.settings import Settings

    # int8 encoders built once for every bench home (they are keyed by the source weights' hash)
    shared = {ENCODERS_ENV: str(Path.home() / ".cache" / "knowdesk" / "encoders")} if _has_encoders_dir() else {}
    with patched_env(shared | dict(env)):
        settings = Settings(home=home)
    return runtime_class()(settings)


def _has_encoders_dir() -> bool:
    from core.settings import EmbeddingSettings

    return "encoders_dir" in EmbeddingSettings.model_fields


def cache_key(dev: DevSet, config: Config) -> str:
    """The set's content, knowdesk's chunking and embedding settings and the ingest-side overrides."""
    from core.settings import Settings
    from ingest.chunking import CHUNKER_NAME

    with patched_env(config.ingest_env):
        settings = Settings(home=Path("unused"))
    parts = {"content": dev.content_hash(), "chunker": CHUNKER_NAME, "chunking": settings.chunking.model_dump(),
             "model": settings.embedding.model, "engine": settings.qdrant.engine,
             "env": dict(sorted(config.ingest_env.items())),
             # an index from before the late stage's token vectors were stored at ingest ranks the same but
             # computes them per question (seconds): ingest anew so `late`'s latency is today's
             "late_tokens": "stored at ingest"}
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def ingest(dev: DevSet, config: Config, cache: Path, *, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """The knowdesk home holding ``dev`` indexed (from the cache unless ``fresh``), and the sync report."""
    key = cache_key(dev, config)
    home = cache / f"{dev.name}-{key}"
    report_file = home / "bench-sync.json"
    if fresh and home.exists():
        shutil.rmtree(home)
    if report_file.is_file():
        return home, json.loads(report_file.read_text(encoding="utf-8"))
    cache.mkdir(parents=True, exist_ok=True)
    base = _model_change(config)
    work = Path(tempfile.mkdtemp(prefix=f"{dev.name}-", dir=cache))
    try:
        if base is None:
            report = _sync(dev, work / "home", config.ingest_env)
        else:  # another encoder only: knowdesk's own migration of the base index, no re-parse
            base_home, base_report = ingest(dev, base, cache, fresh=fresh)
            report = _migrate(base_home, work / "home", config.ingest_env) | {"parsed": base_report}
        (work / "home" / "bench-sync.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        if home.exists():
            shutil.rmtree(home)
        (work / "home").rename(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return home, report


def _sync(dev: DevSet, home: Path, env: Mapping[str, str]) -> dict[str, Any]:
    from core.models import Source, SourceKind

    kind = dev.source["kind"]
    options = dict(dev.source.get("options") or {})
    website = kind == "website"
    with served(dev.root) if website else nullcontext("") as base:
        if website:
            options |= {"start_url": f"{base}/{dev.source['start']}", "allow_private_network": True}
        elif kind == "folder":
            options |= {"path": str(dev.root)}
        else:
            raise SystemExit(f"{dev.name}: source kind {kind!r} is not website or folder")
        rt = open_runtime(home, env)
        try:
            source = rt.sources.add(Source(workspace=WORKSPACE, name=SOURCE, kind=SourceKind(kind), options=options))
            started = time.perf_counter()
            report = rt.sync(source)
            seconds = time.perf_counter() - started
        finally:
            close(rt)
    if report.status not in ("succeeded", "partial") or report.chunks_embedded == 0:
        raise SystemExit(f"{dev.name}: the sync ended {report.status} with nothing indexed: {report}")
    return {"status": report.status, "documents": report.written, "failed": report.failed,
            "chunks": report.chunks_embedded, "seconds": round(seconds, 1)}


def _model_change(config: Config) -> Config | None:
    """The configuration this one differs from only by its embedding model (its index is then
    derived from that one's by ``reindex --model``), or None."""
    if MODEL_ENV not in config.ingest_env:
        return None
    rest = {k: v for k, v in config.ingest_env.items() if k != MODEL_ENV}
    return Config(name=f"{config.name} (base)", ingest_env=rest)


def _migrate(base: Path, home: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Copy the base home and move its index to the model in ``env`` (``knowdesk reindex all --model``)."""
    from app.reindex import run_reindex

    shutil.copytree(base, home, ignore=shutil.ignore_patterns(".lock", "bench-sync.json"))
    rt = open_runtime(home, env)
    try:
        started = time.perf_counter()
        report = run_reindex(rt, model=env[MODEL_ENV])
        seconds = time.perf_counter() - started
    finally:
        close(rt)
    if report.status != "succeeded":
        raise SystemExit(f"re-index to {env[MODEL_ENV]} ended {report.status}: {report}")
    return {"status": report.status, "documents": report.documents, "chunks": report.chunks,
            "seconds": round(seconds, 1), "via": f"reindex --model {env[MODEL_ENV]}"}


@contextmanager
def working_copy(home: Path) -> Iterator[Path]:
    """A private copy of a cached home: runs in parallel never share (or lock, or change) the cache."""
    with tempfile.TemporaryDirectory(prefix="knowdesk-bench-") as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns(".lock"))
        yield copy


def close(rt: Any) -> None:
    """Release the index (the Edge folder lock or the local-mode client) and the database."""
    if "qdrant" in rt.__dict__:
        rt.qdrant.close()
    if "db" in rt.__dict__ and hasattr(rt.db, "dispose"):
        rt.db.dispose()


def indexed_units(rt: Any) -> list[Unit]:
    """Every chunk knowdesk indexed for the set, read back from the index once (all systems' units)."""
    from retrieval.points import workspace_filter

    fields = ["chunk_id", "uri", "title", "section", "text", "chunk_index"]
    flt = workspace_filter(WORKSPACE, {})
    rt.index.ensure_collection()
    if rt.settings.qdrant.engine == "edge":
        records = list(rt.index._scroll(flt, fields, False))
    else:
        records, offset = [], None
        while True:
            page, offset = rt.qdrant.scroll(rt.index.target, scroll_filter=flt, limit=256, offset=offset,
                                            with_payload=fields, with_vectors=False)
            records.extend(page)
            if offset is None:
                break
    units = []
    for r in records:
        p = r.payload or {}
        section = tuple(p.get("section") or ())
        title, text = str(p.get("title") or ""), str(p.get("text") or "")
        units.append(Unit(chunk_id=str(p["chunk_id"]), uri=str(p.get("uri") or ""), title=title, section=section,
                          text=text, embed_text=embed_text(title, section, text)))
    return sorted(units, key=lambda u: u.chunk_id)


def embed_text(title: str, section: tuple[str, ...], body: str) -> str:
    """The text knowdesk's chunker embeds for a chunk (title line, heading path line, body), rebuilt
    from the payload (the chunker may have shortened the prefix of a chunk with a very deep path)."""
    head = "\n".join(line for line in (title, " > ".join(section)) if line)
    return f"{head}\n\n{body}" if head else body


def unknown_settings(env: Mapping[str, str]) -> list[str]:
    """The KNOWDESK_* names in ``env`` that name no setting of this knowdesk (pydantic-settings
    would ignore them silently, and the row would measure the defaults under another name)."""
    from pydantic import BaseModel

    from core.settings import Settings

    unknown = []
    for name in env:
        model: Any = Settings
        for part in name.removeprefix("KNOWDESK_").lower().split("__"):
            field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
            if field is None or not name.startswith("KNOWDESK_"):
                unknown.append(name)
                break
            model = field.annotation
    return unknown


def open_configured(home: Path, config: Config) -> Any:
    """A runtime for one configuration; ``lists`` becomes ``KNOWDESK_SEARCH__LISTS`` when the
    settings have that switch."""
    env = dict(config.all_env)
    if config.lists != "both" and _has_lists_setting():
        env["KNOWDESK_SEARCH__LISTS"] = config.lists
    return open_runtime(home, env)


def _has_lists_setting() -> bool:
    from core.settings import Settings

    search = Settings.model_fields.get("search")
    return search is not None and "lists" in getattr(search.annotation, "model_fields", {})


def retriever(rt: Any, config: Config) -> Callable[[str], list[tuple[str, float]]]:
    """``question -> [(chunk_id, score)]`` through knowdesk's customer-facing ``retrieve``.

    ``config.lists`` = "dense" or "sparse" keeps one candidate list: through the ``search.lists``
    setting when knowdesk has it, else by wrapping the searcher's planning step (older code).
    """
    if config.lists != "both" and not _has_lists_setting():
        _keep_one_list(rt.searcher, config.lists)

    def run(question: str) -> list[tuple[str, float]]:
        hits = rt.retrieve(question, workspace=WORKSPACE, top_k=TOP_K, **config.retrieve)
        return [(h.chunk_id, h.score) for h in hits]

    return run


def _keep_one_list(searcher: Any, using: str) -> None:
    from retrieval.points import DENSE, SPARSE

    plan = getattr(searcher, "_plan", None)
    if plan is None:
        raise SystemExit("this knowdesk searcher has no planning step to restrict to one list; "
                         "drop the dense-only/sparse-only configurations or give them a KNOWDESK_SEARCH__ setting")

    def one_list(*args: Any, **kwargs: Any) -> Any:
        planned = plan(*args, **kwargs)
        planned.prefetch[:] = [p for p in planned.prefetch if p.using == (DENSE if using == "dense" else SPARSE)]
        return planned

    searcher._plan = one_list
