"""Wrap-up rules: what a queue requires before a contact closes, checked without I/O."""

from __future__ import annotations

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.routing.wrap_up import CATEGORY_CODE_MAX, WrapUpRules, check_category, wrap_up_rules

RULES = wrap_up_rules(
    {
        "wrap_up": {
            "required": ["category", "sub_reason", "resolved_first_contact"],
            "sub_reasons": {"delivery-time": ["morning", "evening"]},
        }
    }
)


def test_no_rules_require_nothing() -> None:
    rules = wrap_up_rules({"routing": {}})
    assert rules == WrapUpRules()
    rules.check(category=None, sub_reason=None, resolved_first_contact=None)


@pytest.mark.parametrize(
    ("category", "sub_reason", "resolved", "named"),
    [
        (None, None, True, "category"),
        ("delivery-time", None, True, "sub_reason"),
        ("delivery-time", "noon", True, "sub_reason"),
        ("delivery-time", "x" * 64, True, "sub_reason"),
        ("delivery-time", "morning", None, "resolved_first_contact"),
    ],
)
def test_the_first_missing_field_is_named(
    category: str | None, sub_reason: str | None, resolved: bool | None, named: str
) -> None:
    with pytest.raises(InvalidInputError, match=named):
        RULES.check(category=category, sub_reason=sub_reason, resolved_first_contact=resolved)


def test_complete_wrap_ups_pass() -> None:
    RULES.check(category="delivery-time", sub_reason="evening", resolved_first_contact=False)
    RULES.check(category="billing", sub_reason=None, resolved_first_contact=True)  # no list


def test_a_sub_reason_needs_a_category_even_when_nothing_is_required() -> None:
    with pytest.raises(InvalidInputError, match="needs a category"):
        WrapUpRules().check(category=None, sub_reason="late", resolved_first_contact=None)


@pytest.mark.parametrize(
    "raw",
    [
        {"required": ["follow_up"]},
        {"required": ["category", "category"]},
        {"sub_reasons": {"a": ["x", "x"]}},
        {"sub_reasons": {"a": [" "]}},
        {"sub_reasons": {" ": ["x"]}},
        {"unknown": 1},
    ],
)
def test_bad_rules_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        wrap_up_rules({"wrap_up": raw})


@pytest.mark.parametrize("category", ["", "   ", "x" * (CATEGORY_CODE_MAX + 1)])
def test_a_category_is_1_to_63_characters(category: str) -> None:
    """Whatever the queue's rules: a longer one would not fit its column (on PostgreSQL
    the close failed with a server error instead of naming the field)."""
    with pytest.raises(InvalidInputError, match="category"):
        check_category(category)
    check_category("x" * CATEGORY_CODE_MAX)
    check_category(None)
