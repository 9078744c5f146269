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

Agents are kept flat (decision 0111): each field (ready, idle since, stamp, plan, the load
per channel, ...) is a list indexed by the agent's *number*, and a free-agent entry names
the agent by number. A decision then reads a few list slots, eight agents to a cache line,
instead of an object and a dict of its own per agent: a floor of thousands of agents taking
turns (longest idle first is a cycle through all of them) stays in cache. :meth:`Router.agent`
gives an :class:`AgentView` that reads those lists.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

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
    """An agent as the router knows it: profile, readiness, load and idle clock.

    The reference router keeps its agents as these; the :class:`Router` keeps flat
    per-field lists and hands out :class:`AgentView` objects with the same fields.
    """

    agent_id: Id
    ordinal: int
    skills: dict[str, int]
    capacity: dict[str, int]
    ready: bool = False
    load: dict[str, int] = field(default_factory=dict)
    idle_since: float = 0.0

    def free_on(self, channel: str) -> bool:
        return self.ready and self.load.get(channel, 0) < self.capacity.get(channel, 0)

    def rank(self, channel: str, skill: str) -> tuple[int, int, float, int]:
        level = self.skills.get(skill, 0)
        return (-level, self.load.get(channel, 0), self.idle_since, self.ordinal)


class AgentView:
    """One agent of a :class:`Router`, read live from the Router's per-field lists.

    It has what :class:`AgentSlot` has (``load`` is built when read); valid while the agent
    stays known to the Router (a removed agent's number is given to the next new agent).
    """

    __slots__ = ("_n", "_router", "agent_id")

    def __init__(self, router: Router, n: int, agent_id: Id) -> None:
        self._router = router
        self._n = n
        self.agent_id = agent_id

    @property
    def ordinal(self) -> int:
        return self._router._ordinals[self._n]

    @property
    def skills(self) -> dict[str, int]:
        return self._router._skills[self._n]

    @property
    def capacity(self) -> dict[str, int]:
        return self._router._capacity[self._n]

    @property
    def ready(self) -> bool:
        return self._router._ready[self._n]

    @property
    def idle_since(self) -> float:
        return self._router._idle[self._n]

    @property
    def plan(self) -> tuple[_PlanRecord, ...]:
        return self._router._plans[self._n]

    @property
    def load(self) -> dict[str, int]:
        """Contacts held per channel (a new dict: changing it changes nothing)."""
        n, capacity = self._n, self._router._capacity[self._n]
        load = {}
        for channel, loads in self._router._loads.items():
            held = loads[n]
            if held or channel in capacity:
                load[channel] = held
        return load

    def free_on(self, channel: str) -> bool:
        router, n = self._router, self._n
        loads = router._loads.get(channel)
        return (
            router._ready[n]
            and loads is not None
            and loads[n] < router._capacity[n].get(channel, 0)
        )

    def rank(self, channel: str, skill: str) -> tuple[int, int, float, int]:
        router, n = self._router, self._n
        loads = router._loads.get(channel)
        held = loads[n] if loads is not None else 0
        return (-router._skills[n].get(skill, 0), held, router._idle[n], router._ordinals[n])


# One per channel of an agent's capacity: (channel, capacity, the lanes of waiting contacts
# the agent may take, the lanes of free agents it enters with its negated proficiency, the
# Router's list of every agent's load on the channel by agent number).
_PlanRecord = tuple[str, int, "tuple[_Lane, ...]", "tuple[tuple[_Lane, int], ...]", list[int]]

# A waiting contact: rank key and enqueue number first (unique, so records compare as their
# rank and the comparison ends there), then the contact, the number of its need's lane, its
# priority and when it started waiting. The record is current while ``_waiting`` holds it.
_Record = tuple[float, int, Id, int, int, float]
# A free agent: -proficiency, load, idle since, ordinal, stamp (current while the agent's
# stamp is this very object: every stamp is a new number), the agent's number.
_AgentEntry = tuple[int, int, float, int, int, int]


_FREE_AGENTS = Need("", "")  # the "need" of a lane of free agents
# The stamp of an agent that can make no free-agent entry (no room, not ready, removed): no
# entry holds it, so all of the agent's entries are stale.
_NO_STAMP = -1


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


_T = TypeVar("_T", bound=Hashable)


class _Triggers(Generic[_T]):
    """An insertion-ordered set with O(1) add, discard and pop of the oldest.

    ``live`` maps each item to the token of its place in ``order``; places whose token no
    longer matches were discarded. (A dict alone would do, but taking the first key of a
    dict after many deletions from its front scans the deleted slots, which made decisions
    grow with the number waiting.) The Router inlines these methods on its hot paths.
    """

    __slots__ = ("live", "order", "token")

    def __init__(self) -> None:
        self.live: dict[_T, int] = {}
        self.order: deque[tuple[int, _T]] = deque()
        self.token = 0

    def __bool__(self) -> bool:
        return bool(self.live)

    def add(self, item: _T) -> None:
        """Add at the back; an item already present keeps its place."""
        if item not in self.live:
            self.token += 1
            self.live[item] = self.token
            self.order.append((self.token, item))

    def discard(self, item: _T) -> None:
        live = self.live
        if live.pop(item, None) is not None and not live:
            self.order.clear()  # only discarded places left

    def pop_first(self) -> _T | None:
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

    __slots__ = (
        "_agent_triggers",
        "_capacity",
        "_contact_triggers",
        "_free_numbers",
        "_idle",
        "_ids",
        "_lane_at",
        "_lanes",
        "_lanes_by_cs",
        "_loads",
        "_numbers",
        "_ordinal",
        "_ordinals",
        "_plan_versions",
        "_plans",
        "_pools",
        "_profile_of",
        "_profiles",
        "_ready",
        "_seq",
        "_shared_plans",
        "_skills",
        "_spare",
        "_stamp",
        "_stamps",
        "_targeted",
        "_unindexed",
        "_version",
        "_views",
        "_waiting",
        "priority_step_s",
    )

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
        # The agents, flat: each field is a list indexed by the agent's *number* (given when
        # it is added, reused after it is removed), so a decision reads a few list slots
        # instead of an object and a dict per agent, and the whole floor's state stays small
        # enough to stay in cache when agents take turns (longest idle first is a cycle
        # through all of them). The load on a channel is a list per channel (``_loads``),
        # which the plan records name; an agent's stamp is a fresh object at every change,
        # and a free-agent entry is current while it holds the agent's stamp object.
        self._numbers: dict[Id, int] = {}  # agent id -> number
        self._ids: list[Id | None] = []  # None: the number is free
        self._ordinals: list[int] = []  # the order agents became known (the last tie-break)
        self._ready: list[bool] = []
        self._idle = array("d")
        self._stamps: list[int] = []
        self._skills: list[dict[str, int]] = []
        self._capacity: list[dict[str, int]] = []
        self._profile_of: list[int] = []
        self._plans: list[tuple[_PlanRecord, ...]] = []
        self._plan_versions: list[int] = []
        self._loads: dict[str, list[int]] = {}
        self._spare: list[int] = []  # numbers of removed agents
        self._views: list[AgentView | None] = []  # made when first asked for
        self._pools: dict[tuple[str, str], _Lane] = {}  # free agents by (channel, skill)
        self._agent_triggers: _Triggers[int] = _Triggers()  # of agent numbers
        self._contact_triggers: _Triggers[Id] = _Triggers()
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
        n = self._numbers.get(agent_id)
        if n is None:
            n = self._new_number(agent_id)
        skills = self._skills[n] = dict(skills)
        capacity = self._capacity[n] = dict(capacity)
        key = (tuple(skills.items()), tuple(capacity.items()))
        profile = self._profiles.get(key)
        if profile is None:
            profile = self._profiles[key] = len(self._shared_plans)
            self._shared_plans.append(None)
        self._profile_of[n] = profile
        self._ready[n] = ready
        for loads in self._loads.values():
            loads[n] = 0
        for channel, held in (load or {}).items():
            self._load_list(channel)[n] = held
        self._idle[n] = idle_since
        self._plans[n] = ()  # (not a model for the new plan: the profile may have changed)
        self._plan(n)
        self._reindex(n)

    def _new_number(self, agent_id: Id) -> int:
        """Give a new agent a number: a removed agent's, else the next one."""
        self._ordinal += 1
        if self._spare:
            n = self._spare.pop()
            self._ids[n] = agent_id
            self._ordinals[n] = self._ordinal
        else:
            n = len(self._ids)
            self._ids.append(agent_id)
            self._ordinals.append(self._ordinal)
            self._ready.append(False)
            self._idle.append(0.0)
            self._stamps.append(0)
            self._skills.append({})
            self._capacity.append({})
            self._profile_of.append(-1)
            self._plans.append(())
            self._plan_versions.append(-1)
            self._views.append(None)
            for loads in self._loads.values():
                loads.append(0)
        self._numbers[agent_id] = n
        return n

    def _load_list(self, channel: str) -> list[int]:
        """Every agent's load on ``channel`` by number, made when the channel is first seen."""
        loads = self._loads.get(channel)
        if loads is None:
            loads = self._loads[channel] = [0] * len(self._ids)
        return loads

    def remove_agent(self, agent_id: Id) -> None:
        n = self._numbers.pop(agent_id, None)
        if n is None:
            return
        self._stamps[n] = _NO_STAMP  # its free-agent entries go stale
        self._agent_triggers.discard(n)
        self._ids[n] = None
        self._ready[n] = False
        for loads in self._loads.values():
            loads[n] = 0
        self._skills[n], self._capacity[n] = {}, {}
        self._plans[n], self._plan_versions[n], self._profile_of[n] = (), -1, -1
        self._views[n] = None
        self._spare.append(n)

    def agent_ready(self, agent_id: Id, *, now: float) -> None:
        n = self._numbers[agent_id]
        if not self._ready[n]:
            self._ready[n] = True
            self._idle[n] = now
            self._reindex(n)

    def agent_not_ready(self, agent_id: Id) -> None:
        n = self._numbers[agent_id]
        if self._ready[n]:
            self._ready[n] = False
            self._reindex(n)

    def release(self, agent_id: Id, channel: str, *, now: float) -> None:
        """The agent no longer holds one contact on ``channel`` (closed, rejected, moved)."""
        n = self._numbers[agent_id]
        loads = self._loads.get(channel)
        if loads is None or loads[n] <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        loads[n] -= 1
        self._idle[n] = now
        self._reindex(n)

    def release_and_match(self, agent_id: Id, channel: str, *, now: float) -> Match | None:
        """:meth:`release`, then :meth:`next_match` - in one step when no trigger is pending.

        The agent's trigger is then the only one: it takes the best-ranked contact it may
        take, or enters the lanes of free agents. The simulator's end of a contact.
        """
        if self._agent_triggers.live or self._contact_triggers.live:
            self.release(agent_id, channel, now=now)
            return self.next_match()
        n = self._numbers[agent_id]
        loads = self._loads.get(channel)
        if loads is None or loads[n] <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        loads[n] -= 1
        self._idle[n] = now
        self._stamp += 1  # _reindex without the trigger, which would be served at once
        self._stamps[n] = self._stamp
        if not self._ready[n]:
            return None
        best = self._best_for_agent(n)
        if best is not None:
            return self._assign(best, n)
        self._index_agent(n)
        return None

    def agent(self, agent_id: Id) -> AgentView | None:
        """The agent as the router knows it (a live view), or ``None``."""
        n = self._numbers.get(agent_id)
        if n is None:
            return None
        view = self._views[n]
        if view is None:
            view = self._views[n] = AgentView(self, n, agent_id)
        return view

    def agents(self) -> Iterator[AgentView]:
        """Every agent, in the order they became known."""
        by_age = sorted(self._numbers.items(), key=lambda item: self._ordinals[item[1]])
        return (view for agent_id, _n in by_age if (view := self.agent(agent_id)) is not None)

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
            order, ids = self._agent_triggers.order, self._ids
            while order:  # _Triggers.pop_first, inlined
                token, n = order.popleft()
                if live.get(n) != token:
                    continue
                del live[n]
                if ids[n] is None:
                    continue
                best = self._best_for_agent(n)
                # (popped: re-added at the back if room remains, so free agents take turns)
                if best is not None:
                    return self._assign(best, n)
                self._index_agent(n)
        contacts = self._contact_triggers.live
        if contacts:
            pending, waiting_by_id = self._contact_triggers.order, self._waiting
            while pending:
                token, contact_id = pending.popleft()
                if contacts.get(contact_id) != token:
                    continue
                del contacts[contact_id]
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

    def _best_for_agent(self, n: int) -> _Record | None:
        """The best-ranked contact agent ``n`` may take: the heads of its lanes, compared."""
        if not self._ready[n]:
            return None
        plan = self._plans[n] if self._plan_versions[n] == self._version else self._plan(n)
        best: _Record | None = None
        empties: list[_Lane] | None = None
        current = self._waiting.get
        heappop = heapq.heappop
        for _channel, cap, wants, _enters, loads in plan:
            if loads[n] >= cap:
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

    def _plan(self, n: int) -> tuple[_PlanRecord, ...]:
        """Rebuild agent ``n``'s plan: per channel, the lanes of waiting contacts it may take
        (rule 2) and the lanes of free agents it enters.

        Agents with the same skills and capacity (in the same order) and no lanes of named
        agents get the same plan object: a decision then touches one shared plan instead of
        a copy per agent, which keeps a large center's working set small.
        """
        targeted = self._targeted.get(self._ids[n])
        profile = self._profile_of[n]
        if targeted or profile < 0:
            plan = self._build_plan(self._skills[n], self._capacity[n], targeted, self._plans[n])
        else:
            shared = self._shared_plans[profile]
            if shared is not None and shared[0] == self._version:
                plan = shared[1]
            else:
                previous = () if shared is None else shared[1]
                plan = self._build_plan(self._skills[n], self._capacity[n], None, previous)
                self._shared_plans[profile] = (self._version, plan)
        self._plans[n] = plan
        self._plan_versions[n] = self._version
        return plan

    def _build_plan(
        self,
        skills: dict[str, int],
        capacity: dict[str, int],
        targeted: dict[Need, _Lane] | None,
        previous: tuple[_PlanRecord, ...],
    ) -> tuple[_PlanRecord, ...]:
        """The plan for ``skills`` and ``capacity``; ``previous``, when not empty, is an older
        plan for the same ones (only the lanes of waiting contacts change: it lends the rest).
        """
        plan: list[_PlanRecord] = []
        for i, (channel, cap) in enumerate(capacity.items()):
            wants: list[_Lane] = []
            for skill in skills:
                for lane in self._lanes_by_cs.get((channel, skill), ()):
                    if not lane.need.extras or lane.need.extras.issubset(skills):
                        wants.append(lane)
            if targeted:
                wants.extend(lane for need, lane in targeted.items() if need.channel == channel)
            if previous:
                enters, loads = previous[i][3], previous[i][4]
            else:
                enters = tuple((self._pool(channel, s), -level) for s, level in skills.items())
                loads = self._load_list(channel)
            plan.append((channel, cap, tuple(wants), enters, loads))
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
                n = self._numbers.get(agent_id)
                if n is not None:
                    self._plan_versions[n] = -1
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
            n = self._numbers.get(agent_id)
            if n is not None:
                self._plan_versions[n] = -1

    def _waiting_live(self, record: _Record) -> bool:
        return self._waiting.get(record[2]) is record

    def _compact_contacts(self, lane: _Lane) -> None:
        lane.compact(self._waiting_live)

    def _agent_live(self, entry: _AgentEntry) -> bool:
        return self._stamps[entry[5]] is entry[4]

    def _index_unindexed(self) -> None:
        """Put every contact whose trigger is still pending in its lane (an agent's trigger
        is served first and must see them)."""
        lane_at, live = self._lane_at, self._waiting_live
        for record in self._unindexed.values():
            lane_at[record[3]].push(record, live)
        self._unindexed.clear()

    def _index_agent(self, n: int) -> None:
        """Enter a free agent in the lanes of free agents of each channel it has room on."""
        if not self._ready[n]:
            return
        stamp = self._stamps[n]
        if stamp is _NO_STAMP:  # (not expected: a free agent's last change gave it a stamp)
            self._stamp += 1
            stamp = self._stamps[n] = self._stamp
        idle_since, ordinal = self._idle[n], self._ordinals[n]
        for _channel, cap, _wants, enters, loads in self._plans[n]:
            held = loads[n]
            if held >= cap:
                continue
            for pool, level in enters:
                entry = (level, held, idle_since, ordinal, stamp, n)
                run = pool.run  # _Lane.push, inlined
                if not run or entry > run[-1]:
                    run.append(entry)
                else:
                    heapq.heappush(pool.heap, entry)
                if len(run) + len(pool.heap) > pool.limit:
                    pool.compact(self._agent_live)

    def _best_agent(self, need: Need) -> int | None:
        """The number of the best free agent for a contact with ``need`` (rule 3)."""
        if need.agents:
            return self._best_named(need)
        pool = self._pools.get((need.channel, need.skill))
        if pool is None:
            return None
        if need.extras:
            return self._best_with_extras(pool, need.extras)
        stamps = self._stamps
        run, heap = pool.run, pool.heap
        while run:
            head = run[0]
            if stamps[head[5]] is head[4]:
                break
            run.popleft()
        while heap:
            top = heap[0]
            if stamps[top[5]] is top[4]:
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
        best: int = head[5]
        return best

    def _best_named(self, need: Need) -> int | None:
        """The best free agent among those ``need`` names.

        (Apart from :meth:`_best_agent`: a comprehension's variables would be cells made on
        every call of the function holding it, in CPython 3.11.)
        """
        channel, skill = need.channel, need.skill
        loads = self._loads.get(channel)
        if loads is None:
            return None
        ready, capacity, skills = self._ready, self._capacity, self._skills
        idle, ordinals = self._idle, self._ordinals
        candidates = [
            (-skills[n].get(skill, 0), loads[n], idle[n], ordinals[n], n)
            for agent_id in need.agents
            if (n := self._numbers.get(agent_id)) is not None
            and ready[n]
            and loads[n] < capacity[n].get(channel, 0)
        ]
        return min(candidates)[4] if candidates else None

    def _best_with_extras(self, pool: _Lane, extras: frozenset[str]) -> int | None:
        """The best free agent of the lane that also holds ``extras`` (all of them)."""
        stamps, skills = self._stamps, self._skills
        run, heap = pool.run, pool.heap
        from_run: list[_AgentEntry] = []
        from_heap: list[_AgentEntry] = []
        chosen: int | None = None
        while True:
            while run and stamps[run[0][5]] is not run[0][4]:
                run.popleft()
            while heap and stamps[heap[0][5]] is not heap[0][4]:
                heapq.heappop(heap)
            if run and (not heap or run[0] < heap[0]):
                if extras.issubset(skills[run[0][5]]):
                    chosen = run[0][5]
                    break
                from_run.append(run.popleft())
            elif heap:
                if extras.issubset(skills[heap[0][5]]):
                    chosen = heap[0][5]
                    break
                from_heap.append(heapq.heappop(heap))
            else:
                break
        run.extendleft(reversed(from_run))
        for entry in from_heap:
            heapq.heappush(heap, entry)
        return chosen

    def _assign(self, record: _Record, n: int) -> Match:
        contact_id = record[2]
        del self._waiting[contact_id]
        if contact_id in self._contact_triggers.live:  # (popped when a contact trigger matched)
            self._contact_triggers.discard(contact_id)
        if self._unindexed:
            self._unindexed.pop(contact_id, None)
        return self._take(contact_id, self._lane_at[record[3]].need.channel, n)

    def _take(self, contact_id: Id, channel: str, n: int) -> Match:
        """Agent ``n`` takes one more contact on ``channel``."""
        loads = self._loads[channel]
        loads[n] += 1
        self._reindex(n)
        return (contact_id, self._ids[n], channel)

    def _reindex(self, n: int) -> None:
        """New stamp (older lane entries go stale); leave a trigger if the agent is free.

        The agent enters the lanes of free agents when its trigger finds no contact. An
        agent with no room (or not ready) gets ``_NO_STAMP`` instead of a new number: it
        makes no entry before its next change, and its next stamp then replaces a shared
        object, not one made a whole cycle of the floor ago (which would be out of cache).
        """
        triggers = self._agent_triggers
        if self._ready[n]:
            for _channel, cap, _wants, _enters, loads in self._plans[n]:
                if loads[n] < cap:
                    self._stamp += 1
                    self._stamps[n] = self._stamp
                    if n not in triggers.live:  # _Triggers.add, inlined
                        token = triggers.token = triggers.token + 1
                        triggers.live[n] = token
                        triggers.order.append((token, n))
                    return
        self._stamps[n] = _NO_STAMP
        if n in triggers.live:
            triggers.discard(n)
