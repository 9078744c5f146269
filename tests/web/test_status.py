"""The administrators' status page: database, bus, event pipeline and the voice worker's
health as reported in its status file (written here as the worker writes it; the voice
tests run the real worker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from testkit import Browserless, LiveServer, World
from tsunagi.adapters.telephony.status import read_status, status_path, write_status


def _admin(client_factory: Any, world: World, role: str = "administrator") -> Browserless:
    client: Browserless = client_factory()
    assert client.sign_in(world.account("a", role).username).status_code == 303
    return client


def _parts(client: Browserless) -> dict[str, dict[str, Any]]:
    response = client.request("GET", "/api/v1/status")
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["parts"]}


def test_the_status_page_shows_each_part_and_the_voice_worker(
    server: LiveServer, world: World, client_factory: Any
) -> None:
    admin = _admin(client_factory, world)
    parts = _parts(admin)
    assert parts["database"]["state"] == "ok"
    assert parts["bus"]["state"] == "ok"
    assert parts["event relay"]["state"] == "ok"
    assert parts["figures"]["state"] == "ok"
    assert parts["figures"]["detail"]["projector"] == "in process"  # a test's app
    assert parts["voice"]["state"] == "not running"
    assert admin.request("GET", "/api/v1/status").json()["state"] == "ok"  # voice is optional

    path = status_path(server.app.state.services.settings.data_dir)
    healthy = {"rtpengine": True, "worker": True, "edge": True, "mixer": True}
    write_status(path, components=healthy, restarts={}, live_calls=3, sip="127.0.0.1:5080")
    voice = _parts(admin)["voice"]
    assert voice["state"] == "ok"
    assert voice["detail"]["live_calls"] == 3

    write_status(
        path,
        components={**healthy, "edge": False},
        restarts={"kamailio": 2},
        live_calls=0,
        sip="127.0.0.1:5080",
    )
    assert _parts(admin)["voice"]["state"] == "degraded"
    assert admin.request("GET", "/api/v1/status").json()["state"] == "degraded"
    page = admin.request("GET", "/status")
    assert page.status_code == 200
    assert 'data-part="voice" data-state="degraded"' in page.text
    assert "edge = False" in page.text and "kamailio = 2" in page.text

    old = datetime.now(UTC) - timedelta(seconds=60)
    write_status(path, components=healthy, restarts={}, live_calls=0, sip="x", now=old)
    assert _parts(admin)["voice"]["state"] == "stale"


def test_only_administrators_see_the_status(
    server: LiveServer, world: World, client_factory: Any
) -> None:
    for role in ("supervisor", "communicator", "manager"):
        client = _admin(client_factory, world, role)
        assert client.request("GET", "/api/v1/status").status_code == 403
        assert client.request("GET", "/status").status_code == 403


def test_a_torn_or_missing_status_file_is_reported_not_raised(tmp_path: Any) -> None:
    path = status_path(tmp_path)
    assert read_status(path).state == "not running"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert read_status(path).state == "stale"
