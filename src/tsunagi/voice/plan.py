"""The voice plan: what an administrator configures for inbound calls, as data.

Which dialled numbers belong to which tenant and IVR flow, what a waiting or held
caller hears, and where each agent's phone is. Read from a TOML or JSON file by the
voice worker (``tsunagi voice serve --plan FILE``) and validated before any call is
taken. Queue order, skills and agent choice are not here: routing owns them.

Agent endpoints: an agent's phone is ``agents[username]`` when listed (a desk phone
with a fixed address), else ``sip:<username>@<agent_domain>`` — the agent's softphone
or desk phone registered under the agent's Tsunagi user name at the SIP edge, with
``;transport=ws`` when the agent uses the desk's browser softphone (``softphone_agents``).
An ``agents`` URI may carry ``;transport=ws`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from tsunagi.domain.errors import InvalidInputError
from tsunagi.voice.ivr import DIGITS, Flow, ToQueue, flow_problems

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class NumberRoute(msgspec.Struct, frozen=True, kw_only=True):
    """A dialled number (the request URI's user part)."""

    tenant: str
    """The tenant's slug."""
    flow: str
    """The IVR flow (a key of :attr:`VoicePlan.flows`) that picks the queue."""


class VoicePlan(msgspec.Struct, frozen=True, kw_only=True):
    numbers: dict[str, NumberRoute]
    flows: dict[str, Flow]
    music: str = "music"
    """Heard while waiting in a queue without music of its own."""
    queue_music: dict[str, str] = {}
    """Queue code → media heard while waiting in that queue."""
    hold_music: str = "music"
    closed_prompt: str | None = None
    """Played before hanging up when the queue is closed, full or the call becomes a
    scheduled callback; nothing is played when unset."""
    callback_digit: str | None = None
    """A waiting caller pressing this digit keeps their place as a callback and is hung
    up (after ``callback_prompt``); an agent calls back when the place comes up."""
    callback_prompt: str | None = None
    agents: dict[str, str] = {}
    """User name → SIP URI of the agent's phone (overrides ``agent_domain``)."""
    agent_domain: str | None = None
    """``host[:port]`` of the SIP edge where agents' phones register by user name."""
    softphone_agents: list[str] = []
    """User names whose phone at the edge is the desk's browser softphone (WebRTC); ``"*"``
    = every agent not listed in ``agents``. Their endpoint carries ``;transport=ws``: the
    engine then offers ICE + DTLS-SRTP instead of plain RTP."""
    caller_id: str | None = None
    """Shown on the agent's phone; the customer's number when unset."""
    ring_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 30.0
    """Longest ring of an agent's phone (the queue's offer timeout also applies)."""
    on_engine_failure: Literal["callback", "abandon"] = "callback"
    """A waiting caller lost to a media-plane failure keeps their place as a callback,
    or is counted as abandoned."""
    trunk: str | None = None
    """Where calls to customers go (callbacks), ``{number}`` standing for the number:
    ``sip:{number}@192.0.2.1:5060``. No outbound calls when unset."""
    trunk_username: str | None = None
    """The digest user name the trunk challenges outbound calls for (401/407)."""
    trunk_password_env: str | None = None
    """The environment variable holding the trunk's digest password, read when the worker
    starts (the password is never written into the plan); needs ``trunk_username``."""
    outbound_caller_id: str | None = None
    """The number customers see on callbacks and placed calls."""
    queue_caller_ids: dict[str, str] = {}
    """Queue code → the number customers see on that queue's outbound calls (a tenant's
    or a client's own number); ``outbound_caller_id`` otherwise."""
    announce_every_s: Annotated[float, msgspec.Meta(ge=2, le=3600)] | None = None
    """Every this many seconds a waiting caller hears their place in line (the music
    pauses for it); no announcements when unset."""
    position_prompt: str = "position"
    """Media ``<position_prompt>-<n>`` says "you are number n in line" for
    ``n = 1 … position_prompts``; ``<position_prompt>-many`` is played beyond."""
    position_prompts: Annotated[int, msgspec.Meta(ge=1, le=99)] = 9
    record_queues: list[str] = []
    """Queue codes whose calls are recorded from the moment they are queued; ``"*"``
    records every queue."""
    source: str = "sip"
    """The contacts' ``source``; their idempotency key is ``<source>:<Call-ID>``."""

    def agent_endpoint(self, username: str) -> str | None:
        if username in self.agents:
            return self.agents[username]
        if self.agent_domain is None:
            return None
        if "*" in self.softphone_agents or username in self.softphone_agents:
            return f"sip:{username}@{self.agent_domain};transport=ws"
        return f"sip:{username}@{self.agent_domain}"

    def records(self, queue: str) -> bool:
        return "*" in self.record_queues or queue in self.record_queues

    def music_for(self, queue: str) -> str:
        return self.queue_music.get(queue, self.music)

    def caller_id_for(self, queue: str | None) -> str:
        if queue is not None and queue in self.queue_caller_ids:
            return self.queue_caller_ids[queue]
        return self.outbound_caller_id or "anonymous"

    def position_media(self, place: int) -> str:
        if 1 <= place <= self.position_prompts:
            return f"{self.position_prompt}-{place}"
        return f"{self.position_prompt}-many"


def parse_plan(data: dict[str, Any]) -> VoicePlan:
    """Decode a plan (e.g. from ``tomllib``) and validate it; raises ``InvalidInputError``."""
    try:
        plan = msgspec.convert(data, type=VoicePlan)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"voice plan: {exc}") from exc
    problems = plan_problems(plan)
    if problems:
        raise InvalidInputError("voice plan: " + "; ".join(problems))
    return plan


def plan_problems(plan: VoicePlan) -> list[str]:
    problems: list[str] = []
    for number, route in plan.numbers.items():
        if route.flow not in plan.flows:
            problems.append(f"number {number}: no flow {route.flow!r}")
    for name, flow in plan.flows.items():
        problems.extend(f"flow {name}: {p}" for p in flow_problems(flow))
    if plan.callback_digit is not None and plan.callback_digit not in DIGITS:
        problems.append(f"callback_digit {plan.callback_digit!r} is not one of 0-9, * or #")
    if plan.trunk is not None and (
        not plan.trunk.startswith("sip:") or "{number}" not in plan.trunk
    ):
        problems.append(f"trunk {plan.trunk!r} must be a sip: URI with {{number}} in it")
    if (plan.trunk_username is None) != (plan.trunk_password_env is None):
        problems.append("trunk_username and trunk_password_env go together")
    if plan.trunk_username is not None and plan.trunk is None:
        problems.append("trunk_username needs a trunk")
    if plan.trunk_password_env is not None and not _ENV_NAME.fullmatch(plan.trunk_password_env):
        problems.append(
            f"trunk_password_env {plan.trunk_password_env!r} is not an environment variable name"
        )
    for username, uri in plan.agents.items():
        if not uri.startswith("sip:") or "@" not in uri:
            problems.append(f"agent {username}: {uri!r} is not a sip: URI")
    return problems


def trunk_auth(plan: VoicePlan, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The trunk's digest credentials (user name, password from ``environ``), or None when
    the plan sets none; raises ``InvalidInputError`` naming a missing variable."""
    if plan.trunk_username is None or plan.trunk_password_env is None:
        return None
    password = environ.get(plan.trunk_password_env)
    if not password:
        raise InvalidInputError(
            f"voice plan: trunk_password_env names {plan.trunk_password_env}, "
            "which is not set in the environment"
        )
    return plan.trunk_username, password


def queues_of(plan: VoicePlan) -> set[str]:
    """Every queue code a flow of the plan can send a caller to."""
    return {
        node.queue
        for flow in plan.flows.values()
        for node in flow.nodes.values()
        if isinstance(node, ToQueue)
    }
