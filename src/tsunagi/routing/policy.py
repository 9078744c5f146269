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

Cost: an agent trigger looks at the head of one heap per (channel, skill) the agent has
(O(#skills · log n)); a contact trigger looks at the head of one heap of free agents
(O(log #agents)); neither depends on how many contacts wait.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

Id = Hashable


class Need(NamedTuple):
    """What a contact needs from an agent (hashable: contacts with equal needs share a heap)."""

    channel: str
    skill: str
    extras: frozenset[str] = frozenset()
    agents: frozenset[Id] = frozenset()


@dataclass(frozen=True, slots=True)
class Assignment:
    contact_id: Id
    agent_id: Id
    channel: str


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

    def free_on(self, channel: str) -> bool:
        return self.ready and self.load.get(channel, 0) < self.capacity.get(channel, 0)

    def rank(self, channel: str, skill: str) -> tuple[int, int, float, int]:
        level = self.skills.get(skill, 0)
        return (-level, self.load.get(channel, 0), self.idle_since, self.ordinal)


# Heap entries. Validity is checked lazily against the live state (stale ones are dropped).
_ContactEntry = tuple[float, int, Id]  # key, seq, contact id
_AgentEntry = tuple[int, int, float, int, int, Id]  # rank…, stamp, agent id


class _Triggers:
    """An insertion-ordered set with O(1) add, discard and pop of the oldest.

    (A dict would do, but taking the first key of a dict after many deletions from its
    front scans the deleted slots, which made decisions grow with the number waiting.)
    """

    __slots__ = ("_live", "_order", "_token")

    def __init__(self) -> None:
        self._live: dict[Id, int] = {}
        self._order: deque[tuple[int, Id]] = deque()
        self._token = 0

    def __bool__(self) -> bool:
        return bool(self._live)

    def add(self, item: Id) -> None:
        """Add at the back; an item already present keeps its place."""
        if item not in self._live:
            self._token += 1
            self._live[item] = self._token
            self._order.append((self._token, item))

    def discard(self, item: Id) -> None:
        self._live.pop(item, None)

    def pop_first(self) -> Id | None:
        live, order = self._live, self._order
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
        self._waiting: dict[Id, WaitingContact] = {}
        self._groups: dict[Need, list[_ContactEntry]] = {}
        self._group_limit: dict[Need, int] = {}
        self._groups_by_cs: dict[tuple[str, str], dict[Need, None]] = {}
        self._groups_by_agent: dict[Id, dict[Need, None]] = {}
        self._agents: dict[Id, AgentSlot] = {}
        self._free: dict[tuple[str, str], list[_AgentEntry]] = {}
        self._free_limit: dict[tuple[str, str], int] = {}
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
        key = rank_key(ranked_at, priority, self.priority_step_s)
        self._waiting[contact_id] = WaitingContact(
            contact_id, need, priority, ranked_at, key, self._seq
        )
        heap = self._groups.get(need)
        if heap is None:
            heap = self._groups[need] = []
            self._group_limit[need] = 64
            if need.agents:
                for agent_id in need.agents:
                    self._groups_by_agent.setdefault(agent_id, {})[need] = None
            else:
                self._groups_by_cs.setdefault((need.channel, need.skill), {})[need] = None
        heapq.heappush(heap, (key, self._seq, contact_id))
        if len(heap) > self._group_limit[need]:
            self._compact_group(need)
        self._contact_triggers.add(contact_id)

    def remove(self, contact_id: Id) -> bool:
        """Stop waiting (abandoned, moved, scheduled for callback). False if not waiting."""
        self._contact_triggers.discard(contact_id)
        return self._waiting.pop(contact_id, None) is not None

    def is_waiting(self, contact_id: Id) -> bool:
        return contact_id in self._waiting

    def waiting(self) -> Iterator[WaitingContact]:
        return iter(self._waiting.values())

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
        slot.ready = ready
        slot.load = dict(load or {})
        slot.idle_since = idle_since
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
        held = slot.load.get(channel, 0)
        if held <= 0:
            raise ValueError(f"agent {agent_id!r} holds nothing on {channel}")
        slot.load[channel] = held - 1
        slot.idle_since = now
        self._reindex(slot)

    def agent(self, agent_id: Id) -> AgentSlot | None:
        return self._agents.get(agent_id)

    def agents(self) -> Iterator[AgentSlot]:
        return iter(self._agents.values())

    # ---------------------------------------------------------------- decisions
    def next_assignment(self) -> Assignment | None:
        """The next match, already applied to the state; ``None`` when stable."""
        agent_triggers = self._agent_triggers
        while (agent_id := agent_triggers.pop_first()) is not None:
            slot = self._agents.get(agent_id)
            best = self._best_for_agent(slot) if slot is not None else None
            # (popped: re-added at the back if room remains, so free agents take turns)
            if best is None:
                continue
            assert slot is not None
            return self._assign(best, slot)
        contact_triggers = self._contact_triggers
        while (contact_id := contact_triggers.pop_first()) is not None:
            waiting = self._waiting.get(contact_id)
            if waiting is None:
                continue
            chosen = self._best_for_contact(waiting)
            if chosen is not None:
                return self._assign(waiting, chosen)
        return None

    @property
    def has_triggers(self) -> bool:
        """Whether a change since the last decision may allow a match."""
        return bool(self._agent_triggers or self._contact_triggers)

    def assignments(self) -> Iterator[Assignment]:
        """Drain :meth:`next_assignment` until stable."""
        while (found := self.next_assignment()) is not None:
            yield found

    def _best_for_agent(self, slot: AgentSlot) -> WaitingContact | None:
        """The best-ranked contact the agent may take: the heads of its groups, compared."""
        if not slot.ready:
            return None
        best: WaitingContact | None = None
        best_key = (float("inf"), 0)
        empties: list[Need] = []
        groups, waiting, skills, load = self._groups, self._waiting, slot.skills, slot.load
        targeted = self._groups_by_agent.get(slot.agent_id)
        for channel, cap in slot.capacity.items():
            if load.get(channel, 0) >= cap:
                continue
            candidates: list[Need] = []
            for skill in skills:
                needs = self._groups_by_cs.get((channel, skill))
                if needs:
                    candidates.extend(n for n in needs if not n.extras or n.extras.issubset(skills))
            if targeted:
                candidates.extend(n for n in targeted if n.channel == channel)
            for need in candidates:
                heap = groups[need]
                while heap:
                    key, seq, contact_id = heap[0]
                    found = waiting.get(contact_id)
                    if found is not None and found.seq == seq:
                        if (key, seq) < best_key:
                            best, best_key = found, (key, seq)
                        break
                    heapq.heappop(heap)
                else:
                    empties.append(need)
        for need in empties:
            if need in groups and not groups[need]:
                self._drop_group(need)
        return best

    def _drop_group(self, need: Need) -> None:
        del self._groups[need]
        del self._group_limit[need]
        if need.agents:
            for agent_id in need.agents:
                targeted = self._groups_by_agent.get(agent_id)
                if targeted is not None:
                    targeted.pop(need, None)
                    if not targeted:
                        del self._groups_by_agent[agent_id]
        else:
            key = (need.channel, need.skill)
            self._groups_by_cs[key].pop(need, None)
            if not self._groups_by_cs[key]:
                del self._groups_by_cs[key]

    def _best_for_contact(self, waiting: WaitingContact) -> AgentSlot | None:
        need = waiting.need
        if need.agents:
            candidates = [
                slot
                for agent_id in need.agents
                if (slot := self._agents.get(agent_id)) is not None and slot.free_on(need.channel)
            ]
            if not candidates:
                return None
            return min(candidates, key=lambda slot: slot.rank(need.channel, need.skill))
        heap = self._free.get((need.channel, need.skill))
        if not heap:
            return None
        skipped: list[_AgentEntry] = []
        chosen: AgentSlot | None = None
        agents = self._agents
        while heap:
            entry = heap[0]
            slot = agents.get(entry[5])
            if slot is None or slot.stamp != entry[4]:
                heapq.heappop(heap)
                continue
            if need.extras and not need.extras.issubset(slot.skills):
                skipped.append(heapq.heappop(heap))
                continue
            chosen = slot
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return chosen

    def _assign(self, waiting: WaitingContact, slot: AgentSlot) -> Assignment:
        del self._waiting[waiting.contact_id]
        self._contact_triggers.discard(waiting.contact_id)
        channel = waiting.need.channel
        slot.load[channel] = slot.load.get(channel, 0) + 1
        self._reindex(slot)
        return Assignment(waiting.contact_id, slot.agent_id, channel)

    def _reindex(self, slot: AgentSlot) -> None:
        """New stamp (older index entries go stale); index where it is free; leave a trigger."""
        self._stamp += 1
        stamp = slot.stamp = self._stamp
        if not slot.ready:
            self._agent_triggers.discard(slot.agent_id)
            return
        triggered = False
        for channel, cap in slot.capacity.items():
            load = slot.load.get(channel, 0)
            if load >= cap:
                continue
            triggered = True
            for skill, level in slot.skills.items():
                key = (channel, skill)
                heap = self._free.get(key)
                if heap is None:
                    heap = self._free[key] = []
                    self._free_limit[key] = 64
                heapq.heappush(
                    heap, (-level, load, slot.idle_since, slot.ordinal, stamp, slot.agent_id)
                )
                if len(heap) > self._free_limit[key]:
                    self._compact_free(key)
        if triggered:
            self._agent_triggers.add(slot.agent_id)
        else:
            self._agent_triggers.discard(slot.agent_id)

    def _compact_group(self, need: Need) -> None:
        waiting = self._waiting
        heap = [
            entry
            for entry in self._groups[need]
            if (found := waiting.get(entry[2])) is not None and found.seq == entry[1]
        ]
        heapq.heapify(heap)
        self._groups[need] = heap
        self._group_limit[need] = 2 * len(heap) + 64

    def _compact_free(self, key: tuple[str, str]) -> None:
        agents = self._agents
        heap = [
            entry
            for entry in self._free[key]
            if (slot := agents.get(entry[5])) is not None and slot.stamp == entry[4]
        ]
        heapq.heapify(heap)
        self._free[key] = heap
        self._free_limit[key] = 2 * len(heap) + 64
