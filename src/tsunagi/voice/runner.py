"""Running an IVR flow on a live call through the telephony port.

:class:`IvrRun` connects the pure interpreter to a :class:`TelephonyEngine`: it
carries out the interpreter's actions (prompts, timers) and feeds it the engine's
events for one leg. It knows nothing of SIP or of a particular engine. The owner
of the engine's event stream dispatches each leg's events to its run with
:meth:`IvrRun.handle` (the stream has a single consumer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from tsunagi.ports.telephony import (
    CallHungUp,
    DtmfReceived,
    PlaybackDone,
    TelephonyEngine,
    TelephonyEvent,
)
from tsunagi.voice.interpreter import (
    Action,
    HangUp,
    IvrSession,
    PlayPrompt,
    StartTimer,
    StopPrompt,
    TransferToQueue,
)
from tsunagi.voice.ivr import Flow


class IvrRun:
    def __init__(
        self,
        engine: TelephonyEngine,
        leg_id: str,
        flow: Flow,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.leg_id = leg_id
        self.session = IvrSession(flow)
        self.abandoned = False
        self.done = asyncio.Event()
        self._now = now or (lambda: datetime.now(UTC))
        self._playback: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def outcome(self) -> TransferToQueue | HangUp | None:
        return self.session.outcome

    async def start(self) -> None:
        async with self._lock:
            await self._apply(self.session.start(self._now()))

    async def handle(self, event: TelephonyEvent) -> None:
        """Feed one engine event of this leg (others are ignored)."""
        if event.leg_id != self.leg_id or self.done.is_set():
            return
        async with self._lock:
            now = self._now()
            if isinstance(event, PlaybackDone) and event.playback_id == self._playback:
                self._playback = None
                await self._apply(self.session.prompt_done(now))
            elif isinstance(event, DtmfReceived):
                await self._apply(self.session.digit(event.digit, now))
            elif isinstance(event, CallHungUp):
                self.abandoned = True
                self._finish()

    async def _timer_fired(self, token: int) -> None:
        async with self._lock:
            if not self.done.is_set():
                await self._apply(self.session.timer_fired(token, self._now()))

    async def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, PlayPrompt):
                self._playback = await self.engine.play(self.leg_id, action.media)
            elif isinstance(action, StopPrompt):
                self._playback = None  # its PlaybackDone(stopped) is not a prompt end
                await self.engine.stop_playback(self.leg_id)
            elif isinstance(action, StartTimer):
                self._start_timer(action)
            elif isinstance(action, HangUp):
                await self.engine.hangup(self.leg_id)
                self._finish()
            elif isinstance(action, TransferToQueue):
                self._finish()

    def _start_timer(self, action: StartTimer) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(
            action.seconds, self._spawn_timer, action.token
        )

    def _spawn_timer(self, token: int) -> None:
        task = asyncio.get_running_loop().create_task(self._timer_fired(token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.done.set()
