"""Knowledge REST API: articles with versions, publishing, search, scripts, suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions import knowledge
from tsunagi.adapters.search.index import Hit
from tsunagi.adapters.storage.kb_models import KbArticle
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import Services, services_of

AnyRequest = Request[Any, Any, Any]
ARTICLES = "/api/v1/knowledge/articles"
READ = {"authz": ("read", "article")}
CREATE = {"authz": ("create", "article")}
UPDATE = {"authz": ("update", "article")}
TAGS = ["knowledge"]

# One suggester cache per running app (keyed by its Services), made on first use.
SUGGESTERS: dict[int, knowledge.SuggesterCache] = {}


def suggesters_for(services: Services) -> knowledge.SuggesterCache:
    return SUGGESTERS.setdefault(id(services), knowledge.SuggesterCache())


class ArticleIn(Input):
    title: str
    body: str
    kind: str = "faq"
    visibility: str = "internal"
    category_code: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    owner_id: UUID | None = None


class ArticleCreate(ArticleIn):
    publish: bool = False


class ArticleRevise(ArticleIn):
    expected_version: int | None = None
    note: str | None = None


class PublishIn(Input):
    version: int | None = None


class FillIn(Input):
    values: dict[str, str | None] = msgspec.field(default_factory=dict)


class SuggestIn(Input):
    text: str
    limit: int = 3


class ArticleSummary(Output):
    id: UUID
    title: str
    kind: str
    visibility: str
    status: str
    category_code: str | None
    owner_id: UUID | None
    current_version: int
    published_version: int | None
    updated_at: datetime


class ArticleOut(Output):
    id: UUID
    title: str
    body: str
    kind: str
    visibility: str
    status: str
    category_code: str | None
    owner_id: UUID | None
    tags: list[str]
    version: int
    current_version: int
    published_version: int | None
    created_at: datetime
    updated_at: datetime


class VersionOut(Output):
    version: int
    title: str
    author_id: UUID | None
    note: str | None
    created_at: datetime


class HitOut(Output):
    id: UUID
    title: str
    snippet: str
    kind: str
    category_code: str | None
    visibility: str
    score: float


class FilledOut(Output):
    text: str
    missing: list[str]


class CategoryOut(Output):
    code: str
    score: float


class SuggestionsOut(Output):
    categories: list[CategoryOut]
    articles: list[HitOut]


def _summary(article: KbArticle) -> ArticleSummary:
    return ArticleSummary(
        id=article.id,
        title=article.title,
        kind=article.kind,
        visibility=article.visibility,
        status=article.status,
        category_code=article.category_code,
        owner_id=article.owner_id,
        current_version=article.current_version,
        published_version=article.published_version,
        updated_at=article.updated_at,
    )


def _article_out(view: knowledge.ArticleView) -> ArticleOut:
    return ArticleOut(
        id=view.id,
        title=view.title,
        body=view.body,
        kind=view.kind,
        visibility=view.visibility,
        status=view.status,
        category_code=view.category_code,
        owner_id=view.owner_id,
        tags=view.tags,
        version=view.version,
        current_version=view.current_version,
        published_version=view.published_version,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def hit_out(hit: Hit) -> HitOut:
    return HitOut(
        id=hit.article_id,
        title=hit.title,
        snippet=hit.snippet,
        kind=hit.kind,
        category_code=hit.category_code,
        visibility="public" if hit.public else "internal",
        score=round(hit.score, 6),
    )


@get(ARTICLES, opt=READ, tags=TAGS)
async def list_articles(
    request: AnyRequest,
    status: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    offset: Annotated[int, QueryParameter(ge=0)] = 0,
) -> list[ArticleSummary]:
    """Articles, most recently changed first (client viewers: published public ones only)."""
    articles = await knowledge.list_articles(
        services_of(request).db,
        require_principal(request),
        status=status,
        kind=kind,
        category_code=category,
        limit=limit,
        offset=offset,
    )
    return [_summary(article) for article in articles]


@post(ARTICLES, opt=CREATE, tags=TAGS)
async def create_article(request: AnyRequest, data: JSONBody[ArticleCreate]) -> ArticleOut:
    principal = require_principal(request)
    db = services_of(request).db
    article_id = await knowledge.do_create_article(
        db,
        principal,
        title=data.title,
        body=data.body,
        kind=data.kind,
        visibility=data.visibility,
        category_code=data.category_code,
        tags=data.tags,
        owner_id=data.owner_id,
        publish=data.publish,
    )
    return _article_out(await knowledge.get_article(db, principal, article_id))


@get(ARTICLES + "/{article_id:uuid}", opt=READ, tags=TAGS)
async def read_article(
    request: AnyRequest,
    article_id: FromPath[UUID],
    version: Annotated[int | None, QueryParameter(ge=1)] = None,
) -> ArticleOut:
    """The current version (staff) or the published one (others); ``version`` picks one."""
    view = await knowledge.get_article(
        services_of(request).db, require_principal(request), article_id, version=version
    )
    return _article_out(view)


@patch(ARTICLES + "/{article_id:uuid}", opt=UPDATE, tags=TAGS)
async def revise_article(
    request: AnyRequest, article_id: FromPath[UUID], data: JSONBody[ArticleRevise]
) -> ArticleOut:
    """Save a new version; send ``expected_version`` to refuse overwriting a newer one (409)."""
    principal = require_principal(request)
    db = services_of(request).db
    await knowledge.do_revise_article(
        db,
        principal,
        article_id,
        title=data.title,
        body=data.body,
        kind=data.kind,
        visibility=data.visibility,
        category_code=data.category_code,
        tags=data.tags,
        note=data.note,
        expected_version=data.expected_version,
        owner_id=data.owner_id,
    )
    return _article_out(await knowledge.get_article(db, principal, article_id))


@post(ARTICLES + "/{article_id:uuid}/publish", opt=UPDATE, tags=TAGS, status_code=200)
async def publish_article(
    request: AnyRequest, article_id: FromPath[UUID], data: JSONBody[PublishIn]
) -> ArticleOut:
    principal = require_principal(request)
    db = services_of(request).db
    version = await knowledge.do_publish_article(db, principal, article_id, version=data.version)
    return _article_out(await knowledge.get_article(db, principal, article_id, version=version))


@post(ARTICLES + "/{article_id:uuid}/archive", opt=UPDATE, tags=TAGS, status_code=204)
async def archive_article(request: AnyRequest, article_id: FromPath[UUID]) -> None:
    await knowledge.do_archive_article(
        services_of(request).db, require_principal(request), article_id
    )


@get(ARTICLES + "/{article_id:uuid}/versions", opt=READ, tags=TAGS)
async def list_versions(request: AnyRequest, article_id: FromPath[UUID]) -> list[VersionOut]:
    versions = await knowledge.list_versions(
        services_of(request).db, require_principal(request), article_id
    )
    return [
        VersionOut(
            version=v.version,
            title=v.title,
            author_id=v.author_id,
            note=v.note,
            created_at=v.created_at,
        )
        for v in versions
    ]


@post(ARTICLES + "/{article_id:uuid}/fill", opt=READ, tags=TAGS, status_code=200)
async def fill_script(
    request: AnyRequest, article_id: FromPath[UUID], data: JSONBody[FillIn]
) -> FilledOut:
    """The article's text with ``{field}`` placeholders replaced by the given values."""
    filled = await knowledge.fill_script(
        services_of(request).db, require_principal(request), article_id, data.values
    )
    return FilledOut(text=filled.text, missing=list(filled.missing))


@get("/api/v1/knowledge/search", opt=READ, tags=TAGS)
async def search(
    request: AnyRequest,
    q: Annotated[str, QueryParameter(max_length=500)],
    limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
    public: FromQuery[bool] = False,
) -> list[HitOut]:
    """Published articles best matching ``q`` (Japanese or English), best first;
    ``public=true`` limits the search to public articles."""
    hits = await knowledge.search_articles(
        services_of(request).db, require_principal(request), q, limit=limit, public_only=public
    )
    return [hit_out(hit) for hit in hits]


@post(
    "/api/v1/knowledge/suggestions",
    opt={"authz": ("read", "knowledge_suggestion")},
    tags=TAGS,
    status_code=200,
)
async def suggestions(request: AnyRequest, data: JSONBody[SuggestIn]) -> SuggestionsOut:
    """Categories and articles for what has been typed about a contact."""
    services = services_of(request)
    result = await knowledge.suggest(
        services.db,
        require_principal(request),
        suggesters_for(services),
        data.text,
        limit=data.limit,
    )
    return SuggestionsOut(
        categories=[CategoryOut(code=c.code, score=round(c.score, 6)) for c in result.categories],
        articles=[hit_out(hit) for hit in result.articles],
    )


ROUTES = [
    list_articles,
    create_article,
    read_article,
    revise_article,
    publish_article,
    archive_article,
    list_versions,
    fill_script,
    search,
    suggestions,
]
