"""Inbound calls as routing contacts: the voice channel's call control.

:class:`CallCenter` owns a :class:`~tsunagi.ports.telephony.TelephonyEngine`'s event
stream. For each inbound call it answers, runs the number's IVR flow, and when the
flow picks a queue it opens a **contact** through :class:`CallContacts` (the same
routing actions every channel uses). From then on the contact in the database is the
truth and the call follows it — a small reconciliation per call:

==================  ===========================================================
contact state       what the call does
==================  ===========================================================
queued              no agent leg; the caller hears the queue's music
offered to A        the caller hears music; A's phone rings (originate)
connected to A      A's leg, once answered, is bridged with the caller
on_hold             unbridged; the caller hears hold music
wrap_up / closed    both legs hung up (the conversation was ended elsewhere)
==================  ===========================================================

A **consultation** (``consult_of`` = this call's contact, see
``actions/routing/consult.py``) is followed by the same call: offered to a colleague,
their phone rings (the consult leg); answered, it is bridged with the agent's leg while
the customer holds. When it ends, the customer's contact says what happened: now held by
the colleague (a consultative transfer) — the consult leg becomes the agent leg and the
first agent's phone is hung up; otherwise the colleague's phone is hung up.

and the phones drive the contact: the agent's phone answering accepts the offer
(unless the desk accepted it first), a phone that fails or does not answer declines
it, the caller hanging up while waiting abandons it (or, when the media plane failed,
keeps the place as a callback), hanging up in conversation — either side — ends it
(after-call work). Desk controls (hold, resume, transfer, end) change the contact and
the call follows on the next reconciliation.

Call-leg state lives only here, in memory, one task per call (events of a call are
handled in order). Changes of contacts are noticed by :meth:`CallContacts.changed`
wake-ups plus a poll of the live calls' contacts, so a missed wake-up costs latency,
never correctness. Pure: no I/O except through the two ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tsunagi.aio import stop_tasks
from tsunagi.domain.errors import ConflictError, NotFoundError, TsunagiError
from tsunagi.ports.telephony import (
    BridgeMode,
    CallAnswered,
    CallHungUp,
    CallOffered,
    DtmfReceived,
    HangupCause,
    OriginateFailed,
    PlaybackDone,
    RecordingReady,
    TelephonyEngine,
    TelephonyEvent,
)
from tsunagi.routing.lifecycle import IN_CONVERSATION, TERMINAL, ContactState
from tsunagi.voice.calls import (
    ANNOUNCE_DUE,
    IVR_FINISHED,
    AnnounceDue,
    Call,
    CallContacts,
    CallItem,
    CallRequest,
    ConsultChanged,
    ContactView,
    IvrFinished,
    RecordingSink,
)
from tsunagi.voice.interpreter import TransferToQueue
from tsunagi.voice.plan import VoicePlan
from tsunagi.voice.runner import IvrRun

log = logging.getLogger(__name__)
S = ContactState
WAITING = frozenset({S.CREATED, S.IVR, S.QUEUED})
STOP_GRACE_S = 10.0
# A supervisor's leg waits this long after answering before it is mixed in.
MIX_SETTLE_S = 1.0
OVER = frozenset({S.WRAP_UP, S.CLOSED, S.ABANDONED, S.CALLBACK_SCHEDULED})


@dataclass(slots=True)
class CenterStats:
    calls: int = 0
    contacts: int = 0
    bridged: int = 0
    errors: int = 0
    announcements: int = 0
    monitors: int = 0


class CallCenter:
    def __init__(
        self,
        engine: TelephonyEngine,
        contacts: CallContacts,
        plan: VoicePlan,
        *,
        poll_s: float = 0.5,
        observer: Callable[[TelephonyEvent], None] | None = None,
        recordings: RecordingSink | None = None,
        trunk_auth: tuple[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self._trunk_auth = trunk_auth
        """Digest credentials for the trunk (``plan.trunk_username`` and the password
        from ``plan.trunk_password_env``); only customer calls use them."""
        self.recordings = recordings
        self._recorded: dict[str, tuple[UUID, UUID]] = {}
        """Recording id → (tenant, contact), until the recording is stored."""
        self.contacts = contacts
        self.plan = plan
        self.poll_s = poll_s
        self.stats = CenterStats()
        self._observer = observer
        self._calls: dict[str, Call] = {}
        """Every live leg (caller's and agent's) → its call."""
        self._outbound: dict[UUID, Call] = {}
        """Callbacks being served, by contact (they have no leg before the agent's)."""
        self._early: dict[str, list[TelephonyEvent]] = {}
        """Events of legs not yet registered (an originate's first event can come
        before the call knows the new leg's id)."""
        self._tasks: set[asyncio.Task[None]] = set()

    # -- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """Serve calls until cancelled.

        Starts by releasing contacts left by an earlier run (their calls died with it):
        one voice worker serves the plan's numbers.
        """
        keep = self.plan.on_engine_failure == "callback"
        for tenant in sorted({route.tenant for route in self.plan.numbers.values()}):
            try:
                released = await self.contacts.release_orphans(
                    tenant=tenant, source=self.plan.source, keep_place=keep
                )
            except NotFoundError as exc:
                log.error("voice plan: %s", exc)
                continue
            if released:
                log.warning("tenant %s: %d contacts of ended calls released", tenant, released)
        watcher = asyncio.create_task(self._watch(), name="voice-contacts-watch")
        try:
            async for event in self.engine.events():
                if self._observer is not None:
                    self._observer(event)
                self._dispatch(event)
        finally:
            # Shutdown must end: a task stuck in a database call is left behind (logged).
            await stop_tasks([watcher, *self._tasks], grace_s=STOP_GRACE_S)

    @property
    def live_calls(self) -> int:
        return len(self._live())

    def _live(self) -> set[Call]:
        return {*self._calls.values(), *self._outbound.values()}

    def call_of(self, contact_id: UUID) -> Call | None:
        """The live call of a contact (diagnostics, tests)."""
        for call in self._live():
            if call.contact is not None and call.contact.contact_id == contact_id:
                return call
        return None

    def _dispatch(self, event: TelephonyEvent) -> None:
        if isinstance(event, CallOffered):
            self._offered(event)
            return
        if isinstance(event, RecordingReady):
            owner = self._recorded.pop(event.recording_id, None)
            if owner is not None and self.recordings is not None:
                self._spawn(self._store(owner, event))
            return
        call = self._calls.get(event.leg_id)
        if call is not None:
            call.inbox.put_nowait(event)
        elif len(self._early) < 10_000:
            self._early.setdefault(event.leg_id, []).append(event)

    def _offered(self, event: CallOffered) -> None:
        route = self.plan.numbers.get(event.callee)
        key = f"{self.plan.source}:{event.call_ref or event.leg_id}"
        if route is None:
            log.warning("no voice route for number %r: rejecting the call", event.callee)
            self._spawn(self._reject(event.leg_id))
            return
        call = Call(event.leg_id, route, event.caller, key)
        self.stats.calls += 1
        self._register(event.leg_id, call)
        call.inbox.put_nowait(event)
        self._spawn(self._serve(call))

    async def _store(self, owner: tuple[UUID, UUID], event: RecordingReady) -> None:
        assert self.recordings is not None
        try:
            await self.recordings.store(*owner, event.recording_id, event.location)
        except Exception:
            self.stats.errors += 1
            log.exception("storing recording %s failed", event.recording_id)

    async def pause_recording(self, contact_id: UUID, *, by: UUID | None) -> None:
        """Stop capturing the call (payment details); audited."""
        await self._pause(contact_id, by, paused=True)

    async def resume_recording(self, contact_id: UUID, *, by: UUID | None) -> None:
        await self._pause(contact_id, by, paused=False)

    async def _pause(self, contact_id: UUID, by: UUID | None, *, paused: bool) -> None:
        call = self.call_of(contact_id)
        if call is None or call.recording is None or call.tenant_id is None:
            raise NotFoundError("no recorded call for this contact")
        if paused:
            await self.engine.pause_recording(call.recording)
        else:
            await self.engine.resume_recording(call.recording)
        if self.recordings is not None:
            await self.recordings.audit_pause(
                call.tenant_id, contact_id, call.recording, paused=paused, actor_user_id=by
            )

    async def _reject(self, leg_id: str) -> None:
        with contextlib.suppress(NotFoundError, ConflictError):
            await self.engine.hangup(leg_id, HangupCause.REJECTED)

    def _register(self, leg_id: str, call: Call) -> None:
        self._calls[leg_id] = call
        for event in self._early.pop(leg_id, []):
            call.inbox.put_nowait(event)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, call: Call) -> None:
        try:
            while not call.ended:
                item = await call.inbox.get()
                try:
                    await self._handle(call, item)
                except (NotFoundError, ConflictError) as exc:
                    log.info("call %s: %s", call.leg_id, exc)  # a leg ended meanwhile
                except Exception:
                    self.stats.errors += 1
                    log.exception("call %s: handling %r failed", call.leg_id, item)
        finally:
            for leg_id in [k for k, v in self._calls.items() if v is call]:
                del self._calls[leg_id]
            if call.contact is not None and self._outbound.get(call.contact.contact_id) is call:
                del self._outbound[call.contact.contact_id]

    async def _watch(self) -> None:
        """Feed each call its contact's newer rows (the database is the truth)."""
        while True:
            await self.contacts.changed(self.poll_s)
            if self.plan.trunk is not None:
                await self._find_callbacks()
            by_tenant: dict[UUID, list[Call]] = {}
            for call in self._live():
                if call.tenant_id is not None and call.contact is not None and not call.ended:
                    by_tenant.setdefault(call.tenant_id, []).append(call)
            for tenant_id, calls in by_tenant.items():
                try:
                    views = await self.contacts.look(
                        tenant_id, [c.contact.contact_id for c in calls if c.contact]
                    )
                except Exception:
                    log.exception("reading the contacts of live calls failed")
                    continue
                for call in calls:
                    view = views.get(call.contact.contact_id) if call.contact else None
                    if view is not None and call.contact and view.version > call.contact.version:
                        call.inbox.put_nowait(view)
                await self._watch_consults(tenant_id, calls)
            await self._take_requests()
            self._announcements_due(time.monotonic())
            if len(self._early) > 1000:
                self._early.clear()  # events of legs that ended before being claimed

    async def _watch_consults(self, tenant_id: UUID, calls: list[Call]) -> None:
        """Feed each call in conversation its consultation's newer rows."""
        talking = [
            c
            for c in calls
            if c.contact is not None and (c.contact.state in IN_CONVERSATION or c.consult)
        ]
        if not talking:
            return
        try:
            consults = await self.contacts.consults(
                tenant_id, [c.contact.contact_id for c in talking if c.contact]
            )
        except Exception:
            log.exception("reading the consultations of live calls failed")
            return
        for call in talking:
            view = consults.get(call.contact.contact_id) if call.contact else None
            if view is None:
                continue
            known = call.consult
            if known is None and view.state in TERMINAL:
                continue  # an earlier consultation, over before this worker saw it
            if known is None or view.contact_id != known.contact_id or view.version > known.version:
                call.inbox.put_nowait(ConsultChanged(view))

    async def _take_requests(self) -> None:
        """Act on requests from the web (through the outbox) for the calls held here."""
        for tenant in sorted({route.tenant for route in self.plan.numbers.values()}):
            try:
                requests = await self.contacts.requests(tenant=tenant)
            except Exception:
                log.exception("reading requests for %s failed", tenant)
                continue
            for request in requests:
                call = self.call_of(request.contact_id)
                if call is None:
                    continue  # another worker's call, or one that has ended
                if request.kind == "monitor":
                    call.inbox.put_nowait(request)  # handled in turn with the call's events
                    continue
                try:
                    await self._pause(
                        request.contact_id,
                        request.requested_by,
                        paused=request.kind == "pause_recording",
                    )
                except TsunagiError as exc:
                    log.info("request %s for %s: %s", request.kind, request.contact_id, exc)

    def _announcements_due(self, now: float) -> None:
        """Queue a place-in-line announcement for each caller who has waited long enough
        since joining the queue or the last announcement."""
        every = self.plan.announce_every_s
        if every is None:
            return
        for call in self._live():
            if call.ended or call.contact is None or call.leg_id is None:
                continue
            if call.contact.state != S.QUEUED or not call.customer_up:
                call.waiting_since = None
                continue
            if call.waiting_since is None:
                call.waiting_since = now
            elif call.announcing is None and now - call.waiting_since >= every:
                call.waiting_since = now
                call.inbox.put_nowait(ANNOUNCE_DUE)

    async def _find_callbacks(self) -> None:
        """Serve callback contacts that routing offered to an agent: ring the agent, then
        dial the customer once the agent has accepted."""
        for tenant in sorted({route.tenant for route in self.plan.numbers.values()}):
            try:
                found = await self.contacts.callbacks(tenant=tenant, known=set(self._outbound))
            except Exception:
                log.exception("looking for callbacks of %s failed", tenant)
                continue
            for tenant_id, view, number, queue in found:
                call = Call(None, None, number, "", dial=number, customer_up=False)
                call.tenant_id = tenant_id
                call.queue = queue
                self._outbound[view.contact_id] = call
                call.inbox.put_nowait(view)
                self._spawn(self._serve(call))

    # -- one call ---------------------------------------------------------------------

    async def _handle(self, call: Call, item: CallItem) -> None:
        if isinstance(item, ContactView):
            await self._reconcile(call, item)
        elif isinstance(item, IvrFinished):
            await self._after_ivr(call)
        elif isinstance(item, AnnounceDue):
            await self._announce(call)
        elif isinstance(item, CallRequest):
            await self._start_monitor(call, item)
        elif isinstance(item, ConsultChanged):
            await self._follow_consult(call, item.view)
        elif item.leg_id == call.consult_leg:
            await self._consult_event(call, item)
        elif item.leg_id in call.monitors:
            await self._monitor_event(call, item)
        elif item.leg_id == call.agent_leg:
            await self._agent_event(call, item)
        elif item.leg_id == call.leg_id:
            await self._caller_event(call, item)

    async def _caller_event(self, call: Call, event: TelephonyEvent) -> None:
        if isinstance(event, CallOffered):
            await self._answer(call)
        elif isinstance(event, CallAnswered) and not call.customer_up:
            call.customer_up = True  # the customer picked up a callback
            await self._reconcile(call, await self._fresh(call))
        elif isinstance(event, OriginateFailed):
            call.ended = True  # the customer did not answer the callback
            await self._drop_agent(call)
            await self.contacts.customer_left(*self._ids(call), keep_place=False)
        elif isinstance(event, CallHungUp):
            await self._caller_gone(call, event)
        elif call.ivr is not None and not call.ivr.done.is_set():
            await call.ivr.handle(event)
        elif (
            isinstance(event, DtmfReceived)
            and event.digit == self.plan.callback_digit
            and call.contact is not None
            and call.contact.state == S.QUEUED
        ):
            with contextlib.suppress(ConflictError):  # offered meanwhile: stays in line
                await self.contacts.keep_place(*self._ids(call))
            await self._reconcile(call, await self._fresh(call))
        elif isinstance(event, PlaybackDone) and event.playback_id == call.closing:
            await self._finish(call)
        elif isinstance(event, PlaybackDone) and event.playback_id == call.announcing:
            call.announcing = None
            call.playing = None  # the announcement replaced the music: start it again
            view = await self._fresh(call)
            if view.state in WAITING or view.state == S.OFFERED:
                await self._play(call, self.plan.music_for(call.queue or ""))
            await self._reconcile(call, view)

    async def _start_monitor(self, call: Call, request: CallRequest) -> None:
        """Ring the supervisor's phone; it joins the conversation when answered."""
        if call.ended or call.bridge_id is None or call.tenant_id is None:
            log.info("monitor of %s: the call is not in conversation", request.contact_id)
            return
        if any(who == request.requested_by for _, who in call.monitors.values()):
            return  # already on this call
        leg_id = await self._call_phone(call, request.requested_by)
        if leg_id is None:
            return
        call.monitors[leg_id] = (request.mode or "listen", request.requested_by)
        self._register(leg_id, call)

    async def _monitor_event(self, call: Call, event: TelephonyEvent) -> None:
        mode, _who = call.monitors[event.leg_id]
        if isinstance(event, CallAnswered):
            if call.bridge_id is None or call.agent_leg is None or call.leg_id is None:
                await self._hang_up_monitor(call, event.leg_id)
                return
            # Mixing started right after an answer can miss audio (docs/architecture/voice.md).
            await asyncio.sleep(MIX_SETTLE_S)
            first = call.leg_id if mode == "listen" else call.agent_leg
            await self.engine.bridge(first, event.leg_id, BridgeMode(mode))
            self.stats.monitors += 1
        elif isinstance(event, CallHungUp | OriginateFailed):
            call.monitors.pop(event.leg_id, None)
            self._calls.pop(event.leg_id, None)

    async def _hang_up_monitor(self, call: Call, leg_id: str) -> None:
        call.monitors.pop(leg_id, None)
        self._calls.pop(leg_id, None)
        with contextlib.suppress(NotFoundError, ConflictError):
            await self.engine.hangup(leg_id)

    async def _end_monitors(self, call: Call) -> None:
        """Supervisors leave when the conversation they joined is held, moved or over."""
        for leg_id in list(call.monitors):
            await self._hang_up_monitor(call, leg_id)

    async def _announce(self, call: Call) -> None:
        """Tell a waiting caller their place in line, then the music goes on."""
        if call.ended or call.leg_id is None or call.bridge_id is not None:
            return
        if call.closing is not None or call.announcing is not None:
            return
        tenant_id, contact_id = self._ids(call)
        place = await self.contacts.position(tenant_id, contact_id)
        if place is None:
            return  # offered or gone meanwhile
        media = self.plan.position_media(place)
        call.announcing = await self.engine.play(call.leg_id, media, loop=False)
        call.playing = media
        self.stats.announcements += 1

    async def _answer(self, call: Call) -> None:
        assert call.leg_id is not None
        assert call.route is not None
        await self.engine.answer(call.leg_id)
        flow = self.plan.flows[call.route.flow]
        call.ivr = IvrRun(self.engine, call.leg_id, flow)
        await call.ivr.start()
        ivr = call.ivr

        async def finished() -> None:
            await ivr.done.wait()
            call.inbox.put_nowait(IVR_FINISHED)

        self._spawn(finished())

    async def _after_ivr(self, call: Call) -> None:
        if call.ended or call.ivr is None or call.ivr.abandoned:
            return
        outcome = call.ivr.outcome
        if not isinstance(outcome, TransferToQueue) or call.route is None or call.leg_id is None:
            return  # the flow hung up; its CallHungUp ends the call
        call.queue = outcome.queue
        try:
            opened = await self.contacts.open(
                tenant=call.route.tenant,
                queue=outcome.queue,
                key=call.key,
                source=self.plan.source,
                caller=call.caller,
            )
        except NotFoundError as exc:
            log.error("call %s: cannot queue it: %s", call.leg_id, exc)
            await self._goodbye(call)
            return
        self.stats.contacts += 1
        call.tenant_id = opened.tenant_id
        call.contact = opened.view
        if self.plan.records(outcome.queue) and opened.view.state not in OVER:
            call.recording = await self.engine.start_recording(call.leg_id)
            self._recorded[call.recording] = (opened.tenant_id, opened.view.contact_id)
        await self._reconcile(call, opened.view)

    async def _caller_gone(self, call: Call, event: CallHungUp) -> None:
        call.ended = True
        if call.ivr is not None:
            await call.ivr.handle(event)
        await self._drop_agent(call)
        if call.tenant_id is None or call.contact is None:
            return  # left in the IVR: no contact yet
        keep = event.cause is HangupCause.ENGINE_FAILURE and (
            self.plan.on_engine_failure == "callback"
        )
        await self.contacts.customer_left(call.tenant_id, call.contact.contact_id, keep_place=keep)

    async def _agent_event(self, call: Call, event: TelephonyEvent) -> None:
        agent_id = call.agent_id
        assert agent_id is not None
        if isinstance(event, CallAnswered):
            call.agent_up = True
            view = await self._fresh(call)
            if view.state == S.OFFERED and view.agent_id == agent_id:
                with contextlib.suppress(ConflictError):
                    await self.contacts.accept(*self._ids(call), agent_id)
                view = await self._fresh(call)
            await self._reconcile(call, view)
        elif isinstance(event, OriginateFailed):
            self._forget_agent(call)
            await self._phone_lost(call, agent_id)
        elif isinstance(event, CallHungUp):
            self._forget_agent(call)
            view = await self._fresh(call)
            if view.state in IN_CONVERSATION and view.agent_id == agent_id:
                await self.contacts.agent_left(*self._ids(call), agent_id)
                await self._finish(call)
            else:
                await self._phone_lost(call, agent_id)

    async def _phone_lost(self, call: Call, agent_id: UUID) -> None:
        """The agent's phone failed, did not answer or hung up before talking."""
        view = await self._fresh(call)
        try:
            if view.state == S.OFFERED and view.agent_id == agent_id:
                await self.contacts.decline(*self._ids(call), agent_id)
            elif view.state in IN_CONVERSATION and view.agent_id == agent_id:
                await self.contacts.requeue(*self._ids(call))
        except ConflictError:
            pass
        await self._reconcile(call, await self._fresh(call))

    @staticmethod
    def _ids(call: Call) -> tuple[UUID, UUID]:
        assert call.tenant_id is not None
        assert call.contact is not None
        return call.tenant_id, call.contact.contact_id

    async def _fresh(self, call: Call) -> ContactView:
        tenant_id, contact_id = self._ids(call)
        view = (await self.contacts.look(tenant_id, [contact_id])).get(contact_id)
        if view is None:
            raise NotFoundError("the call's contact is gone")
        return view

    # -- following the contact -----------------------------------------------------------

    async def _reconcile(self, call: Call, view: ContactView) -> None:
        if call.ended or (call.contact is not None and view.version < call.contact.version):
            return
        call.contact = view
        state = view.state
        if state in WAITING:
            await self._drop_agent(call)
            if call.leg_id is None:  # a callback back in line: a new offer, a new call
                call.ended = True
                return
            await self._play(call, self.plan.music_for(call.queue or ""))
        elif state == S.OFFERED or state == S.CONNECTED:
            if (
                call.consult_up
                and view.agent_id is not None
                and view.agent_id == call.consult_agent != call.agent_id
            ):
                await self._adopt_consult(call)  # a consultative transfer: keep the call
            if call.agent_leg is not None and call.agent_id != view.agent_id:
                await self._drop_agent(call)
            if call.agent_leg is None and view.agent_id is not None:
                await self._ring(call, view.agent_id)
            elif state == S.CONNECTED and call.agent_up and call.bridge_id is None:
                if call.leg_id is None and call.dial is not None:
                    await self._dial_customer(call, call.dial)
                elif call.customer_up:
                    await self._unbridge_consult(call)  # back to the customer
                    await self._bridge(call)
        elif state == S.ON_HOLD:
            await self._end_monitors(call)
            if call.bridge_id is not None:
                bridge_id, call.bridge_id = call.bridge_id, None
                await self.engine.unbridge(bridge_id)
            await self._play(call, self.plan.hold_music)
            await self._bridge_consult(call)
        elif state in OVER:
            if call.talked or state == S.ABANDONED:
                await self._finish(call)
            elif call.closing is None:
                await self._drop_agent(call)
                await self._goodbye(call)

    async def _play(self, call: Call, media: str) -> None:
        if call.announcing is not None:
            return  # the music comes back when the announcement is done
        if call.leg_id is not None and call.customer_up and call.playing != media:
            await self.engine.play(call.leg_id, media, loop=True)
            call.playing = media

    async def _ring(self, call: Call, agent_id: UUID) -> None:
        leg_id = await self._call_phone(call, agent_id)
        if leg_id is None:
            await self._phone_lost(call, agent_id)
            return
        call.agent_leg, call.agent_id, call.agent_up = leg_id, agent_id, False
        self._register(leg_id, call)

    async def _call_phone(self, call: Call, user_id: UUID) -> str | None:
        """Ring the phone of an agent or supervisor for ``call``; the new leg's id, or
        None (logged) when the voice plan gives them no phone."""
        assert call.tenant_id is not None
        name = await self.contacts.agent_name(call.tenant_id, user_id)
        target = self.plan.agent_endpoint(name) if name else None
        if target is None:
            log.error("user %s has no phone (voice plan: agents / agent_domain)", user_id)
            return None
        return await self.engine.originate(
            target,
            caller_id=self.plan.caller_id or call.caller or "anonymous",
            timeout_s=self.plan.ring_timeout_s,
        )

    async def _dial_customer(self, call: Call, number: str) -> None:
        assert self.plan.trunk is not None
        call.leg_id = await self.engine.originate(
            self.plan.trunk.replace("{number}", number),
            caller_id=self.plan.caller_id_for(call.queue),
            timeout_s=self.plan.ring_timeout_s,
            auth=self._trunk_auth,
        )
        self._register(call.leg_id, call)

    async def _bridge(self, call: Call) -> None:
        assert call.agent_leg is not None
        assert call.leg_id is not None
        call.bridge_id = await self.engine.bridge(call.leg_id, call.agent_leg)
        call.playing = None  # bridging stops the music
        call.announcing = None  # and any announcement
        call.talked = True
        self.stats.bridged += 1

    def _forget_agent(self, call: Call) -> None:
        if call.agent_leg is not None:
            self._calls.pop(call.agent_leg, None)
        call.agent_leg = call.agent_id = call.bridge_id = None
        call.agent_up = False

    async def _drop_agent(self, call: Call) -> None:
        await self._end_monitors(call)
        leg_id = call.agent_leg
        self._forget_agent(call)
        if leg_id is not None:
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.engine.hangup(leg_id)

    async def _goodbye(self, call: Call) -> None:
        """Play the closing prompt (when configured), then hang up."""
        prompt = self.plan.closed_prompt
        if call.contact is not None and call.contact.state == S.CALLBACK_SCHEDULED:
            prompt = self.plan.callback_prompt or prompt
        if prompt is None or call.leg_id is None:
            await self._finish(call)
            return
        call.announcing = None
        try:
            call.closing = await self.engine.play(call.leg_id, prompt)
        except TsunagiError:
            await self._finish(call)

    async def _finish(self, call: Call) -> None:
        await self._drop_consult(call, end_it=True)
        await self._drop_agent(call)
        call.ended = True
        if call.leg_id is not None:
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.engine.hangup(call.leg_id)

    # -- consultation: the agent talks with a colleague while the customer holds ----------

    async def _follow_consult(self, call: Call, view: ContactView) -> None:
        """Ring the colleague the consultation is offered to, bridge them with the agent
        once both talk (the customer holds), and when it is over either hand the call to
        the colleague (a consultative transfer) or hang up their phone."""
        if call.ended:
            return
        if call.consult is not None and view.contact_id != call.consult.contact_id:
            await self._drop_consult(call)  # a new consultation replaces an ended one
        call.consult = view
        if view.state == S.OFFERED or view.state in IN_CONVERSATION:
            if call.consult_leg is not None and call.consult_agent != view.agent_id:
                await self._drop_consult(call)
                call.consult = view
            if call.consult_leg is None and view.agent_id is not None:
                await self._ring_consult(call, view.agent_id)
            elif view.state == S.ON_HOLD:
                await self._unbridge_consult(call)
            else:
                await self._bridge_consult(call)
        elif view.state in WAITING:
            await self._drop_consult(call)  # missed or declined: it waits again
            call.consult = view
        else:  # over: the customer's contact says whether it was handed over
            fresh = await self._fresh(call)
            if not (call.consult_up and fresh.agent_id == call.consult_agent):
                await self._drop_consult(call)
                call.consult = None
            await self._reconcile(call, fresh)

    async def _ring_consult(self, call: Call, agent_id: UUID) -> None:
        leg_id = await self._call_phone(call, agent_id)
        if leg_id is None:
            return
        call.consult_leg, call.consult_agent, call.consult_up = leg_id, agent_id, False
        self._register(leg_id, call)

    async def _consult_event(self, call: Call, event: TelephonyEvent) -> None:
        agent_id, tenant_id, consult = call.consult_agent, call.tenant_id, call.consult
        assert agent_id is not None
        assert tenant_id is not None
        if consult is None:
            return
        found = await self.contacts.look(tenant_id, [consult.contact_id])
        view = found.get(consult.contact_id)
        if isinstance(event, CallAnswered):
            call.consult_up = True
            if view is None:
                return
            if view.state == S.OFFERED and view.agent_id == agent_id:
                with contextlib.suppress(ConflictError):  # the desk accepted first
                    await self.contacts.accept(tenant_id, view.contact_id, agent_id)
                found = await self.contacts.look(tenant_id, [consult.contact_id])
                view = found.get(consult.contact_id, view)
            await self._follow_consult(call, view)
        elif isinstance(event, CallHungUp | OriginateFailed):
            self._forget_consult(call)
            if view is None or view.agent_id != agent_id:
                return
            with contextlib.suppress(ConflictError):
                if view.state == S.OFFERED:
                    await self.contacts.decline(tenant_id, view.contact_id, agent_id)
                elif view.state in IN_CONVERSATION:
                    await self.contacts.agent_left(tenant_id, view.contact_id, agent_id)

    async def _bridge_consult(self, call: Call) -> None:
        """Agent and colleague talk once both phones are up and the customer holds."""
        consult = call.consult
        if (
            consult is None
            or consult.state != S.CONNECTED
            or not call.consult_up
            or call.consult_bridge is not None
            or call.consult_leg is None
            or call.agent_leg is None
            or not call.agent_up
            or call.bridge_id is not None  # the agent is back with the customer
        ):
            return
        call.consult_bridge = await self.engine.bridge(call.agent_leg, call.consult_leg)

    async def _unbridge_consult(self, call: Call) -> None:
        if call.consult_bridge is not None:
            bridge_id, call.consult_bridge = call.consult_bridge, None
            with contextlib.suppress(NotFoundError):
                await self.engine.unbridge(bridge_id)

    async def _adopt_consult(self, call: Call) -> None:
        """The customer was handed to the colleague on the consultation: their leg becomes
        the call's agent leg and the first agent's phone is hung up."""
        await self._unbridge_consult(call)
        await self._drop_agent(call)
        call.agent_leg, call.agent_id, call.agent_up = (
            call.consult_leg,
            call.consult_agent,
            True,
        )
        call.consult_leg = call.consult_agent = call.consult = None
        call.consult_up = False

    def _forget_consult(self, call: Call) -> None:
        if call.consult_leg is not None:
            self._calls.pop(call.consult_leg, None)
        call.consult_leg = call.consult_agent = call.consult_bridge = None
        call.consult_up = False

    async def _drop_consult(self, call: Call, *, end_it: bool = False) -> None:
        """Hang up the colleague's phone (and, with ``end_it``, end the consultation: the
        call it was about is over)."""
        consult, agent_id, leg_id = call.consult, call.consult_agent, call.consult_leg
        await self._unbridge_consult(call)
        self._forget_consult(call)
        if leg_id is not None:
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.engine.hangup(leg_id)
        if end_it and consult is not None and agent_id is not None and call.tenant_id:
            with contextlib.suppress(ConflictError, NotFoundError):
                await self.contacts.agent_left(call.tenant_id, consult.contact_id, agent_id)
