"""Wrap-up rules of a queue: which fields a communicator must fill before closing a contact,
and the sub-reasons each category offers.

Stored under ``Queue.config["wrap_up"]`` next to ``"routing"``; :func:`wrap_up_rules` reads
them with defaults (nothing required, no sub-reasons), so a queue without rules closes as
before. :meth:`WrapUpRules.check` is what the close action runs: the first missing or
unknown field is named in the error and nothing is written.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import msgspec

from tsunagi.domain.errors import InvalidInputError

SUB_REASON_MAX = 63  # contact_parties.sub_reason


class WrapUpField(enum.StrEnum):
    CATEGORY = "category"
    SUB_REASON = "sub_reason"  # required only when the chosen category has sub-reasons
    RESOLVED_FIRST_CONTACT = "resolved_first_contact"  # answered yes or no, not left unset


class WrapUpRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    required: list[WrapUpField] = msgspec.field(default_factory=list)
    # category code → the sub-reasons offered for it, in display order
    sub_reasons: dict[str, list[str]] = msgspec.field(default_factory=dict)

    def validated(self) -> WrapUpRules:
        if len(set(self.required)) != len(self.required):
            raise InvalidInputError("required: a field is listed twice")
        for category, reasons in self.sub_reasons.items():
            if not category.strip():
                raise InvalidInputError("sub_reasons: empty category code")
            if len(set(reasons)) != len(reasons):
                raise InvalidInputError(f"sub_reasons {category}: a sub-reason is listed twice")
            for reason in reasons:
                if not reason.strip() or len(reason) > SUB_REASON_MAX:
                    limit = f"1 to {SUB_REASON_MAX} characters"
                    raise InvalidInputError(f"sub_reasons {category}: each sub-reason is {limit}")
        return self

    def check(
        self, *, category: str | None, sub_reason: str | None, resolved_first_contact: bool | None
    ) -> None:
        """Raise :class:`InvalidInputError` naming the first field the wrap-up lacks."""
        required = set(self.required)
        if WrapUpField.CATEGORY in required and not category:
            raise InvalidInputError("category is required to close this contact")
        offered = self.sub_reasons.get(category or "", [])
        if sub_reason is not None:
            if len(sub_reason) > SUB_REASON_MAX:
                raise InvalidInputError(f"sub_reason is longer than {SUB_REASON_MAX} characters")
            if not category:
                raise InvalidInputError("sub_reason needs a category")
            if offered and sub_reason not in offered:
                raise InvalidInputError(
                    f"sub_reason {sub_reason!r} is not one of category {category!r}'s sub-reasons"
                )
        elif WrapUpField.SUB_REASON in required and offered:
            raise InvalidInputError(f"sub_reason is required for category {category!r}")
        if WrapUpField.RESOLVED_FIRST_CONTACT in required and resolved_first_contact is None:
            raise InvalidInputError("resolved_first_contact must be answered (true or false)")


def wrap_up_rules(config: dict[str, Any] | None) -> WrapUpRules:
    """The wrap-up rules inside a queue's ``config`` (none when absent)."""
    raw = (config or {}).get("wrap_up") or {}
    try:
        return msgspec.convert(raw, WrapUpRules).validated()
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"queue wrap-up rules: {exc}") from exc


SUGGESTED_MAX = 3  # the hit rate counts top-1 and top-3
CATEGORY_CODE_MAX = 63  # categories.code


def _is_code(code: str) -> bool:
    return bool(code.strip()) and len(code) <= CATEGORY_CODE_MAX


def check_category(category: str | None) -> None:
    """A wrap-up's category, whatever its queue's rules: 1 to :data:`CATEGORY_CODE_MAX`
    characters (what ``routing_contacts.category`` holds). Raises naming ``category``."""
    if category is not None and not _is_code(category):
        raise InvalidInputError(f"category is 1 to {CATEGORY_CODE_MAX} characters")


def check_suggested(codes: Sequence[str]) -> list[str]:
    """The categories the desk suggested at wrap-up, best first, as carried in
    ``contact.closed``: at most three distinct codes. Raises naming
    ``suggested_categories``."""
    found = list(codes)
    if len(found) > SUGGESTED_MAX:
        raise InvalidInputError(f"suggested_categories: at most {SUGGESTED_MAX} codes")
    if len(set(found)) != len(found):
        raise InvalidInputError("suggested_categories: a code is listed twice")
    for code in found:
        if not _is_code(code):
            raise InvalidInputError(
                f"suggested_categories: each code is 1 to {CATEGORY_CODE_MAX} characters"
            )
    return found
