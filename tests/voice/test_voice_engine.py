"""The sippy + rtpengine engine against real SIP peers (sipp, baresip) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from itertools import groupby
from pathlib import Path

import pytest
from voice_peers import (
    Baresip,
    heard,
    run_sipp,
    tone_shares,
    tone_timeline,
    tone_windows,
    write_tone,
)

from conftest import MUSIC_HZ, PROMPT_HZ, EventLog
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.recording import read_pcap
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.ports.telephony import (
    BridgeMode,
    CallAnswered,
    CallHungUp,
    CallOffered,
    DtmfMethod,
    DtmfReceived,
    HangupCause,
    OriginateFailed,
    PlaybackDone,
    RecordingReady,
)

pytestmark = [pytest.mark.voice, pytest.mark.slow]

SCENARIOS = Path(__file__).parent / "scenarios"
Engine = tuple[SippyRtpengineEngine, EventLog]
CUSTOMER_HZ, AGENT_HZ, AGENT2_HZ = 600.0, 1000.0, 1400.0
TONES = [PROMPT_HZ, CUSTOMER_HZ, AGENT_HZ, AGENT2_HZ]


def worker_uri(engine: SippyRtpengineEngine, user: str = "100") -> str:
    return f"sip:{user}@127.0.0.1:{engine._config.sip_port}"


async def answer_next_call(engine: Engine, prompt: bool = True) -> str:
    worker, log = engine
    offered = await log.wait_for(CallOffered)
    await worker.answer(offered.leg_id)
    if prompt:
        await worker.play(offered.leg_id, "welcome")
    return offered.leg_id


async def test_sipp_caller_is_answered_hears_prompt_and_sends_sip_info_dtmf(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    sipp = asyncio.create_task(
        asyncio.to_thread(
            run_sipp,
            SCENARIOS / "caller_info_dtmf.xml",
            f"127.0.0.1:{worker._config.sip_port}",
            workdir=tmp_path,
        )
    )
    leg_id = await answer_next_call(engine)
    offered = log.of(CallOffered)[0]
    assert isinstance(offered, CallOffered)
    assert (offered.caller, offered.callee) == ("0312345678", "100")
    digit = await log.wait_for(DtmfReceived, leg_id=leg_id)
    assert (digit.digit, digit.method) == ("5", DtmfMethod.SIP_INFO)
    done = await log.wait_for(PlaybackDone, leg_id=leg_id)
    assert not done.stopped
    hung_up = await log.wait_for(CallHungUp, leg_id=leg_id)
    assert hung_up.by_remote
    result = await sipp
    assert result.returncode == 0, result.stdout[-2000:]


async def test_baresip_caller_hears_prompt_and_sends_rfc2833_dtmf(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    customer.start()
    try:
        customer.command("dial", worker_uri(worker))
        leg_id = await answer_next_call(engine)
        await asyncio.to_thread(customer.wait_event, "CALL_ESTABLISHED")
        await asyncio.sleep(0.5)
        customer.command("sndcode", "7")
        digit = await log.wait_for(DtmfReceived, leg_id=leg_id)
        assert (digit.digit, digit.method) == ("7", DtmfMethod.RFC2833)
        await log.wait_for(PlaybackDone, leg_id=leg_id)
        await worker.hangup(leg_id)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
    finally:
        customer.stop()
    (dump,) = customer.dumps("dec")
    assert heard(dump, TONES) == {PROMPT_HZ}
    hung_up = await log.wait_for(CallHungUp, leg_id=leg_id)
    assert not hung_up.by_remote


async def test_customer_and_agent_are_bridged_recorded_and_hang_up_both_ways(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent = Baresip("agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30))
    customer.start()
    agent.start()
    try:
        customer.command("dial", worker_uri(worker))
        customer_leg = await answer_next_call(engine, prompt=False)
        recording_id = await worker.start_recording(customer_leg)
        agent_leg = await worker.originate(agent.uri, caller_id="0312345678", timeout_s=10)
        answered = await log.wait_for(CallAnswered, leg_id=agent_leg)
        assert answered.direction == "outbound"
        await worker.bridge(customer_leg, agent_leg)
        await asyncio.sleep(3)
        customer.command("hangup")
        gone = await log.wait_for(CallHungUp, leg_id=customer_leg)
        assert gone.by_remote
        await worker.hangup(agent_leg)
        await asyncio.to_thread(agent.wait_event, "CALL_CLOSED")
        ready = await log.wait_for(RecordingReady, recording_id=recording_id)
    finally:
        customer.stop()
        agent.stop()
    assert heard(customer.dumps("dec")[0], TONES) == {AGENT_HZ}
    assert heard(agent.dumps("dec")[0], TONES) == {CUSTOMER_HZ}
    shares = tone_shares(Path(ready.location), TONES)
    assert shares[CUSTOMER_HZ] > 0.3 and shares[AGENT_HZ] > 0.3, shares
    assert shares[PROMPT_HZ] < 0.01 and shares[AGENT2_HZ] < 0.01, shares
    assert ready.duration_s > 2


async def test_blind_transfer_moves_the_customer_to_another_agent(
    engine: Engine, tmp_path: Path
) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent1 = Baresip("agent1", tmp_path / "agent1", write_tone(tmp_path / "a1.wav", AGENT_HZ, 30))
    agent2 = Baresip("agent2", tmp_path / "agent2", write_tone(tmp_path / "a2.wav", AGENT2_HZ, 30))
    phones = [customer, agent1, agent2]
    for phone in phones:
        phone.start()
    try:
        customer.command("dial", worker_uri(worker))
        customer_leg = await answer_next_call(engine, prompt=False)
        agent1_leg = await worker.originate(agent1.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent1_leg)
        await worker.bridge(customer_leg, agent1_leg)
        await asyncio.sleep(1)
        agent2_leg = await worker.transfer(agent1_leg, agent2.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent2_leg)
        await log.wait_for(CallHungUp, leg_id=agent1_leg)
        await asyncio.to_thread(agent1.wait_event, "CALL_CLOSED")
        await asyncio.sleep(2.5)
        customer.command("hangup")
        await log.wait_for(CallHungUp, leg_id=customer_leg)
        await worker.hangup(agent2_leg)
    finally:
        for phone in phones:
            phone.stop()
    assert heard(agent2.dumps("dec")[0], TONES) == {CUSTOMER_HZ}
    assert heard(agent1.dumps("dec")[0], TONES) == {CUSTOMER_HZ}
    timeline = [f for f in tone_timeline(customer.dumps("dec")[0], TONES) if f is not None]
    assert set(timeline) == {AGENT_HZ, AGENT2_HZ}
    assert timeline[0] == AGENT_HZ and timeline[-1] == AGENT2_HZ


async def test_originate_to_nobody_fails(engine: Engine) -> None:
    worker, log = engine
    leg_id = await worker.originate("sip:nobody@127.0.0.1:9", caller_id="100", timeout_s=2)
    failed = await log.wait_for(OriginateFailed, leg_id=leg_id, timeout_s=10)
    assert failed.cause in (HangupCause.NO_ANSWER, HangupCause.UNREACHABLE)


async def test_music_loops_until_stopped(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    customer.start()
    try:
        customer.command("dial", worker_uri(worker))
        leg_id = await answer_next_call(engine, prompt=False)
        await worker.play(leg_id, "music", loop=True)  # a 2 s file
        await asyncio.sleep(5)
        await worker.stop_playback(leg_id)
        stopped = await log.wait_for(PlaybackDone, leg_id=leg_id)
        assert stopped.stopped
        await asyncio.sleep(2.5)
        await worker.hangup(leg_id)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
    finally:
        customer.stop()
    # baresip's dump holds what it decoded; after the stop no packets arrive, so the
    # dump ends there although the call went on for another 2.5 s.
    timeline = tone_timeline(customer.dumps("dec")[0], [*TONES, MUSIC_HZ])
    assert timeline.count(MUSIC_HZ) >= 8  # ≥ 4 s of music from a 2 s file: it looped
    assert set(timeline) == {MUSIC_HZ}
    assert len(timeline) <= 12  # ≤ 6 s of audio in a call of ≥ 7.5 s: it stopped


async def test_supervisor_listens_to_the_customer_unheard(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent = Baresip("agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30))
    supervisor = Baresip(
        "supervisor", tmp_path / "supervisor", write_tone(tmp_path / "s.wav", AGENT2_HZ, 30)
    )
    phones = [customer, agent, supervisor]
    for phone in phones:
        phone.start()
    try:
        customer.command("dial", worker_uri(worker))
        customer_leg = await answer_next_call(engine, prompt=False)
        agent_leg = await worker.originate(agent.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent_leg)
        await worker.bridge(customer_leg, agent_leg)
        supervisor_leg = await worker.originate(supervisor.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=supervisor_leg)
        listen = await worker.bridge(customer_leg, supervisor_leg, BridgeMode.LISTEN)
        with pytest.raises(ConflictError):
            await worker.bridge(agent_leg, supervisor_leg, BridgeMode.LISTEN)
        await asyncio.sleep(3)
        await worker.unbridge(listen)
        await asyncio.sleep(2.5)
        for leg in (customer_leg, agent_leg, supervisor_leg):
            await worker.hangup(leg)
        for phone in phones:
            await asyncio.to_thread(phone.wait_event, "CALL_CLOSED")
    finally:
        for phone in phones:
            phone.stop()
    assert heard(supervisor.dumps("dec")[0], TONES) == {CUSTOMER_HZ}
    assert heard(customer.dumps("dec")[0], TONES) == {AGENT_HZ}
    assert heard(agent.dumps("dec")[0], TONES) == {CUSTOMER_HZ}
    # after unbridge the supervisor receives nothing: ≤ 4 s of audio in ≥ 5.5 s of call
    assert len(tone_timeline(supervisor.dumps("dec")[0], TONES)) <= 8


async def test_whisper_is_refused_until_a_mixer_is_integrated(engine: Engine) -> None:
    worker, _ = engine
    with pytest.raises(InvalidInputError, match="mixer"):
        await worker.bridge("a", "b", BridgeMode.WHISPER)


async def test_paused_recording_holds_no_audio_and_no_dtmf(engine: Engine, tmp_path: Path) -> None:
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent = Baresip("agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30))
    customer.start()
    agent.start()
    try:
        customer.command("dial", worker_uri(worker))
        customer_leg = await answer_next_call(engine, prompt=False)
        agent_leg = await worker.originate(agent.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent_leg)
        await worker.bridge(customer_leg, agent_leg)
        recording = await worker.start_recording(customer_leg)
        await asyncio.sleep(2)
        await worker.pause_recording(recording)
        with pytest.raises(ConflictError):
            await worker.pause_recording(recording)
        customer.command("sndcode", "4")  # a card digit, say
        digit = await log.wait_for(DtmfReceived, leg_id=customer_leg)
        assert digit.digit == "4"  # the platform still gets it; the file must not
        await asyncio.sleep(2)
        await worker.resume_recording(recording)
        await asyncio.sleep(2)
        await worker.stop_recording(recording)
        ready = await log.wait_for(RecordingReady, recording_id=recording)
        await worker.hangup(customer_leg)
        await worker.hangup(agent_leg)
    finally:
        customer.stop()
        agent.stop()
    windows = tone_windows(Path(ready.location), TONES)
    timeline = tone_timeline(Path(ready.location), TONES)
    assert 5.5 <= ready.duration_s <= 7.5, ready.duration_s
    # talk, then ≥ 1.5 s of silence (the pause), then talk again
    silent = [i for i, tone in enumerate(timeline) if tone is None]
    assert len(silent) >= 3 and silent[0] > 0 and silent[-1] < len(timeline) - 1, timeline
    # Windows next to the pause or at the ends may hold a part-window of one party only
    # (seen on a loaded machine); every other talk window holds both.
    edges = {i + d for i in silent for d in (-1, 1)} | {0, len(windows) - 1}
    talk = [w for i, w in enumerate(windows) if i not in silent and i not in edges]
    assert talk and all(w[CUSTOMER_HZ] > 0.2 and w[AGENT_HZ] > 0.2 for w in talk), talk
    packets = [
        p
        for pcap in (tmp_path / "rtpengine" / "recordings" / "pcaps").glob(f"{customer_leg}*.pcap")
        for p in read_pcap(pcap)
    ]
    assert packets and all(p.payload_type != 101 for p in packets)  # no DTMF events


async def test_hold_with_music_and_resume(engine: Engine, tmp_path: Path) -> None:
    """The desktop's hold: unbridge, music to the customer; resume: bridge again."""
    worker, log = engine
    customer = Baresip(
        "customer", tmp_path / "customer", write_tone(tmp_path / "c.wav", CUSTOMER_HZ, 30)
    )
    agent = Baresip("agent", tmp_path / "agent", write_tone(tmp_path / "a.wav", AGENT_HZ, 30))
    customer.start()
    agent.start()
    try:
        customer.command("dial", worker_uri(worker))
        customer_leg = await answer_next_call(engine, prompt=False)
        agent_leg = await worker.originate(agent.uri, caller_id="100", timeout_s=10)
        await log.wait_for(CallAnswered, leg_id=agent_leg)
        bridge = await worker.bridge(customer_leg, agent_leg)
        await asyncio.sleep(2)
        await worker.unbridge(bridge)  # hold
        await worker.play(customer_leg, "music", loop=True)
        await asyncio.sleep(2.5)
        await worker.bridge(customer_leg, agent_leg)  # resume: stops the music
        await asyncio.sleep(2)
        await worker.hangup(customer_leg)
        await worker.hangup(agent_leg)
        await asyncio.to_thread(customer.wait_event, "CALL_CLOSED")
    finally:
        customer.stop()
        agent.stop()
    heard = [f for f, _ in groupby(tone_timeline(customer.dumps("dec")[0], [*TONES, MUSIC_HZ]))]
    assert heard == [AGENT_HZ, MUSIC_HZ, AGENT_HZ], heard
    # The agent hears nothing while the customer is on hold: ~4 s of audio in ~6.5 s.
    agent_audio = tone_timeline(agent.dumps("dec")[0], TONES)
    assert set(agent_audio) == {CUSTOMER_HZ} and len(agent_audio) <= 10, agent_audio
