"""Article rules and scripts filled by substitution only."""

from __future__ import annotations

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.knowledge.articles import ArticleKind, Visibility, snippet, validate_draft
from tsunagi.knowledge.events import ArticlePublishedEvent
from tsunagi.knowledge.scripts import fields_of, fill


def test_a_valid_draft_is_cleaned() -> None:
    draft = validate_draft(
        title="  配送について ",
        body="本文",
        kind="manual",
        visibility="public",
        category_code="delivery",
        tags=["宅配", " 宅配 ", ""],
    )
    assert draft.title == "配送について"
    assert draft.kind is ArticleKind.MANUAL
    assert draft.visibility is Visibility.PUBLIC
    assert draft.tags == ("宅配",)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "title"),
        ("title", "x" * 201, "title"),
        ("body", " ", "body"),
        ("kind", "poem", "kind"),
        ("visibility", "secret", "visibility"),
        ("category_code", "Bad Code", "category_code"),
    ],
)
def test_bad_fields_are_named(field: str, value: str, message: str) -> None:
    values = {"title": "t", "body": "b", "kind": "faq", "visibility": "internal"}
    values[field] = value
    with pytest.raises(InvalidInputError, match=message):
        validate_draft(**values)  # type: ignore[arg-type]


def test_snippet_is_one_line_and_bounded() -> None:
    assert snippet("a\n\nb   c") == "a b c"
    assert len(snippet("長" * 500, 120)) == 120


def test_fill_substitutes_known_fields_and_reports_missing_ones() -> None:
    template = "{customer.name}様、{agent.name}です。{{括弧}}"
    assert fields_of(template) == ("customer.name", "agent.name")
    filled = fill(template, {"customer.name": "山田", "agent.name": ""})
    assert filled.text == "山田様、{agent.name}です。{括弧}"
    assert filled.missing == ("agent.name",)


def test_fill_never_evaluates_anything() -> None:
    template = "{customer.__class__} {0} {customer.name!r} {a[0]} {customer.name}"
    filled = fill(template, {"customer.name": "{customer.__class__}", "customer.__class__": "x"})
    # Only the plain field names match; the value is inserted once, as text.
    assert filled.text == "x {0} {customer.name!r} {a[0]} {customer.__class__}"


def test_published_event_round_trips() -> None:
    import uuid
    from datetime import UTC, datetime

    from tsunagi.domain.events import decode_event, encode_event

    event = ArticlePublishedEvent(
        tenant_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        article_id=uuid.uuid4(),
        version=2,
        title="t",
        visibility="public",
    )
    assert decode_event(encode_event(event)) == event
    assert ArticlePublishedEvent.type_name() == "article.published"
    assert ArticlePublishedEvent.resource == "article.changes"


def test_client_viewers_do_not_receive_article_events() -> None:
    import uuid

    from tsunagi.domain.permissions import Action, Principal, Resource, Role, is_allowed

    tenant = uuid.uuid4()
    resource = Resource(ArticlePublishedEvent.resource, tenant)

    def who(role: Role) -> Principal:
        return Principal(user_id=uuid.uuid4(), tenant_id=tenant, roles=frozenset({role}))

    assert is_allowed(who(Role.COMMUNICATOR), Action.READ, resource)
    assert not is_allowed(who(Role.CLIENT_VIEWER), Action.READ, resource)
    # ...while they may read (public) articles.
    assert is_allowed(who(Role.CLIENT_VIEWER), Action.READ, Resource("article", tenant))
