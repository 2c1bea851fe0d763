"""The help center as files: a folder of Markdown files with YAML front matter, or the JSON
help-center export the foundation's sample uses.

Folder layout::

    helpcenter.yaml              default_locale and the topics (id, name, names, parent, position)
    articles/<slug>.<locale>.md  one file per translation

Each article file starts with YAML front matter between ``---`` lines. The default locale's
file carries the article's fields (``topic``, ``position``); every file carries ``title`` and
``status`` (draft or published)::

    ---
    title: Reset your password
    topic: account
    position: 1
    status: published
    updated_at: 2026-09-10T09:00:00Z
    ---
    Forgot your password? ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidInput
from helpcenter.models import (
    Article,
    ArticleInput,
    Bundle,
    Status,
    Topic,
    TopicInput,
    TranslationInput,
)

INDEX_FILE = "helpcenter.yaml"
ARTICLES = "articles"
_FILE = re.compile(r"^(?P<slug>[^.]+)\.(?P<locale>[A-Za-z0-9-]+)\.md$")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(?P<yaml>.*?)^---[ \t]*\r?\n?(?P<body>.*)\Z", re.S | re.M)


class _Front(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    status: Status = Status.DRAFT
    topic: str | None = None
    position: int = 0
    updated_at: Any = None


class _Index(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_locale: str = "en"
    topics: list[TopicInput] = Field(default_factory=list)


def split_front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """Front matter (a YAML mapping) and the Markdown body of one file.

    Raises:
        InvalidInput: no front matter, invalid YAML, or not a mapping.
    """
    match = _FRONT.match(text)
    if not match:
        raise InvalidInput(f"{name}: no front matter; start the file with '---', YAML fields, '---'")
    try:
        data = yaml.safe_load(match["yaml"]) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{name}: invalid YAML front matter: {exc}".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{name}: the front matter must be YAML fields (key: value), not {type(data).__name__}")
    return data, match["body"].lstrip("\n")


def read_folder(folder: Path) -> Bundle:
    """Read a help-center folder. Every problem of every file is reported at once.

    Raises:
        InvalidInput: the folder, ``helpcenter.yaml`` or an article file is malformed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder; give the folder `knowdesk help-center export` wrote")
    problems: list[str] = []
    index = _Index()
    index_path = folder / INDEX_FILE
    if not index_path.is_file():
        raise InvalidInput(f"{folder} has no {INDEX_FILE}, so it is not a help-center folder: give the folder "
                           f"`knowdesk help-center export` wrote ({INDEX_FILE} + {ARTICLES}/<slug>.<locale>.md), "
                           "or a JSON export file")
    try:
        raw = yaml.safe_load(index_path.read_text(encoding="utf-8")) or {}
        index = _Index.model_validate(raw)
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
        problems.append(f"{INDEX_FILE}: {_brief(exc)}")
    files: dict[str, list[tuple[str, _Front, str]]] = {}
    for path in sorted((folder / ARTICLES).glob("*.md")):
        m = _FILE.match(path.name)
        if not m:
            problems.append(f"{ARTICLES}/{path.name}: name it <slug>.<locale>.md")
            continue
        try:
            data, body = split_front_matter(path.read_text(encoding="utf-8"), f"{ARTICLES}/{path.name}")
            front = _Front.model_validate(data)
        except InvalidInput as exc:
            problems.append(exc.message)
            continue
        except (ValidationError, UnicodeDecodeError) as exc:
            problems.append(f"{ARTICLES}/{path.name}: {_brief(exc)}")
            continue
        files.setdefault(m["slug"], []).append((m["locale"], front, body))
    articles = []
    for slug, versions in files.items():
        main = [v for v in versions if v[1].topic is not None]
        if len(main) != 1:
            problems.append(f"article {slug!r}: exactly one file (the default locale's) must give `topic`, "
                            f"found {len(main)}")
            continue
        locale, front, _ = main[0]
        translations = tuple(TranslationInput(locale=loc, title=f.title, body=body, status=f.status,
                                              updated_at=f.updated_at) for loc, f, body in versions)
        articles.append(ArticleInput(slug=slug, topic=str(front.topic), default_locale=locale,
                                     position=front.position, translations=translations))
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) in {folder}, nothing imported: " + "; ".join(problems[:20]),
                           problems=problems)
    return Bundle(default_locale=index.default_locale, topics=tuple(index.topics), articles=tuple(articles))


def write_folder(folder: Path, topics: list[Topic], articles: list[Article], default_locale: str) -> int:
    """Write the help center as a folder (``read_folder`` reads it back); returns files written."""
    folder = Path(folder)
    (folder / ARTICLES).mkdir(parents=True, exist_ok=True)
    index = {"default_locale": default_locale,
             "topics": [t.model_dump(exclude_defaults=True) | {"id": t.id, "name": t.name} for t in topics]}
    (folder / INDEX_FILE).write_text(yaml.safe_dump(index, sort_keys=False, allow_unicode=True), encoding="utf-8")
    count = 1
    for a in articles:
        for t in a.translations:
            front: dict[str, Any] = {"title": t.title}
            if t.locale == a.default_locale:
                front |= {"topic": a.topic, "position": a.position}
            front |= {"status": t.status.value, "updated_at": t.updated_at.isoformat()}
            text = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + t.body
            (folder / ARTICLES / f"{a.slug}.{t.locale}.md").write_text(text if text.endswith("\n") else text + "\n",
                                                                        encoding="utf-8")
            count += 1
    return count


def from_export(data: Mapping[str, Any]) -> Bundle:
    """A bundle from the JSON help-center export (``service/samples/helpcenter.json``'s shape).

    Raises:
        InvalidInput: the export's shape is wrong.
    """
    try:
        default = str(data.get("default_locale", "en"))
        topics = tuple(TopicInput(id=t["id"], name=t["name"], parent=t.get("parent"), position=t.get("position", 0),
                                  names=t.get("names", {})) for t in data.get("topics", []))
        articles = []
        order: dict[str, int] = {}
        for a in data["articles"]:
            order[a["topic"]] = order.get(a["topic"], 0) + 1
            locale = a.get("locale", default)
            status = Status(a.get("status") or "published")
            own = TranslationInput(locale=locale, title=a["title"], body=a["body"], status=status,
                                   updated_at=a.get("updated_at"))
            others = tuple(TranslationInput(locale=t["locale"], title=t["title"], body=t["body"],
                                            status=Status(t.get("status") or status.value),
                                            updated_at=t.get("updated_at") or a.get("updated_at"))
                           for t in a.get("translations", []))
            articles.append(ArticleInput(slug=a["id"], topic=a["topic"], default_locale=locale,
                                         position=a.get("position") or order[a["topic"]],
                                         translations=(own, *others)))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the help-center export is malformed: {_brief(exc)}") from exc
    return Bundle(default_locale=default, topics=topics, articles=tuple(articles))


def _brief(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc).replace("\n", " ")[:300]
