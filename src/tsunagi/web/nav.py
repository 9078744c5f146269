"""The navigation bar: each page a role may open, in the order people use them."""

from __future__ import annotations

from dataclasses import dataclass

from tsunagi.domain.permissions import Action, Principal, Resource, is_allowed
from tsunagi.web.i18n import N_


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    resource: str
    action: Action = Action.READ


NAV: tuple[NavItem, ...] = (
    NavItem("/", N_("Home"), "account"),
    NavItem("/routing/desk", N_("Desk"), "desk"),
    NavItem("/routing/floor", N_("Floor"), "floor.supervisor"),
    NavItem("/routing/wallboard", N_("Wallboard"), "floor"),
    NavItem("/knowledge", N_("Knowledge"), "article"),
    NavItem("/figures", N_("Figures"), "figures"),
    NavItem("/booking", N_("Bookings"), "callback_booking"),
    NavItem("/wfm", N_("Planning"), "wfm"),
)


def nav_for(principal: Principal | None, known_paths: frozenset[str]) -> list[NavItem]:
    """The items ``principal`` may open, among the pages this app serves."""
    if principal is None:
        return []
    return [
        item
        for item in NAV
        if item.path in known_paths
        and is_allowed(
            principal, item.action, Resource(item.resource, tenant_id=principal.tenant_id)
        )
    ]
