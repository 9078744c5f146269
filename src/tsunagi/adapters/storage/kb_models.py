"""Tables of the knowledge base (issue 4).

* ``kb_articles`` — one row per article: kind, visibility, status, owner, category and
  which version is current (last saved) and which is published.
* ``kb_article_versions`` — every saved version's content; never changed once written.
* ``kb_search_docs`` — the published articles as search sees them (title, snippet,
  visibility, length in terms): one row per searchable article.
* ``kb_postings`` — the inverted index: one row per (article, term) with the term's
  frequency and the article's length, so a search reads only the rows of its terms from
  the covering index ``ix_kb_postings_lookup`` and ranks by BM25 in SQL — the same
  statements on SQLite and PostgreSQL (see docs/decisions/0400).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class KbArticle(TenantScoped, Base):
    __tablename__ = "kb_articles"
    __table_args__ = (Index("ix_kb_articles_tenant_status", "tenant_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    category_code: Mapped[str | None] = mapped_column(String(63))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbArticleVersion(TenantScoped, Base):
    __tablename__ = "kb_article_versions"
    __table_args__ = (
        UniqueConstraint("article_id", "version", name="uq_kb_article_versions_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    article_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16))
    category_code: Mapped[str | None] = mapped_column(String(63))
    tags: Mapped[list[str]] = mapped_column(default=list)
    author_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]


class KbSearchDoc(TenantScoped, Base):
    __tablename__ = "kb_search_docs"
    # Search reads N and the mean length from this index alone.
    __table_args__ = (Index("ix_kb_search_docs_stats", "tenant_id", "length"),)

    # Declared here, not by the mixin: the stats index leads with tenant_id, and a second
    # single-column tenant index tempts SQLite away from the primary key for id lookups.
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    article_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(16))
    category_code: Mapped[str | None] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200))
    snippet: Mapped[str] = mapped_column(String(300))
    length: Mapped[int] = mapped_column(Integer)


class KbPosting(TenantScoped, Base):
    """Index choice matters here (SQLite plans without statistics): searches read the
    covering ``ix_kb_postings_lookup`` (tenant, term, …); deleting an article's rows uses
    the primary key (article, tenant, term) — both equality columns the scoped session's
    ``tenant_id = ?`` criterion and the article id give. A key leading with the tenant
    made SQLite scan the tenant's postings for ``GROUP BY article_id``."""

    __tablename__ = "kb_postings"
    __table_args__ = (
        PrimaryKeyConstraint("article_id", "tenant_id", "term", name="pk_kb_postings"),
        Index("ix_kb_postings_lookup", "tenant_id", "term", "public", "article_id", "tf", "length"),
    )

    # Declared here, not by the mixin, to skip the mixin's single-column tenant index:
    # the lookup index leads with tenant_id already, and this table is the largest.
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    article_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    term: Mapped[str] = mapped_column(String(64))
    tf: Mapped[int] = mapped_column(Integer)
    length: Mapped[int] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean)
