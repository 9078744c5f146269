"""A seeded discrete-event simulation of a contact center on the real routing policy.

Model (one virtual clock in seconds from the start of the first interval):

* Arrivals of each queue are Poisson with a constant rate inside each interval:
  the count of interval *i* is Poisson(``arrivals_per_interval[i]``) and the
  arrival times are uniform inside the interval (the order statistics of a
  Poisson process).
* Every call carries pre-drawn handle time, after-call work and patience
  (infinite when the queue has no patience distribution). A call still waiting
  when its patience runs out abandons.
* Routing is ``tsunagi.routing.policy.Router`` - the same code the live engine
  runs: priority with aging, best-skilled then least-loaded then longest-idle
  agent, each agent up to its capacity per channel (``AgentGroup.capacity``:
  e.g. three chats at once). Every offer is accepted (no rejects or missed offers).
* Ring time (``QueueSpec.ring_time``): an offered call rings for a pre-drawn time
  before the agent answers. The agent is reserved (and counted busy) while it
  rings; the caller may still abandon, which frees the agent. The wait of an
  answered call (ASA, service level) runs from arrival to answer; ``p_wait`` is
  the share of calls that queued (offered later than they arrived).
* An agent holds a call for handle time + after-call work, then is free. At an
  interval boundary each group is brought to its staffing: idle agents leave
  first; a busy agent asked to leave finishes the call first. After the last
  interval the last staffing stays until every call has been answered or has
  abandoned (calls with infinite patience and no agents left are reported as
  ``unfinished``).

Randomness: one ``numpy.random.SeedSequence(seed)`` spawns an independent stream
per queue, so a run is a pure function of the scenario and the seed. Ring times
are drawn after the other draws of the queue's stream, so a scenario without
ring time gives the same calls as before ring time existed.

The loop is a plain binary heap of timed events plus a merged, pre-sorted
arrival stream; cancelled abandonments are skipped lazily (no search in a
queue), so the cost per call does not grow with the backlog.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tsunagi.routing.policy import Need, Router
from tsunagi.sim.scenario import Scenario

_RELEASE, _ABANDON, _STAFFING, _ANSWER = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Kpis:
    """Figures of a set of calls; ``service_level`` = answered within T / offered."""

    offered: int
    answered: int
    abandoned: int
    unfinished: int
    service_level: float
    asa_s: float
    abandon_rate: float
    p_wait: float
    occupancy: float | None = None

    @staticmethod
    def of(
        offered: int,
        answered: int,
        abandoned: int,
        within: int,
        waited: int,
        wait_sum: float,
        occupancy: float | None = None,
    ) -> Kpis:
        return Kpis(
            offered=offered,
            answered=answered,
            abandoned=abandoned,
            unfinished=offered - answered - abandoned,
            service_level=within / offered if offered else 1.0,
            asa_s=wait_sum / answered if answered else 0.0,
            abandon_rate=abandoned / offered if offered else 0.0,
            p_wait=waited / offered if offered else 0.0,
            occupancy=occupancy,
        )


@dataclass(frozen=True, slots=True)
class SimResult:
    """KPIs per queue and interval (by arrival interval), per queue, and for the run."""

    queues: list[str]
    by_interval: list[list[Kpis]]  # [queue][interval]
    by_queue: list[Kpis]
    total: Kpis
    occupancy_by_interval: list[float]
    calls: int
    events: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (the ``--format json`` output of ``tsunagi sim run``)."""
        from dataclasses import asdict

        return {
            "total": asdict(self.total),
            "queues": {
                name: {
                    "total": asdict(self.by_queue[q]),
                    "intervals": [asdict(k) for k in self.by_interval[q]],
                }
                for q, name in enumerate(self.queues)
            },
            "occupancy_by_interval": self.occupancy_by_interval,
        }


class _Stats:
    """Per (queue, arrival interval) counters, kept in flat lists for speed."""

    def __init__(self, queues: int, intervals: int) -> None:
        size = queues * intervals
        self.intervals = intervals
        self.offered = [0] * size
        self.answered = [0] * size
        self.abandoned = [0] * size
        self.within = [0] * size
        self.waited = [0] * size
        self.wait_sum = [0.0] * size


class Calls(NamedTuple):
    """The pre-drawn calls of a run, in arrival order (one list entry per call)."""

    times: list[float]
    queues: list[int]
    holds: list[float]  # handle time + after-call work
    patiences: list[float]  # inf: never abandons
    rings: list[float]  # 0: answered the moment it is offered


def draw_calls(scenario: Scenario, seed: int) -> Calls:
    """Merged arrival stream: time, queue, handle + after-call work, patience and ring time."""
    length = scenario.interval_minutes * 60.0
    streams = np.random.SeedSequence(seed).spawn(len(scenario.queues))
    times, queue_ids, holds, patiences, rings = [], [], [], [], []
    for q, (spec, stream) in enumerate(zip(scenario.queues, streams, strict=True)):
        rng = np.random.default_rng(stream)
        rates = np.asarray(spec.arrivals_per_interval, dtype=float)
        counts = rng.poisson(rates)
        total = int(counts.sum())
        starts = np.repeat(np.arange(len(rates)) * length, counts)
        t = np.sort(starts + rng.uniform(0.0, length, total))
        handle = spec.handle_time.sample(rng, total)
        acw = spec.after_call_work.sample(rng, total)
        patience = np.full(total, np.inf)
        if spec.patience is not None:
            patience = spec.patience.sample(rng, total)
        ring = np.zeros(total)
        if spec.ring_time is not None:
            ring = spec.ring_time.sample(rng, total)
        times.append(t)
        queue_ids.append(np.full(total, q, dtype=np.int64))
        holds.append(handle + acw)
        patiences.append(patience)
        rings.append(ring)
    t_all = np.concatenate(times)
    order = np.argsort(t_all, kind="stable")
    return Calls(
        t_all[order].tolist(),
        np.concatenate(queue_ids)[order].tolist(),
        np.concatenate(holds)[order].tolist(),
        np.concatenate(patiences)[order].tolist(),
        np.concatenate(rings)[order].tolist(),
    )


def simulate(scenario: Scenario, seed: int = 0) -> SimResult:
    """Run ``scenario`` once with ``seed``; the same inputs always give the same result."""
    scenario.validate()
    arr_t, arr_q, arr_hold, arr_pat, arr_ring = draw_calls(scenario, seed)
    n_q, n_i = len(scenario.queues), scenario.intervals
    length = scenario.interval_minutes * 60.0
    target = scenario.service_seconds
    channel_of = [q.channel for q in scenario.queues]
    needs = [Need(q.channel, q.name) for q in scenario.queues]
    priorities = [q.priority for q in scenario.queues]
    router = Router(priority_step_s=scenario.priority_step_s)
    stats = _Stats(n_q, n_i)
    busy = [0.0] * (n_i + 1)
    staffed = [0.0] * n_i
    heap: list[tuple[float, int, int, int, int]] = []
    seq = 0

    groups = scenario.agent_groups
    on_duty: list[list[int]] = [[] for _ in groups]
    off_duty: list[list[int]] = [[] for _ in groups]
    next_agent = 0
    capacities = [scenario.group_capacity(g) for g in groups]
    # Occupancy is busy contact-seconds over staffed contact-seconds (slots): an agent
    # holding two of three chats is 2/3 occupied.
    slots = [sum(c.values()) for c in capacities]
    ringing: dict[int, tuple[int, float]] = {}  # call -> (agent, offered at)

    def staff(interval: int, now: float) -> None:
        nonlocal next_agent
        for g, group in enumerate(groups):
            want = group.staffing[min(interval, n_i - 1)]
            on = on_duty[g]
            while len(on) < want:
                if off_duty[g]:
                    agent = off_duty[g].pop()
                    router.agent_ready(agent, now=now)
                else:
                    agent = next_agent
                    next_agent += 1
                    router.set_agent(
                        agent,
                        skills=dict(group.skills),
                        capacity=capacities[g],
                        ready=True,
                        idle_since=now,
                    )
                on.append(agent)
            if len(on) > want:
                # Idle agents leave first; the busy ones finish their call.
                on.sort(key=lambda a: _load(router, a))
                while len(on) > want:
                    agent = on.pop(0)
                    router.agent_not_ready(agent)
                    off_duty[g].append(agent)
            if interval < n_i:
                staffed[interval] += want * length * slots[g]

    def book_busy(start: float, end: float) -> None:
        i = int(start // length)
        while start < end:
            if i >= n_i:
                busy[n_i] += end - start
                return
            edge = (i + 1) * length
            stop = end if end < edge else edge
            busy[i] += stop - start
            start = stop
            i += 1

    answered_n, wait_sum, within_n, waited_n = (
        stats.answered,
        stats.wait_sum,
        stats.within,
        stats.waited,
    )
    next_assignment = router.next_assignment
    push = heapq.heappush
    last = n_i - 1

    def dispatch(now: float) -> int:
        """Apply every assignment the router makes now; returns how many there were.

        The hot path: locals only, no generator. A call with a ring time is answered
        later (an ``_ANSWER`` event); the others are answered now.
        """
        nonlocal seq
        made = 0
        while (asg := next_assignment()) is not None:
            made += 1
            call: int = asg.contact_id  # type: ignore[assignment]
            agent: int = asg.agent_id  # type: ignore[assignment]
            if arr_ring[call]:
                seq += 1
                ringing[call] = (agent, now)
                push(heap, (now + arr_ring[call], seq, _ANSWER, agent, call))
            else:
                answer(call, agent, now, now)
        return made

    def answer(call: int, agent: int, offered: float, now: float) -> None:
        """The call offered at ``offered`` is answered ``now`` (later when it rang): its wait
        runs to the answer, the agent is busy from the offer. Busy time is booked inline when
        the hold ends inside the offer's interval (the common case)."""
        nonlocal seq
        arrived = arr_t[call]
        wait = now - arrived
        i = int(arrived // length)
        k = arr_q[call] * n_i + (i if i < last else last)
        answered_n[k] += 1
        wait_sum[k] += wait
        if wait <= target:
            within_n[k] += 1
        if offered > arrived:
            waited_n[k] += 1
        end = now + arr_hold[call]
        j = int(offered // length)
        if j < n_i and end <= (j + 1) * length:
            busy[j] += end - offered
        else:
            book_busy(offered, end)
        seq += 1
        push(heap, (end, seq, _RELEASE, agent, call))

    def abandon_ringing(call: int, now: float) -> None:
        """The caller hangs up while the agent's phone rings: the agent is free again."""
        agent, offered = ringing.pop(call)
        release(agent, channel_of[arr_q[call]], now=now)
        book_busy(offered, now)
        i = int(arr_t[call] // length)
        k = arr_q[call] * n_i + (i if i < last else last)
        abandoned_n[k] += 1
        if offered > arr_t[call]:
            waited_n[k] += 1

    for i in range(n_i):
        seq += 1
        heapq.heappush(heap, (i * length, seq, _STAFFING, i, 0))
    events = 0
    n_calls = len(arr_t)
    nxt = 0
    inf = math.inf
    arr_t.append(inf)  # sentinel: no bounds check on the arrival stream
    pop = heapq.heappop
    release, remove, enqueue = router.release, router.remove, router.enqueue
    offered, abandoned_n = stats.offered, stats.abandoned
    while nxt < n_calls or heap:
        t_arr = arr_t[nxt]
        if heap and heap[0][0] <= t_arr:
            now, _s, kind, a, b = pop(heap)
            events += 1
            if kind == _RELEASE:
                release(a, channel_of[arr_q[b]], now=now)
            elif kind == _ABANDON:
                if remove(b):
                    i = int(arr_t[b] // length)
                    k = arr_q[b] * n_i + (i if i < last else last)
                    abandoned_n[k] += 1
                    waited_n[k] += 1
                    continue
                if b not in ringing:
                    continue  # answered before its patience ran out
                abandon_ringing(b, now)
            elif kind == _ANSWER:
                rang = ringing.pop(b, None)
                if rang is not None:  # else the caller hung up while it rang
                    answer(b, a, rang[1], now)
                continue
            else:
                staff(a, now)
            dispatch(now)
            continue
        now = t_arr
        call = nxt
        nxt += 1
        events += 1
        q = arr_q[call]
        i = int(now // length)
        offered[q * n_i + (i if i < last else last)] += 1
        enqueue(call, needs[q], priority=priorities[q], ranked_at=now)
        # The state was stable before this arrival, so any assignment now is this call's;
        # an offered call can still be abandoned while it rings.
        made = dispatch(now)
        patience = arr_pat[call]
        if patience < inf and (not made or patience < arr_ring[call]):
            seq += 1
            push(heap, (now + patience, seq, _ABANDON, 0, call))
    arr_t.pop()
    return _result(scenario, stats, busy, staffed, n_calls, events)


def _load(router: Router, agent: int) -> int:
    slot = router.agent(agent)
    return 0 if slot is None else sum(slot.load.values())


def _result(
    scenario: Scenario,
    stats: _Stats,
    busy: list[float],
    staffed: list[float],
    calls: int,
    events: int,
) -> SimResult:
    n_i = stats.intervals
    by_interval: list[list[Kpis]] = []
    by_queue: list[Kpis] = []
    counters = (stats.offered, stats.answered, stats.abandoned, stats.within, stats.waited)

    def kpis(lo: int, hi: int, occupancy: float | None = None) -> Kpis:
        c = [sum(f[lo:hi]) for f in counters]
        return Kpis.of(c[0], c[1], c[2], c[3], c[4], sum(stats.wait_sum[lo:hi]), occupancy)

    for q in range(len(scenario.queues)):
        base = q * n_i
        by_interval.append([kpis(base + i, base + i + 1) for i in range(n_i)])
        by_queue.append(kpis(base, base + n_i))
    occ = [b / s if s else 0.0 for b, s in zip(busy, staffed, strict=False)]
    total_staffed = sum(staffed)
    occupancy = sum(busy[:n_i]) / total_staffed if total_staffed else 0.0
    total = kpis(0, len(stats.offered), occupancy)
    return SimResult(
        [q.name for q in scenario.queues], by_interval, by_queue, total, occ, calls, events
    )
