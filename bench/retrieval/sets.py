"""Dev sets on disk (``bench/retrieval/sets/<name>/``): loading, the split rule, gold matching,
the Debian package each needs, and a loopback HTTP server for its documents.

The format is described in the README ("Retrieval benchmark"); in short ``set.json`` names the
package, the folder it installs (``root``) and the knowdesk source that ingests it, and
``questions.jsonl`` holds one question a line with its gold sections.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

SETS = Path(__file__).with_name("sets")
TYPES = ("original", "paraphrase", "multi")
SPLITS = ("fit", "test")


def split_of(question_id: str) -> str:
    """The split a question belongs to, fixed by its id: 40% "fit", 60% "test"."""
    return "fit" if int(hashlib.sha1(question_id.encode("utf-8")).hexdigest(), 16) % 10 < 4 else "test"


def normalize(text: str) -> str:
    """Casefold, strip a leading section number ("3.1.", "Chapter 2."), punctuation and extra spaces."""
    text = text.casefold().strip()
    text = re.sub(r"^(chapter|appendix)\s+[0-9a-z]+\.\s*", "", text)
    text = re.sub(r"^([0-9]+|[a-z])(\.[0-9]+)*\.?\s+", "", text)
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Gold:
    page: str
    section: str | None


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    question: str
    gold: tuple[Gold, ...]
    split: str


@dataclass(frozen=True)
class Unit:
    """One indexed chunk as every system sees it: its citation and its texts."""

    chunk_id: str
    uri: str
    title: str
    section: tuple[str, ...]
    text: str
    #: title, heading path and body, as knowdesk's chunker composes the text it embeds
    embed_text: str
    _labels: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def page(self) -> str:
        return unquote(urlparse(self.uri).path)

    def labels(self) -> frozenset[str]:
        """Normalized headings the chunk covers: its path, its title and headings inlined in its text
        (a chunk that merges small sections keeps their headings as lines of its body)."""
        if not self._labels:
            lines = [line for line in self.text.splitlines() if 0 < len(line) <= 300]
            found = {normalize(s) for s in (*self.section, self.title, *lines)} - {""}
            object.__setattr__(self, "_labels", frozenset(found))
        return self._labels

    def matches(self, gold: Gold) -> bool:
        page = self.page
        if not (page == gold.page or page.endswith("/" + gold.page.lstrip("/"))):
            return False
        return gold.section is None or normalize(gold.section) in self.labels()


@dataclass(frozen=True)
class DevSet:
    name: str
    folder: Path
    package: str | None
    root: Path
    source: dict[str, Any]
    questions: tuple[Question, ...]
    #: The question types the set is built to hold (set.json's ``types``; default all three). A
    #: language set (German knowledge asked in German) holds no multi-need questions.
    types: tuple[str, ...] = TYPES

    def content_hash(self) -> str:
        """sha1 of what gets ingested: the package, root and source of set.json and every file
        under ``root`` (paths and bytes); the notes and the questions are not part of it."""
        spec = {"package": self.package, "root": str(self.root), "source": self.source}
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode("utf-8"))
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(self.root)).encode("utf-8"))
            digest.update(path.read_bytes())
        return digest.hexdigest()


def load(folder: Path) -> DevSet:
    spec = json.loads((folder / "set.json").read_text(encoding="utf-8"))
    types = tuple(spec.get("types", TYPES))
    if not types or any(t not in TYPES for t in types):
        raise SystemExit(f"{folder / 'set.json'}: 'types' lists question types among {', '.join(TYPES)}")
    questions = []
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        q = json.loads(line)
        if q["type"] not in types or q.get("split") not in SPLITS:
            raise SystemExit(f"{folder / 'questions.jsonl'}:{n}: bad type or split in {q['id']} (types of this "
                             f"set: {', '.join(types)}; splits: {', '.join(SPLITS)})")
        gold = tuple(Gold(page=g["page"], section=g.get("section")) for g in q["gold"])
        questions.append(Question(id=q["id"], type=q["type"], question=q["question"], gold=gold, split=q["split"]))
    return DevSet(name=spec["name"], folder=folder, package=spec.get("package"), root=Path(spec["root"]),
                  source=spec["source"], questions=tuple(questions), types=types)


def discover(names: Sequence[str] | None = None) -> list[DevSet]:
    """The sets with both files present, or exactly ``names`` (a missing one is an error)."""
    present = sorted(p for p in SETS.iterdir() if (p / "set.json").is_file() and (p / "questions.jsonl").is_file())
    if not names:
        return [load(p) for p in present]
    by_name = {p.name: p for p in present}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"unknown set(s) {', '.join(missing)}; present: {', '.join(by_name) or 'none'}")
    return [load(by_name[n]) for n in names]


def ensure_package(dev: DevSet) -> None:
    """Install the set's Debian package when its root is missing (as root, with apt-get)."""
    if dev.root.is_dir() or not dev.package:
        if not dev.root.is_dir():
            raise SystemExit(f"{dev.name}: {dev.root} is missing and set.json names no package")
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(f"{dev.name}: {dev.root} is missing; install it with `apt-get install {dev.package}`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", dev.package]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(install, check=True, env=env)
    if not dev.root.is_dir():
        raise SystemExit(f"{dev.name}: {dev.package} is installed but {dev.root} does not exist")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def served(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (an ephemeral port); yields the base url."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
