"""kamailio as the SIP edge: agents' phones register there with their phone password (digest
authentication, the password derived from the edge secret), callers come in through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from voice_peers import Baresip, heard, require_tool, sip_register, write_tone

from conftest import EventLog
from tsunagi.adapters.telephony.edge_auth import edge_secret, issue, phone_password
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.processes import KamailioSettings, free_port, start_kamailio
from tsunagi.ports.telephony import CallAnswered, CallHungUp, CallOffered, OriginateFailed

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]
CUSTOMER_HZ, AGENT_HZ = 600.0, 1000.0
SECRET = edge_secret(b"e" * 32)


@pytest.fixture
def edge(engine: Engine, tmp_path: Path) -> Iterator[str]:
    require_tool("kamailio", "kamailio")
    worker, _ = engine
    settings = KamailioSettings(
        workdir=tmp_path / "kamailio",
        worker_host="127.0.0.1",
        worker_port=worker._config.sip_port,
        port=free_port(),
        secret=SECRET,
    )
    proc = start_kamailio(settings)
    yield f"127.0.0.1:{settings.port}"
    proc.stop()


async def test_caller_through_the_edge_is_bridged_to_a_registered_agent(
    engine: Engine, edge: str, tmp_path: Path
) -> None:
    worker, log = engine
    agent = Baresip(
        "agent",
        tmp_path / "agent",
        write_tone(tmp_path / "a.wav", AGENT_HZ, 30),
        registrar=edge,
        password=phone_password(SECRET, "agent"),
    )
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent.start()
    customer.start()
    try:
        await asyncio.to_thread(agent.wait_registered)
        customer.command("dial", f"sip:0120123456@{edge}")
        offered = await log.wait_for(CallOffered)
        assert offered.callee == "0120123456"
        await worker.answer(offered.leg_id)
        agent_leg = await worker.originate(f"sip:agent@{edge}", caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent_leg)
        await worker.bridge(offered.leg_id, agent_leg)
        await asyncio.sleep(2.5)
        agent.command("hangup")
        gone = await log.wait_for(CallHungUp, leg_id=agent_leg)
        assert gone.by_remote
        await worker.hangup(offered.leg_id)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
    finally:
        agent.stop()
        customer.stop()
    assert heard(customer.dumps("dec")[0], [CUSTOMER_HZ, AGENT_HZ]) == {AGENT_HZ}
    assert heard(agent.dumps("dec")[0], [CUSTOMER_HZ, AGENT_HZ]) == {CUSTOMER_HZ}


async def test_an_unregistered_agent_fails_the_originate(engine: Engine, edge: str) -> None:
    worker, log = engine
    leg = await worker.originate(f"sip:nobody@{edge}", caller_id="100", timeout_s=5)
    failed = await log.wait_for(OriginateFailed, leg_id=leg)
    assert failed.sip_status == 404


async def test_a_desk_phone_registers_its_own_name_only_with_its_own_password(
    engine: Engine, edge: str
) -> None:
    """What the edge answers a desk phone over UDP: a challenge without credentials, 401
    for a wrong password (also a colleague's, or a softphone credential), 403 for
    authenticating as a colleague, 200 for the phone's own password."""
    port = int(edge.rsplit(":", 1)[1])
    mine, theirs = phone_password(SECRET, "aiko"), phone_password(SECRET, "ren")

    def register(**kw: str) -> list[str]:
        return sip_register(port, "aiko", **kw)

    assert (await asyncio.to_thread(register))[0] == "SIP/2.0 401 Unauthorized"
    refused = [
        await asyncio.to_thread(register, password="0" * 20),
        await asyncio.to_thread(register, password=theirs),
        await asyncio.to_thread(register, password=phone_password(edge_secret(b"x" * 32), "aiko")),
    ]
    assert all(r == ["SIP/2.0 401 Unauthorized"] * 2 for r in refused), refused
    as_ren = await asyncio.to_thread(register, digest_user="ren", password=theirs)
    assert as_ren == ["SIP/2.0 401 Unauthorized", "SIP/2.0 403 Not Your Name"]
    softphone = issue(SECRET, "aiko", now=time.time())  # good over WebSocket only
    with_credential = await asyncio.to_thread(
        register, digest_user=softphone.digest_user, password=softphone.password
    )
    assert with_credential[-1] == "SIP/2.0 403 Not Your Name"
    # Nothing above registered aiko: the worker's call finds nobody.
    worker, log = engine
    leg = await worker.originate(f"sip:aiko@{edge}", caller_id="100", timeout_s=5)
    assert (await log.wait_for(OriginateFailed, leg_id=leg)).sip_status == 404
    assert await asyncio.to_thread(register, password=mine) == [
        "SIP/2.0 401 Unauthorized",
        "SIP/2.0 200 OK",
    ]


@pytest.mark.parametrize(
    ("case", "password", "auth_user"),
    [
        ("no password", None, None),
        ("wrong password", "0123456789abcdef0123", None),
        ("a colleague's password", "ren", None),
        ("as the colleague", "ren", "ren"),
    ],
)
async def test_a_phone_without_its_password_gets_no_calls(
    engine: Engine,
    edge: str,
    tmp_path: Path,
    case: str,
    password: str | None,
    auth_user: str | None,
) -> None:
    """A real phone (baresip) claiming aiko's name without aiko's password is refused by
    the edge and never rings: the worker's call to aiko gets 404."""
    worker, log = engine
    if password == "ren":
        password = phone_password(SECRET, "ren")
    intruder = Baresip(
        "aiko",
        tmp_path / "intruder",
        write_tone(tmp_path / "i.wav", AGENT_HZ, 10),
        registrar=edge,
        password=password,
        auth_user=auth_user,
    )
    intruder.start()
    try:
        expected = "403 Not Your Name" if auth_user else "401 Unauthorized"
        await asyncio.to_thread(intruder.wait_log, expected)
        leg = await worker.originate(f"sip:aiko@{edge}", caller_id="100", timeout_s=5)
        failed = await log.wait_for(OriginateFailed, leg_id=leg)
        assert intruder.process is not None
        text = intruder.process.log_path.read_text(errors="replace")
    finally:
        intruder.stop()
    assert failed.sip_status == 404, case
    assert "200 OK" not in text, text
    assert not intruder.dumps("dec"), "the phone was called"
