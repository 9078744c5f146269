"""A whole contact center in memory: lifecycle, agents, offers and timers over the Router.

:class:`Center` is the pure reference of the engine's rules — what a reject, a missed offer,
a transfer or the end of after-call work does — on a clock the caller advances. The
simulator runs it on a virtual clock; the state-machine tests drive it with random
operations; the durable engine (``tsunagi.actions.routing``) applies the same rules to
database rows. Rules:

* an offer that is rejected or missed puts the contact back at its old place
  (``ranked_at`` kept) and the agent in not-ready (``rejected_offer`` / ``missed_offer``),
  so the contact is re-offered to someone else and never bounces back to the same agent;
* an offer lost with a dead worker (:meth:`Center.reclaim`) puts the contact back without
  blaming the agent;
* after-call work ends by :meth:`Center.close` or at the ACW maximum;
* a blind transfer or escalation ends the first agent's part at once (the contact leaves
  their capacity without wrap-up) and queues the contact with the new need;
* :meth:`Center.crash` forgets everything that is not a durable fact (the Router) and
  rebuilds it from contacts and agents, as a new worker does after a process dies.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from tsunagi.domain.errors import ConflictError, NotFoundError
from tsunagi.routing.agents import AgentState, NotReadyReason, Presence, state_of
from tsunagi.routing.lifecycle import HELD, IN_CONVERSATION, ContactState, check_transition
from tsunagi.routing.policy import Assignment, Need, Router

S = ContactState
Id = Hashable


@dataclass(slots=True)
class ContactRecord:
    contact_id: Id
    need: Need
    priority: int
    ranked_at: float
    created_at: float
    state: ContactState = S.CREATED
    agent_id: Id | None = None
    offer_expires_at: float | None = None
    wrap_up_until: float | None = None
    history: list[tuple[float, str]] = field(default_factory=list)


@dataclass(slots=True)
class AgentRecord:
    agent_id: Id
    skills: dict[str, int]
    capacity: dict[str, int]
    presence: Presence = Presence.SIGNED_OUT
    reason: NotReadyReason | None = None
    idle_since: float = 0.0
    held: dict[Id, str] = field(default_factory=dict)  # contact id -> channel

    def load(self) -> dict[str, int]:
        load: dict[str, int] = {}
        for channel in self.held.values():
            load[channel] = load.get(channel, 0) + 1
        return load


class Center:
    def __init__(
        self,
        *,
        offer_timeout_s: float = 20.0,
        acw_max_s: float = 60.0,
        priority_step_s: float = 60.0,
        now: float = 0.0,
    ) -> None:
        self.offer_timeout_s = offer_timeout_s
        self.acw_max_s = acw_max_s
        self.priority_step_s = priority_step_s
        self.now = now
        self.contacts: dict[Id, ContactRecord] = {}
        self.agents: dict[Id, AgentRecord] = {}
        self.router = Router(priority_step_s=priority_step_s)
        self.offers: list[Assignment] = []  # every offer made, in order (for checks and figures)

    # ------------------------------------------------------------------ contacts
    def create(self, contact_id: Id, need: Need, *, priority: int = 0) -> ContactRecord:
        if contact_id in self.contacts:
            return self.contacts[contact_id]  # idempotent: same key, same contact
        record = ContactRecord(contact_id, need, priority, self.now, self.now)
        record.history.append((self.now, S.CREATED))
        self.contacts[contact_id] = record
        self._queue(record)
        self.dispatch()
        return record

    def abandon(self, contact_id: Id) -> None:
        record = self._contact(contact_id)
        self._move(record, S.ABANDONED)
        self.router.remove(contact_id)
        self._unhold(record, blame=None)
        self.dispatch()

    def accept(self, contact_id: Id, agent_id: Id) -> None:
        record = self._held_by(contact_id, agent_id, S.OFFERED)
        self._move(record, S.CONNECTED)
        record.offer_expires_at = None

    def reject(self, contact_id: Id, agent_id: Id) -> None:
        record = self._held_by(contact_id, agent_id, S.OFFERED)
        self._decline(record, NotReadyReason.REJECTED_OFFER)
        self.dispatch()

    def hold(self, contact_id: Id, agent_id: Id) -> None:
        self._move(self._held_by(contact_id, agent_id, S.CONNECTED), S.ON_HOLD)

    def resume(self, contact_id: Id, agent_id: Id) -> None:
        self._move(self._held_by(contact_id, agent_id, S.ON_HOLD), S.CONNECTED)

    def end(self, contact_id: Id, agent_id: Id) -> None:
        record = self._contact(contact_id)
        if record.agent_id != agent_id or record.state not in IN_CONVERSATION:
            raise ConflictError("only the agent in conversation can end it")
        self._move(record, S.WRAP_UP)
        record.wrap_up_until = self.now + self.acw_max_s
        if self.acw_max_s <= 0:
            self.close(contact_id, agent_id)

    def close(self, contact_id: Id, agent_id: Id | None = None) -> None:
        record = self._contact(contact_id)
        if agent_id is not None and record.agent_id != agent_id:
            raise ConflictError("the contact is not yours")
        self._move(record, S.CLOSED)
        self._unhold(record, blame=None)
        self.dispatch()

    def transfer(self, contact_id: Id, agent_id: Id, need: Need, *, priority: int = 0) -> None:
        """Blind transfer / escalation: the first agent is free at once; the contact re-queues."""
        record = self._contact(contact_id)
        if record.agent_id != agent_id or record.state not in IN_CONVERSATION:
            raise ConflictError("only the agent in conversation can transfer it")
        self._unhold(record, blame=None)
        record.need = need
        record.priority = priority
        self._queue(record)
        self.dispatch()

    # -------------------------------------------------------------------- agents
    def sign_in(self, agent_id: Id, skills: dict[str, int], capacity: dict[str, int]) -> None:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = AgentRecord(agent_id, dict(skills), dict(capacity))
        agent.skills, agent.capacity = dict(skills), dict(capacity)
        if agent.presence is Presence.SIGNED_OUT:
            agent.presence, agent.reason = Presence.NOT_READY, NotReadyReason.OTHER
        self._sync_agent(agent)

    def set_ready(self, agent_id: Id) -> None:
        agent = self._agent(agent_id)
        if agent.presence is Presence.SIGNED_OUT:
            raise ConflictError("sign in first")
        if agent.presence is not Presence.READY:
            agent.presence, agent.reason = Presence.READY, None
            agent.idle_since = self.now
            self._sync_agent(agent)
            self.dispatch()

    def set_not_ready(self, agent_id: Id, reason: NotReadyReason) -> None:
        agent = self._agent(agent_id)
        if agent.presence is Presence.SIGNED_OUT:
            raise ConflictError("sign in first")
        agent.presence, agent.reason = Presence.NOT_READY, reason
        self._sync_agent(agent)

    def sign_out(self, agent_id: Id) -> None:
        """Offers still pending go back to the queue; contacts in progress must end first."""
        agent = self._agent(agent_id)
        busy = [cid for cid in agent.held if self.contacts[cid].state is not S.OFFERED]
        if busy:
            raise ConflictError("finish your contacts before signing out")
        for contact_id in list(agent.held):
            self._decline(self.contacts[contact_id], None)
        agent.presence, agent.reason = Presence.SIGNED_OUT, None
        self._sync_agent(agent)
        self.dispatch()

    def agent_state(self, agent_id: Id) -> AgentState:
        agent = self._agent(agent_id)
        states = [self.contacts[cid].state for cid in agent.held]
        engaged = sum(1 for state in states if state is not S.WRAP_UP)
        return state_of(agent.presence, engaged=engaged, wrapping=len(states) - engaged)

    # --------------------------------------------------------------------- clock
    def advance(self, seconds: float) -> None:
        """Move the clock; fire offer timeouts and ACW maxima that fall due, in time order."""
        target = self.now + seconds
        while True:
            due = self._next_deadline(target)
            if due is None:
                break
            at, contact_id = due
            self.now = max(self.now, at)
            record = self.contacts[contact_id]
            if record.state is S.OFFERED:
                self._decline(record, NotReadyReason.MISSED_OFFER)
            else:
                self.close(contact_id)
            self.dispatch()
        self.now = target

    def _next_deadline(self, limit: float) -> tuple[float, Id] | None:
        best: tuple[float, Id] | None = None
        for agent in self.agents.values():
            for contact_id in agent.held:
                record = self.contacts[contact_id]
                at = (
                    record.offer_expires_at
                    if record.state is S.OFFERED
                    else record.wrap_up_until
                    if record.state is S.WRAP_UP
                    else None
                )
                if at is not None and at <= limit and (best is None or at < best[0]):
                    best = (at, contact_id)
        return best

    # ---------------------------------------------------------- crash recovery
    def crash(self) -> None:
        """Lose the in-memory router and rebuild it from the durable facts."""
        self.router = Router(priority_step_s=self.priority_step_s)
        for agent in self.agents.values():
            self._sync_agent(agent)
        waiting = [c for c in self.contacts.values() if c.state is S.QUEUED]
        for record in sorted(waiting, key=lambda c: (c.ranked_at, str(c.contact_id))):
            self.router.enqueue(
                record.contact_id, record.need, priority=record.priority, ranked_at=record.ranked_at
            )
        self.dispatch()

    def reclaim(self, contact_id: Id) -> None:
        """An offer whose worker died (lease expired): back to the queue, nobody blamed."""
        record = self._contact(contact_id)
        if record.state is S.OFFERED:
            self._decline(record, None)
            self.dispatch()

    # ------------------------------------------------------------------ internal
    def dispatch(self) -> list[Assignment]:
        made = []
        for assignment in self.router.assignments():
            self._offer(assignment)
            made.append(assignment)
        return made

    def _offer(self, assignment: Assignment) -> None:
        record = self.contacts[assignment.contact_id]
        agent = self.agents[assignment.agent_id]
        self._move(record, S.OFFERED)
        record.agent_id = agent.agent_id
        record.offer_expires_at = self.now + self.offer_timeout_s
        agent.held[record.contact_id] = assignment.channel
        self.offers.append(assignment)

    def _queue(self, record: ContactRecord) -> None:
        self._move(record, S.QUEUED)
        self.router.enqueue(
            record.contact_id, record.need, priority=record.priority, ranked_at=record.ranked_at
        )

    def _decline(self, record: ContactRecord, blame: NotReadyReason | None) -> None:
        self._unhold(record, blame=blame)
        self._queue(record)

    def _unhold(self, record: ContactRecord, *, blame: NotReadyReason | None) -> None:
        agent_id = record.agent_id
        record.agent_id = None
        record.offer_expires_at = None
        record.wrap_up_until = None
        if agent_id is None:
            return
        agent = self.agents[agent_id]
        del agent.held[record.contact_id]
        agent.idle_since = self.now
        if blame is not None and agent.presence is Presence.READY:
            agent.presence, agent.reason = Presence.NOT_READY, blame
        self._sync_agent(agent)

    def _sync_agent(self, agent: AgentRecord) -> None:
        if agent.presence is Presence.SIGNED_OUT and not agent.held:
            self.router.remove_agent(agent.agent_id)
            return
        self.router.set_agent(
            agent.agent_id,
            skills=agent.skills,
            capacity=agent.capacity,
            ready=agent.presence is Presence.READY,
            load=agent.load(),
            idle_since=agent.idle_since,
        )

    def _move(self, record: ContactRecord, target: ContactState) -> None:
        record.state = check_transition(record.state, target)
        record.history.append((self.now, target))

    def _contact(self, contact_id: Id) -> ContactRecord:
        record = self.contacts.get(contact_id)
        if record is None:
            raise NotFoundError("no such contact")
        return record

    def _agent(self, agent_id: Id) -> AgentRecord:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFoundError("no such agent")
        return agent

    def _held_by(self, contact_id: Id, agent_id: Id, state: ContactState) -> ContactRecord:
        record = self._contact(contact_id)
        if record.agent_id != agent_id or record.state is not state:
            raise ConflictError(f"the contact is not {state} to this agent")
        return record


__all__ = ["HELD", "AgentRecord", "Center", "ContactRecord"]
