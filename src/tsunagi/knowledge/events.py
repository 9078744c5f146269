"""Events of the knowledge base.

Their resource is ``article.changes``, readable by staff only: the events carry titles of
internal articles, which client viewers (who read public articles) must not receive.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from tsunagi.domain.events import Event


class ArticleCreatedEvent(Event, frozen=True, kw_only=True, tag="article.created"):
    resource: ClassVar[str] = "article.changes"

    article_id: UUID
    version: int
    title: str
    kind: str


class ArticleRevisedEvent(Event, frozen=True, kw_only=True, tag="article.revised"):
    """A new version was saved (it is not searched until published)."""

    resource: ClassVar[str] = "article.changes"

    article_id: UUID
    version: int
    title: str


class ArticlePublishedEvent(Event, frozen=True, kw_only=True, tag="article.published"):
    """The version became the one search finds."""

    resource: ClassVar[str] = "article.changes"

    article_id: UUID
    version: int
    title: str
    visibility: str


class ArticleArchivedEvent(Event, frozen=True, kw_only=True, tag="article.archived"):
    """The article left search; its versions are kept."""

    resource: ClassVar[str] = "article.changes"

    article_id: UUID
    version: int
