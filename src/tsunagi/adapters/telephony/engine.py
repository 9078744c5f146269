"""The built-in voice engine: :class:`SippyRtpengineEngine` implements the telephony port.

Signalling runs in sippy's thread (:mod:`.sip`); media is steered in rtpengine
(:mod:`.media`); everything else — leg state, playback timers, bridges, transfers,
recordings — lives here, on the asyncio loop, single-threaded.

rtpengine and (in production) kamailio are separate processes; see
:mod:`.processes` for starting them with generated configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tsunagi.adapters.telephony import sip
from tsunagi.adapters.telephony.dtmf import DtmfLogEntry, listen_dtmf_log, parse_sip_info
from tsunagi.adapters.telephony.legs import Leg, LegState, VoiceWorkerConfig
from tsunagi.adapters.telephony.media import PARTY, RtpengineMedia
from tsunagi.adapters.telephony.mixer import JanusMixer, MixerError
from tsunagi.adapters.telephony.mixing import Mixing
from tsunagi.adapters.telephony.ng import NgClient, RtpengineError
from tsunagi.adapters.telephony.recording import convert_leg_recording
from tsunagi.aio import stop_tasks
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.ports.telephony import (
    BridgeMode,
    CallAnswered,
    CallHungUp,
    CallOffered,
    DtmfMethod,
    DtmfReceived,
    HangupCause,
    LegDirection,
    OriginateFailed,
    PlaybackDone,
    RecordingReady,
    TelephonyEvent,
)

log = logging.getLogger(__name__)


class SippyRtpengineEngine:
    def __init__(
        self, config: VoiceWorkerConfig, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self._config = config
        self._now = now or (lambda: datetime.now(UTC))
        self._events: asyncio.Queue[TelephonyEvent] = asyncio.Queue()
        self._legs: dict[str, Leg] = {}
        self._bridges: dict[str, tuple[str, str]] = {}
        self._listens: dict[str, tuple[str, str]] = {}
        """LISTEN bridges: id → (source, listener)."""
        self._recordings: dict[str, str] = {}
        self._ng = NgClient(config.ng_host, config.ng_port)
        self._media = RtpengineMedia(self._ng, host=config.media_host)
        self._mixer = JanusMixer(config.mixer_url) if config.mixer_url else None
        self._mixing: Mixing | None = None
        if self._mixer is not None:
            self._mixing = Mixing(
                self._media, self._mixer, media_host=config.media_host, mixer_host=config.mixer_host
            )
        self._sip = sip.SipStack(config.sip_host, config.sip_port, self._from_sip_thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dtmf_transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._media_up = True
        self._watch: asyncio.Task[None] | None = None
        self._signals: asyncio.Queue[sip.SipSignal] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._ng.open()
        await self._ng.request("ping")
        self._dtmf_transport = await listen_dtmf_log(
            self._config.dtmf_log_host, self._config.dtmf_log_port, self._on_dtmf_log
        )
        if self._mixer is not None:
            await self._mixer.open()
        await asyncio.to_thread(self._sip.start, lambda: str(new_id()))
        self._watch = asyncio.get_running_loop().create_task(self._watch_media())
        self._consumer = asyncio.get_running_loop().create_task(self._consume_signals())

    @property
    def live_legs(self) -> int:
        """Legs not yet ended (for leak checks and the status page)."""
        return len(self._legs)

    @property
    def sip_dialogs(self) -> int:
        """SIP dialogs sippy still holds (ended ones linger ~32 s for retransmissions)."""
        return self._sip.dialogs

    @property
    def ng(self) -> NgClient:
        """The rtpengine control client (diagnostics)."""
        return self._ng

    @property
    def media_healthy(self) -> bool:
        """Whether rtpengine answered the last health ping (for the status page)."""
        return self._media_up

    async def stop(self) -> None:
        await stop_tasks([self._watch, self._consumer])
        for leg_id, leg in list(self._legs.items()):
            if leg.state is not LegState.ENDED:
                await self.hangup(leg_id)
        await asyncio.to_thread(self._sip.stop)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dtmf_transport is not None:
            self._dtmf_transport.close()
        if self._mixer is not None:
            await self._mixer.close()
        self._ng.close()

    async def events(self) -> AsyncIterator[TelephonyEvent]:
        while True:
            yield await self._events.get()

    # -- commands ------------------------------------------------------------------------

    async def answer(self, leg_id: str) -> None:
        leg = self._leg(leg_id, LegState.OFFERED)
        if leg.remote_sdp is None:
            raise ConflictError("late-media INVITEs (no SDP offer) are not supported yet")
        leg.state = LegState.ANSWERING
        try:
            local_sdp = await self._media.accept(leg_id, leg.remote_sdp)
        except RtpengineError:
            # No media plane: refuse the call; the outcome is a CallHungUp event.
            self._sip.reject(leg_id, 503, "Media Unavailable")
            await self._end(leg, HangupCause.ENGINE_FAILURE, by_remote=False)
            return
        if leg.state is LegState.ENDED:  # the caller gave up while we set up media
            await self._media.release(leg_id)
            return
        self._sip.answer(leg_id, local_sdp)
        leg.state = LegState.ANSWERED
        self._emit(CallAnswered(leg_id=leg_id, occurred_at=self._now(), direction=leg.direction))

    async def hangup(self, leg_id: str, cause: HangupCause = HangupCause.NORMAL) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.state is LegState.ENDED:
            raise NotFoundError(f"no live leg {leg_id}")
        if leg.state is LegState.OFFERED:
            status = {HangupCause.BUSY: 486, HangupCause.REJECTED: 603}.get(cause, 480)
            self._sip.reject(leg_id, status, "Rejected")
        else:
            self._sip.hangup(leg_id)
        await self._end(leg, cause, by_remote=False)

    async def play(self, leg_id: str, media: str, *, loop: bool = False) -> str:
        leg = self._leg(leg_id, LegState.ANSWERED)
        path = self._media_path(media)
        await self._cancel_playback(leg, stopped=True)
        duration_ms = await self._media.play(leg_id, str(path), repeat=10_000 if loop else 1)
        playback_id = str(new_id())
        leg.playback_id = playback_id
        if not loop and self._loop is not None:
            leg.playback_timer = self._loop.call_later(
                duration_ms / 1000, self._playback_finished, leg_id, playback_id
            )
        return playback_id

    async def stop_playback(self, leg_id: str) -> None:
        leg = self._leg(leg_id, LegState.ANSWERED)
        if leg.playback_id is not None:
            await self._media.stop_play(leg_id)
            await self._cancel_playback(leg, stopped=True)

    async def originate(
        self,
        target: str,
        *,
        caller_id: str,
        timeout_s: float,
        auth: tuple[str, str] | None = None,
    ) -> str:
        user, host, port = sip.parse_target(target)
        leg_id = str(new_id())
        leg = self._legs[leg_id] = Leg(leg_id, LegDirection.OUTBOUND, LegState.CALLING)
        try:
            sdp = await self._media.offer(leg_id, webrtc=sip.is_webrtc_target(target))
        except RtpengineError:
            cause = HangupCause.ENGINE_FAILURE
            self._emit(OriginateFailed(leg_id=leg_id, occurred_at=self._now(), cause=cause))
            await self._end(leg, cause, by_remote=False, announce=False)
            return leg_id
        self._sip.originate(
            leg_id,
            user=user,
            host=host,
            port=port,
            caller_id=caller_id,
            sdp=sdp,
            timeout_s=timeout_s,
            auth=auth,
        )
        return leg_id

    async def bridge(self, first: str, second: str, mode: BridgeMode = BridgeMode.FULL) -> str:
        if mode is BridgeMode.LISTEN:
            return await self._listen(first, second)
        if mode in (BridgeMode.BARGE, BridgeMode.WHISPER):
            return await self._mix(first, second, mode)
        legs = [self._leg(first, LegState.ANSWERED), self._leg(second, LegState.ANSWERED)]
        if first == second or any(leg.bridge_id for leg in legs):
            raise ConflictError("a leg can be in one bridge at a time")
        for leg in legs:
            if leg.playback_id is not None:
                await self.stop_playback(leg.leg_id)
        await self._media.connect(first, second)
        bridge_id = str(new_id())
        self._bridges[bridge_id] = (first, second)
        for leg in legs:
            leg.bridge_id = bridge_id
        return bridge_id

    async def _listen(self, source: str, listener: str) -> str:
        """LISTEN: ``listener`` hears ``source``'s party; nobody hears ``listener``.

        With a mixer and ``source`` in a full bridge, the listener hears the whole
        conversation (a muted member of a mixed bridge with the same bridge id).
        Without a mixer it hears ``source``'s party only (an rtpengine copy).
        """
        heard = self._leg(source, LegState.ANSWERED)
        if self._mixing is not None and heard.bridge_id in self._bridges:
            return await self._mix(source, listener, BridgeMode.LISTEN)
        ear = self._leg(listener, LegState.ANSWERED)
        if source == listener or ear.bridge_id or ear.listening:
            raise ConflictError("the listener must be a free leg other than the source")
        if ear.playback_id is not None:
            await self.stop_playback(listener)
        await self._media.listen(source, listener)
        bridge_id = str(new_id())
        self._listens[bridge_id] = (source, listener)
        ear.listening = bridge_id
        return bridge_id

    async def _mix(self, first: str, second: str, mode: BridgeMode) -> str:
        """BARGE: ``second`` joins ``first``'s conversation. WHISPER: ``second`` (a coach)
        is heard by ``first`` (the agent) only. LISTEN: ``second`` hears both, unheard.
        The mixed bridge keeps the id of ``first``'s bridge."""
        if self._mixing is None:
            raise InvalidInputError(f"bridge mode {mode} needs a mixer (mixer_url)")
        member = self._leg(first, LegState.ANSWERED)
        guest = self._leg(second, LegState.ANSWERED)
        bridge_id = member.bridge_id
        if bridge_id is None or bridge_id not in self._bridges:
            raise ConflictError(f"{mode} needs the first leg in a full bridge")
        if guest.bridge_id or guest.listening:
            raise ConflictError(f"the {mode} leg must be free")
        pair = self._bridges.pop(bridge_id)
        await self._media.disconnect(first)
        if mode in (BridgeMode.BARGE, BridgeMode.LISTEN):
            await self._mixing.barge(bridge_id, pair, second, muted=mode is BridgeMode.LISTEN)
        else:
            customer = pair[1] if pair[0] == first else pair[0]
            await self._mixing.whisper(bridge_id, customer, first, second)
        guest.bridge_id = bridge_id
        return bridge_id

    async def _leave_mix(self, bridge_id: str, leg: Leg) -> None:
        assert self._mixing is not None
        members = self._mixing.members(bridge_id)
        again = await self._mixing.leave(bridge_id, leg.leg_id)
        leg.bridge_id = None
        for leg_id in members:
            other = self._legs.get(leg_id)
            if other is not None and (again is None or leg_id not in again):
                other.bridge_id = None
        if again is not None:
            await self._media.connect(*again)
            self._bridges[bridge_id] = again

    async def unbridge(self, bridge_id: str) -> None:
        if self._mixing is not None and bridge_id in self._mixing:
            members = self._mixing.members(bridge_id)
            await self._mixing.dissolve(bridge_id)
            for leg_id in members:
                if (member := self._legs.get(leg_id)) is not None:
                    member.bridge_id = None
            return
        if bridge_id in self._listens:
            source, listener = self._listens.pop(bridge_id)
            ear = self._legs.get(listener)
            if ear is not None:
                ear.listening = None
            await self._media.stop_listening(source, listener)
            return
        pair = self._bridges.pop(bridge_id, None)
        if pair is None:
            raise NotFoundError(f"no bridge {bridge_id}")
        for leg_id in pair:
            leg = self._legs.get(leg_id)
            if leg is not None:
                leg.bridge_id = None
        await self._media.disconnect(pair[0])

    async def start_recording(self, leg_id: str) -> str:
        leg = self._leg(leg_id, LegState.ANSWERED)
        if leg.recording_id is not None:
            raise ConflictError("the leg is already being recorded")
        await self._media.start_recording(leg_id)
        recording_id = str(new_id())
        leg.recording_id = recording_id
        self._recordings[recording_id] = leg_id
        return recording_id

    async def pause_recording(self, recording_id: str) -> None:
        leg = self._recording_leg(recording_id)
        if leg.recording_paused:
            raise ConflictError("the recording is already paused")
        # rtpengine 10.5 has no "pause recording": stop, and start again on resume;
        # the WAV conversion leaves silence for the span no pcap covers.
        await self._media.stop_recording(leg.leg_id)
        leg.recording_paused = True

    async def resume_recording(self, recording_id: str) -> None:
        leg = self._recording_leg(recording_id)
        if not leg.recording_paused:
            raise ConflictError("the recording is not paused")
        await self._media.start_recording(leg.leg_id)
        leg.recording_paused = False

    def _recording_leg(self, recording_id: str) -> Leg:
        leg_id = self._recordings.get(recording_id)
        leg = self._legs.get(leg_id) if leg_id else None
        if leg is None or leg.state is not LegState.ANSWERED:
            raise NotFoundError(f"no live recording {recording_id}")
        return leg

    async def stop_recording(self, recording_id: str) -> None:
        leg = self._recording_leg(recording_id)
        if not leg.recording_paused:
            await self._media.stop_recording(leg.leg_id)
        self._finish_recording(leg)

    async def transfer(self, leg_id: str, target: str, *, caller_id: str, timeout_s: float) -> str:
        leg = self._leg(leg_id, LegState.ANSWERED)
        if leg.bridge_id is None:
            raise ConflictError("only a bridged leg can be transferred")
        new_leg_id = await self.originate(target, caller_id=caller_id, timeout_s=timeout_s)
        self._legs[new_leg_id].replaces = leg_id
        return new_leg_id

    # -- signals from the SIP thread -----------------------------------------------------

    def _from_sip_thread(self, signal: sip.SipSignal) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._signals.put_nowait, signal)

    async def _consume_signals(self) -> None:
        """One at a time, in arrival order: a leg's hang-up is never handled while its
        answer is still being set up."""
        while True:
            signal = await self._signals.get()
            try:
                await self._on_signal(signal)
            except Exception:
                log.exception("voice signal handling failed: %r", signal)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("voice task failed", exc_info=task.exception())

    async def _on_signal(self, signal: sip.SipSignal) -> None:
        now = self._now()
        if isinstance(signal, sip.Incoming):
            self._legs[signal.leg_id] = Leg(
                signal.leg_id, LegDirection.INBOUND, LegState.OFFERED, remote_sdp=signal.sdp
            )
            self._emit(
                CallOffered(
                    leg_id=signal.leg_id,
                    occurred_at=now,
                    caller=signal.caller,
                    callee=signal.callee,
                    caller_name=signal.caller_name,
                    call_ref=signal.call_id,
                )
            )
            return
        leg = self._legs.get(signal.leg_id)
        if leg is None or leg.state is LegState.ENDED:
            return
        if isinstance(signal, sip.Connected) and leg.state is LegState.CALLING:
            await self._outbound_answered(leg, signal.sdp)
        elif isinstance(signal, sip.Failed) and leg.state is LegState.CALLING:
            cause = sip.cause_of_status(signal.status)
            self._emit(
                OriginateFailed(
                    leg_id=leg.leg_id, occurred_at=now, cause=cause, sip_status=signal.status
                )
            )
            await self._end(leg, cause, by_remote=True, announce=False)
        elif isinstance(signal, sip.Disconnected) and leg.state is LegState.CALLING:
            # sippy gives up on an unanswered INVITE (our timeout) by disconnecting.
            self._emit(
                OriginateFailed(leg_id=leg.leg_id, occurred_at=now, cause=HangupCause.NO_ANSWER)
            )
            await self._end(leg, HangupCause.NO_ANSWER, by_remote=False, announce=False)
        elif isinstance(signal, sip.Disconnected) and signal.by_remote:
            await self._end(leg, HangupCause.NORMAL, by_remote=True)
        elif isinstance(signal, sip.Info):
            digit = parse_sip_info(signal.content_type, signal.body)
            if digit is not None:
                self._emit(
                    DtmfReceived(
                        leg_id=leg.leg_id, occurred_at=now, digit=digit, method=DtmfMethod.SIP_INFO
                    )
                )

    async def _outbound_answered(self, leg: Leg, sdp: str | None) -> None:
        if sdp is None:
            self._sip.hangup(leg.leg_id)
            await self._end(leg, HangupCause.ENGINE_FAILURE, by_remote=False)
            return
        await self._media.answered(leg.leg_id, sdp)
        if leg.state is not LegState.CALLING:  # hung up meanwhile (by us)
            return
        leg.state = LegState.ANSWERED
        self._emit(
            CallAnswered(
                leg_id=leg.leg_id, occurred_at=self._now(), direction=LegDirection.OUTBOUND
            )
        )
        if leg.replaces is not None:
            await self._complete_transfer(leg.replaces, leg.leg_id)

    async def _complete_transfer(self, old_id: str, new_id_: str) -> None:
        old = self._legs.get(old_id)
        if old is None or old.state is not LegState.ANSWERED or old.bridge_id is None:
            return
        first, second = self._bridges[old.bridge_id]
        kept = second if first == old_id else first
        await self.unbridge(old.bridge_id)
        await self.hangup(old_id)
        await self.bridge(kept, new_id_)

    async def _watch_media(self) -> None:
        while True:
            await asyncio.sleep(self._config.health_interval_s)
            try:
                await self._ng.request("ping")
            except RtpengineError:
                if self._media_up:
                    self._media_up = False
                    log.error("rtpengine stopped answering: ending every call")
                    await self._media_lost()
            else:
                self._media_up = True

    async def _media_lost(self) -> None:
        """rtpengine died or restarted: all media state is gone, so is every call."""
        self._media.forget_all()
        for leg in list(self._legs.values()):
            if leg.state is LegState.OFFERED:
                self._sip.reject(leg.leg_id, 503, "Media Unavailable")
            elif leg.state is not LegState.ENDED:
                self._sip.hangup(leg.leg_id)
            await self._end(leg, HangupCause.ENGINE_FAILURE, by_remote=False)

    def _on_dtmf_log(self, entry: DtmfLogEntry) -> None:
        leg = self._legs.get(entry.call_id)
        if leg is None or entry.source_tag != PARTY or leg.state is not LegState.ANSWERED:
            return
        self._emit(
            DtmfReceived(
                leg_id=leg.leg_id,
                occurred_at=self._now(),
                digit=entry.digit,
                method=DtmfMethod.RFC2833,
            )
        )

    # -- helpers -----------------------------------------------------------------------

    def _leg(self, leg_id: str, state: LegState) -> Leg:
        leg = self._legs.get(leg_id)
        if leg is None or leg.state is LegState.ENDED:
            raise NotFoundError(f"no live leg {leg_id}")
        if leg.state is not state:
            raise ConflictError(f"leg {leg_id} is {leg.state}, not {state}")
        return leg

    def _emit(self, event: TelephonyEvent) -> None:
        self._events.put_nowait(event)

    def _media_path(self, media: str) -> Path:
        name = PurePosixPath(media)
        if name.is_absolute() or ".." in name.parts or not media:
            raise InvalidInputError(f"bad media name {media!r}")
        path = self._config.media_dir / f"{media}.wav"
        if not path.is_file():
            raise NotFoundError(f"no media {media!r}")
        return path

    def _playback_finished(self, leg_id: str, playback_id: str) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.playback_id != playback_id:
            return
        leg.playback_id = leg.playback_timer = None
        self._emit(PlaybackDone(leg_id=leg_id, occurred_at=self._now(), playback_id=playback_id))

    async def _cancel_playback(self, leg: Leg, *, stopped: bool) -> None:
        if leg.playback_timer is not None:
            leg.playback_timer.cancel()
        playback_id, leg.playback_id, leg.playback_timer = leg.playback_id, None, None
        if playback_id is not None:
            self._emit(
                PlaybackDone(
                    leg_id=leg.leg_id,
                    occurred_at=self._now(),
                    playback_id=playback_id,
                    stopped=stopped,
                )
            )

    async def _end(
        self, leg: Leg, cause: HangupCause, *, by_remote: bool, announce: bool = True
    ) -> None:
        if leg.state is LegState.ENDED:
            return
        was_answered = leg.state is LegState.ANSWERED
        leg.state = LegState.ENDED
        await self._cancel_playback(leg, stopped=True)
        if self._mixing is not None and leg.bridge_id and leg.bridge_id in self._mixing:
            with contextlib.suppress(RtpengineError, MixerError):
                await self._leave_mix(leg.bridge_id, leg)
            leg.bridge_id = None
        bridges = [leg.bridge_id] if leg.bridge_id in self._bridges else []
        bridges += [b for b, pair in self._listens.items() if leg.leg_id in pair]
        for bridge_id in bridges:
            with contextlib.suppress(RtpengineError):
                await self.unbridge(bridge_id)
        if announce:
            self._emit(
                CallHungUp(
                    leg_id=leg.leg_id, occurred_at=self._now(), cause=cause, by_remote=by_remote
                )
            )
        if self._media.knows(leg.leg_id):
            with contextlib.suppress(RtpengineError):  # rtpengine may be the reason
                await self._media.release(leg.leg_id)
        if leg.recording_id is not None:
            self._finish_recording(leg)
        del self._legs[leg.leg_id]
        _ = was_answered

    def _finish_recording(self, leg: Leg) -> None:
        recording_id, leg.recording_id = leg.recording_id, None
        leg.recording_paused = False
        if recording_id is None:
            return
        self._recordings.pop(recording_id, None)
        task = asyncio.get_running_loop().create_task(
            self._convert_recording(leg.leg_id, recording_id)
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _convert_recording(self, leg_id: str, recording_id: str) -> None:
        target = self._config.recording_dir / f"{recording_id}.wav"
        duration_s = await convert_leg_recording(
            self._config.recording_dir,
            leg_id,
            target,
            keep_captures=self._config.keep_captures,
        )
        self._emit(
            RecordingReady(
                leg_id=leg_id,
                occurred_at=self._now(),
                recording_id=recording_id,
                location=str(target),
                duration_s=duration_s,
            )
        )


__all__ = ["SippyRtpengineEngine", "VoiceWorkerConfig"]
