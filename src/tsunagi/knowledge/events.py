"""Events of the knowledge base. Subscribers need ``article:read`` to receive them."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from tsunagi.domain.events import Event


class ArticleEvent(Event, frozen=True, kw_only=True):
    resource: ClassVar[str] = "article"

    article_id: UUID
    version: int


class ArticleCreatedEvent(ArticleEvent, frozen=True, kw_only=True, tag="article.created"):
    title: str
    kind: str


class ArticleRevisedEvent(ArticleEvent, frozen=True, kw_only=True, tag="article.revised"):
    """A new version was saved (it is not searched until published)."""

    title: str


class ArticlePublishedEvent(ArticleEvent, frozen=True, kw_only=True, tag="article.published"):
    title: str
    visibility: str


class ArticleArchivedEvent(ArticleEvent, frozen=True, kw_only=True, tag="article.archived"):
    """The article left search; its versions are kept."""
