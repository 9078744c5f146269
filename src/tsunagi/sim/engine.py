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

The loop merges the pre-sorted arrival stream with a calendar queue of timed
events (buckets of a few seconds, a small heap for the current one), which pops
events in exactly the order of one binary heap at a cost that does not grow with
how many are pending; cancelled abandonments are skipped lazily (no search in a
queue). With the router's per-decision cost independent of the number waiting,
the work per call (instructions) grows neither with the backlog nor with the size
of the center; the memory a call touches grows with the center mostly through the
pending events (one per call in progress), since the Router keeps its agents flat
(``docs/architecture/wfm.md``, decisions 0110 and 0111). The calls are pre-drawn
with NumPy and held in tuples, which the garbage collector stops scanning.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from tsunagi.routing.policy import Need, Router
from tsunagi.sim.scenario import Scenario

_RELEASE, _ABANDON, _STAFFING, _ANSWER, _END = 0, 1, 2, 3, 4
# A timed event: time, sequence number (ties go to the earlier scheduled), kind, then an
# agent or call and a channel or call (by kind).
_Event = tuple[float, int, int, int, Any]


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


def _draw(scenario: Scenario, seed: int) -> tuple[np.ndarray, ...]:
    """The calls as arrays in arrival order: time, queue, hold, patience, ring (see below)."""
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
    return (
        t_all[order],
        np.concatenate(queue_ids)[order],
        np.concatenate(holds)[order],
        np.concatenate(patiences)[order],
        np.concatenate(rings)[order],
    )


def draw_calls(scenario: Scenario, seed: int) -> Calls:
    """Merged arrival stream: time, queue, handle + after-call work, patience and ring time."""
    return Calls(*(column.tolist() for column in _draw(scenario, seed)))


def simulate(scenario: Scenario, seed: int = 0) -> SimResult:
    """Run ``scenario`` once with ``seed``; the same inputs always give the same result."""
    scenario.validate()
    t_np, q_np, hold_np, pat_np, ring_np = _draw(scenario, seed)
    n_q, n_i = len(scenario.queues), scenario.intervals
    length = scenario.interval_minutes * 60.0
    last = n_i - 1
    # Each call's counters: queue x arrival interval (a float floor division, as Python's).
    cell_np = q_np * n_i + np.minimum(np.floor_divide(t_np, length).astype(np.int64), last)
    # Tuples, not lists: a tuple of numbers is untracked by the garbage collector once it has
    # seen it, so collections (frequent when a backlog builds) do not walk every call again.
    # The arrival times end with a sentinel (infinity): no bounds check on the stream.
    arr_t = tuple(np.append(t_np, math.inf).tolist())
    arr_hold, arr_pat, arr_ring, arr_q, arr_cell = (
        tuple(c.tolist()) for c in (hold_np, pat_np, ring_np, q_np, cell_np)
    )
    n_calls = len(arr_t) - 1
    target = scenario.service_seconds
    channel_of = [q.channel for q in scenario.queues]
    needs = [Need(q.channel, q.name) for q in scenario.queues]
    priorities = [q.priority for q in scenario.queues]
    router = Router(priority_step_s=scenario.priority_step_s)
    stats = _Stats(n_q, n_i)
    busy = [0.0] * (n_i + 1)
    staffed = [0.0] * n_i
    edge = [(j + 1) * length for j in range(n_i)]  # end of each interval

    # Pending events (time, seq, kind, a, b) in a calendar queue: bucket int(time / width)
    # holds the events of its slice of time (about eight on average), and ``cur`` is a
    # heap of every event in buckets up to ``cur_b``. An event's bucket never decreases
    # with its time, so popping ``cur`` gives exactly the (time, seq) order of one binary
    # heap of all events - at a cost that does not grow with how many are pending (agents
    # busy, callers waiting). Events from two horizons on share the last bucket, which
    # also holds the end sentinel.
    horizon = n_i * length
    inv_width = max(n_calls, 1) / (4.0 * horizon)
    n_buckets = int(2.0 * horizon * inv_width) + 1
    buckets: list[list[_Event] | None] = [None] * (n_buckets + 1)
    buckets[n_buckets] = [(math.inf, 0, _END, 0, 0)]
    cur: list[_Event] = []
    cur_b = 0
    seq = 0

    def schedule(at: float, kind: int, a: int, b: Any) -> None:
        """Add an event (the hot paths inline this)."""
        nonlocal seq
        seq += 1
        event: _Event = (at, seq, kind, a, b)
        index = int(at * inv_width)
        if index > n_buckets:
            index = n_buckets
        if index <= cur_b:
            heapq.heappush(cur, event)
        else:
            bucket = buckets[index]
            if bucket is None:
                buckets[index] = [event]
            else:
                bucket.append(event)

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
            stop = end if end < edge[i] else edge[i]
            busy[i] += stop - start
            start = stop
            i += 1

    offered_n, answered_n, abandoned_n = stats.offered, stats.answered, stats.abandoned
    within_n, waited_n, wait_sum = stats.within, stats.waited, stats.wait_sum

    def answer(call: int, agent: int, offered: float, now: float) -> None:
        """The call offered at ``offered`` is answered ``now`` (after ringing): its wait runs to
        the answer, the agent is busy from the offer. (The loop inlines the case without ring.)
        """
        arrived = arr_t[call]
        wait = now - arrived
        k = arr_cell[call]
        answered_n[k] += 1
        wait_sum[k] += wait
        if wait <= target:
            within_n[k] += 1
        if offered > arrived:
            waited_n[k] += 1
        end = now + arr_hold[call]
        book_busy(offered, end)
        schedule(end, _RELEASE, agent, channel_of[arr_q[call]])

    def abandon_ringing(call: int, now: float) -> None:
        """The caller hangs up while the agent's phone rings: the agent is free again."""
        agent, offered = ringing.pop(call)
        release(agent, channel_of[arr_q[call]], now=now)
        book_busy(offered, now)
        k = arr_cell[call]
        abandoned_n[k] += 1
        if offered > arr_t[call]:
            waited_n[k] += 1

    for i in range(n_i):
        schedule(i * length, _STAFFING, i, 0)
    events = 0
    nxt = 0
    inf = math.inf
    pop, push, heapify = heapq.heappop, heapq.heappush, heapq.heapify
    next_match = router.next_match
    release, remove = router.release, router.remove
    enqueue_and_match, release_and_match = router.enqueue_and_match, router.release_and_match
    while True:
        if not cur:  # open the next bucket that holds events (the last one always does)
            b = cur_b + 1
            while buckets[b] is None:
                b += 1
            cur = buckets[b]  # type: ignore[assignment]
            buckets[b] = None
            cur_b = b
            heapify(cur)
        now = arr_t[nxt]
        arrival = -1
        match = None
        if cur[0][0] <= now:
            now, _s, kind, a, payload = pop(cur)
            events += 1
            if kind == _RELEASE:
                match = release_and_match(a, payload, now=now)
            elif kind == _ABANDON:
                if remove(a):
                    k = arr_cell[a]
                    abandoned_n[k] += 1
                    waited_n[k] += 1
                    continue
                if a not in ringing:
                    continue  # answered before its patience ran out
                abandon_ringing(a, now)
            elif kind == _ANSWER:
                rang = ringing.pop(payload, None)
                if rang is not None:  # else the caller hung up while it rang
                    answer(payload, a, rang[1], now)
                continue
            elif kind == _STAFFING:
                staff(a, now)
            else:
                events -= 1  # the end sentinel: no arrivals and no events left
                break
        else:
            arrival = nxt
            nxt += 1
            events += 1
            q = arr_q[arrival]
            offered_n[arr_cell[arrival]] += 1
            match = enqueue_and_match(arrival, needs[q], priority=priorities[q], ranked_at=now)
        # Decide: apply every assignment the router makes now (the first may have come with
        # the change). After an arrival the state was stable before it, so any assignment
        # is the new call's.
        made = False
        while match is not None or (match := next_match()) is not None:
            made = True
            call: int = match[0]  # type: ignore[assignment]
            agent: int = match[1]  # type: ignore[assignment]
            ring = arr_ring[call]
            seq += 1
            event: _Event
            if ring:  # answered later, after ringing; the caller may hang up meanwhile
                ringing[call] = (agent, now)
                at = now + ring
                event = (at, seq, _ANSWER, agent, call)
            else:  # answered now: its wait ends, the agent is busy until the hold ends
                arrived = arr_t[call]
                wait = now - arrived
                k = arr_cell[call]
                answered_n[k] += 1
                wait_sum[k] += wait
                if wait <= target:
                    within_n[k] += 1
                if now > arrived:
                    waited_n[k] += 1
                at = now + arr_hold[call]
                j = int(now // length)
                if j < n_i and at <= edge[j]:
                    busy[j] += at - now
                else:
                    book_busy(now, at)
                event = (at, seq, _RELEASE, agent, match[2])
            index = int(at * inv_width)  # schedule(), inlined
            if index > n_buckets:
                index = n_buckets
            if index <= cur_b:
                push(cur, event)
            else:
                bucket = buckets[index]
                if bucket is None:
                    buckets[index] = [event]
                else:
                    bucket.append(event)
            match = None
        if arrival >= 0:
            patience = arr_pat[arrival]
            if patience < inf and (not made or patience < arr_ring[arrival]):
                schedule(now + patience, _ABANDON, arrival, 0)
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
