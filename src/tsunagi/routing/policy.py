"""The routing policy (ACD queue discipline) over in-memory state, with an injected clock.

Queue discipline — this docstring is where it is defined (``docs/routing/discipline.md``
explains it with examples):

1. **Who waits first.** Every waiting contact has a *rank key*
   ``ranked_at − priority × priority_step_s``: the moment it started waiting, moved earlier
   by its priority. A contact of priority 2 with a 60 s step is served as if it had waited
   two minutes longer — priority with *aging*: a priority-0 contact that has waited longer
   than that still goes first. The key never changes while the contact waits, so the order
   is a heap order and FIFO holds within equal priority. Ties go to the earlier enqueue.
   A contact put back (rejected or missed offer, lost lease) keeps its ``ranked_at``.
2. **Who may take it.** A contact *needs* a channel and a routing skill, optionally extra
   skills (all required) or a set of named agents (VIP handling; then only those agents
   are eligible, whatever their skills). An agent is eligible when ready, below its
   capacity on the channel, and holding the skills (or named).
3. **Which agent.** Best-skilled first (highest proficiency in the routing skill), then the
   least loaded on that channel, then the longest idle (earliest ``idle_since``: when the
   agent last became ready or finished a contact), then the agent known longest.
4. **When decisions happen.** The state is kept *stable*: no waiting contact has an
   eligible free agent. Only a change can create a match, and only one involving what
   changed, so a change leaves a *trigger*: an agent that became free (ready, capacity
   released, skills changed) or a contact that started waiting. :meth:`Router.next_assignment`
   serves agent triggers first, oldest first — the freed agent takes the best-ranked
   eligible contact (rule 1); an agent with room for more goes to the back of the
   triggers, so free agents take turns — then contact triggers in order — the new
   contact takes the best eligible free agent (rule 3).

Cost: waiting contacts are kept per need and free agents per (channel, skill), each in a
*lane*: a run of entries in rank order, appended at its back whenever an entry ranks after
the last one (the common case: contacts start waiting and agents become free in time
order), and a heap for the entries that do not (a higher priority, a contact put back).
The best entry is the better of the two heads. Entries that went stale (answered,
abandoned, the agent changed) are skipped when they reach a head and compacted away when a
lane holds more than twice the live ones. A contact enters its lane when its trigger finds
no free agent (or before an agent's trigger is served), an agent the lanes of free agents
when its trigger finds no contact. An agent trigger looks at the head of each lane it may
serve (O(#lanes): O(1) each from the run, O(log n) from the heap); a contact trigger at the
head of one lane of free agents. Neither depends on how many contacts wait. A waiting
contact is one tuple of numbers and its id, which the garbage collector stops tracking
(when the id is a number, as in the simulator), so a long queue does not make collections
slower either. :meth:`Router.enqueue_and_match` and :meth:`Router.release_and_match` (the
simulator's) are a change followed by :meth:`Router.next_match`, in one step when no
other trigger is pending.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Id = Hashable


class Need(NamedTuple):
    """What a contact needs from an agent (hashable: contacts with equal needs share a lane)."""

    channel: str
    skill: str
    extras: frozenset[str] = frozenset()
    agents: frozenset[Id] = frozenset()


@dataclass(frozen=True, slots=True)
class Assignment:
    contact_id: Id
    agent_id: Id
    channel: str


Match = tuple[Id, Id, str]  # (contact id, agent id, channel): an Assignment as a plain tuple


@dataclass(slots=True)
class WaitingContact:
    contact_id: Id
    need: Need
    priority: int
    ranked_at: float
    key: float
    seq: int


@dataclass(slots=True)
class AgentSlot:
    """An agent as the router knows it: profile, readiness, load and idle clock."""

    agent_id: Id
    ordinal: int
    skills: dict[str, int]
    capacity: dict[str, int]
    ready: bool = False
    load: dict[str, int] = field(default_factory=dict)
    idle_since: float = 0.0
    stamp: int = 0
    # The Router's cache, one record per channel: (channel, capacity, the lanes of waiting
    # contacts the agent may take, the lanes of free agents it enters with its negated
    # proficiency). One tuple, so a decision touches few objects; rebuilt when stale.
    plan: tuple[_PlanRecord, ...] = field(default=(), compare=False, repr=False)
    plan_version: int = field(default=-1, compare=False, repr=False)
    # The number of its profile (skills and capacity) in the Router: agents of one profile
    # share a plan.
    profile: int = field(default=-1, compare=False, repr=False)

    def free_on(self, channel: str) -> bool:
        return self.ready and self.load.get(channel, 0) < self.capacity.get(channel, 0)

    def rank(self, channel: str, skill: str) -> tuple[int, int, float, int]:
        level = self.skills.get(skill, 0)
        return (-level, self.load.get(channel, 0), self.idle_since, self.ordinal)


_PlanRecord = tuple[str, int, "tuple[_Lane, ...]", "tuple[tuple[_Lane, int], ...]"]

# A waiting contact: rank key and enqueue number first (unique, so records compare as their
# rank and the comparison ends there), then the contact, the number of its need's lane, its
# priority and when it started waiting. The record is current while ``_waiting`` holds it.
_Record = tuple[float, int, Id, int, int, float]
# A free agent: -proficiency, load, idle since, ordinal, stamp (current while the agent's
# stamp is that), the agent.
_AgentEntry = tuple[int, int, float, int, int, AgentSlot]


_FREE_AGENTS = Need("", "")  # the "need" of a lane of free agents


class _Lane:
    """Entries in rank order: ``run`` holds entries appended in order, ``heap`` the others.

    The best entry is the smaller of the two heads.
    """

    __slots__ = ("heap", "limit", "need", "no", "run")

    def __init__(self, need: Need = _FREE_AGENTS, no: int = -1) -> None:
        self.run: deque[Any] = deque()
        self.heap: list[Any] = []
        self.limit = 64  # compact when more entries than this
        self.need = need  # of the contacts in it
        self.no = no  # its number (waiting records name their lane by it)

    def push(self, entry: Any, live: Callable[[Any], bool]) -> None:
        run = self.run
        if not run or entry > run[-1]:
            run.append(entry)
        else:
            heapq.heappush(self.heap, entry)
        if len(run) + len(self.heap) > self.limit:
            self.compact(live)

    def compact(self, live: Callable[[Any], bool]) -> None:
        """Drop stale entries (``live(entry)`` false); the run keeps its order."""
        self.run = deque(entry for entry in self.run if live(entry))
        heap = [entry for entry in self.heap if live(entry)]
        heapq.heapify(heap)
        self.heap = heap
        self.limit = 2 * (len(self.run) + len(heap)) + 64


def _agent_live(entry: _AgentEntry) -> bool:
    return entry[5].stamp == entry[4]


class _Triggers:
    """An insertion-ordered set with O(1) add, discard and pop of the oldest.

    ``live`` maps each item to the token of its place in ``order``; places whose token no
    longer matches were discarded. (A dict alone would do, but taking the first key of a
    dict after many deletions from its front scans the deleted slots, which made decisions
    grow with the number waiting.) The Router inlines these methods on its hot paths.
    """

    __slots__ = ("live", "order", "token")

    def __init__(self) -> None:
        self.live: dict[Id, int] = {}
        self.order: deque[tuple[int, Id]] = deque()
        self.token = 0

    def __bool__(self) -> bool:
        return bool(self.live)

    def add(self, item: Id) -> None:
        """Add at the back; an item already present keeps its place."""
        if item not in self.live:
            self.token += 1
            self.live[item] = self.token
            self.order.append((self.token, item))

    def discard(self, item: Id) -> None:
        live = self.live
        if live.pop(item, None) is not None and not live:
            self.order.clear()  # only discarded places left

    def pop_first(self) -> Id | None:
        live, order = self.live, self.order
        while order:
            token, item = order.popleft()
            if live.get(item) == token:
                del live[item]
                return item
        return None


def rank_key(ranked_at: float, priority: int, priority_step_s: float = 60.0) -> float:
    """A waiting contact's place: the earlier the key, the sooner it is served."""
    return ranked_at - priority * priority_step_s


class Router:
    """The pure ACD: feed it changes, ask it for the next assignment. No I/O, no clock.

    Times are plain seconds (any epoch) passed in by the caller, so the simulator can run it
    on a virtual clock and the engine on the wall clock.
    """

    def __init__(self, *, priority_step_s: float = 60.0) -> None:
        self.priority_step_s = priority_step_s
        self._waiting: dict[Id, _Record] = {}
        self._unindexed: dict[Id, _Record] = {}  # waiting, trigger pending, not in the lane
        self._lanes: dict[Need, _Lane] = {}  # waiting contacts by need
        self._lane_at: list[_Lane] = []  # by number (a dropped lane stays until reused)
        self._free_numbers: list[int] = []  # of dropped lanes
        # Lanes by (channel, skill) (plain and extra skills) and by named agent (targeted);
        # a new (channel, skill) lane bumps the version, so agents rebuild their plans.
        self._lanes_by_cs: dict[tuple[str, str], list[_Lane]] = {}
        self._targeted: dict[Id, dict[Need, _Lane]] = {}
        self._version = 0
        # Profiles (skills, capacity) by number, and per number the plan of the agents of
        # that profile without lanes of named agents, with the version it was built at.
        self._profiles: dict[tuple[Any, Any], int] = {}
        self._shared_plans: list[tuple[int, tuple[_PlanRecord, ...]] | None] = []
        self._agents: dict[Id, AgentSlot] = {}
        self._pools: dict[tuple[str, str], _Lane] = {}  # free agents by (channel, skill)
        self._agent_triggers = _Triggers()
        self._contact_triggers = _Triggers()
        self._seq = 0
        self._ordinal = 0
        self._stamp = 0

    # ----------------------------------------------------------------- contacts
    def enqueue(self, contact_id: Id, need: Need, *, priority: int = 0, ranked_at: float) -> None:
        """Start (or restart) waiting. A contact already waiting is moved to the new need."""
        if contact_id in self._waiting:
            self.remove(contact_id)
        self._seq += 1
        lane = self._lanes.get(need)
        if lane is None:
            lane = self._lane(need)
        key = ranked_at - priority * self.priority_step_s  # rank_key, inlined
        record = (key, self._seq, contact_id, lane.no, priority, ranked_at)
        self._waiting[contact_id] = record
        self._unindexed[contact_id] = record
        self._contact_triggers.add(contact_id)

    def enqueue_and_match(
        self, contact_id: Id, need: Need, *, priority: int = 0, ranked_at: float
    ) -> Match | None:
        """:meth:`enqueue`, then :meth:`next_match` - in one step when no trigger is pending.

        The new contact's trigger is then the only one: it takes the best free agent at once
        (and never waits) or it waits. The simulator's arrival.
        """
        if self._agent_triggers.live or self._contact_triggers.live or contact_id in self._waiting:
            self.enqueue(contact_id, need, priority=priority, ranked_at=ranked_at)
            return self.next_match()
        self._seq += 1
        chosen = self._best_agent(need)
        if chosen is not None:
            return self._take(contact_id, need.channel, chosen)
        lane = self._lanes.get(need)
        if lane is None:
            lane = self._lane(need)
        record = (
            ranked_at - priority * self.priority_step_s,
            self._seq,
            contact_id,
            lane.no,
            priority,
            ranked_at,
        )
        self._waiting[contact_id] = record
        run = lane.run  # _Lane.push, inlined
        if not run or record > run[-1]:
            run.append(record)
        else:
            heapq.heappush(lane.heap, record)
        if len(run) + len(lane.heap) > lane.limit:
            self._compact_contacts(lane)
        return None

    def remove(self, contact_id: Id) -> bool:
        """Stop waiting (abandoned, moved, scheduled for callback). False if not waiting."""
        self._contact_triggers.discard(contact_id)
        if self._unindexed:
            self._unindexed.pop(contact_id, None)
        return self._waiting.pop(contact_id, None) is not None

    def is_waiting(self, contact_id: Id) -> bool:
        return contact_id in self._waiting

    def waiting(self) -> Iterator[WaitingContact]:
        lane_at = self._lane_at
        for key, seq, contact_id, lane_no, priority, ranked_at in self._waiting.values():
            yield WaitingContact(contact_id, lane_at[lane_no].need, priority, ranked_at, key, seq)

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    # ------------------------------------------------------------------- agents
    def set_agent(
        self,
        agent_id: Id,
        *,
        skills: dict[str, int],
        capacity: dict[str, int],
        ready: bool,
        load: dict[str, int] | None = None,
        idle_since: float = 0.0,
    ) -> None:
        """Add an agent or replace everything known about it (absolute, so it is idempotent)."""
        slot = self._agents.get(agent_id)
        if slot is None:
            self._ordinal += 1
            slot = self._agents[agent_id] = AgentSlot(agent_id, self._ordinal, {}, {})
        slot.skills = dict(skills)
        slot.capacity = dict(capacity)
        key = (tuple(slot.skills.items()), tuple(slot.capacity.items()))
        profile = self._profiles.get(key)
        if profile is None:
            profile = self._profiles[key] = len(self._shared_plans)
            self._shared_plans.append(None)
        slot.profile = profile
        slot.ready = ready
        slot.load = dict(load or {})
        slot.idle_since = idle_since
        self._plan(slot)
        self._reindex(slot)

    def remove_agent(self, agent_id: Id) -> None:
        slot = self._agents.pop(agent_id, None)
        if slot is not None:
            self._stamp += 1
            slot.stamp = self._stamp
        self._agent_triggers.discard(agent_id)

    def agent_ready(self, agent_id: Id, *, now: float) -> None:
        slot = self._agents[agent_id]
        if not slot.ready:
            slot.ready = True
            slot.idle_since = now
            self._reindex(slot)

    def agent_not_ready(self, agent_id: Id) -> None:
        slot = self._agents[agent_id]
        if slot.ready:
            slot.ready = False
            self._reindex(slot)

    def release(self, agent_id: Id, channel: str, *, now: float) -> None:
        """The agent no longer holds one contact on ``channel`` (closed, rejected, moved)."""
        slot = self._agents[agent_id]
        load = slot.load
        held = load.get(channel, 0)
        if held <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        load[channel] = held - 1
        slot.idle_since = now
        self._reindex(slot)

    def release_and_match(self, agent_id: Id, channel: str, *, now: float) -> Match | None:
        """:meth:`release`, then :meth:`next_match` - in one step when no trigger is pending.

        The agent's trigger is then the only one: it takes the best-ranked contact it may
        take, or enters the lanes of free agents. The simulator's end of a contact.
        """
        if self._agent_triggers.live or self._contact_triggers.live:
            self.release(agent_id, channel, now=now)
            return self.next_match()
        slot = self._agents[agent_id]
        load = slot.load
        held = load.get(channel, 0)
        if held <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        load[channel] = held - 1
        slot.idle_since = now
        self._stamp += 1  # _reindex without the trigger, which would be served at once
        slot.stamp = self._stamp
        if not slot.ready:
            return None
        best = self._best_for_agent(slot)
        if best is not None:
            return self._assign(best, slot)
        self._index_agent(slot)
        return None

    def agent(self, agent_id: Id) -> AgentSlot | None:
        return self._agents.get(agent_id)

    def agents(self) -> Iterator[AgentSlot]:
        return iter(self._agents.values())

    # ---------------------------------------------------------------- decisions
    def next_assignment(self) -> Assignment | None:
        """The next match, already applied to the state; ``None`` when stable."""
        found = self.next_match()
        return None if found is None else Assignment(*found)

    def next_match(self) -> Match | None:
        """:meth:`next_assignment` as a plain ``(contact_id, agent_id, channel)`` tuple."""
        live = self._agent_triggers.live
        if live:
            if self._unindexed:
                self._index_unindexed()
            order, agents = self._agent_triggers.order, self._agents
            while order:  # _Triggers.pop_first, inlined
                token, agent_id = order.popleft()
                if live.get(agent_id) != token:
                    continue
                del live[agent_id]
                slot = agents.get(agent_id)
                if slot is None:
                    continue
                best = self._best_for_agent(slot)
                # (popped: re-added at the back if room remains, so free agents take turns)
                if best is not None:
                    return self._assign(best, slot)
                self._index_agent(slot)
        live = self._contact_triggers.live
        if live:
            order, waiting_by_id = self._contact_triggers.order, self._waiting
            while order:
                token, contact_id = order.popleft()
                if live.get(contact_id) != token:
                    continue
                del live[contact_id]
                record = waiting_by_id.get(contact_id)
                if record is None:
                    continue
                lane = self._lane_at[record[3]]
                chosen = self._best_agent(lane.need)
                if chosen is not None:
                    return self._assign(record, chosen)
                if self._unindexed.pop(contact_id, None) is not None:
                    lane.push(record, self._waiting_live)
        return None

    @property
    def has_triggers(self) -> bool:
        """Whether a change since the last decision may allow a match."""
        return bool(self._agent_triggers or self._contact_triggers)

    def assignments(self) -> Iterator[Assignment]:
        """Drain :meth:`next_assignment` until stable."""
        while (found := self.next_assignment()) is not None:
            yield found

    def _best_for_agent(self, slot: AgentSlot) -> _Record | None:
        """The best-ranked contact the agent may take: the heads of its lanes, compared."""
        if not slot.ready:
            return None
        plan = slot.plan if slot.plan_version == self._version else self._plan(slot)
        best: _Record | None = None
        empties: list[_Lane] | None = None
        load = slot.load
        current = self._waiting.get
        heappop = heapq.heappop
        for channel, cap, wants, _enters in plan:
            if load.get(channel, 0) >= cap:
                continue
            for lane in wants:
                run = lane.run
                while run:
                    head = run[0]
                    if current(head[2]) is head:
                        break
                    run.popleft()
                heap = lane.heap
                while heap:
                    top = heap[0]
                    if current(top[2]) is top:
                        break
                    heappop(heap)
                if run:
                    head = run[0]
                    if heap and heap[0] < head:
                        head = heap[0]
                elif heap:
                    head = heap[0]
                else:
                    if lane.need.agents:
                        empties = [] if empties is None else empties
                        empties.append(lane)
                    continue
                if best is None or head < best:
                    best = head
        if empties:
            for lane in empties:
                self._drop_targeted(lane)
        return best

    def _plan(self, slot: AgentSlot) -> tuple[_PlanRecord, ...]:
        """Rebuild the agent's plan: per channel, the lanes of waiting contacts it may take
        (rule 2) and the lanes of free agents it enters.

        Agents with the same skills and capacity (in the same order) and no lanes of named
        agents get the same plan object: a decision then touches one shared plan instead of
        a copy per agent, which keeps a large center's working set small.
        """
        targeted = self._targeted.get(slot.agent_id)
        if targeted or slot.profile < 0:
            plan = self._build_plan(slot.skills, slot.capacity, targeted)
        else:
            shared = self._shared_plans[slot.profile]
            if shared is not None and shared[0] == self._version:
                plan = shared[1]
            else:
                plan = self._build_plan(slot.skills, slot.capacity, None)
                self._shared_plans[slot.profile] = (self._version, plan)
        slot.plan = plan
        slot.plan_version = self._version
        return plan

    def _build_plan(
        self,
        skills: dict[str, int],
        capacity: dict[str, int],
        targeted: dict[Need, _Lane] | None,
    ) -> tuple[_PlanRecord, ...]:
        plan: list[_PlanRecord] = []
        for channel, cap in capacity.items():
            wants: list[_Lane] = []
            for skill in skills:
                for lane in self._lanes_by_cs.get((channel, skill), ()):
                    if not lane.need.extras or lane.need.extras.issubset(skills):
                        wants.append(lane)
            if targeted:
                wants.extend(lane for need, lane in targeted.items() if need.channel == channel)
            enters = tuple((self._pool(channel, skill), -level) for skill, level in skills.items())
            plan.append((channel, cap, tuple(wants), enters))
        return tuple(plan)

    def _pool(self, channel: str, skill: str) -> _Lane:
        """The lane of free agents of (channel, skill), made when first needed (kept)."""
        pool = self._pools.get((channel, skill))
        if pool is None:
            pool = self._pools[(channel, skill)] = _Lane()
        return pool

    def _lane(self, need: Need) -> _Lane:
        """Make the lane of ``need`` (only lanes of named agents are dropped again)."""
        no = self._free_numbers.pop() if self._free_numbers else len(self._lane_at)
        lane = self._lanes[need] = _Lane(need, no)
        if no == len(self._lane_at):
            self._lane_at.append(lane)
        else:
            self._lane_at[no] = lane
        if need.agents:
            for agent_id in need.agents:
                self._targeted.setdefault(agent_id, {})[need] = lane
                slot = self._agents.get(agent_id)
                if slot is not None:
                    slot.plan_version = -1
        else:
            self._lanes_by_cs.setdefault((need.channel, need.skill), []).append(lane)
            self._version += 1
        return lane

    def _drop_targeted(self, lane: _Lane) -> None:
        """Forget an empty lane of named agents (such needs come and go with VIP contacts).

        Called with every waiting contact in its lane, so none refers to it any more.
        """
        need = lane.need
        if self._lanes.get(need) is not lane or lane.run or lane.heap:
            return
        del self._lanes[need]
        self._free_numbers.append(lane.no)  # (no waiting record names it any more)
        for agent_id in need.agents:
            targeted = self._targeted.get(agent_id)
            if targeted is not None:
                targeted.pop(need, None)
                if not targeted:
                    del self._targeted[agent_id]
            slot = self._agents.get(agent_id)
            if slot is not None:
                slot.plan_version = -1

    def _waiting_live(self, record: _Record) -> bool:
        return self._waiting.get(record[2]) is record

    def _compact_contacts(self, lane: _Lane) -> None:
        lane.compact(self._waiting_live)

    def _index_unindexed(self) -> None:
        """Put every contact whose trigger is still pending in its lane (an agent's trigger
        is served first and must see them)."""
        lane_at, live = self._lane_at, self._waiting_live
        for record in self._unindexed.values():
            lane_at[record[3]].push(record, live)
        self._unindexed.clear()

    def _index_agent(self, slot: AgentSlot) -> None:
        """Enter a free agent in the lanes of free agents of each channel it has room on."""
        if not slot.ready:
            return
        stamp, idle_since, ordinal, load = slot.stamp, slot.idle_since, slot.ordinal, slot.load
        for channel, cap, _wants, enters in slot.plan:
            held = load.get(channel, 0)
            if held >= cap:
                continue
            for pool, level in enters:
                entry = (level, held, idle_since, ordinal, stamp, slot)
                run = pool.run  # _Lane.push, inlined
                if not run or entry > run[-1]:
                    run.append(entry)
                else:
                    heapq.heappush(pool.heap, entry)
                if len(run) + len(pool.heap) > pool.limit:
                    pool.compact(_agent_live)

    def _best_agent(self, need: Need) -> AgentSlot | None:
        """The best free agent for a contact with ``need`` (rule 3)."""
        if need.agents:
            candidates = [
                slot
                for agent_id in need.agents
                if (slot := self._agents.get(agent_id)) is not None and slot.free_on(need.channel)
            ]
            if not candidates:
                return None
            return min(candidates, key=lambda slot: slot.rank(need.channel, need.skill))
        pool = self._pools.get((need.channel, need.skill))
        if pool is None:
            return None
        if need.extras:
            return self._best_with_extras(pool, need.extras)
        run, heap = pool.run, pool.heap
        while run:
            head = run[0]
            if head[5].stamp == head[4]:
                break
            run.popleft()
        while heap:
            top = heap[0]
            if top[5].stamp == top[4]:
                break
            heapq.heappop(heap)
        if run:
            head = run[0]
            if heap and heap[0] < head:
                head = heap[0]
        elif heap:
            head = heap[0]
        else:
            return None
        best: AgentSlot = head[5]
        return best

    def _best_with_extras(self, pool: _Lane, extras: frozenset[str]) -> AgentSlot | None:
        """The best free agent of the lane that also holds ``extras`` (all of them)."""
        run, heap = pool.run, pool.heap
        from_run: list[_AgentEntry] = []
        from_heap: list[_AgentEntry] = []
        chosen: AgentSlot | None = None
        while True:
            while run and run[0][5].stamp != run[0][4]:
                run.popleft()
            while heap and heap[0][5].stamp != heap[0][4]:
                heapq.heappop(heap)
            if run and (not heap or run[0] < heap[0]):
                if extras.issubset(run[0][5].skills):
                    chosen = run[0][5]
                    break
                from_run.append(run.popleft())
            elif heap:
                if extras.issubset(heap[0][5].skills):
                    chosen = heap[0][5]
                    break
                from_heap.append(heapq.heappop(heap))
            else:
                break
        run.extendleft(reversed(from_run))
        for entry in from_heap:
            heapq.heappush(heap, entry)
        return chosen

    def _assign(self, record: _Record, slot: AgentSlot) -> Match:
        contact_id = record[2]
        del self._waiting[contact_id]
        if contact_id in self._contact_triggers.live:  # (popped when a contact trigger matched)
            self._contact_triggers.discard(contact_id)
        if self._unindexed:
            self._unindexed.pop(contact_id, None)
        return self._take(contact_id, self._lane_at[record[3]].need.channel, slot)

    def _take(self, contact_id: Id, channel: str, slot: AgentSlot) -> Match:
        """The agent takes one more contact on ``channel``."""
        load = slot.load
        load[channel] = load.get(channel, 0) + 1
        self._reindex(slot)
        return (contact_id, slot.agent_id, channel)

    def _reindex(self, slot: AgentSlot) -> None:
        """New stamp (older lane entries go stale); leave a trigger if the agent is free.

        The agent enters the lanes of free agents when its trigger finds no contact.
        """
        self._stamp += 1
        slot.stamp = self._stamp
        triggers = self._agent_triggers
        if slot.ready:
            load = slot.load
            for channel, cap, _wants, _enters in slot.plan:
                if load.get(channel, 0) < cap:
                    agent_id = slot.agent_id
                    if agent_id not in triggers.live:  # _Triggers.add, inlined
                        token = triggers.token = triggers.token + 1
                        triggers.live[agent_id] = token
                        triggers.order.append((token, agent_id))
                    return
        if slot.agent_id in triggers.live:
            triggers.discard(slot.agent_id)
