"""The scenario a simulation runs: queues, distributions, agent groups, staffing.

A scenario is plain JSON (decoded and validated with msgspec), for example::

    {
      "interval_minutes": 15,
      "service_seconds": 20,
      "queues": [
        {"name": "general",
         "arrivals_per_interval": [40, 55, 60],
         "handle_time": {"dist": "lognormal", "mean_s": 240, "cv": 0.8},
         "after_call_work": {"dist": "constant", "mean_s": 30},
         "patience": {"dist": "exponential", "mean_s": 180},
         "priority": 0}
      ],
      "agent_groups": [
        {"name": "team-a", "skills": {"general": 1}, "staffing": [8, 10, 10]}
      ]
    }

``arrivals_per_interval`` are expected counts (Poisson arrivals at a constant
rate within each interval); ``staffing`` is the number of agents of the group
signed in and ready during each interval. ``patience`` may be omitted for
callers who never abandon. Skill values are proficiency levels used by the
routing policy (higher is preferred).

Two optional fields model what Erlang C leaves out:

* ``channel`` of a queue (``voice`` by default; ``chat``, ``email``, ``sms``,
  ``callback``) and ``capacity`` of an agent group (how many contacts of each
  channel one agent holds at once, 1 by default - e.g. ``{"chat": 3}``). The
  routing policy fills agents up to their capacity, least-loaded first.
* ``ring_time`` of a queue: the time from the offer until the agent answers
  (ringing, or accepting a chat). The agent is reserved while it rings; the
  caller keeps waiting and may abandon during it. Waits (ASA, service level)
  run from arrival to answer, so they include the ring.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import numpy as np

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Channel = Literal["voice", "chat", "email", "sms", "callback"]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=100)]


class Distribution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A duration distribution by its mean (and coefficient of variation where it has one).

    ``exponential`` (cv 1), ``constant`` (cv 0), ``lognormal`` and ``gamma``
    (mean and cv), ``empirical`` (resample ``values_s`` with replacement).
    """

    dist: Literal["exponential", "constant", "lognormal", "gamma", "empirical"]
    mean_s: NonNegative = 0.0
    cv: NonNegative = 1.0
    values_s: list[NonNegative] = msgspec.field(default_factory=list)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws in seconds."""
        m = self.mean_s
        if self.dist == "constant":
            return np.full(size, m)
        if self.dist == "exponential":
            return rng.exponential(m, size) if m > 0 else np.zeros(size)
        if self.dist == "lognormal":
            sigma2 = np.log1p(self.cv**2)
            return rng.lognormal(np.log(m) - sigma2 / 2, np.sqrt(sigma2), size)
        if self.dist == "gamma":
            if self.cv == 0:
                return np.full(size, m)
            shape = 1 / self.cv**2
            return rng.gamma(shape, m / shape, size)
        return rng.choice(np.asarray(self.values_s, dtype=float), size)

    def check(self, what: str) -> None:
        if self.dist == "empirical" and not self.values_s:
            raise ValueError(f"{what}: an empirical distribution needs values_s")
        if self.dist in ("exponential", "lognormal", "gamma") and self.mean_s <= 0:
            raise ValueError(f"{what}: mean_s must be > 0 for {self.dist}")


class QueueSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    arrivals_per_interval: list[NonNegative]
    handle_time: Distribution
    after_call_work: Distribution = Distribution("constant", 0.0)
    patience: Distribution | None = None
    priority: int = 0
    channel: Channel = "voice"
    ring_time: Distribution | None = None


class AgentGroup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    skills: dict[Name, Annotated[int, msgspec.Meta(ge=1)]]
    staffing: list[Annotated[int, msgspec.Meta(ge=0)]]
    capacity: dict[Channel, Capacity] = msgspec.field(default_factory=dict)


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    queues: list[QueueSpec]
    agent_groups: list[AgentGroup]
    interval_minutes: Positive = 15
    service_seconds: NonNegative = 20
    priority_step_s: NonNegative = 60

    @property
    def intervals(self) -> int:
        return len(self.queues[0].arrivals_per_interval)

    def validate(self) -> None:
        """Cross-field checks msgspec cannot express; raises ValueError naming the problem."""
        if not self.queues:
            raise ValueError("a scenario needs at least one queue")
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ValueError("queue names must be unique")
        n = self.intervals
        if n == 0:
            raise ValueError("arrivals_per_interval must not be empty")
        for q in self.queues:
            if len(q.arrivals_per_interval) != n:
                raise ValueError(f"queue {q.name!r}: expected {n} intervals of arrivals")
            q.handle_time.check(f"queue {q.name!r} handle_time")
            q.after_call_work.check(f"queue {q.name!r} after_call_work")
            if q.patience is not None:
                q.patience.check(f"queue {q.name!r} patience")
            if q.ring_time is not None:
                q.ring_time.check(f"queue {q.name!r} ring_time")
        for g in self.agent_groups:
            if len(g.staffing) != n:
                raise ValueError(f"agent group {g.name!r}: expected {n} intervals of staffing")
            unknown = set(g.skills) - set(names)
            if unknown:
                raise ValueError(f"agent group {g.name!r}: unknown queue(s) {sorted(unknown)}")
            extra = set(g.capacity) - set(self.group_capacity(g))
            if extra:
                raise ValueError(
                    f"agent group {g.name!r}: capacity for {sorted(extra)},"
                    " but none of its queues is on that channel"
                )

    def group_capacity(self, group: AgentGroup) -> dict[str, int]:
        """Contacts one agent of ``group`` holds at once, per channel of the queues it serves."""
        channels: set[Channel] = {q.channel for q in self.queues if q.name in group.skills}
        return {c: group.capacity.get(c, 1) for c in sorted(channels)}


def load_scenario(data: bytes | str) -> Scenario:
    """Decode and validate a JSON scenario; raises ValueError with a readable message."""
    try:
        scenario = msgspec.json.decode(data, type=Scenario)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid scenario: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"scenario is not valid JSON: {exc}") from exc
    scenario.validate()
    return scenario
