"""IVR flows as data: what an administrator defines, validated before use.

A flow is a graph of named nodes. Each node does one thing and names the node to
go to next, so a flow can be stored as JSON, edited in a form, diffed and
validated without running it. The engine-independent interpreter is
:mod:`tsunagi.voice.interpreter`.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tsunagi.domain.errors import InvalidInputError

DIGITS = frozenset("0123456789*#")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Node(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    pass


class Play(_Node, frozen=True, kw_only=True, tag="play"):
    """Play prompts in order (not interruptible), then go on."""

    prompts: list[str]
    next: str


class Menu(_Node, frozen=True, kw_only=True, tag="menu"):
    """Play ``prompt`` and wait for one digit; the caller may press during the prompt."""

    prompt: str
    options: dict[str, str]
    """digit → node"""
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    on_failure: str
    """Where to go when every attempt ended in a timeout or a wrong digit."""


class OpeningHours(msgspec.Struct, frozen=True, kw_only=True):
    weekdays: list[Annotated[int, msgspec.Meta(ge=0, le=6)]]
    """0 = Monday … 6 = Sunday."""
    start: str
    """``HH:MM`` local time, inclusive."""
    end: str
    """``HH:MM`` local time, exclusive; ``end`` before ``start`` spans midnight."""


class TimeSwitch(_Node, frozen=True, kw_only=True, tag="time_switch"):
    """Branch on the center's local time: holiday, open or closed."""

    timezone: str = "Asia/Tokyo"
    hours: list[OpeningHours]
    holidays: list[date] = []
    open: str
    closed: str
    holiday: str | None = None
    """Defaults to ``closed``."""


class ToQueue(_Node, frozen=True, kw_only=True, tag="to_queue"):
    """Leave the IVR: the call waits in ``queue`` (routing takes over)."""

    queue: str


class Hangup(_Node, frozen=True, kw_only=True, tag="hangup"):
    prompt: str | None = None


Node = Play | Menu | TimeSwitch | ToQueue | Hangup


class Flow(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    start: str
    nodes: dict[str, Node]


def parse_flow(data: bytes | str) -> Flow:
    """Decode a flow from JSON and validate it; raises ``InvalidInputError``."""
    try:
        flow = msgspec.json.decode(data, type=Flow)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"IVR flow: {exc}") from exc
    validate_flow(flow)
    return flow


def validate_flow(flow: Flow) -> None:
    problems = flow_problems(flow)
    if problems:
        raise InvalidInputError("IVR flow: " + "; ".join(problems))


def flow_problems(flow: Flow) -> list[str]:
    """Everything wrong with a flow, in words an administrator can act on."""
    problems: list[str] = []
    if flow.start not in flow.nodes:
        problems.append(f"start node {flow.start!r} does not exist")
    for name, node in flow.nodes.items():
        for target in _targets(node):
            if target not in flow.nodes:
                problems.append(f"{name}: goes to missing node {target!r}")
        problems.extend(f"{name}: {p}" for p in _node_problems(node))
    problems.extend(_loops_without_input(flow))
    return problems


def _targets(node: Node) -> list[str]:
    if isinstance(node, Play):
        return [node.next]
    if isinstance(node, Menu):
        return [*node.options.values(), node.on_failure]
    if isinstance(node, TimeSwitch):
        return [node.open, node.closed] + ([node.holiday] if node.holiday else [])
    return []


def _node_problems(node: Node) -> list[str]:
    problems: list[str] = []
    if isinstance(node, Menu):
        bad = sorted(set(node.options) - DIGITS)
        if bad:
            problems.append(f"options must be single digits 0-9, * or #, not {bad}")
        if not node.options:
            problems.append("a menu needs at least one option")
    if isinstance(node, Play) and not node.prompts:
        problems.append("nothing to play")
    if isinstance(node, TimeSwitch):
        try:
            ZoneInfo(node.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {node.timezone!r}")
        for hours in node.hours:
            for value in (hours.start, hours.end):
                if not _HHMM.match(value):
                    problems.append(f"time {value!r} is not HH:MM")
    return problems


def _loops_without_input(flow: Flow) -> list[str]:
    """A cycle through Play and TimeSwitch nodes only would never wait for the caller."""
    passive = {n for n, node in flow.nodes.items() if isinstance(node, Play | TimeSwitch)}
    edges = {n: [t for t in _targets(flow.nodes[n]) if t in passive] for n in passive}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str) -> bool:
        state[name] = 1
        for target in edges[name]:
            if state.get(target) == 1 or (target not in state and visit(target)):
                return True
        state[name] = 2
        return False

    looping = sorted(n for n in passive if n not in state and visit(n))
    return [f"{n}: loops through prompts and time switches with no caller input" for n in looping]


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
