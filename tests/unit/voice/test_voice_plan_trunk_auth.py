"""The voice plan's trunk credentials: a user name in the plan, the password only in
the environment variable the plan names."""

from __future__ import annotations

from typing import Any

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.voice.plan import parse_plan, trunk_auth

BASE: dict[str, Any] = {
    "numbers": {"0120000000": {"tenant": "demo", "flow": "main"}},
    "flows": {
        "main": {
            "name": "main",
            "start": "q",
            "nodes": {"q": {"kind": "to_queue", "queue": "billing"}},
        }
    },
    "trunk": "sip:{number}@192.0.2.1:5060",
}
AUTH = {"trunk_username": "tsunagi", "trunk_password_env": "TSUNAGI_TRUNK_PASSWORD"}


def test_the_password_comes_from_the_named_environment_variable() -> None:
    plan = parse_plan({**BASE, **AUTH})
    assert trunk_auth(plan, {"TSUNAGI_TRUNK_PASSWORD": "s3cret"}) == ("tsunagi", "s3cret")
    assert "s3cret" not in repr(plan)


def test_no_credentials_unless_the_plan_names_them() -> None:
    assert trunk_auth(parse_plan(BASE), {"TSUNAGI_TRUNK_PASSWORD": "s3cret"}) is None


@pytest.mark.parametrize("environ", [{}, {"TSUNAGI_TRUNK_PASSWORD": ""}])
def test_a_missing_variable_is_a_clear_error_naming_it(environ: dict[str, str]) -> None:
    plan = parse_plan({**BASE, **AUTH})
    with pytest.raises(InvalidInputError, match=r"TSUNAGI_TRUNK_PASSWORD.*not set"):
        trunk_auth(plan, environ)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"trunk_username": "tsunagi"}, "go together"),
        ({"trunk_password_env": "TSUNAGI_TRUNK_PASSWORD"}, "go together"),
        ({**AUTH, "trunk_password_env": "not a name"}, "not an environment variable name"),
        ({**AUTH, "trunk": None}, "needs a trunk"),
    ],
)
def test_incomplete_or_invalid_settings_are_refused(extra: dict[str, Any], problem: str) -> None:
    data = {**BASE, **extra}
    if data.get("trunk") is None:
        data.pop("trunk")
    with pytest.raises(InvalidInputError, match=problem):
        parse_plan(data)
