"""Articles of the knowledge base: manuals, FAQ and scripts, and the rules for them.

An article has versions; editing writes a new version, publishing makes one version the
one searched and shown. Visibility ``internal`` is for staff only; ``public`` articles
may also be shown to customers and client viewers. Only a published article is found by
search.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TypeVar

from tsunagi.domain.errors import InvalidInputError

TITLE_MAX = 200
BODY_MAX = 50_000
TAG_MAX = 32
TAGS_MAX = 20
E = TypeVar("E", bound=enum.StrEnum)
_CODE = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,62}")


class ArticleKind(enum.StrEnum):
    FAQ = "faq"
    MANUAL = "manual"
    SCRIPT = "script"


class Visibility(enum.StrEnum):
    INTERNAL = "internal"
    PUBLIC = "public"


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    """The editable content of one version, validated."""

    title: str
    body: str
    kind: ArticleKind
    visibility: Visibility
    category_code: str | None
    tags: tuple[str, ...]


def _choice(enum_type: type[E], value: str, name: str) -> E:
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise InvalidInputError(f"{name} must be one of: {allowed}") from None


def parse_kind(value: str) -> ArticleKind:
    return _choice(ArticleKind, value, "kind")


def parse_visibility(value: str) -> Visibility:
    return _choice(Visibility, value, "visibility")


def validate_draft(
    *,
    title: str,
    body: str,
    kind: str,
    visibility: str,
    category_code: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
) -> ArticleDraft:
    """Check every field; the first bad one raises :class:`InvalidInputError` naming it."""
    title = title.strip()
    if not title:
        raise InvalidInputError("title must not be empty")
    if len(title) > TITLE_MAX:
        raise InvalidInputError(f"title must be at most {TITLE_MAX} characters")
    if not body.strip():
        raise InvalidInputError("body must not be empty")
    if len(body) > BODY_MAX:
        raise InvalidInputError(f"body must be at most {BODY_MAX} characters")
    if category_code is not None and not _CODE.fullmatch(category_code):
        raise InvalidInputError("category_code must be a lower-case code (a-z, 0-9, _ . -)")
    cleaned = tuple(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if len(cleaned) > TAGS_MAX or any(len(tag) > TAG_MAX for tag in cleaned):
        raise InvalidInputError(f"at most {TAGS_MAX} tags of at most {TAG_MAX} characters")
    return ArticleDraft(
        title=title,
        body=body,
        kind=parse_kind(kind),
        visibility=parse_visibility(visibility),
        category_code=category_code,
        tags=cleaned,
    )


def snippet(body: str, length: int = 120) -> str:
    """The start of the body on one line, for result lists."""
    flat = " ".join(body.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"
