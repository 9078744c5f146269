"""The whole path of one inbound call, on the engine alone (routing plays itself here):
IVR → queue music → agent → transfer → hang-up, checked by ear and by recording."""

from __future__ import annotations

import asyncio
from itertools import groupby
from pathlib import Path

import pytest
from voice_peers import Baresip, tone_shares, tone_timeline, write_tone

from conftest import MENU_HZ, MUSIC_HZ, PROMPT_HZ, EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.ports.telephony import (
    CallAnswered,
    CallHungUp,
    CallOffered,
    DtmfMethod,
    DtmfReceived,
    RecordingReady,
)
from tsunagi.voice.interpreter import TransferToQueue
from tsunagi.voice.ivr import Flow, Menu, Play, ToQueue
from tsunagi.voice.runner import IvrRun

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]
CUSTOMER_HZ, AGENT1_HZ, AGENT2_HZ = 600.0, 1000.0, 1400.0
ALL = [PROMPT_HZ, MENU_HZ, MUSIC_HZ, CUSTOMER_HZ, AGENT1_HZ, AGENT2_HZ]

FLOW = Flow(
    name="story",
    start="welcome",
    nodes={
        "welcome": Play(prompts=["welcome"], next="menu"),
        "menu": Menu(prompt="menu", options={"2": "billing"}, timeout_s=5, on_failure="billing"),
        "billing": ToQueue(queue="billing"),
    },
)


async def test_ivr_queue_agent_transfer_hangup(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    phones = {
        name: Baresip(name, tmp_path / name, write_tone(tmp_path / f"{name}.wav", hz, 40))
        for name, hz in (
            ("customer", CUSTOMER_HZ),
            ("agent1", AGENT1_HZ),
            ("agent2", AGENT2_HZ),
        )
    }
    for phone in phones.values():
        phone.start()
    try:
        phones["customer"].command("dial", f"sip:0120000000@127.0.0.1:{worker._config.sip_port}")
        offered = await log.wait_for(CallOffered)
        leg = offered.leg_id
        await worker.answer(leg)
        recording = await worker.start_recording(leg)  # the queue's policy: record all

        # IVR: the customer presses 2 after the welcome prompt, during the menu.
        ivr = IvrRun(worker, leg, FLOW)
        await ivr.start()

        async def press_2() -> None:
            await asyncio.sleep(1.5)
            phones["customer"].command("sndcode", "2")

        presser = asyncio.create_task(press_2())
        seen = log.events.index(offered)
        async with asyncio.timeout(15):
            while not ivr.done.is_set():
                for event in log.events[seen:]:
                    seen += 1
                    await ivr.handle(event)
                await log.changed(0.2)
        await presser
        assert ivr.outcome == TransferToQueue("billing")

        # Queue: music until "routing" offers the call to agent 1.
        await worker.play(leg, "music", loop=True)
        await asyncio.sleep(2)
        agent1 = await worker.originate(phones["agent1"].uri, caller_id="0120000000", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent1)
        await worker.bridge(leg, agent1)  # stops the music
        await asyncio.sleep(2)

        # Agent 1 transfers the customer to agent 2.
        agent2 = await worker.transfer(agent1, phones["agent2"].uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallHungUp, leg_id=agent1)
        await asyncio.sleep(2)

        phones["customer"].command("hangup")
        await log.wait_for(CallHungUp, leg_id=leg)
        await worker.hangup(agent2)
        ready = await log.wait_for(RecordingReady, recording_id=recording)
    finally:
        for phone in phones.values():
            phone.stop()

    # What the customer heard, in order (consecutive windows merged).
    heard = [f for f, _ in groupby(tone_timeline(phones["customer"].dumps("dec")[0], ALL)) if f]
    assert heard == [PROMPT_HZ, MENU_HZ, MUSIC_HZ, AGENT1_HZ, AGENT2_HZ], heard
    # The customer leg's own events, in order.
    kinds = [type(e).__name__ for e in log.events if e.leg_id == leg]
    assert kinds[:2] == ["CallOffered", "CallAnswered"] and kinds[-2:] == [
        "CallHungUp",
        "RecordingReady",
    ]
    (digit,) = log.of(DtmfReceived, leg)
    assert isinstance(digit, DtmfReceived)
    assert (digit.digit, digit.method) == ("2", DtmfMethod.RFC2833)
    # The recording holds the conversation: the customer and both agents (prompts and
    # music are generated inside rtpengine and are not in it).
    shares = tone_shares(Path(ready.location), ALL)
    assert shares[CUSTOMER_HZ] > 0.2 and shares[AGENT1_HZ] > 0.1 and shares[AGENT2_HZ] > 0.1
    assert max(shares[PROMPT_HZ], shares[MENU_HZ], shares[MUSIC_HZ]) < 0.02, shares
