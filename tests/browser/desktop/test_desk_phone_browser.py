"""The desk's "Desk phone settings": opening the disclosure shows the communicator's SIP
user, the edge and their phone password (the one the SIP edge checks), fetched only then."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from browser.desktop.desk_helpers import open_desk
from testkit import LiveServer, World, live_server
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.telephony.edge_auth import EDGE_PURPOSE, edge_secret, phone_password

pytestmark = pytest.mark.browser

EDGE_SIP = "sip.example.jp:5060"


@pytest.fixture
def edge_server(
    database_url: str, profile: str, settings_for: Any, world: World
) -> Iterator[LiveServer]:
    with live_server(settings_for(database_url, profile, voice_edge_sip=EDGE_SIP)) as running:
        yield running


def test_the_desk_shows_my_desk_phone_password_when_i_open_its_settings(
    browser: Browser, edge_server: LiveServer, world: World
) -> None:
    account = world.account("a", "communicator")
    settings = edge_server.app.state.services.settings
    secret = edge_secret(KeyRing(master_key_for(settings)).installation_key(EDGE_PURPOSE))
    page = open_desk(browser, edge_server, account.username)
    try:
        box = page.get_by_test_id("desk-phone")
        expect(box.get_by_test_id("desk-phone-password")).not_to_be_visible()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        box.get_by_text("Desk phone settings").click()
        expect(box.get_by_test_id("desk-phone-password")).to_have_text(
            phone_password(secret, account.username)
        )
        expect(box.get_by_test_id("desk-phone-user")).to_have_text(account.username)
        expect(box.get_by_test_id("desk-phone-domain")).to_have_text(EDGE_SIP)
        assert sum("/api/v1/softphone/phone-password" in url for url in requests) == 1
    finally:
        page.context.close()
