"""Knowledge base use cases: articles with versions, publishing into search, search and
suggestions.

Each ``do_*`` is one transaction that writes the change and its event. Publishing
writes the article's terms into the search index in that same transaction, so search
never shows an article whose publication did not commit. Visibility: principals with a
staff role see internal and public articles; anyone else (client viewers) only public.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.events import emit
from tsunagi.adapters.search import index
from tsunagi.adapters.search.index import Hit, IndexedArticle
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.kb_models import KbArticle, KbArticleVersion
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.domain.permissions import Principal, Role
from tsunagi.knowledge.articles import (
    ArticleDraft,
    ArticleStatus,
    Visibility,
    snippet,
    validate_draft,
)
from tsunagi.knowledge.events import (
    ArticleArchivedEvent,
    ArticleCreatedEvent,
    ArticlePublishedEvent,
    ArticleRevisedEvent,
)
from tsunagi.knowledge.scripts import FilledScript, fill
from tsunagi.knowledge.suggest import CategorySuggester, CategorySuggestion
from tsunagi.knowledge.text import query_terms, term_counts

STAFF = frozenset({Role.COMMUNICATOR, Role.SUPERVISOR, Role.MANAGER, Role.ADMINISTRATOR})
SEARCH_LIMIT_MAX = 50
QUERY_MAX = 500
TITLE_WEIGHT = 2
FILL_FIELDS_MAX = 50
FILL_VALUE_MAX = 1_000


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: UUID
    kind: str
    visibility: str
    status: str
    category_code: str | None
    owner_id: UUID | None
    title: str
    body: str
    tags: list[str]
    version: int
    current_version: int
    published_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    title: str
    author_id: UUID | None
    note: str | None
    created_at: datetime


def sees_internal(principal: Principal) -> bool:
    return bool(principal.roles & STAFF)


def _now() -> datetime:
    return datetime.now(UTC)


async def _article(session: AsyncSession, article_id: UUID, *, lock: bool = False) -> KbArticle:
    """The article; ``lock`` takes its row lock (PostgreSQL) so concurrent revisions and
    publications of one article run one after the other (SQLite's writers already do)."""
    article = await session.get(KbArticle, article_id, with_for_update=lock or None)
    if article is None:
        raise NotFoundError("article not found")
    return article


async def _version(session: AsyncSession, article_id: UUID, version: int) -> KbArticleVersion:
    found = await session.scalar(
        select(KbArticleVersion).where(
            KbArticleVersion.article_id == article_id, KbArticleVersion.version == version
        )
    )
    if found is None:
        raise NotFoundError(f"version {version} of the article not found")
    return found


def _version_row(
    article: KbArticle, draft: ArticleDraft, version: int, author: UUID, note: str | None
) -> KbArticleVersion:
    return KbArticleVersion(
        tenant_id=article.tenant_id,
        article_id=article.id,
        version=version,
        title=draft.title,
        body=draft.body,
        kind=draft.kind.value,
        visibility=draft.visibility.value,
        category_code=draft.category_code,
        tags=list(draft.tags),
        author_id=author,
        note=note,
        created_at=_now(),
    )


def _apply(article: KbArticle, draft: ArticleDraft) -> None:
    article.kind = draft.kind.value
    article.visibility = draft.visibility.value
    article.category_code = draft.category_code
    article.title = draft.title


async def do_create_article(
    db: Database,
    principal: Principal,
    *,
    title: str,
    body: str,
    kind: str = "faq",
    visibility: str = "internal",
    category_code: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    owner_id: UUID | None = None,
    publish: bool = False,
) -> UUID:
    """Create a draft (version 1); with ``publish`` it is searchable when this commits."""
    draft = validate_draft(
        title=title,
        body=body,
        kind=kind,
        visibility=visibility,
        category_code=category_code,
        tags=tags,
    )
    now = _now()
    async with db.scoped(principal.tenant_id) as session, session.begin():
        article = KbArticle(
            id=new_id(),
            tenant_id=principal.tenant_id,
            status=ArticleStatus.DRAFT.value,
            owner_id=owner_id or principal.user_id,
            current_version=1,
            published_version=None,
            created_at=now,
            updated_at=now,
        )
        _apply(article, draft)
        session.add(article)
        await session.flush()
        session.add(_version_row(article, draft, 1, principal.user_id, None))
        emit(
            session,
            ArticleCreatedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=now,
                actor=principal.actor,
                article_id=article.id,
                version=1,
                title=draft.title,
                kind=draft.kind.value,
            ),
        )
        if publish:
            await session.flush()
            await _publish(session, principal, article, 1)
        return article.id


async def do_revise_article(
    db: Database,
    principal: Principal,
    article_id: UUID,
    *,
    title: str,
    body: str,
    kind: str,
    visibility: str,
    category_code: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    note: str | None = None,
    expected_version: int | None = None,
    owner_id: UUID | None = None,
) -> int:
    """Save a new version. ``expected_version`` (the version the editor started from)
    refuses to overwrite someone else's newer version. Search keeps showing the
    published version until this one is published."""
    draft = validate_draft(
        title=title,
        body=body,
        kind=kind,
        visibility=visibility,
        category_code=category_code,
        tags=tags,
    )
    if note is not None and len(note) > 300:
        raise InvalidInputError("note must be at most 300 characters")
    async with db.scoped(principal.tenant_id) as session, session.begin():
        article = await _article(session, article_id, lock=True)
        if expected_version is not None and expected_version != article.current_version:
            raise ConflictError(
                f"the article is at version {article.current_version}, not {expected_version}"
            )
        version = article.current_version + 1
        session.add(_version_row(article, draft, version, principal.user_id, note))
        article.current_version = version
        article.updated_at = _now()
        if owner_id is not None:
            article.owner_id = owner_id
        if article.status != ArticleStatus.PUBLISHED.value:
            _apply(article, draft)
        emit(
            session,
            ArticleRevisedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=article.updated_at,
                actor=principal.actor,
                article_id=article.id,
                version=version,
                title=draft.title,
            ),
        )
        return version


async def do_publish_article(
    db: Database, principal: Principal, article_id: UUID, *, version: int | None = None
) -> int:
    """Publish ``version`` (default: the current one): it becomes what search finds."""
    async with db.scoped(principal.tenant_id) as session, session.begin():
        article = await _article(session, article_id, lock=True)
        chosen = article.current_version if version is None else version
        await _publish(session, principal, article, chosen)
        return chosen


async def _publish(
    session: AsyncSession, principal: Principal, article: KbArticle, version: int
) -> None:
    row = await _version(session, article.id, version)
    article.status = ArticleStatus.PUBLISHED.value
    article.published_version = version
    article.kind = row.kind
    article.visibility = row.visibility
    article.category_code = row.category_code
    article.title = row.title
    article.updated_at = _now()
    counts = term_counts([(row.title, TITLE_WEIGHT), (row.body, 1), (" ".join(row.tags), 1)])
    await index.put(
        session,
        article.tenant_id,
        IndexedArticle(
            article_id=article.id,
            version=version,
            public=row.visibility == Visibility.PUBLIC.value,
            kind=row.kind,
            category_code=row.category_code,
            title=row.title,
            snippet=snippet(row.body, 300),
        ),
        counts,
    )
    emit(
        session,
        ArticlePublishedEvent(
            tenant_id=article.tenant_id,
            occurred_at=article.updated_at,
            actor=principal.actor,
            article_id=article.id,
            version=version,
            title=row.title,
            visibility=row.visibility,
        ),
    )


async def do_archive_article(db: Database, principal: Principal, article_id: UUID) -> None:
    """Take the article out of search and lists of published articles; versions stay."""
    async with db.scoped(principal.tenant_id) as session, session.begin():
        article = await _article(session, article_id, lock=True)
        if article.status == ArticleStatus.ARCHIVED.value:
            return
        article.status = ArticleStatus.ARCHIVED.value
        article.updated_at = _now()
        await index.remove(session, article.id)
        emit(
            session,
            ArticleArchivedEvent(
                tenant_id=principal.tenant_id,
                occurred_at=article.updated_at,
                actor=principal.actor,
                article_id=article.id,
                version=article.current_version,
            ),
        )


def _visible(article: KbArticle, principal: Principal) -> bool:
    if sees_internal(principal):
        return True
    return (
        article.status == ArticleStatus.PUBLISHED.value
        and article.visibility == Visibility.PUBLIC.value
    )


async def get_article(
    db: Database, principal: Principal, article_id: UUID, *, version: int | None = None
) -> ArticleView:
    """The article at ``version``; by default staff get the current (latest) version and
    others the published one. An article the principal may not see is "not found"."""
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        article = await _article(session, article_id)
        if not _visible(article, principal):
            raise NotFoundError("article not found")
        if version is None:
            staff = sees_internal(principal)
            version = article.current_version if staff else article.published_version
        elif not sees_internal(principal) and version != article.published_version:
            raise NotFoundError("article not found")
        assert version is not None
        row = await _version(session, article.id, version)
        return ArticleView(
            id=article.id,
            kind=row.kind,
            visibility=row.visibility,
            status=article.status,
            category_code=row.category_code,
            owner_id=article.owner_id,
            title=row.title,
            body=row.body,
            tags=list(row.tags),
            version=row.version,
            current_version=article.current_version,
            published_version=article.published_version,
            created_at=article.created_at,
            updated_at=article.updated_at,
        )


async def list_versions(db: Database, principal: Principal, article_id: UUID) -> list[VersionView]:
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        article = await _article(session, article_id)
        if not sees_internal(principal):
            raise NotFoundError("article not found")
        rows = await session.scalars(
            select(KbArticleVersion)
            .where(KbArticleVersion.article_id == article.id)
            .order_by(KbArticleVersion.version.desc())
        )
        return [
            VersionView(
                version=row.version,
                title=row.title,
                author_id=row.author_id,
                note=row.note,
                created_at=row.created_at,
            )
            for row in rows
        ]


async def list_articles(
    db: Database,
    principal: Principal,
    *,
    status: str | None = None,
    kind: str | None = None,
    category_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[KbArticle]:
    """Articles by most recently changed; non-staff see only published public ones."""
    statement = select(KbArticle).order_by(KbArticle.updated_at.desc(), KbArticle.id)
    if not sees_internal(principal):
        statement = statement.where(
            KbArticle.status == ArticleStatus.PUBLISHED.value,
            KbArticle.visibility == Visibility.PUBLIC.value,
        )
    if status is not None:
        statement = statement.where(KbArticle.status == status)
    if kind is not None:
        statement = statement.where(KbArticle.kind == kind)
    if category_code is not None:
        statement = statement.where(KbArticle.category_code == category_code)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        return list(await session.scalars(statement.limit(min(limit, 500)).offset(offset)))


def _check_query(query: str, limit: int) -> None:
    if len(query) > QUERY_MAX:
        raise InvalidInputError(f"q must be at most {QUERY_MAX} characters")
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise InvalidInputError(f"limit must be between 1 and {SEARCH_LIMIT_MAX}")


async def search_articles(
    db: Database,
    principal: Principal,
    query: str,
    *,
    limit: int = 10,
    public_only: bool = False,
) -> list[Hit]:
    """Published articles best matching ``query`` (Japanese or English), best first."""
    _check_query(query, limit)
    terms = query_terms(query)
    only_public = public_only or not sees_internal(principal)
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        return await index.search(session, terms, public_only=only_public, limit=limit)


async def fill_script(
    db: Database, principal: Principal, article_id: UUID, values: dict[str, str | None]
) -> FilledScript:
    """The article's text with the given customer fields substituted (see ``scripts``)."""
    if len(values) > FILL_FIELDS_MAX or any(
        len(name) > 100 or (value is not None and len(value) > FILL_VALUE_MAX)
        for name, value in values.items()
    ):
        raise InvalidInputError(
            f"at most {FILL_FIELDS_MAX} fields of at most {FILL_VALUE_MAX} characters"
        )
    article = await get_article(db, principal, article_id)
    return fill(article.body, values)


# --- Suggestions --------------------------------------------------------------------------


@dataclass
class SuggesterCache:
    """One trained category suggester per tenant, retrained when its examples change.

    Examples are the tenant's published articles (title and body → category) plus any
    labelled inquiries given with :meth:`add_examples` (past contacts' wrap-up text and
    category). Kept in memory per app process; training runs in a worker thread.
    """

    models: dict[UUID, tuple[tuple[object, ...], CategorySuggester | None]] = field(
        default_factory=dict
    )
    extra: dict[UUID, list[tuple[str, str]]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add_examples(self, tenant_id: UUID, examples: list[tuple[str, str]]) -> None:
        self.extra.setdefault(tenant_id, []).extend(examples)

    async def suggester(self, db: Database, tenant_id: UUID) -> CategorySuggester | None:
        async with db.scoped(tenant_id, readonly=True) as session:
            state = (
                await session.execute(
                    select(func.count(), func.max(KbArticle.updated_at)).where(
                        KbArticle.status == ArticleStatus.PUBLISHED.value,
                        KbArticle.category_code.is_not(None),
                    )
                )
            ).one()
        # Publishing, re-publishing or archiving changes the count or the latest change.
        fingerprint = (state[0], state[1], len(self.extra.get(tenant_id, [])))
        async with self.lock:
            cached = self.models.get(tenant_id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            examples = await self._examples(db, tenant_id)
            model = await asyncio.to_thread(_train_or_none, examples)
            self.models[tenant_id] = (fingerprint, model)
            return model

    async def _examples(self, db: Database, tenant_id: UUID) -> list[tuple[str, str]]:
        async with db.scoped(tenant_id, readonly=True) as session:
            rows = (
                await session.execute(
                    select(KbArticleVersion.title, KbArticleVersion.body, KbArticle.category_code)
                    .join(
                        KbArticle,
                        (KbArticle.id == KbArticleVersion.article_id)
                        & (KbArticle.published_version == KbArticleVersion.version),
                    )
                    .where(
                        KbArticle.status == ArticleStatus.PUBLISHED.value,
                        KbArticle.category_code.is_not(None),
                    )
                )
            ).all()
        examples = [(f"{title}\n{body}", str(code)) for title, body, code in rows]
        return examples + self.extra.get(tenant_id, [])


def _train_or_none(examples: list[tuple[str, str]]) -> CategorySuggester | None:
    labels = {label for _, label in examples}
    if len(examples) < 2 or len(labels) < 2:
        return None
    return CategorySuggester.train([text for text, _ in examples], [c for _, c in examples])


@dataclass(frozen=True, slots=True)
class Suggestions:
    categories: list[CategorySuggestion]
    articles: list[Hit]


async def suggest(
    db: Database,
    principal: Principal,
    cache: SuggesterCache,
    text: str,
    *,
    limit: int = 3,
) -> Suggestions:
    """Categories and articles for what has been typed about a contact."""
    text = text[:QUERY_MAX]
    if not 1 <= limit <= 10:
        raise InvalidInputError("limit must be between 1 and 10")
    articles = await search_articles(db, principal, text, limit=limit) if text.strip() else []
    model = await cache.suggester(db, principal.tenant_id) if text.strip() else None
    categories = model.suggest(text, limit) if model is not None else []
    return Suggestions(categories=categories, articles=articles)
