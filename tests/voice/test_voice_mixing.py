"""Barge (three-way) through Janus AudioBridge: who hears whom, checked by FFT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from voice_peers import Baresip, tone_shares, tone_timeline, tone_windows, write_tone

from conftest import EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.ports.telephony import BridgeMode, CallAnswered, CallHungUp, CallOffered

pytestmark = [pytest.mark.voice, pytest.mark.slow]

Engine = tuple[SippyRtpengineEngine, EventLog]
CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ = 600.0, 1000.0, 1400.0
TONES = [CUSTOMER_HZ, AGENT_HZ, SUPERVISOR_HZ]


@pytest.mark.parametrize("supervisor_first", [False, True], ids=["bridged-first", "at-once"])
async def test_supervisor_barges_in_and_leaves(
    mixing_engine: Engine, tmp_path: Path, supervisor_first: bool
) -> None:
    """``at-once``: the supervisor is on the phone first; the agent answers, is bridged and
    barged with no pause. With rtpengine's default endpoint learning that lost the agent's
    audio in about one run in seven (the early-mixing defect, docs/architecture/voice.md):
    the room must hear both parties from the first instant.

    What the customer and the agent hear of the supervisor is checked ``bridged-first``
    only: after a bridge of a millisecond a phone may hold a packet or two of its peer's
    stream, and baresip 1.0's jitter buffer (libre 1.1) then drops the room's stream, which
    starts at sequence 1 under a new SSRC, as "too late" (its log says ``dropping … (Connection
    timed out)``; 5 runs in 20 on 2026-12-04). The center never barges a conversation
    bridged a moment ago: the supervisor's phone rings first (voice.md)."""
    worker, log = mixing_engine
    phones = {
        name: Baresip(name, tmp_path / name, write_tone(tmp_path / f"{name}.wav", hz, 40))
        for name, hz in (
            ("customer", CUSTOMER_HZ),
            ("agent", AGENT_HZ),
            ("supervisor", SUPERVISOR_HZ),
        )
    }
    for phone in phones.values():
        phone.start()
    try:
        phones["customer"].command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        customer = (await log.wait_for(CallOffered)).leg_id
        await worker.answer(customer)
        if supervisor_first:
            supervisor = await call_and_wait(worker, log, phones["supervisor"])
        agent = await call_and_wait(worker, log, phones["agent"])
        bridge = await worker.bridge(customer, agent)
        if not supervisor_first:
            await asyncio.sleep(2)
            supervisor = await call_and_wait(worker, log, phones["supervisor"])
        assert await worker.bridge(agent, supervisor, BridgeMode.BARGE) == bridge
        await asyncio.sleep(4)
        phones["supervisor"].command("hangup")
        await log.wait_for(CallHungUp, leg_id=supervisor)
        await asyncio.sleep(2.5)  # back to a two-party bridge
        await worker.hangup(customer)
        await worker.hangup(agent)
        for name in ("customer", "agent"):
            await asyncio.to_thread(phones[name].wait_event, "CALL_CLOSED")
    finally:
        for phone in phones.values():
            phone.stop()
    heard = {name: phone.dumps("dec")[0] for name, phone in phones.items()}
    supervisor_heard = tone_shares(heard["supervisor"], TONES)
    assert supervisor_heard[CUSTOMER_HZ] > 0.2 and supervisor_heard[AGENT_HZ] > 0.2
    assert supervisor_heard[SUPERVISOR_HZ] < 0.05  # nobody hears themselves
    for name, own, other in (
        ("customer", CUSTOMER_HZ, AGENT_HZ),
        ("agent", AGENT_HZ, CUSTOMER_HZ),
    ):
        shares = tone_shares(heard[name], TONES)
        assert shares[other] > 0.3 and shares[own] < 0.05, (name, shares)
        timeline = tone_timeline(heard[name], TONES)
        assert timeline[-2:] == [other, other]  # after the supervisor left: only the peer
        if supervisor_first:
            continue  # see the docstring
        assert shares[SUPERVISOR_HZ] > 0.1, (name, shares)
        three_way = [
            w for w in tone_windows(heard[name], TONES) if min(w[other], w[SUPERVISOR_HZ]) > 0.3
        ]
        assert len(three_way) >= 4, (name, shares)  # ≥ 2 s hearing both others at once
        assert timeline[:2] == [other, other]  # before the barge: only the peer


async def call_and_wait(worker: SippyRtpengineEngine, log: EventLog, phone: Baresip) -> str:
    """Ring ``phone`` from the worker; its leg id once it has answered."""
    leg = await worker.originate(phone.uri, caller_id="100", timeout_s=10)
    await log.wait_for(CallAnswered, leg_id=leg)
    return leg


async def test_coach_whispers_to_the_agent_unheard_by_the_customer(
    mixing_engine: Engine, tmp_path: Path
) -> None:
    worker, log = mixing_engine
    phones = {
        name: Baresip(name, tmp_path / name, write_tone(tmp_path / f"{name}.wav", hz, 40))
        for name, hz in (
            ("customer", CUSTOMER_HZ),
            ("agent", AGENT_HZ),
            ("supervisor", SUPERVISOR_HZ),
        )
    }
    for phone in phones.values():
        phone.start()
    try:
        phones["customer"].command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        customer = (await log.wait_for(CallOffered)).leg_id
        await worker.answer(customer)
        agent = await worker.originate(phones["agent"].uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent)
        bridge = await worker.bridge(customer, agent)
        await asyncio.sleep(2)
        coach = await worker.originate(phones["supervisor"].uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=coach)
        assert await worker.bridge(agent, coach, BridgeMode.WHISPER) == bridge
        await asyncio.sleep(4)
        await worker.hangup(coach)  # the coach leaves: customer and agent go on as before
        await asyncio.sleep(2.5)
        await worker.hangup(customer)
        await worker.hangup(agent)
        for phone in phones.values():
            await asyncio.to_thread(phone.wait_event, "CALL_CLOSED")
    finally:
        for phone in phones.values():
            phone.stop()
    heard = {name: phone.dumps("dec")[0] for name, phone in phones.items()}
    # The customer never hears the coach, before, during or after the whisper.
    customer_timeline = tone_timeline(heard["customer"], TONES)
    assert set(customer_timeline) == {AGENT_HZ}, customer_timeline
    assert len(customer_timeline) >= 14  # ≥ 7 s: the agent was heard throughout
    # The agent hears customer and coach together while the coach whispers.
    agent_windows = tone_windows(heard["agent"], TONES)
    whispered = [w for w in agent_windows if min(w[CUSTOMER_HZ], w[SUPERVISOR_HZ]) > 0.3]
    assert len(whispered) >= 4
    assert tone_timeline(heard["agent"], TONES)[-2:] == [CUSTOMER_HZ, CUSTOMER_HZ]
    # The coach hears both customer and agent, never itself.
    coach_heard = tone_shares(heard["supervisor"], TONES)
    assert coach_heard[CUSTOMER_HZ] > 0.2 and coach_heard[AGENT_HZ] > 0.2, coach_heard
    assert coach_heard[SUPERVISOR_HZ] < 0.05, coach_heard


async def test_supervisor_listens_to_both_parties_unheard(
    mixing_engine: Engine, tmp_path: Path
) -> None:
    worker, log = mixing_engine
    phones = {
        name: Baresip(name, tmp_path / name, write_tone(tmp_path / f"{name}.wav", hz, 40))
        for name, hz in (
            ("customer", CUSTOMER_HZ),
            ("agent", AGENT_HZ),
            ("supervisor", SUPERVISOR_HZ),
        )
    }
    for phone in phones.values():
        phone.start()
    try:
        phones["customer"].command("dial", f"sip:100@127.0.0.1:{worker._config.sip_port}")
        customer = (await log.wait_for(CallOffered)).leg_id
        await worker.answer(customer)
        agent = await worker.originate(phones["agent"].uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent)
        await worker.bridge(customer, agent)
        await asyncio.sleep(2)  # mixing right after bridging: see the open defect (voice.md)
        supervisor = await worker.originate(phones["supervisor"].uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=supervisor)
        await worker.bridge(customer, supervisor, BridgeMode.LISTEN)
        await asyncio.sleep(4)
        for leg in (supervisor, customer, agent):
            await worker.hangup(leg)
        for phone in phones.values():
            await asyncio.to_thread(phone.wait_event, "CALL_CLOSED")
    finally:
        for phone in phones.values():
            phone.stop()
    heard = {name: phone.dumps("dec")[0] for name, phone in phones.items()}
    listened = tone_shares(heard["supervisor"], TONES)
    assert listened[CUSTOMER_HZ] > 0.3 and listened[AGENT_HZ] > 0.3, listened
    for name, other in (("customer", AGENT_HZ), ("agent", CUSTOMER_HZ)):
        assert set(tone_timeline(heard[name], TONES)) == {other}, name  # never the supervisor
