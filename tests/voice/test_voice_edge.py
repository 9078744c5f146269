"""kamailio as the SIP edge: agents' phones register there, callers come in through it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from voice_peers import Baresip, heard, require_tool, write_tone

from conftest import EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.processes import KamailioSettings, free_port, start_kamailio
from tsunagi.ports.telephony import CallAnswered, CallHungUp, CallOffered, OriginateFailed

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]
CUSTOMER_HZ, AGENT_HZ = 600.0, 1000.0


@pytest.fixture
def edge(engine: Engine, tmp_path: Path) -> Iterator[str]:
    require_tool("kamailio", "kamailio")
    worker, _ = engine
    settings = KamailioSettings(
        workdir=tmp_path / "kamailio",
        worker_host="127.0.0.1",
        worker_port=worker._config.sip_port,
        port=free_port(),
    )
    proc = start_kamailio(settings)
    yield f"127.0.0.1:{settings.port}"
    proc.stop()


async def test_caller_through_the_edge_is_bridged_to_a_registered_agent(
    engine: Engine, edge: str, tmp_path: Path
) -> None:
    worker, log = engine
    agent = Baresip(
        "agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30), registrar=edge
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
