"""``tsunagi voice serve`` as a process, on both database profiles: its own rtpengine and
kamailio from settings, an agent's phone registered at the edge under the agent's user
name, a caller through the edge, the contact routed by this test's routing engine; the
desk softphone's WebSocket takes a credential signed as the web app signs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from test_voice_softphone import ws_register
from voice_peers import Baresip, heard, require_tool, write_tone

from conftest import PROMPT_HZ
from integration.routing.routing_floor import close_floor, events_of, open_floor
from testkit import World
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.storage.models import Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.telephony.edge_auth import EDGE_PURPOSE, edge_secret, issue, phone_password
from tsunagi.adapters.telephony.processes import free_port, free_udp_range
from tsunagi.adapters.telephony.status import read_status, status_path
from tsunagi.cli.main import cli
from tsunagi.settings import Settings

pytestmark = [pytest.mark.voice, pytest.mark.slow]

CUSTOMER_HZ, AGENT_HZ = 600.0, 1000.0
PLAN = """
music = "music"

[numbers."0120000000"]
tenant = "{tenant}"
flow = "main"

[flows.main]
name = "main"
start = "welcome"

[flows.main.nodes.welcome]
kind = "play"
prompts = ["welcome"]
next = "billing"

[flows.main.nodes.billing]
kind = "to_queue"
queue = "{queue}"
"""


def test_check_names_a_missing_queue_and_a_broken_flow(
    tmp_path: Path, database_url: str, world: World
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(tenant="nobody", queue="billing"))
    env = {"TSUNAGI_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli, ["voice", "check", str(plan)], env=env)
    assert result.exit_code == 1
    assert "no tenant 'nobody'" in result.output
    plan.write_text(PLAN.format(tenant="x", queue="billing").replace('next = "billing"', ""))
    result = CliRunner().invoke(cli, ["voice", "check", str(plan)], env=env)
    assert result.exit_code == 1
    assert "voice plan" in result.output


@pytest.fixture
def ports() -> dict[str, int]:
    for tool, package in (("rtpengine", "rtpengine-daemon"), ("kamailio", "kamailio")):
        require_tool(tool, package)
    return {
        "sip": free_port(),
        "edge": free_port(),
        "ng": free_port(),
        "dtmf": free_port(),
        "rtp": free_udp_range(100),
        "ws": free_port(socket.SOCK_STREAM),
    }


async def test_voice_serve_turns_a_call_through_the_edge_into_a_routed_contact(
    database_url: str,
    profile: str,
    world: World,
    media_dir: Path,
    tmp_path: Path,
    ports: dict[str, int],
) -> None:
    floor = await open_floor(database_url, profile, world)
    phones: list[Baresip] = []
    worker: subprocess.Popen[bytes] | None = None
    try:
        await floor.add_queue("billing")
        agent_id = await floor.add_agent("aiko", {"billing": 5})
        async with floor.db.system(readonly=True) as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == floor.tenant_id))
            username = await session.scalar(select(User.username).where(User.id == agent_id))
        assert slug is not None and username is not None
        plan = tmp_path / "plan.toml"
        plan.write_text(PLAN.format(tenant=slug, queue="billing"))
        log_path = tmp_path / "worker.log"
        argv = [
            sys.executable, "-m", "tsunagi.cli.main", "voice", "serve", str(plan),
            "--media-dir", str(media_dir), "--workdir", str(tmp_path / "voice"),
            "--sip-port", str(ports["sip"]), "--edge-port", str(ports["edge"]), "--no-mixer",
            "--ng-port", str(ports["ng"]), "--dtmf-port", str(ports["dtmf"]),
            "--rtp-ports", f"{ports['rtp']}-{ports['rtp'] + 99}",
            "--softphone-port", str(ports["ws"]),
        ]  # fmt: skip
        env = {
            **os.environ,
            "TSUNAGI_DATABASE_URL": database_url,
            "TSUNAGI_DATA_DIR": str(tmp_path / "data"),
        }
        with log_path.open("wb") as log:
            worker = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped below
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        async with asyncio.timeout(30):
            while b"voice worker on" not in log_path.read_bytes():
                assert worker.poll() is None, log_path.read_text()
                await asyncio.sleep(0.2)

        # The desk softphone's WebSocket: a credential as the web app issues it (the same
        # master key under the data dir) registers; the worker derived the same secret.
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
        keyring = KeyRing(master_key_for(settings))
        credential = issue(
            edge_secret(keyring.installation_key(EDGE_PURPOSE)), username, now=time.time()
        )
        registered = await asyncio.to_thread(
            ws_register, ports["ws"], username, credential.digest_user, credential.password
        )
        assert registered == "SIP/2.0 200 OK"

        edge = f"127.0.0.1:{ports['edge']}"
        agent = Baresip(username, tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30))
        agent.registrar = edge
        # The desk phone's password, as the web app shows it: the worker's edge checks it.
        secret = edge_secret(keyring.installation_key(EDGE_PURPOSE))
        agent.password = phone_password(secret, username)
        caller = Baresip(
            "0312345678", tmp_path / "caller", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
        )
        for phone in (agent, caller):
            phone.start()
            phones.append(phone)
        await asyncio.to_thread(agent.wait_registered)
        caller.command("dial", f"sip:0120000000@{edge}")

        async def the_contact() -> RoutingContact | None:
            async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
                return await session.scalar(
                    select(RoutingContact).where(RoutingContact.source == "sip")
                )

        async def made() -> bool:
            return await the_contact() is not None

        await floor.until(made, timeout=20, what="the call's contact")
        contact = await the_contact()
        assert contact is not None
        await floor.wait_state(contact.id, "connected", timeout=20)
        await asyncio.sleep(2.5)
        # The status page's view of the worker, as written by the worker itself.
        during = read_status(status_path(tmp_path / "data"))
        caller.command("hangup")
        await floor.wait_state(contact.id, "wrap_up", timeout=10)
        await asyncio.to_thread(agent.wait_event, "CALL_CLOSED")
        types = [e["type"] for e in await events_of(floor, contact.id)]
    finally:
        for phone in phones:
            phone.stop()
        if worker is not None:
            os.kill(worker.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(worker.wait, 20)
            except subprocess.TimeoutExpired:
                worker.kill()
                raise
        await close_floor(floor)
    assert worker.returncode == 0, log_path.read_text()[-2000:]
    assert during.state == "ok", during
    assert during.components == {"rtpengine": True, "worker": True, "edge": True}
    assert during.live_calls == 1
    assert during.sip == f"127.0.0.1:{ports['sip']}"
    assert read_status(status_path(tmp_path / "data")).state == "not running"  # stopped
    assert types[-2:] == ["contact.connected", "contact.ended"], types
    assert heard(agent.dumps("dec")[0], [CUSTOMER_HZ, AGENT_HZ, PROMPT_HZ]) == {CUSTOMER_HZ}
    assert PROMPT_HZ in heard(caller.dumps("dec")[0], [CUSTOMER_HZ, AGENT_HZ, PROMPT_HZ])
