"""The health endpoint says what is down, with 503, so a load balancer stops sending work."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from testkit import live_server, make_settings


@pytest.mark.slow  # the routing engine retries its start against the missing database
def test_a_missing_database_makes_the_service_unhealthy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="tsunagi.adapters.relay")
    unreachable = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'tsunagi.db'}"
    with live_server(make_settings(unreachable, tmp_path)) as server, httpx.Client() as client:
        health = client.get(f"{server.url}/api/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "degraded"
    assert body["database"].startswith("down")
    assert body["bus"] == "ok"
