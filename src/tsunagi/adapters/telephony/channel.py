"""The voice channel's side of routing: :class:`~tsunagi.voice.center.CallContacts` on
the database, through the same actions every channel uses.

* A call becomes a contact with ``do_create_contact`` (channel ``voice``, source and
  idempotency key ``<source>:<SIP Call-ID>``: a retried INVITE or a restarted open never
  makes a second contact), then the caller's number is recorded and matched with
  ``do_identify_party`` (sealed in ``contact_parties``) so the desk screen-pops.
* The phones drive routing's offer actions: answer → ``do_accept_offer``, failure →
  ``do_reject_offer``, hang-up → ``do_abandon_contact`` / ``do_request_callback`` /
  ``do_end_contact``; a lost agent phone after acceptance → ``do_transfer_contact`` back
  to the contact's queue (it keeps its place).
* Wake-ups: local commits that wrote events (``Database.on_outbox_commit``) and the
  tenants' published event streams on the bus; callers also poll, so the bus is never
  needed for correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Collection
from uuid import UUID

from sqlalchemy import func, select

from tsunagi.actions.desktop import do_identify_party
from tsunagi.actions.routing.contacts import (
    NewContact,
    TransferTarget,
    do_abandon_contact,
    do_create_contact,
    do_request_callback,
    do_transfer_contact,
)
from tsunagi.actions.routing.offers import do_accept_offer, do_end_contact, do_reject_offer
from tsunagi.adapters.relay import tenant_channel
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import OutboxEvent, Queue, Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.aio import stop_tasks, wait_event
from tsunagi.domain.errors import ConflictError, NotFoundError
from tsunagi.domain.events import decode_event
from tsunagi.ports.bus import EventBus
from tsunagi.routing.lifecycle import IN_CONVERSATION, ContactState
from tsunagi.routing.policy import rank_key
from tsunagi.voice.calls import CallRequest, ContactView, OpenedContact
from tsunagi.voice.events import (
    COMMAND_TYPES,
    CallMonitorRequestedEvent,
    CallRecordingPauseRequestedEvent,
)

log = logging.getLogger(__name__)
S = ContactState
ACTOR = "system:voice"
_PHONE = re.compile(r"^\+?[0-9]{3,24}$")
_WAITING = frozenset({S.CREATED, S.IVR, S.QUEUED, S.OFFERED})


class DatabaseCallContacts:
    def __init__(self, db: Database, keyring: KeyRing, *, bus: EventBus | None = None) -> None:
        self.db = db
        self.keyring = keyring
        self.bus = bus
        self._wake = asyncio.Event()
        self._tenants: dict[str, UUID] = {}
        self._queues: dict[tuple[UUID, str], UUID] = {}
        self._listeners: dict[UUID, asyncio.Task[None]] = {}
        # Per tenant: the outbox id up to which requests from the web have been read.
        self._request_cursor: dict[UUID, int] = {}
        db.on_outbox_commit(self._wake.set)

    async def close(self) -> None:
        await stop_tasks(self._listeners.values())
        self._listeners.clear()

    # -- CallContacts --------------------------------------------------------------

    async def open(
        self, *, tenant: str, queue: str, key: str, source: str, caller: str
    ) -> OpenedContact:
        tenant_id = await self._tenant(tenant)
        queue_id = await self._queue(tenant_id, queue)
        created = await do_create_contact(
            self.db,
            tenant_id=tenant_id,
            new=NewContact(channel="voice", queue_id=queue_id, source=source, idempotency_key=key),
            actor=ACTOR,
        )
        if created.created:
            phone = _PHONE.match(caller) is not None
            await do_identify_party(
                self.db,
                self.keyring,
                tenant_id=tenant_id,
                contact_id=created.contact_id,
                kind="phone" if phone else None,
                address=caller if phone else None,
            )
        view = (await self.look(tenant_id, [created.contact_id]))[created.contact_id]
        return OpenedContact(tenant_id, view)

    async def look(self, tenant_id: UUID, contact_ids: Collection[UUID]) -> dict[UUID, ContactView]:
        if not contact_ids:
            return {}
        async with self.db.scoped(tenant_id, readonly=True) as session:
            rows = await session.execute(
                select(
                    RoutingContact.id,
                    RoutingContact.state,
                    RoutingContact.agent_id,
                    RoutingContact.version,
                ).where(RoutingContact.id.in_(list(contact_ids)))
            )
            return {
                row[0]: ContactView(row[0], ContactState(row[1]), row[2], row[3]) for row in rows
            }

    async def consults(
        self, tenant_id: UUID, contact_ids: Collection[UUID]
    ) -> dict[UUID, ContactView]:
        if not contact_ids:
            return {}
        async with self.db.scoped(tenant_id, readonly=True) as session:
            rows = await session.execute(
                select(
                    RoutingContact.consult_of,
                    RoutingContact.id,
                    RoutingContact.state,
                    RoutingContact.agent_id,
                    RoutingContact.version,
                )
                .where(RoutingContact.consult_of.in_(list(contact_ids)))
                .order_by(RoutingContact.created_at)
            )
            # Later consultations replace earlier ones: the latest of each contact.
            return {
                row[0]: ContactView(row[1], ContactState(row[2]), row[3], row[4])
                for row in rows
                if row[0] is not None
            }

    async def requests(self, *, tenant: str) -> list[CallRequest]:
        tenant_id = await self._tenant(tenant)
        async with self.db.scoped(tenant_id, readonly=True) as session:
            if tenant_id not in self._request_cursor:
                newest = await session.scalar(select(func.max(OutboxEvent.id)))
                self._request_cursor[tenant_id] = newest or 0
                return []
            rows = (
                await session.execute(
                    select(OutboxEvent.id, OutboxEvent.payload)
                    .where(
                        OutboxEvent.id > self._request_cursor[tenant_id],
                        OutboxEvent.type.in_(COMMAND_TYPES),
                    )
                    .order_by(OutboxEvent.id)
                )
            ).all()
        found = []
        for row_id, payload in rows:
            self._request_cursor[tenant_id] = row_id
            event = decode_event(payload)
            if isinstance(event, CallRecordingPauseRequestedEvent):
                kind = "pause_recording" if event.paused else "resume_recording"
                found.append(CallRequest(tenant_id, event.contact_id, kind, event.requested_by))
            elif isinstance(event, CallMonitorRequestedEvent):
                found.append(
                    CallRequest(
                        tenant_id, event.contact_id, "monitor", event.requested_by, event.mode
                    )
                )
        return found

    async def position(self, tenant_id: UUID, contact_id: UUID) -> int | None:
        async with self.db.scoped(tenant_id, readonly=True) as session:
            mine = (
                await session.execute(
                    select(
                        RoutingContact.state,
                        RoutingContact.skill,
                        RoutingContact.ranked_at,
                        RoutingContact.priority,
                    ).where(RoutingContact.id == contact_id)
                )
            ).first()
            if mine is None or mine.state != ContactState.QUEUED:
                return None
            others = await session.execute(
                select(RoutingContact.id, RoutingContact.ranked_at, RoutingContact.priority).where(
                    RoutingContact.state == ContactState.QUEUED,
                    RoutingContact.skill == mine.skill,
                    RoutingContact.channel.in_(("voice", "callback")),
                )
            )
        key = rank_key(mine.ranked_at.timestamp(), mine.priority)
        ahead = sum(
            1
            for other_id, ranked_at, priority in others
            if other_id != contact_id and rank_key(ranked_at.timestamp(), priority) < key
        )
        return ahead + 1

    async def accept(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None:
        await do_accept_offer(
            self.db, tenant_id=tenant_id, contact_id=contact_id, agent_id=agent_id, actor=ACTOR
        )

    async def decline(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None:
        await do_reject_offer(
            self.db, tenant_id=tenant_id, contact_id=contact_id, agent_id=agent_id, actor=ACTOR
        )

    async def requeue(self, tenant_id: UUID, contact_id: UUID) -> None:
        async with self.db.scoped(tenant_id, readonly=True) as session:
            queue_id = await session.scalar(
                select(RoutingContact.queue_id).where(RoutingContact.id == contact_id)
            )
        if queue_id is None:
            raise NotFoundError("the contact has no queue to go back to")
        await do_transfer_contact(
            self.db,
            tenant_id=tenant_id,
            contact_id=contact_id,
            by_agent_id=None,
            target=TransferTarget(queue_id=queue_id),
            actor=ACTOR,
        )

    async def customer_left(self, tenant_id: UUID, contact_id: UUID, *, keep_place: bool) -> None:
        for _attempt in range(3):  # the contact may move while we act: read and try again
            view = (await self.look(tenant_id, [contact_id])).get(contact_id)
            if view is None:
                return
            try:
                if view.state == S.QUEUED and keep_place:
                    await do_request_callback(
                        self.db,
                        tenant_id=tenant_id,
                        contact_id=contact_id,
                        callback_at=None,
                        actor=ACTOR,
                    )
                elif view.state in _WAITING:
                    await do_abandon_contact(
                        self.db, tenant_id=tenant_id, contact_id=contact_id, actor=ACTOR
                    )
                elif view.state in IN_CONVERSATION:
                    await do_end_contact(
                        self.db,
                        tenant_id=tenant_id,
                        contact_id=contact_id,
                        agent_id=None,
                        actor=ACTOR,
                    )
                return
            except ConflictError:
                continue
        log.error("contact %s: could not record the caller's hang-up", contact_id)

    async def keep_place(self, tenant_id: UUID, contact_id: UUID) -> None:
        await do_request_callback(
            self.db, tenant_id=tenant_id, contact_id=contact_id, callback_at=None, actor=ACTOR
        )

    async def agent_left(self, tenant_id: UUID, contact_id: UUID, agent_id: UUID) -> None:
        with contextlib.suppress(ConflictError):  # already ended from the desk
            await do_end_contact(
                self.db, tenant_id=tenant_id, contact_id=contact_id, agent_id=agent_id, actor=ACTOR
            )

    async def agent_name(self, tenant_id: UUID, agent_id: UUID) -> str | None:
        async with self.db.scoped(tenant_id, readonly=True) as session:
            name: str | None = await session.scalar(
                select(User.username).where(User.id == agent_id)
            )
            return name

    async def release_orphans(self, *, tenant: str, source: str, keep_place: bool) -> int:
        tenant_id = await self._tenant(tenant)
        async with self.db.scoped(tenant_id, readonly=True) as session:
            orphans = (
                await session.scalars(
                    select(RoutingContact.id).where(
                        RoutingContact.source == source,
                        RoutingContact.channel == "voice",
                        RoutingContact.state.in_([*_WAITING, *IN_CONVERSATION]),
                    )
                )
            ).all()
        for contact_id in orphans:
            await self.customer_left(tenant_id, contact_id, keep_place=keep_place)
        return len(orphans)

    async def callbacks(
        self, *, tenant: str, known: Collection[UUID]
    ) -> list[tuple[UUID, ContactView, str, str | None]]:
        tenant_id = await self._tenant(tenant)
        async with self.db.scoped(tenant_id, readonly=True) as session:
            rows = (
                await session.execute(
                    select(
                        RoutingContact.id,
                        RoutingContact.state,
                        RoutingContact.agent_id,
                        RoutingContact.version,
                        ContactParty.address_enc,
                        Queue.code,
                    )
                    .join(ContactParty, ContactParty.contact_id == RoutingContact.id)
                    .outerjoin(Queue, Queue.id == RoutingContact.queue_id)
                    .where(
                        RoutingContact.channel == "callback",
                        RoutingContact.state.in_([S.OFFERED, S.CONNECTED]),
                        ContactParty.kind == "phone",
                    )
                )
            ).all()
        found = [row for row in rows if row[0] not in known]
        if not found:
            return []
        cipher = await self.keyring.cipher(self.db, tenant_id)
        calls: list[tuple[UUID, ContactView, str, str | None]] = []
        for contact_id, state, agent_id, version, sealed, queue in found:
            number = cipher.open(
                sealed, table="contact_parties", column="address", row_id=contact_id
            )
            if number:
                view = ContactView(contact_id, ContactState(state), agent_id, version)
                calls.append((tenant_id, view, number, queue))
        return calls

    async def changed(self, timeout_s: float) -> None:
        await wait_event(self._wake, timeout_s)
        self._wake.clear()

    # -- lookups -----------------------------------------------------------------------

    async def _tenant(self, slug: str) -> UUID:
        tenant_id = self._tenants.get(slug)
        if tenant_id is None:
            async with self.db.system(readonly=True) as session:
                tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if tenant_id is None:
                raise NotFoundError(f"no tenant {slug!r}")
            self._tenants[slug] = tenant_id
            self._listen(tenant_id)
        return tenant_id

    async def _queue(self, tenant_id: UUID, code: str) -> UUID:
        queue_id = self._queues.get((tenant_id, code))
        if queue_id is None:
            async with self.db.scoped(tenant_id, readonly=True) as session:
                queue_id = await session.scalar(select(Queue.id).where(Queue.code == code))
            if queue_id is None:
                raise NotFoundError(f"no queue {code!r}")
            self._queues[(tenant_id, code)] = queue_id
        return queue_id

    def _listen(self, tenant_id: UUID) -> None:
        if self.bus is not None and tenant_id not in self._listeners:
            self._listeners[tenant_id] = asyncio.get_running_loop().create_task(
                self._follow(tenant_id)
            )

    async def _follow(self, tenant_id: UUID) -> None:
        """Wake up on the tenant's published events (other processes' changes)."""
        assert self.bus is not None
        while True:
            try:
                async with self.bus.subscribe(tenant_channel(tenant_id)) as messages:
                    async for _message in messages:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("voice channel lost its bus subscription; retrying")
                await asyncio.sleep(0.5)
