"""The authorization matrix: every route × every role × own tenant and another tenant.

The route table is read from ``docs/authorization.md`` (the document people read), so a
route missing there fails here, and the expectations come from the policy table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit import ROLE_NAMES, Browserless, LiveServer, World
from tsunagi.domain.permissions import Action, Grant, Role, grant_for
from tsunagi.web.docs import authorization_markdown, reference_app, route_entries

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
ROW = re.compile(r"^\| (?P<method>[A-Z]+) \| `(?P<path>[^`]+)` \| (?P<need>[^|]+) \|$")
PARAM = re.compile(r"\{(?P<name>[a-z_]+)(?::[a-z]+)?\}")


def documented_routes() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            found[(match["method"], match["path"])] = match["need"].strip()
    return found


def test_the_document_is_current() -> None:
    expected = authorization_markdown(reference_app())
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/authorization.md is stale: run `tsunagi docs authorization > docs/authorization.md`"
    )


def test_every_route_has_an_entry() -> None:
    documented = documented_routes()
    for method, path, need in route_entries(reference_app()):
        assert need != "missing", f"{method} {path} has no authz opt"
        assert documented.get((method, path)) == need, f"{method} {path} is not in the matrix"


def _guarded() -> list[tuple[str, str, str, str]]:
    """(method, path, action, resource) of every route that needs a permission."""
    rows = []
    for (method, path), need in sorted(documented_routes().items()):
        if need in ("public", "public_api"):
            continue
        action, resource = need.split(" ", 1)
        rows.append((method, path, action, resource))
    # Signing out ends the session the other calls use: call it last.
    return sorted(rows, key=lambda row: row[1] == "/logout")


class Tenants:
    """Signed-in clients for every role of tenant a, and ids of things in tenant b."""

    def __init__(self, server: LiveServer, world: World) -> None:
        self.world = world
        self.clients: dict[str, Browserless] = {}
        for role in ROLE_NAMES:
            client = Browserless(server.url)
            assert client.sign_in(world.account("a", role).username).status_code == 303
            self.clients[role] = client
        other_admin = Browserless(server.url)
        other_admin.sign_in(world.account("b", "administrator").username)
        issued = other_admin.request(
            "POST", "/api/v1/tokens", json={"name": "b-token", "scopes": ["queue:read"]}
        )
        assert issued.status_code == 201, issued.text
        self.b_token_id = issued.json()["id"]
        self.b_secret = issued.json()["token"]
        other_admin.close()
        self.b_strings = [
            str(world.tenants["b"]),
            *(str(a.user_id) for (t, _), a in world.accounts.items() if t == "b"),
            *(a.username for (t, _), a in world.accounts.items() if t == "b"),
            self.b_token_id,
        ]

    def path_in_b(self, path: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match["name"]
            if name in ("user_id", "agent_id"):
                return str(self.world.account("b", "communicator").user_id)
            if name == "token_id":
                return str(self.b_token_id)
            if name == "file_path":
                return "app.css"
            return str(self.world.tenants["b"])

        return PARAM.sub(value, path)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture
def tenants(server: LiveServer, world: World) -> Any:
    made = Tenants(server, world)
    yield made
    made.close()


SAMPLE_QUERY = {"string": "matrix", "integer": 1, "boolean": "true", "number": 1}


def _sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _sample(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _sample(options[0], components) if options else None
    kind, form = schema.get("type", "string"), schema.get("format")
    if kind == "object":
        return {
            name: _sample(prop, components)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "string" and "enum" in schema:
        return schema["enum"][0]
    if form == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if form == "date":
        return "2026-01-05"
    if form == "date-time":
        return "2026-01-05T10:00:00Z"
    return SAMPLE_QUERY.get(kind, "matrix")


def valid_inputs() -> dict[tuple[str, str], tuple[dict[str, Any], Any]]:
    """Required query parameters and a minimal body of each route (from OpenAPI), so the
    call reaches authorization and the row lookup instead of stopping at validation."""
    document = reference_app().openapi_schema.to_schema()
    components = document.get("components", {}).get("schemas", {})
    found: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = {
                p["name"]: _sample(p.get("schema", {}), components)
                for p in operation.get("parameters", [])
                if p.get("in") == "query" and p.get("required")
            }
            content = operation.get("requestBody", {}).get("content", {})
            body = (
                _sample(content["application/json"]["schema"], components)
                if "application/json" in content
                else None
            )
            found[(method.upper(), path)] = (params, body)
    return found


def _call(
    client: Browserless, method: str, path: str, inputs: tuple[dict[str, Any], Any] | None
) -> httpx.Response:
    params, body = inputs or ({}, None)
    if body is None and method in ("POST", "PATCH", "PUT"):
        body = {}
    return client.request(
        method, path, json=body, params=params, headers={"accept": "application/json"}
    )


def test_matrix(tenants: Tenants) -> None:
    checked = 0
    inputs = valid_inputs()
    for method, path, action, resource in _guarded():
        if method == "WEBSOCKET":
            continue  # covered by tests/web/test_events.py
        for role in ROLE_NAMES:
            client = tenants.clients[role]
            grant = grant_for(frozenset({Role(role)}), resource, Action(action))
            target = tenants.path_in_b(path)
            openapi_path = PARAM.sub(lambda m: "{" + m["name"] + "}", path)
            response = _call(client, method, target, inputs.get((method, openapi_path)))
            where = f"{role} {method} {target}"
            if grant is None:
                assert response.status_code in (403, 404), where
            elif target != path:
                # Another tenant's resource is simply not there for this caller (an "own"
                # grant may refuse before looking: also fine, as long as nothing leaks).
                allowed = (404,) if grant is Grant.ALL else (403, 404)
                assert response.status_code in allowed, (
                    f"{where}: {response.status_code} {response.text[:200]}"
                )
            else:
                assert response.status_code not in (401, 403), f"{where}: {response.text[:200]}"
            if response.status_code in (403, 404):
                for secret in tenants.b_strings:
                    assert secret not in response.text, f"{where} leaked {secret}"
            checked += 1
    assert checked >= len(ROLE_NAMES) * 10


def test_signed_out_callers_get_nothing(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        for method, path, _action, _resource in _guarded():
            if method == "WEBSOCKET":
                continue
            concrete = PARAM.sub("00000000-0000-4000-8000-000000000000", path)
            response = anonymous.request(method, concrete, json={} if method != "GET" else None)
            if path.startswith("/api/"):
                assert response.status_code in (401, 403), f"{method} {path}"
            else:
                assert response.status_code in (302, 303, 401, 403), f"{method} {path}"
                if response.status_code in (302, 303):
                    assert response.headers["location"].startswith("/login")


def test_token_scopes_narrow_the_roles(server: LiveServer, tenants: Tenants) -> None:
    with httpx.Client(base_url=server.url) as api:
        bearer = {"authorization": f"Bearer {tenants.b_secret}"}
        allowed = api.get("/api/v1/queues", headers=bearer)
        assert allowed.status_code == 200
        refused = api.get("/api/v1/users", headers=bearer)
        assert refused.status_code == 403
        assert "users" not in refused.text.lower() or "scope" in refused.text.lower()
        bogus = api.get("/api/v1/queues", headers={"authorization": "Bearer tsu_not-a-token"})
        assert bogus.status_code == 401


def test_denials_are_audited(tenants: Tenants) -> None:
    communicator = tenants.clients["communicator"]
    assert communicator.request("GET", "/api/v1/audit").status_code == 403
    admin = tenants.clients["administrator"]
    entries = admin.request("GET", "/api/v1/audit", params={"action": "authz.denied"}).json()
    assert any(
        entry["actor_user_id"] == str(tenants.world.account("a", "communicator").user_id)
        for entry in entries
    )
