"""Write and query the knowledge search index inside the caller's transaction.

The index is ``kb_search_docs`` (one row per published article) and ``kb_postings``
(one row per article and term). Every statement here is an ORM statement on tenant
tables, so a scoped session adds the tenant criterion itself: a search can only ever
read its own tenant's postings. The same statements run on SQLite and PostgreSQL.

A search is three reads: the document count and mean length, the document frequency of
each query term (an index-only count), and the BM25 sum over the postings of the
remaining terms, grouped by article, best first (formula in ``knowledge/ranking.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from sqlalchemy import Float, Table, case, delete, func, insert, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.adapters.storage.kb_models import KbPosting, KbSearchDoc
from tsunagi.knowledge.ranking import K1, B, term_weights

POSTINGS = cast(Table, KbPosting.__table__)
_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    article_id: UUID
    version: int
    public: bool
    kind: str
    category_code: str | None
    title: str
    snippet: str


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: UUID
    score: float
    title: str
    snippet: str
    kind: str
    category_code: str | None
    public: bool


async def put(
    session: AsyncSession, tenant_id: UUID, article: IndexedArticle, counts: Counter[str]
) -> None:
    """Make ``article`` searchable with these term counts, replacing what it had."""
    await remove(session, article.article_id)
    length = sum(counts.values())
    session.add(
        KbSearchDoc(
            tenant_id=tenant_id,
            article_id=article.article_id,
            version=article.version,
            public=article.public,
            kind=article.kind,
            category_code=article.category_code,
            title=article.title,
            snippet=article.snippet,
            length=length,
        )
    )
    await session.flush()
    rows = [
        {
            "tenant_id": tenant_id,
            "article_id": article.article_id,
            "term": term,
            "tf": tf,
            "length": length,
            "public": article.public,
        }
        for term, tf in counts.items()
    ]
    for start in range(0, len(rows), _BATCH):
        await session.execute(insert(POSTINGS), rows[start : start + _BATCH])


async def remove(session: AsyncSession, article_id: UUID) -> None:
    """Take an article out of search (no-op when it is not indexed)."""
    # No session synchronisation: these rows are never held as objects by callers, and
    # "evaluate" would scan the whole identity map once per article in a batch.
    quick = {"synchronize_session": False}
    await session.execute(
        delete(KbPosting).where(KbPosting.article_id == article_id), execution_options=quick
    )
    await session.execute(
        delete(KbSearchDoc).where(KbSearchDoc.article_id == article_id), execution_options=quick
    )


async def search(
    session: AsyncSession, query_terms: list[str], *, public_only: bool, limit: int = 10
) -> list[Hit]:
    """The ``limit`` best articles for ``query_terms`` by BM25; statistics (N, avgdl, df)
    are the tenant's whole index, so a public search ranks like an internal one."""
    if not query_terms:
        return []
    count, avg_length = (
        await session.execute(select(func.count(), func.avg(KbSearchDoc.length)))
    ).one()
    if not count:
        return []
    rows = await session.execute(
        select(KbPosting.term, func.count())
        .where(KbPosting.term.in_(query_terms))
        .group_by(KbPosting.term)
    )
    frequencies = {str(term): int(df) for term, df in rows}
    weights = term_weights(frequencies, int(count))
    if not weights:
        return []
    return await _ranked(session, weights, float(avg_length), public_only, limit)


async def _ranked(
    session: AsyncSession,
    weights: dict[str, float],
    avg_length: float,
    public_only: bool,
    limit: int,
) -> list[Hit]:
    """BM25 sums over the postings of the weighted terms, best ``limit`` first, joined to
    their documents by primary key in the same statement."""
    weight = case(weights, value=KbPosting.term, else_=0.0)
    tf = sql_cast(KbPosting.tf, Float)
    norm = K1 * (1.0 - B) + (K1 * B / avg_length) * sql_cast(KbPosting.length, Float)
    score = func.sum(weight * tf * (K1 + 1.0) / (tf + norm)).label("score")
    best = (
        select(KbPosting.article_id, score)
        .where(KbPosting.term.in_(list(weights)))
        .group_by(KbPosting.article_id)
        .order_by(score.desc(), KbPosting.article_id.desc())
        .limit(limit)
    )
    if public_only:
        best = best.where(KbPosting.public.is_(True))
    top = best.subquery("top")
    statement = (
        select(KbSearchDoc, top.c.score)
        .join(top, top.c.article_id == KbSearchDoc.article_id)
        .order_by(top.c.score.desc(), top.c.article_id.desc())
    )
    return [
        Hit(
            article_id=doc.article_id,
            score=float(found),
            title=doc.title,
            snippet=doc.snippet,
            kind=doc.kind,
            category_code=doc.category_code,
            public=doc.public,
        )
        for doc, found in (await session.execute(statement)).all()
    ]
