"""The help-center store: topics, articles and translations in the state database.

Every method checks its input first (``HelpCenterRules``) and changes nothing when a check
fails. The store knows nothing of the index; ``HelpCenterPublisher`` indexes what it publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database, insert_ignore
from core.errors import Conflict, InvalidInput, NotFound
from core.tables import WorkspaceRow, utcnow
from helpcenter.models import (
    Article,
    ArticleInput,
    Bundle,
    HelpCenterRules,
    Status,
    Topic,
    TopicInput,
    Translation,
    TranslationInput,
    Version,
)
from helpcenter.tables import ArticleRow, TopicRow, TranslationRow, VersionRow


class HelpCenterStore:
    """Topics, articles and translations of every workspace.

    Args:
        db: the state database (migrated).
        rules: locales and limits inputs are checked against.

    Example::

        store = HelpCenterStore(db=db, rules=HelpCenterRules())
        store.create_topic("default", TopicInput(id="billing", name="Billing"))
        store.create_article("default", ArticleInput(slug="refunds", topic="billing", default_locale="en",
                             translations=(TranslationInput(locale="en", title="Refunds", body="..."),)))
    """

    def __init__(self, *, db: Database, rules: HelpCenterRules) -> None:
        self._db = db
        self.rules = rules

    # -- topics ------------------------------------------------------------------------------------
    def topics(self, workspace: str) -> list[Topic]:
        """Every topic, top-level ones and their children ordered by position."""
        with self._db.session() as s:
            rows = s.scalars(select(TopicRow).where(TopicRow.workspace == workspace)
                             .order_by(TopicRow.position, TopicRow.id))
            return [_topic(r) for r in rows]

    def topic(self, workspace: str, topic_id: str) -> Topic:
        with self._db.session() as s:
            return _topic(self._topic_row(s, workspace, topic_id))

    def create_topic(self, workspace: str, data: TopicInput) -> Topic:
        data = self.rules.topic(data)
        with self._db.session() as s:
            if s.get(TopicRow, (workspace, data.id)) is not None:
                raise Conflict(f"topic {data.id!r} already exists; update it instead", topic=data.id)
            self._check_parent(s, workspace, data)
            _ensure_workspace(s, workspace)
            s.add(TopicRow(workspace=workspace, id=data.id, name=data.name, names=dict(data.names),
                           parent=data.parent, position=data.position, updated_at=utcnow()))
        return self.topic(workspace, data.id)

    def proposed_topic(self, workspace: str, data: TopicInput) -> Topic:
        """The topic as ``update_topic`` would store it, checked the same way, nothing written (a
        rename knowledge CI reviews before it goes live)."""
        data = self.rules.topic(data)
        with self._db.session() as s:
            self._topic_row(s, workspace, data.id)
            self._check_parent(s, workspace, data)
        return Topic(id=data.id, name=data.name, names=dict(data.names), parent=data.parent, position=data.position)

    def update_topic(self, workspace: str, data: TopicInput) -> Topic:
        data = self.rules.topic(data)
        with self._db.session() as s:
            row = self._topic_row(s, workspace, data.id)
            self._check_parent(s, workspace, data)
            row.name, row.names, row.parent, row.position = data.name, dict(data.names), data.parent, data.position
            row.updated_at = utcnow()
        return self.topic(workspace, data.id)

    def delete_topic(self, workspace: str, topic_id: str) -> None:
        with self._db.session() as s:
            self._topic_row(s, workspace, topic_id)
            if s.scalar(select(ArticleRow.slug).where(ArticleRow.workspace == workspace, ArticleRow.topic == topic_id)):
                raise Conflict(f"topic {topic_id!r} still has articles; move or delete them first", topic=topic_id)
            if s.scalar(select(TopicRow.id).where(TopicRow.workspace == workspace, TopicRow.parent == topic_id)):
                raise Conflict(f"topic {topic_id!r} still has sub-topics; move or delete them first", topic=topic_id)
            s.execute(delete(TopicRow).where(TopicRow.workspace == workspace, TopicRow.id == topic_id))

    def topic_path(self, workspace: str, topic_id: str) -> tuple[str, ...]:
        """The breadcrumb of a topic: its parent's name (if any), then its own."""
        topics = {t.id: t for t in self.topics(workspace)}
        topic = topics.get(topic_id)
        if topic is None:
            return ()
        parent = topics.get(topic.parent) if topic.parent else None
        return (parent.name, topic.name) if parent else (topic.name,)

    def _topic_row(self, s: Session, workspace: str, topic_id: str) -> TopicRow:
        row = s.get(TopicRow, (workspace, topic_id))
        if row is None:
            raise NotFound(f"no topic {topic_id!r} in workspace {workspace!r}; list them with "
                           "GET /v1/help-center/topics", topic=topic_id)
        return row

    def _check_parent(self, s: Session, workspace: str, data: TopicInput) -> None:
        if data.parent is None:
            return
        parent = s.get(TopicRow, (workspace, data.parent))
        if parent is None:
            raise InvalidInput(f"unknown parent topic {data.parent!r}; create it first", field="parent")
        if parent.parent is not None:
            raise InvalidInput(f"topic {data.parent!r} is itself a sub-topic; topics nest one level only",
                               field="parent")
        if s.scalar(select(TopicRow.id).where(TopicRow.workspace == workspace, TopicRow.parent == data.id)):
            raise InvalidInput(f"topic {data.id!r} has sub-topics, so it cannot get a parent (one level only)",
                               field="parent")

    # -- articles ------------------------------------------------------------------------------------
    def articles(self, workspace: str, *, topic: str | None = None) -> list[Article]:
        """Articles (with every translation) ordered by topic and position."""
        with self._db.session() as s:
            q = select(ArticleRow).where(ArticleRow.workspace == workspace)
            if topic is not None:
                q = q.where(ArticleRow.topic == topic)
            rows = list(s.scalars(q.order_by(ArticleRow.topic, ArticleRow.position, ArticleRow.slug)))
            slugs = [r.slug for r in rows]
            translations, versions = _translations(s, workspace, slugs), _text_versions(s, workspace, slugs)
            return [_article(r, translations.get(r.slug, []), versions) for r in rows]

    def get(self, workspace: str, slug: str) -> Article:
        with self._db.session() as s:
            row = self._article_row(s, workspace, slug)
            translations = _translations(s, workspace, [slug]).get(slug, [])
            return _article(row, translations, _text_versions(s, workspace, [slug]))

    def create_article(self, workspace: str, data: ArticleInput) -> Article:
        """A new article (Conflict when the slug is taken)."""
        data = self._check_article(data)
        with self._db.session() as s:
            if s.get(ArticleRow, (workspace, data.slug)) is not None:
                raise Conflict(f"an article with slug {data.slug!r} already exists; choose another slug",
                               slug=data.slug)
            self._topic_row_for_article(s, workspace, data.topic)
            self._write_article(s, workspace, data)
        return self.get(workspace, data.slug)

    def update_article(self, workspace: str, slug: str, *, topic: str | None = None, position: int | None = None,
                       default_locale: str | None = None) -> Article:
        with self._db.session() as s:
            row = self._article_row(s, workspace, slug)
            if topic is not None:
                self._topic_row_for_article(s, workspace, topic)
                row.topic = topic
            if position is not None:
                row.position = position
            if default_locale is not None:
                if s.get(TranslationRow, (workspace, slug, self.rules.locale(default_locale))) is None:
                    raise InvalidInput(f"article {slug!r} has no {default_locale!r} text to make the default",
                                       field="default_locale")
                row.default_locale = default_locale
            row.updated_at = utcnow()
        return self.get(workspace, slug)

    def put_translation(self, workspace: str, slug: str, data: TranslationInput, *, note: str = "edited",
                        topic: str | None = None, position: int | None = None, default_locale: str | None = None,
                        base_version: int | None = None) -> tuple[Article, bool]:
        """Create or edit one locale's text (its status unchanged; new ones are drafts); a changed
        text becomes the locale's next version, described by ``note``. ``topic`` also moves the
        article there, ``position`` re-orders it within its topic and ``default_locale`` makes
        another of its locales the default, in the same transaction: all or none.

        ``base_version`` is the version the edit started from (``Translation.version``; 0 for a
        locale with no text yet): when the text was saved again since, nothing is written and
        ``Conflict`` says so (None: the text is written whatever was saved meanwhile).

        Returns the article and whether anything changed.

        Raises:
            InvalidInput: the text is refused, ``topic`` does not exist (``field="topic"``), the
                position is out of range or ``default_locale`` has no text (``field=...``).
            Conflict: the text is newer than ``base_version`` (``current_version`` names it).
            NotFound: no such article.
        """
        data = self.rules.translation(data)
        if position is not None and not -(2**31) <= position < 2**31:
            raise InvalidInput(f"position {position} is out of range; use a small whole number (0 comes first)",
                               field="position")
        try:
            with self._db.session() as s:
                article = self._article_row(s, workspace, slug)
                if base_version is not None:
                    _check_base(s, workspace, slug, data.locale, base_version)
                moved = topic is not None and topic != article.topic
                if moved:
                    self._topic_row_for_article(s, workspace, str(topic))
                    article.topic = str(topic)
                changed = _upsert_translation(s, workspace, article, data, keep_status=True, note=note) or moved
                if position is not None and position != article.position:
                    article.position, changed = position, True
                if default_locale is not None and default_locale != article.default_locale:
                    try:
                        self.rules.locale(default_locale)
                    except InvalidInput as exc:
                        raise InvalidInput(exc.message, field="default_locale") from None
                    if s.get(TranslationRow, (workspace, slug, default_locale)) is None:
                        raise InvalidInput(f"article {slug!r} has no {default_locale!r} text to make the default "
                                           "language; write that translation first", field="default_locale")
                    article.default_locale, changed = default_locale, True
                if changed:
                    article.updated_at = utcnow()
        except IntegrityError:  # another process saved the same next version first
            raise _stale(slug, data.locale, self.get(workspace, slug)) from None
        return self.get(workspace, slug), changed

    def set_status(self, workspace: str, slug: str, status: Status, locales: Sequence[str] | None = None) -> Article:
        """Publish or unpublish some locales of an article (every locale when None)."""
        with self._db.session() as s:
            self._article_row(s, workspace, slug)
            rows = {r.locale: r for r in s.scalars(select(TranslationRow).where(
                TranslationRow.workspace == workspace, TranslationRow.slug == slug))}
            wanted = list(rows) if locales is None else list(locales)
            for locale in wanted:
                self.rules.locale(locale)
                if locale not in rows:
                    raise NotFound(f"article {slug!r} has no {locale!r} translation; write it first",
                                   slug=slug, locale=locale)
            now = utcnow()
            for locale in wanted:
                row = rows[locale]
                if row.status != status.value:
                    row.status = status.value
                    row.published_at = now if status is Status.PUBLISHED else None
        return self.get(workspace, slug)

    def delete_article(self, workspace: str, slug: str) -> Article:
        article = self.get(workspace, slug)
        with self._db.session() as s:
            s.execute(delete(VersionRow).where(VersionRow.workspace == workspace, VersionRow.slug == slug))
            s.execute(delete(TranslationRow).where(TranslationRow.workspace == workspace, TranslationRow.slug == slug))
            s.execute(delete(ArticleRow).where(ArticleRow.workspace == workspace, ArticleRow.slug == slug))
        return article

    def without_translation(self, workspace: str, slug: str, locale: str) -> tuple[Article, Article]:
        """The article, and the article as deleting its ``locale`` translation would leave it (nothing
        is changed).

        Raises:
            NotFound: no such article or translation. InvalidInput: ``locale`` is the default locale.
        """
        article = self.get(workspace, slug)
        if locale == article.default_locale:
            raise InvalidInput(f"{locale!r} is the article's default locale; delete the article instead",
                               field="locale")
        if article.translation(locale) is None:
            raise NotFound(f"article {slug!r} has no {locale!r} translation", slug=slug, locale=locale)
        rest = tuple(t for t in article.translations if t.locale != locale)
        return article, article.model_copy(update={"translations": rest})

    def delete_translation(self, workspace: str, slug: str, locale: str) -> Article:
        self.without_translation(workspace, slug, locale)
        with self._db.session() as s:
            s.execute(delete(VersionRow).where(VersionRow.workspace == workspace, VersionRow.slug == slug,
                                               VersionRow.locale == locale))
            s.execute(delete(TranslationRow).where(TranslationRow.workspace == workspace, TranslationRow.slug == slug,
                                                   TranslationRow.locale == locale))
        return self.get(workspace, slug)

    def restore(self, workspace: str, article: Article) -> None:
        """Put back an article exactly as it was (undoes a change that could not be indexed), its
        versions too: each locale keeps those up to the last one holding the restored text."""
        with self._db.session() as s:
            _trim_versions(s, workspace, article)
            s.execute(delete(TranslationRow).where(TranslationRow.workspace == workspace,
                                                   TranslationRow.slug == article.slug))
            s.execute(delete(ArticleRow).where(ArticleRow.workspace == workspace, ArticleRow.slug == article.slug))
            s.add(ArticleRow(workspace=workspace, slug=article.slug, topic=article.topic,
                             default_locale=article.default_locale, position=article.position,
                             created_at=article.created_at, updated_at=article.updated_at))
            for t in article.translations:
                s.add(TranslationRow(workspace=workspace, slug=t.slug, locale=t.locale, title=t.title, body=t.body,
                                     status=t.status.value, updated_at=t.updated_at,
                                     source_updated_at=t.source_updated_at, published_at=t.published_at))

    def restore_topics(self, workspace: str, topics: Sequence[Topic]) -> None:
        """Put back a set of topics as they were; topics created since (and not used) are removed."""
        keep = {t.id for t in topics}
        with self._db.session() as s:
            used = set(s.scalars(select(ArticleRow.topic).where(ArticleRow.workspace == workspace)))
            for existing in list(s.scalars(select(TopicRow).where(TopicRow.workspace == workspace))):
                if existing.id not in keep and existing.id not in used:
                    s.delete(existing)
            for t in topics:
                row = s.get(TopicRow, (workspace, t.id))
                if row is not None:
                    row.name, row.names, row.parent, row.position = t.name, dict(t.names), t.parent, t.position

    # -- import ----------------------------------------------------------------------------------
    def import_bundle(self, workspace: str, bundle: Bundle) -> list[str]:
        """Create or update every topic and article of ``bundle`` in one transaction.

        Everything is checked first; on any problem nothing changes and ``InvalidInput`` lists
        every problem. Articles not in the bundle are kept. Returns the slugs that changed.
        """
        topics, articles = self._check_bundle(workspace, bundle)
        changed: list[str] = []
        with self._db.session() as s:
            _ensure_workspace(s, workspace)
            for topic in sorted(topics, key=lambda t: t.parent is not None):
                self._upsert_topic(s, workspace, topic)
            s.flush()
            for a in articles:
                row = s.get(ArticleRow, (workspace, a.slug))
                if row is None:
                    self._write_article(s, workspace, a)
                    changed.append(a.slug)
                    continue
                dirty = (row.topic, row.position, row.default_locale) != (a.topic, a.position, a.default_locale)
                row.topic, row.position, row.default_locale = a.topic, a.position, a.default_locale
                for t in _default_first(a):
                    dirty |= _upsert_translation(s, workspace, row, t, keep_status=False, note="imported")
                if dirty:
                    row.updated_at = utcnow()
                    changed.append(a.slug)
        return changed

    @staticmethod
    def _upsert_topic(s: Session, workspace: str, t: TopicInput) -> None:
        row = s.get(TopicRow, (workspace, t.id))
        if row is None:
            s.add(TopicRow(workspace=workspace, id=t.id, name=t.name, names=dict(t.names), parent=t.parent,
                           position=t.position, updated_at=utcnow()))
        elif (row.name, row.names, row.parent, row.position) != (t.name, dict(t.names), t.parent, t.position):
            row.name, row.names, row.parent, row.position = t.name, dict(t.names), t.parent, t.position
            row.updated_at = utcnow()

    # -- versions ----------------------------------------------------------------------------------
    def versions(self, workspace: str, slug: str, locale: str) -> list[Version]:
        """Every saved text of one translation, newest first (NotFound without that translation)."""
        self._translation(workspace, slug, locale)
        with self._db.session() as s:
            rows = s.scalars(select(VersionRow).where(VersionRow.workspace == workspace, VersionRow.slug == slug,
                                                      VersionRow.locale == locale)
                             .order_by(VersionRow.version.desc()))
            return [_version(r) for r in rows]

    def version(self, workspace: str, slug: str, locale: str, number: int) -> Version:
        self._translation(workspace, slug, locale)
        with self._db.session() as s:
            row = s.get(VersionRow, (workspace, slug, locale, number))
            if row is None:
                raise NotFound(f"article {slug!r} has no version {number} in {locale!r}; its versions are listed "
                               "on its history", slug=slug, locale=locale, version=number)
            return _version(row)

    def _translation(self, workspace: str, slug: str, locale: str) -> None:
        self.rules.locale(locale)
        if self.get(workspace, slug).translation(locale) is None:
            raise NotFound(f"article {slug!r} has no {locale!r} translation", slug=slug, locale=locale)

    def _check_bundle(self, workspace: str, bundle: Bundle) -> tuple[list[TopicInput], list[ArticleInput]]:
        problems: list[str] = []
        topics: list[TopicInput] = []
        known = {t.id: t.parent for t in self.topics(workspace)}
        for t in bundle.topics:
            try:
                topics.append(self.rules.topic(t))
            except InvalidInput as exc:
                problems.append(f"topic {t.id!r}: {exc.message}")
        known |= {t.id: t.parent for t in topics}
        for t in topics:
            if t.parent is not None and (t.parent not in known or known[t.parent] is not None):
                problems.append(f"topic {t.id!r}: parent {t.parent!r} is unknown or itself a sub-topic")
        articles: list[ArticleInput] = []
        seen: set[str] = set()
        for a in bundle.articles:
            if a.slug in seen:
                problems.append(f"article {a.slug!r}: duplicate slug")
                continue
            seen.add(a.slug)
            try:
                checked = self._check_article(a)
            except InvalidInput as exc:
                problems.append(f"article {a.slug!r}: {exc.message}")
                continue
            if checked.topic not in known:
                problems.append(f"article {a.slug!r}: unknown topic {checked.topic!r}")
            articles.append(checked)
        if problems:
            raise InvalidInput(f"{len(problems)} problem(s), nothing imported: " + "; ".join(problems[:20]),
                               problems=problems)
        return topics, articles

    def _check_article(self, data: ArticleInput) -> ArticleInput:
        self.rules.slug(data.slug)
        self.rules.slug(data.topic, "topic")
        self.rules.locale(data.default_locale)
        translations = tuple(self.rules.translation(t) for t in data.translations)
        locales = [t.locale for t in translations]
        if len(set(locales)) != len(locales):
            raise InvalidInput(f"article {data.slug!r} has a locale twice: {', '.join(locales)}", field="locale")
        if data.default_locale not in locales:
            raise InvalidInput(f"article {data.slug!r} has no text in its default locale {data.default_locale!r}",
                               field="default_locale")
        return data.model_copy(update={"translations": translations})

    def _topic_row_for_article(self, s: Session, workspace: str, topic: str) -> None:
        if s.get(TopicRow, (workspace, topic)) is None:
            raise InvalidInput(f"unknown topic {topic!r}; create it first or pick one from GET /v1/help-center/topics",
                               field="topic")

    def _write_article(self, s: Session, workspace: str, data: ArticleInput) -> None:
        _ensure_workspace(s, workspace)
        now = utcnow()
        row = ArticleRow(workspace=workspace, slug=data.slug, topic=data.topic, default_locale=data.default_locale,
                         position=data.position, created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        for t in _default_first(data):
            _upsert_translation(s, workspace, row, t, keep_status=False)

    def _article_row(self, s: Session, workspace: str, slug: str) -> ArticleRow:
        row = s.get(ArticleRow, (workspace, slug))
        if row is None:
            raise NotFound(f"no article {slug!r} in workspace {workspace!r}", slug=slug)
        return row


def _default_first(data: ArticleInput) -> list[TranslationInput]:
    return sorted(data.translations, key=lambda t: t.locale != data.default_locale)


def _upsert_translation(s: Session, workspace: str, article: ArticleRow, data: TranslationInput, *,
                        keep_status: bool, note: str = "") -> bool:
    """Write one translation; False when nothing changed (timestamps untouched). A new text is
    kept as the translation's next version."""
    row = s.get(TranslationRow, (workspace, article.slug, data.locale))
    is_default = data.locale == article.default_locale
    default = None if is_default else s.get(TranslationRow, (workspace, article.slug, article.default_locale))
    when: datetime = data.updated_at or utcnow()
    if row is None:
        status = Status.DRAFT.value if keep_status else data.status.value
        s.add(TranslationRow(workspace=workspace, slug=article.slug, locale=data.locale, title=data.title,
                             body=data.body, status=status, updated_at=when,
                             source_updated_at=default.updated_at if default else None,
                             published_at=when if status == Status.PUBLISHED.value else None))
        _add_version(s, workspace, article.slug, data, note or "created")
        s.flush()
        return True
    status = row.status if keep_status else data.status.value
    if (row.title, row.body, row.status) == (data.title, data.body, status):
        return False
    if (row.title, row.body) != (data.title, data.body):
        row.title, row.body, row.updated_at = data.title, data.body, when
        _add_version(s, workspace, article.slug, data, note or "edited")
        if default is not None:
            row.source_updated_at = default.updated_at
    if row.status != status:
        row.status = status
        row.published_at = utcnow() if status == Status.PUBLISHED.value else None
    s.flush()
    return True


def _check_base(s: Session, workspace: str, slug: str, locale: str, base_version: int) -> None:
    """``Conflict`` when the translation's newest version is not ``base_version``."""
    newest = s.scalar(select(func.max(VersionRow.version)).where(
        VersionRow.workspace == workspace, VersionRow.slug == slug, VersionRow.locale == locale)) or 0
    if newest != base_version:
        row = s.get(TranslationRow, (workspace, slug, locale))
        raise Conflict(
            f"the {locale} text of {slug!r} was saved by someone else (version {newest}) after you started from "
            f"version {base_version}, so yours was not saved; the newer text is kept: compare them, then save "
            f"again with base version {newest} to replace it",
            slug=slug, locale=locale, field="version", base_version=base_version, current_version=newest,
            current_title=row.title if row else None)


def _stale(slug: str, locale: str, article: Article) -> Conflict:
    own = article.translation(locale)
    newest = own.version if own else 0
    return Conflict(f"the {locale} text of {slug!r} was saved by someone else at the same moment (version {newest}),"
                    " so yours was not saved; the newer text is kept: compare them, then save again",
                    slug=slug, locale=locale, field="version", current_version=newest)


def _add_version(s: Session, workspace: str, slug: str, data: TranslationInput, note: str) -> None:
    last = s.scalar(select(func.max(VersionRow.version)).where(
        VersionRow.workspace == workspace, VersionRow.slug == slug, VersionRow.locale == data.locale)) or 0
    s.add(VersionRow(workspace=workspace, slug=slug, locale=data.locale, version=last + 1, title=data.title,
                     body=data.body, note=note[:200], created_at=utcnow()))


def _trim_versions(s: Session, workspace: str, article: Article) -> None:
    """Drop the versions a failed change added: per locale, those after the last one equal to the
    restored text (all of a locale the restored article lacks)."""
    rows = list(s.scalars(select(VersionRow).where(VersionRow.workspace == workspace,
                                                   VersionRow.slug == article.slug)))
    for locale in {r.locale for r in rows}:
        own = article.translation(locale)
        mine = sorted((r for r in rows if r.locale == locale), key=lambda r: r.version)
        keep = max((r.version for r in mine if own and (r.title, r.body) == (own.title, own.body)), default=0)
        for r in mine:
            if r.version > keep:
                s.delete(r)
    s.flush()


def _version(row: VersionRow) -> Version:
    return Version(slug=row.slug, locale=row.locale, version=row.version, title=row.title, body=row.body,
                   note=row.note, created_at=row.created_at)


def _ensure_workspace(s: Session, workspace: str) -> None:
    insert_ignore(s, WorkspaceRow, id=workspace, name=workspace, created_at=utcnow())


def _topic(row: TopicRow) -> Topic:
    return Topic(id=row.id, name=row.name, names=dict(row.names or {}), parent=row.parent, position=row.position)


def _translations(s: Session, workspace: str, slugs: Iterable[str]) -> dict[str, list[TranslationRow]]:
    wanted = list(slugs)
    found: dict[str, list[TranslationRow]] = {}
    for start in range(0, len(wanted), 500):
        rows = s.scalars(select(TranslationRow).where(TranslationRow.workspace == workspace,
                                                      TranslationRow.slug.in_(wanted[start:start + 500])))
        for r in rows:
            found.setdefault(r.slug, []).append(r)
    return found


def _text_versions(s: Session, workspace: str, slugs: Iterable[str]) -> dict[tuple[str, str], int]:
    """(slug, locale) -> the number of the translation's newest version."""
    wanted = list(slugs)
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(wanted), 500):
        rows = s.execute(select(VersionRow.slug, VersionRow.locale, func.max(VersionRow.version)).where(
            VersionRow.workspace == workspace, VersionRow.slug.in_(wanted[start:start + 500])).group_by(
            VersionRow.slug, VersionRow.locale))
        found.update({(slug, locale): int(number) for slug, locale, number in rows})
    return found


def _article(row: ArticleRow, translations: list[TranslationRow], versions: dict[tuple[str, str], int]) -> Article:
    default = next((t for t in translations if t.locale == row.default_locale), None)
    items = []
    for t in sorted(translations, key=lambda t: (t.locale != row.default_locale, t.locale)):
        basis = t.source_updated_at or t.updated_at
        stale = default is not None and t is not default and default.updated_at > basis
        items.append(Translation(slug=t.slug, locale=t.locale, title=t.title, body=t.body, status=Status(t.status),
                                 updated_at=t.updated_at, source_updated_at=t.source_updated_at,
                                 published_at=t.published_at, stale=stale,
                                 version=versions.get((t.slug, t.locale), 0)))
    return Article(slug=row.slug, topic=row.topic, default_locale=row.default_locale, position=row.position,
                   created_at=row.created_at, updated_at=row.updated_at, translations=tuple(items))
