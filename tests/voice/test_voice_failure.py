"""Faults: the media plane dies during calls; the worker stops and starts again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from voice_peers import Baresip, run_sipp, run_sipp_uas, write_tone

from conftest import EventLog, MediaPlane
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.processes import free_port
from tsunagi.domain.errors import NotFoundError
from tsunagi.ports.telephony import (
    CallAnswered,
    CallHungUp,
    CallOffered,
    HangupCause,
    OriginateFailed,
)

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]


async def nth_offer(log: EventLog, n: int) -> CallOffered:
    async with asyncio.timeout(10):
        while len(offers := log.of(CallOffered)) < n:
            await log.changed()
    offer = offers[n - 1]
    assert isinstance(offer, CallOffered)
    return offer


async def test_calls_end_with_engine_failure_when_rtpengine_dies_and_resume_after_restart(
    engine: Engine, rtpengine: MediaPlane, tmp_path: Path
) -> None:
    worker, log = engine
    customer = Baresip("customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", 600, 30))
    agent = Baresip("agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", 1000, 30))
    customer.start()
    agent.start()
    try:
        customer.command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        offered = await log.wait_for(CallOffered)
        await worker.answer(offered.leg_id)
        agent_leg = await worker.originate(agent.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent_leg)
        await worker.bridge(offered.leg_id, agent_leg)

        rtpengine.kill()
        for leg in (offered.leg_id, agent_leg):
            ended = await log.wait_for(CallHungUp, leg_id=leg, timeout_s=10)
            assert (ended.cause, ended.by_remote) == (HangupCause.ENGINE_FAILURE, False)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
        await asyncio.to_thread(agent.wait_event, "CALL_CLOSED")
        assert not worker.media_healthy

        # While rtpengine is down, a new caller is refused rather than left in silence.
        customer.events.clear()
        customer.command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        refused = await nth_offer(log, 2)
        await worker.answer(refused.leg_id)
        ended = await log.wait_for(CallHungUp, leg_id=refused.leg_id)
        assert ended.cause == HangupCause.ENGINE_FAILURE
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")

        rtpengine.restart()
        await asyncio.sleep(2 * worker._config.health_interval_s + 0.5)
        assert worker.media_healthy
        customer.events.clear()
        customer.command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        third = await nth_offer(log, 3)
        await worker.answer(third.leg_id)
        await asyncio.to_thread(customer.wait_event, "CALL_ESTABLISHED")
        await worker.hangup(third.leg_id)
    finally:
        customer.stop()
        agent.stop()


async def test_a_restarted_worker_serves_calls_on_the_same_port(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    config = worker._config
    await log.close()
    await worker.stop()
    again = SippyRtpengineEngine(config)
    await again.start()
    log2 = EventLog(again)
    try:
        sipp = asyncio.create_task(
            asyncio.to_thread(
                run_sipp,
                Path(__file__).parent / "scenarios" / "caller_info_dtmf.xml",
                f"127.0.0.1:{config.sip_port}",
                workdir=tmp_path,
            )
        )
        offered = await log2.wait_for(CallOffered)
        await again.answer(offered.leg_id)
        await log2.wait_for(CallHungUp, leg_id=offered.leg_id)
        result = await sipp
        assert result.returncode == 0, result.stdout[-2000:]
    finally:
        await log2.close()
        await again.stop()


async def test_a_busy_agent_fails_the_originate_as_busy(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    port = free_port()
    agent = asyncio.create_task(
        asyncio.to_thread(
            run_sipp_uas, Path(__file__).parent / "scenarios" / "agent_busy.xml", port, tmp_path
        )
    )
    await asyncio.sleep(0.5)  # sipp binds its port
    leg = await worker.originate(f"sip:agent@127.0.0.1:{port}", caller_id="100", timeout_s=5)
    failed = await log.wait_for(OriginateFailed, leg_id=leg)
    assert (failed.cause, failed.sip_status) == (HangupCause.BUSY, 486)
    assert (await agent).returncode == 0
    assert not log.of(CallHungUp, leg)  # a failed originate is not also a hang-up


async def test_a_caller_who_gives_up_before_the_answer(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    customer = Baresip("customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", 600, 30))
    customer.start()
    try:
        customer.command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        offered = await log.wait_for(CallOffered)
        customer.command("hangup")  # CANCEL while we have not answered
        gone = await log.wait_for(CallHungUp, leg_id=offered.leg_id)
        assert gone.by_remote
        with pytest.raises(NotFoundError):
            await worker.answer(offered.leg_id)
    finally:
        customer.stop()
