"""Bad input on every write endpoint: 422 with a message, and nothing changes in the database.

Write endpoints and their body schemas come from the app's own OpenAPI document, so a new
endpoint is covered the day it is added.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from testkit import ROLE_NAMES, Browserless, LiveServer, World, live_server, run
from tsunagi.adapters.storage.schema import metadata
from tsunagi.domain.permissions import Action, Role, grant_for
from tsunagi.web.docs import reference_app

# Columns that legitimately move meanwhile: session activity, and the relay numbering and
# publishing earlier events. New or changed outbox rows would still show.
VOLATILE = {("user_sessions", "last_seen_at"), ("outbox", "seq"), ("outbox", "published_at")}
# Projections of the event stream, kept up to date in the background; a bad request that
# produced an event would already differ in the outbox.
PROJECTIONS = ("figures_",)
WRONG_TYPE: dict[str, Any] = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "perhaps",
    "array": "not-a-list",
    "object": 7,
}
SAMPLE: dict[str, Any] = {
    "string": "x",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "array": [],
    "object": {},
}


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    async def read() -> dict[str, list[tuple[Any, ...]]]:
        engine = create_async_engine(url)
        tables: dict[str, list[tuple[Any, ...]]] = {}
        try:
            async with engine.connect() as connection:
                for table in metadata.sorted_tables:
                    if table.name.startswith(PROJECTIONS):
                        continue
                    columns = [
                        c.name for c in table.columns if (table.name, c.name) not in VOLATILE
                    ]
                    listed = ", ".join(f'"{c}"' for c in columns)
                    rows = await connection.execute(text(f'SELECT {listed} FROM "{table.name}"'))
                    tables[table.name] = sorted(tuple(map(str, row)) for row in rows)
        finally:
            await engine.dispose()
        return tables

    return run(read)


def _schema_type(schema: dict[str, Any], components: dict[str, Any]) -> str:
    if "$ref" in schema:
        return _schema_type(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            kinds = [_schema_type(s, components) for s in schema[key]]
            return next((k for k in kinds if k != "null"), "string")
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def json_write_endpoints() -> list[tuple[str, str, str, dict[str, Any], list[str]]]:
    """(method, path, authz, property types, required) for every JSON-body write route."""
    app = reference_app()
    document = app.openapi_schema.to_schema()
    components = document.get("components", {}).get("schemas", {})
    needs = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                needs[(method, route.path_format)] = handler.opt.get("authz")
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if method.upper() not in ("POST", "PUT", "PATCH") or body is None:
                continue
            schema = body["schema"]
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[1]]
            properties = {
                name: _schema_type(prop, components)
                for name, prop in schema.get("properties", {}).items()
            }
            authz = needs[(method.upper(), path)]
            found.append(
                (
                    method.upper(),
                    path,
                    authz if isinstance(authz, str) else f"{authz[0]} {authz[1]}",
                    properties,
                    schema.get("required", []),
                )
            )
    return found


def _allowed_role(need: str) -> str:
    action, resource = need.split(" ", 1)
    for role in ROLE_NAMES:
        if grant_for(frozenset({Role(role)}), resource, Action(action)) is not None:
            return role
    raise AssertionError(f"no role may {need}")


def _concrete(path: str, world: World) -> str:
    own = str(world.account("a", "communicator").user_id)
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            parts.append(own if part[1:-1] == "user_id" else str(uuid.uuid4()))
        else:
            parts.append(part)
    return "/".join(parts)


@pytest.fixture
def server(
    database_url: str, profile: str, settings_for: Any, world: World
) -> Iterator[LiveServer]:
    """The app with public rate limits out of the way: this test sends many bad bodies."""
    with live_server(
        settings_for(database_url, profile, public_requests_per_minute=100_000)
    ) as running:
        yield running


def test_there_are_write_endpoints_to_check() -> None:
    paths = {(method, path) for method, path, *_ in json_write_endpoints()}
    assert ("POST", "/api/v1/users") in paths
    assert ("PATCH", "/api/v1/me") in paths


def test_bad_json_bodies_change_nothing(
    client_factory: Any, server: LiveServer, world: World, database_url: str
) -> None:
    clients: dict[str, Browserless] = {}
    for role in ROLE_NAMES:
        clients[role] = client_factory()
        clients[role].sign_in(world.account("a", role).username)
    before = snapshot(database_url)
    anonymous = client_factory()  # public endpoints (widget, webhooks): no session at all
    for method, path, need, properties, required in json_write_endpoints():
        client = anonymous if need.startswith("public") else clients[_allowed_role(need)]
        role = "anonymous" if need.startswith("public") else _allowed_role(need)
        target = _concrete(path, world)
        base = {name: SAMPLE[properties[name]] for name in required}
        cases: list[tuple[str, Any]] = [
            ("unknown field", {**base, "definitely_not_a_field": 1}),
            ("not an object", [1, 2, 3]),
        ]
        cases += [
            (f"{name} of the wrong type", {**base, name: WRONG_TYPE[kind]})
            for name, kind in properties.items()
        ]
        # A path naming a row that does not exist may be answered 404 before the body is
        # read; the feature's own tests send bad bodies to real rows.
        accepted = (422,) if target == path or "/users/" in path else (404, 422)
        for label, body in cases:
            response = client.request(method, target, json=body)
            where = f"{role} {method} {target} with {label}"
            assert response.status_code in accepted, (
                f"{where}: {response.status_code} {response.text}"
            )
            assert response.json()["detail"], where
        malformed = client.request(
            method, target, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert malformed.status_code in (400, *accepted), f"{method} {target} malformed JSON"
    after = snapshot(database_url)
    assert after == before


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/login", {"username": "x", "password": "y", "unexpected": "1"}),
        ("/language", {"lang": "tlh"}),
    ],
)
def test_bad_forms_are_refused(
    request: pytest.FixtureRequest,
    server: LiveServer,
    world: World,
    database_url: str,
    path: str,
    form: dict[str, str],
) -> None:
    client = Browserless(server.url)
    request.addfinalizer(client.close)
    token = client.login_form_csrf()
    before = snapshot(database_url)
    response = client.http.post(path, data={**form, "_csrf": token})
    after = snapshot(database_url)
    assert response.status_code == 422, response.text
    assert before == after


def test_a_page_names_the_bad_parameter(client_factory: Any, world: World) -> None:
    supervisor = client_factory()
    supervisor.sign_in(world.account("a", "supervisor").username)
    page = supervisor.http.get("/figures", params={"day_from": "not-a-date"})
    assert page.status_code == 422
    assert "day_from" in page.text


def test_a_browser_asking_for_no_page_gets_a_page_in_its_language(
    client_factory: Any, world: World
) -> None:
    """A mistyped or stale link in a browser is answered with the error page (in the
    user's language), not JSON; the API and clients that do not ask for HTML still get
    JSON."""
    communicator = client_factory()
    communicator.sign_in(world.account("a", "communicator").username)
    html = {"Accept": "text/html,application/xhtml+xml"}
    page = communicator.http.get("/no-such-page", headers=html)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text and 'href="/"' in page.text
    japanese = communicator.http.post(
        "/language", data={"lang": "ja", "next": "/", "_csrf": communicator.csrf}
    )
    assert japanese.status_code in (302, 303), japanese.text
    assert "ページが見つからないか" in communicator.http.get("/no-such-page", headers=html).text
    api = communicator.http.get("/api/v1/no-such-thing", headers=html)
    assert api.status_code == 404 and api.json()["status_code"] == 404
    plain = communicator.http.get("/no-such-page")
    assert plain.status_code == 404 and plain.json()["detail"] == "Not Found"
