"""The IVR interpreter: a pure state machine over a :class:`~tsunagi.voice.ivr.Flow`.

It performs no I/O and keeps no clock. The caller of the interpreter (the voice
worker's call handler) feeds it what happened — the call started, a prompt
finished, a digit arrived, a timer fired — with the current time, and carries out
the :data:`Action` list it returns: play or stop a prompt, start or cancel the
menu timer, hand the call to a queue, hang up. Prompts named in a flow are media
names for :meth:`tsunagi.ports.telephony.TelephonyEngine.play`.

Behaviour of a menu (the usual contact-center convention):
* the prompt plays; a digit pressed during it stops it (barge-in) and counts;
* after the prompt, the caller has ``timeout_s`` to press a digit;
* a wrong digit or a timeout uses up an attempt, plays the invalid/timeout
  prompt if any, and replays the menu; after ``max_attempts`` the call goes to
  ``on_failure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from tsunagi.voice.ivr import (
    Flow,
    Hangup,
    Menu,
    Node,
    OpeningHours,
    Play,
    TimeSwitch,
    ToQueue,
    parse_hhmm,
)


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    media: str


@dataclass(frozen=True, slots=True)
class StopPrompt:
    pass


@dataclass(frozen=True, slots=True)
class StartTimer:
    seconds: float
    token: int
    """Pass it back to :meth:`IvrSession.timer_fired`; stale tokens are ignored."""


@dataclass(frozen=True, slots=True)
class TransferToQueue:
    queue: str


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Action = PlayPrompt | StopPrompt | StartTimer | TransferToQueue | HangUp


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of the session's path, for the contact's timeline and IVR figures."""

    node: str
    at: datetime
    digit: str | None = None


@dataclass(slots=True)
class IvrSession:
    flow: Flow
    node: str = ""
    finished: bool = False
    outcome: TransferToQueue | HangUp | None = None
    path: list[Step] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    _queue: list[str] = field(default_factory=list)
    """Prompts of the current node still to play (Play nodes, menu re-prompts)."""
    _attempts: int = 0
    _waiting: bool = False
    _prompt_playing: bool = False
    _token: int = 0

    # -- inputs ----------------------------------------------------------------------

    def start(self, now: datetime) -> list[Action]:
        return self._enter(self.flow.start, now)

    def prompt_done(self, now: datetime) -> list[Action]:
        """The prompt started last has finished playing."""
        if self.finished or not self._prompt_playing:
            return []
        self._prompt_playing = False
        if self._queue:
            return self._play_next()
        node = self.flow.nodes[self.node]
        if isinstance(node, Play):
            return self._enter(node.next, now)
        if isinstance(node, Menu):
            if self._waiting:
                return self._arm_timer(node)
            return self._replay_menu(node)
        if isinstance(node, Hangup):
            return self._finish(HangUp())
        return []

    def digit(self, digit: str, now: datetime) -> list[Action]:
        node = self.flow.nodes.get(self.node)
        if self.finished or not isinstance(node, Menu) or not self._waiting:
            return []  # digits outside a menu (during announcements) are ignored
        self.digits.append(digit)
        self._token += 1  # cancels a running timer
        actions: list[Action] = []
        if self._prompt_playing:
            self._prompt_playing = False
            self._queue.clear()
            actions.append(StopPrompt())
        self._waiting = False
        target = node.options.get(digit)
        self.path.append(Step(self.node, now, digit))
        if target is not None:
            return actions + self._enter(target, now)
        return actions + self._failed_attempt(node, node.invalid_prompt, now)

    def timer_fired(self, token: int, now: datetime) -> list[Action]:
        node = self.flow.nodes.get(self.node)
        if self.finished or token != self._token or not isinstance(node, Menu):
            return []
        self._waiting = False
        self.path.append(Step(self.node, now, None))
        return self._failed_attempt(node, node.timeout_prompt, now)

    # -- transitions -----------------------------------------------------------------

    def _enter(self, name: str, now: datetime) -> list[Action]:
        for _ in range(len(self.flow.nodes) + 1):
            node = self.flow.nodes[name]
            if not isinstance(node, TimeSwitch):
                break
            self.path.append(Step(name, now))
            name = branch_for(node, now)
        self.node = name
        self._attempts = 0
        self._token += 1
        if not self.path or self.path[-1].node != name:
            self.path.append(Step(name, now))
        return self._begin(node)

    def _begin(self, node: Node) -> list[Action]:
        if isinstance(node, Play):
            self._queue = list(node.prompts)
            return self._play_next()
        if isinstance(node, Menu):
            self._queue = [node.prompt]
            self._waiting = True
            return self._play_next()
        if isinstance(node, ToQueue):
            return self._finish(TransferToQueue(node.queue))
        if isinstance(node, Hangup):
            if node.prompt:
                self._queue = [node.prompt]
                return self._play_next()
            return self._finish(HangUp())
        raise AssertionError(f"unhandled node {node!r}")  # TimeSwitch resolved in _enter

    def _failed_attempt(self, node: Menu, prompt: str | None, now: datetime) -> list[Action]:
        self._attempts += 1
        if self._attempts >= node.max_attempts:
            return self._enter(node.on_failure, now)
        if prompt is None:
            return self._replay_menu(node)
        self._queue = [prompt]
        return self._play_next()

    def _replay_menu(self, node: Menu) -> list[Action]:
        self._queue = [node.prompt]
        self._waiting = True
        return self._play_next()

    def _play_next(self) -> list[Action]:
        self._prompt_playing = True
        return [PlayPrompt(self._queue.pop(0))]

    def _arm_timer(self, node: Menu) -> list[Action]:
        self._token += 1
        return [StartTimer(node.timeout_s, self._token)]

    def _finish(self, outcome: TransferToQueue | HangUp) -> list[Action]:
        self.finished = True
        self.outcome = outcome
        self._token += 1
        return [outcome]


def branch_for(node: TimeSwitch, now: datetime) -> str:
    """The branch of a time switch at ``now`` (timezone-aware), in the node's zone."""
    local = now.astimezone(ZoneInfo(node.timezone))
    if local.date() in node.holidays:
        return node.holiday or node.closed
    if any(_is_open(hours, local) for hours in node.hours):
        return node.open
    return node.closed


def _is_open(hours: OpeningHours, local: datetime) -> bool:
    start, end = parse_hhmm(hours.start), parse_hhmm(hours.end)
    clock = local.time().replace(tzinfo=None)
    if start <= end:
        return local.weekday() in hours.weekdays and start <= clock < end
    # spans midnight: the evening part belongs to the listed day, the rest to the next
    yesterday = (local.weekday() - 1) % 7
    return (local.weekday() in hours.weekdays and clock >= start) or (
        yesterday in hours.weekdays and clock < end
    )
