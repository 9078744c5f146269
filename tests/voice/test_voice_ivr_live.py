"""IVR flows (data) run on real calls: sipp pressing keys by SIP INFO, baresip by RFC 2833."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from voice_peers import Baresip, run_sipp, tone_timeline, write_tone

from conftest import MENU_HZ, PROMPT_HZ, EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.ports.telephony import CallOffered
from tsunagi.voice.interpreter import TransferToQueue
from tsunagi.voice.ivr import Flow, Menu, Play, ToQueue
from tsunagi.voice.runner import IvrRun

pytestmark = [pytest.mark.voice, pytest.mark.slow]

SCENARIOS = Path(__file__).parent / "scenarios"
Engine = tuple[SippyRtpengineEngine, EventLog]

FLOW = Flow(
    name="main",
    start="welcome",
    nodes={
        "welcome": Play(prompts=["welcome"], next="menu"),
        "menu": Menu(
            prompt="menu",
            options={"1": "orders", "2": "billing"},
            timeout_s=1,
            max_attempts=2,
            invalid_prompt="invalid",
            on_failure="operator",
        ),
        "orders": ToQueue(queue="orders"),
        "billing": ToQueue(queue="billing"),
        "operator": ToQueue(queue="operator"),
    },
)


async def run_ivr_on_next_call(engine: Engine) -> IvrRun:
    worker, log = engine
    offered = await log.wait_for(CallOffered)
    await worker.answer(offered.leg_id)
    run = IvrRun(worker, offered.leg_id, FLOW)
    await run.start()
    seen = log.events.index(offered)
    async with asyncio.timeout(20):
        while not run.done.is_set():
            for event in log.events[seen:]:
                seen += 1
                await run.handle(event)
            await log.changed()
    return run


async def test_sip_info_caller_chooses_billing(engine: Engine, tmp_path: Path) -> None:
    worker, _ = engine
    sipp = asyncio.create_task(
        asyncio.to_thread(
            run_sipp,
            SCENARIOS / "caller_menu_info.xml",
            f"127.0.0.1:{worker._config.sip_port}",
            workdir=tmp_path,
        )
    )
    run = await run_ivr_on_next_call(engine)
    assert run.outcome == TransferToQueue("billing")
    assert [(s.node, s.digit) for s in run.session.path] == [
        ("welcome", None),
        ("menu", None),
        ("menu", "2"),
        ("billing", None),
    ]
    await worker.hangup(run.leg_id)  # routing would take over here; the test ends the call
    result = await sipp
    assert result.returncode == 0, result.stdout[-2000:]


async def test_silent_caller_goes_to_the_failure_branch(engine: Engine, tmp_path: Path) -> None:
    worker, _ = engine
    sipp = asyncio.create_task(
        asyncio.to_thread(
            run_sipp,
            SCENARIOS / "caller_silent.xml",
            f"127.0.0.1:{worker._config.sip_port}",
            workdir=tmp_path,
        )
    )
    run = await run_ivr_on_next_call(engine)
    assert run.outcome == TransferToQueue("operator")
    assert [(s.node, s.digit) for s in run.session.path] == [
        ("welcome", None),
        ("menu", None),
        ("menu", None),  # first timeout
        ("menu", None),  # second timeout: attempts used up
        ("operator", None),
    ]
    await worker.hangup(run.leg_id)
    result = await sipp
    assert result.returncode == 0, result.stdout[-2000:]


async def test_rfc2833_caller_barges_into_the_menu_and_hears_the_prompts(
    engine: Engine, tmp_path: Path
) -> None:
    worker, _ = engine
    customer = Baresip("customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", 600, 30))
    customer.start()
    try:
        customer.command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")

        async def press_1_during_menu() -> None:
            await asyncio.to_thread(customer.wait_event, "CALL_ESTABLISHED")
            await asyncio.sleep(1.5)  # 1 s welcome, then the 1 s menu prompt is playing
            customer.command("sndcode", "1")

        presser = asyncio.create_task(press_1_during_menu())
        run = await run_ivr_on_next_call(engine)
        await presser
        assert run.outcome == TransferToQueue("orders")
        await worker.hangup(run.leg_id)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
    finally:
        customer.stop()
    timeline = [f for f in tone_timeline(customer.dumps("dec")[0], [PROMPT_HZ, MENU_HZ]) if f]
    assert timeline[0] == PROMPT_HZ and MENU_HZ in timeline
