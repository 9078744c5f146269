"""Accounts over HTTP: rate-limited sign-in, revocation on password and role changes, tokens."""

from __future__ import annotations

import httpx

from testkit import PASSWORD, Browserless, LiveServer, World


def test_the_attempt_after_the_limit_gets_429(server: LiveServer, world: World) -> None:
    client = Browserless(server.url)
    username = world.account("a", "communicator").username
    limit = 5  # login_attempts_per_window in the test settings (the default)
    statuses = [client.sign_in(username, "wrong-password").status_code for _ in range(limit)]
    assert statuses == [401] * limit
    refused = client.sign_in(username, PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "tsunagi_session" not in refused.cookies
    other = Browserless(server.url)  # another account from the same address still may try
    assert other.sign_in(world.account("a", "supervisor").username).status_code == 303
    client.close()
    other.close()


def test_changing_a_password_ends_every_session_and_token(server: LiveServer, world: World) -> None:
    desk, phone = Browserless(server.url), Browserless(server.url)
    username = world.account("a", "manager").username
    desk.sign_in(username)
    phone.sign_in(username)
    token = desk.request("POST", "/api/v1/tokens", json={"name": "t", "scopes": ["queue:read"]})
    assert token.status_code == 201, token.text
    bearer = {"authorization": f"Bearer {token.json()['token']}"}
    with httpx.Client(base_url=server.url) as api:
        assert api.get("/api/v1/queues", headers=bearer).status_code == 200
        wrong = desk.request(
            "POST",
            "/api/v1/me/password",
            json={"current_password": "nope", "new_password": "another-long-password"},
        )
        assert wrong.status_code == 422
        assert desk.http.get("/api/v1/me").status_code == 200
        changed = desk.request(
            "POST",
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": "another-long-password"},
        )
        assert changed.status_code == 204, changed.text
        assert desk.http.get("/api/v1/me").status_code == 401
        assert phone.http.get("/api/v1/me").status_code == 401
        assert api.get("/api/v1/queues", headers=bearer).status_code == 401
    again = Browserless(server.url)
    assert again.sign_in(username, PASSWORD).status_code == 401
    assert again.sign_in(username, "another-long-password").status_code == 303
    for client in (desk, phone, again):
        client.close()


def test_changing_roles_ends_sessions(server: LiveServer, world: World) -> None:
    admin, user = Browserless(server.url), Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    user.sign_in(world.account("a", "communicator").username)
    user_id = world.account("a", "communicator").user_id
    response = admin.request("PATCH", f"/api/v1/users/{user_id}", json={"roles": ["supervisor"]})
    assert response.status_code == 200
    assert response.json()["roles"] == ["supervisor"]
    assert user.http.get("/api/v1/me").status_code == 401
    assert user.sign_in(world.account("a", "communicator").username).status_code == 303
    assert user.http.get("/", follow_redirects=False).headers["location"] == "/home/supervisor"
    admin.close()
    user.close()


def test_health_reports_database_and_bus(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        health = anonymous.get("/api/health")
        assert health.status_code == 200
        assert health.json()["database"] == "ok"
        assert health.json()["bus"] == "ok"
        schema = anonymous.get("/api/schema/openapi.json")
        assert schema.status_code == 200
        assert "/api/v1/users" in schema.json()["paths"]
