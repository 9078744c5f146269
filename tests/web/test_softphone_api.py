"""``POST /api/v1/softphone/credential``: the desk softphone's credential names the signed-in
user only, verifies with the edge secret derived from the master key, is not cached, and
exists only where a softphone edge is configured. ``GET /api/v1/softphone/phone-password``:
the desk phone's password, for oneself only, from a session only, audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from testkit import Browserless, LiveServer, World, live_server
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.telephony.edge_auth import (
    CREDENTIAL_TTL_S,
    EDGE_PURPOSE,
    edge_secret,
    password_for,
    phone_password,
)

WS_URL = "ws://127.0.0.1:5066"
EDGE_SIP = "sip.example.jp:5060"


@pytest.fixture
def edge_server(
    database_url: str, profile: str, settings_for: Any, world: World
) -> Iterator[LiveServer]:
    settings = settings_for(
        database_url, profile, voice_softphone_ws_url=WS_URL, voice_edge_sip=EDGE_SIP
    )
    with live_server(settings) as running:
        yield running


def _signed_in(server: LiveServer, world: World, role: str) -> Browserless:
    client = Browserless(server.url)
    assert client.sign_in(world.account("a", role).username).status_code == 303
    return client


def test_a_communicator_gets_a_credential_for_their_own_name(
    edge_server: LiveServer, world: World
) -> None:
    account = world.account("a", "communicator")
    client = _signed_in(edge_server, world, "communicator")
    try:
        response = client.request("POST", "/api/v1/softphone/credential")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["ws_url"] == WS_URL
        assert body["uri"] == f"sip:{account.username}@127.0.0.1"
        expires, name = body["authorization_user"].split(":", 1)
        assert name == account.username
        assert int(expires) == body["expires_at"]
        assert abs(body["expires_at"] - time.time() - CREDENTIAL_TTL_S) < 60
        settings = edge_server.app.state.services.settings
        secret = edge_secret(KeyRing(master_key_for(settings)).installation_key(EDGE_PURPOSE))
        assert body["password"] == password_for(secret, body["authorization_user"])
        # No field of the request chooses the name.
        other = client.request(
            "POST", "/api/v1/softphone/credential", json={"user": "someone-else"}
        )
        assert other.status_code in (200, 400)
        if other.status_code == 200:
            assert other.json()["authorization_user"].endswith(f":{account.username}")
        signed_out = Browserless(edge_server.url)
        assert signed_out.request("POST", "/api/v1/softphone/credential").status_code in (
            401,
            403,
        )
        signed_out.close()
    finally:
        client.close()


def test_client_viewers_get_no_softphone(edge_server: LiveServer, world: World) -> None:
    viewer = _signed_in(edge_server, world, "client_viewer")
    try:
        assert viewer.request("POST", "/api/v1/softphone/credential").status_code == 403
    finally:
        viewer.close()


def test_no_softphone_without_an_edge(server: LiveServer, world: World) -> None:
    client = _signed_in(server, world, "communicator")
    try:
        response = client.request("POST", "/api/v1/softphone/credential")
        assert response.status_code == 404, response.text
        assert "voice_softphone_ws_url" in response.text
    finally:
        client.close()


def test_a_communicator_reads_their_own_desk_phone_password_and_the_read_is_audited(
    edge_server: LiveServer, world: World
) -> None:
    account = world.account("a", "communicator")
    client = _signed_in(edge_server, world, "communicator")
    admin = _signed_in(edge_server, world, "administrator")
    try:
        page = client.http.get("/routing/desk")
        assert page.status_code == 200
        assert 'data-testid="desk-phone"' in page.text and EDGE_SIP in page.text
        assert "Desk phone settings" in page.text  # the account's language
        assert client.request("PATCH", "/api/v1/me", json={"locale": "ja"}).status_code == 200
        assert "卓上電話の設定" in client.http.get("/routing/desk").text
        response = client.http.get("/api/v1/softphone/phone-password")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        settings = edge_server.app.state.services.settings
        secret = edge_secret(KeyRing(master_key_for(settings)).installation_key(EDGE_PURPOSE))
        password = phone_password(secret, account.username)
        assert response.json() == {
            "sip_user": account.username,
            "domain": EDGE_SIP,
            "transport": "udp",
            "password": password,
            "realm": "tsunagi",
        }
        assert password not in page.text  # only fetched when the disclosure opens
        # No parameter chooses the user.
        other = client.http.get("/api/v1/softphone/phone-password", params={"user": "someone-else"})
        assert other.json()["sip_user"] == account.username
        reads = admin.http.get(
            "/api/v1/audit", params={"action": "softphone.phone_password_read"}
        ).json()
        assert len(reads) == 2
        assert {r["resource_id"] for r in reads} == {str(account.user_id)}
        signed_out = Browserless(edge_server.url)
        assert signed_out.http.get("/api/v1/softphone/phone-password").status_code == 401
        signed_out.close()
    finally:
        client.close()
        admin.close()


def test_no_desk_phone_password_for_viewers_or_api_tokens(
    edge_server: LiveServer, world: World
) -> None:
    viewer = _signed_in(edge_server, world, "client_viewer")
    manager = _signed_in(edge_server, world, "manager")
    try:
        assert viewer.http.get("/api/v1/softphone/phone-password").status_code == 403
        assert 'data-testid="desk-phone"' not in viewer.http.get("/routing/desk").text
        token = manager.request(
            "POST", "/api/v1/tokens", json={"name": "t", "scopes": ["softphone:read"]}
        )
        assert token.status_code == 201, token.text
        bearer = {"authorization": f"Bearer {token.json()['token']}"}
        with httpx.Client(base_url=edge_server.url) as api:
            refused = api.get("/api/v1/softphone/phone-password", headers=bearer)
        assert refused.status_code == 403, refused.text
        assert manager.http.get("/api/v1/softphone/phone-password").status_code == 200
    finally:
        viewer.close()
        manager.close()


def test_no_desk_phone_settings_without_an_edge(server: LiveServer, world: World) -> None:
    client = _signed_in(server, world, "communicator")
    try:
        response = client.http.get("/api/v1/softphone/phone-password")
        assert response.status_code == 404, response.text
        assert "voice_edge_sip" in response.text
        assert 'data-testid="desk-phone"' not in client.http.get("/routing/desk").text
    finally:
        client.close()
