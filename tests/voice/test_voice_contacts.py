"""Inbound calls as routing contacts, end to end with real SIP peers, on both database
profiles: baresip phones (caller and agents) → the sippy + rtpengine worker → the
CallCenter → routing's actions and the durable routing engine (relay, bus, leader).

What each phone heard is checked by frequency analysis: every party plays its own tone.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from voice_peers import (
    Baresip,
    read_wav,
    run_sipp_uas,
    tone_shares,
    tone_timeline,
    write_tone,
)

from conftest import MENU_HZ, MUSIC_HZ, PROMPT_HZ, MediaPlane, worker_config
from integration.routing.routing_floor import Floor, close_floor, events_of, open_floor
from testkit import World
from tsunagi.actions.calls import (
    do_place_call,
    do_request_monitor,
    do_request_recording_pause,
)
from tsunagi.actions.customers import do_import_customers
from tsunagi.actions.desktop import do_identify_party, screen_pop
from tsunagi.actions.routing.consult import do_complete_consult, do_start_consult
from tsunagi.actions.routing.contacts import (
    NewContact,
    TransferTarget,
    do_create_contact,
    do_transfer_contact,
)
from tsunagi.actions.routing.engine import RoutingEngine
from tsunagi.actions.routing.offers import do_end_contact, do_hold_contact, do_resume_contact
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import ContactParty
from tsunagi.adapters.storage.models import AuditEntry, Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.telephony.channel import DatabaseCallContacts
from tsunagi.adapters.telephony.engine import SippyRtpengineEngine
from tsunagi.adapters.telephony.processes import JanusSettings, free_port
from tsunagi.adapters.telephony.recordings import RecordingVault
from tsunagi.domain.customers import CustomerRecord, Identifier
from tsunagi.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tsunagi.domain.permissions import Principal, Role
from tsunagi.ports.telephony import CallHungUp, CallOffered, TelephonyEvent
from tsunagi.routing.agents import Presence
from tsunagi.voice.center import CallCenter
from tsunagi.voice.ivr import Flow, Menu, Play, ToQueue
from tsunagi.voice.plan import NumberRoute, VoicePlan

pytestmark = [pytest.mark.voice, pytest.mark.slow]

CALLER = "0312345678"
NUMBER = "0120000000"
SCENARIOS = Path(__file__).parent / "scenarios"
CUSTOMER_HZ, AGENT_HZ, AGENT2_HZ, HOLD_HZ, BYE_HZ = 600.0, 1000.0, 1400.0, 500.0, 1200.0
TONES = [PROMPT_HZ, MENU_HZ, MUSIC_HZ, HOLD_HZ, CUSTOMER_HZ, AGENT_HZ, AGENT2_HZ, BYE_HZ]
FLOW = Flow(
    name="main",
    start="welcome",
    nodes={
        "welcome": Play(prompts=["welcome"], next="menu"),
        "menu": Menu(prompt="menu", options={"2": "billing"}, timeout_s=5, on_failure="billing"),
        "billing": ToQueue(queue="billing"),
    },
)


@dataclass
class Line:
    """A live voice floor: routing (floor), the voice worker and its call center."""

    floor: Floor
    engine: SippyRtpengineEngine
    center: CallCenter
    keyring: KeyRing
    workdir: Path
    vault: RecordingVault
    events: list[TelephonyEvent] = field(default_factory=list)
    phones: list[Baresip] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    center_task: asyncio.Task[None] | None = None

    def observe(self, event: TelephonyEvent) -> None:
        self.events.append(event)
        self._new.set()

    def phone(self, name: str, hz: float) -> Baresip:
        phone = Baresip(name, self.workdir / name, write_tone(self.workdir / f"{name}.wav", hz, 60))
        phone.start()
        self.phones.append(phone)
        return phone

    def dial(self, phone: Baresip) -> None:
        phone.command("dial", f"sip:{NUMBER}@127.0.0.1:{self.engine._config.sip_port}")

    async def contact_of_call(self, timeout_s: float = 15.0) -> RoutingContact:
        """The (single) contact made from a SIP call, once it exists."""
        (contact,) = await self.contacts_of_calls(1, timeout_s)
        return contact

    async def contacts_of_calls(self, count: int, timeout_s: float = 15.0) -> list[RoutingContact]:
        """The contacts made from SIP calls, oldest first, once there are ``count``."""
        async with asyncio.timeout(timeout_s):
            while True:
                async with self.floor.db.scoped(self.floor.tenant_id, readonly=True) as session:
                    found = (
                        await session.scalars(
                            select(RoutingContact)
                            .where(RoutingContact.source == "sip")
                            .order_by(RoutingContact.created_at)
                        )
                    ).all()
                if len(found) >= count:
                    assert len(found) == count, found
                    return list(found)
                await asyncio.sleep(0.1)

    async def hung_up(self, leg_count: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while sum(isinstance(e, CallHungUp) for e in self.events) < leg_count:
                self._new.clear()
                await self._new.wait()


@pytest.fixture
async def line(
    database_url: str,
    profile: str,
    world: World,
    rtpengine: MediaPlane,
    media_dir: Path,
    tmp_path: Path,
) -> AsyncIterator[Line]:
    async with open_line(database_url, profile, world, rtpengine, media_dir, tmp_path) as made:
        yield made


@pytest.fixture
async def mixing_line(
    database_url: str,
    profile: str,
    world: World,
    rtpengine: MediaPlane,
    media_dir: Path,
    tmp_path: Path,
    janus: JanusSettings,
) -> AsyncIterator[Line]:
    """A line whose engine has the Janus mixer (listen, whisper, barge)."""
    async with open_line(
        database_url, profile, world, rtpengine, media_dir, tmp_path, mixer_url=janus.url
    ) as made:
        yield made


async def _started_engine(
    rtpengine: MediaPlane, media_dir: Path, **engine_options: Any
) -> SippyRtpengineEngine:
    """The worker's engine on fresh free ports; another test process may take a port
    between choosing and binding it, so a taken port means: close all, choose again."""
    for attempt in range(3):
        engine = SippyRtpengineEngine(
            worker_config(rtpengine.settings, media_dir, keep_captures=False, **engine_options)
        )
        try:
            await engine.start()
        except OSError as exc:
            with contextlib.suppress(Exception):
                await engine.stop()  # no socket of the failed start outlives it
            if exc.errno != errno.EADDRINUSE or attempt == 2:
                raise
            continue
        return engine
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def open_line(
    database_url: str,
    profile: str,
    world: World,
    rtpengine: MediaPlane,
    media_dir: Path,
    tmp_path: Path,
    **engine_options: Any,
) -> AsyncIterator[Line]:
    write_tone(media_dir / "hold.wav", HOLD_HZ, 2.0)
    write_tone(media_dir / "goodbye.wav", BYE_HZ, 1.5)
    floor = await open_floor(database_url, profile, world)
    keyring = KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))
    engine = await _started_engine(rtpengine, media_dir, **engine_options)
    contacts = DatabaseCallContacts(floor.db, keyring, bus=floor.bus)
    vault = RecordingVault(floor.db, keyring, tmp_path / "vault")
    line = Line(floor, engine, None, keyring, tmp_path, vault)  # type: ignore[arg-type]
    try:
        async with floor.db.system(readonly=True) as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == floor.tenant_id))
        assert slug is not None
        await floor.add_queue("billing", config={"routing": {"offer_timeout_s": 15}})
        plan = VoicePlan(
            numbers={NUMBER: NumberRoute(tenant=slug, flow="main")},
            flows={"main": FLOW},
            hold_music="hold",
            record_queues=["billing"],
        )
        line.center = CallCenter(
            engine, contacts, plan, poll_s=0.2, observer=line.observe, recordings=vault
        )
        line.center_task = asyncio.create_task(line.center.run())
        yield line
    finally:
        for phone in line.phones:
            phone.stop()
        if line.center_task is not None:
            line.center_task.cancel()
        # Each step is bounded so a hang is named instead of stalling the session.
        steps: list[tuple[str, Awaitable[object]]] = [
            ("call center", asyncio.gather(line.center_task or asyncio.sleep(0))),
            ("contacts", contacts.close()),
            ("voice engine", engine.stop()),
            ("routing floor", close_floor(floor)),
        ]
        hung = []
        for name, step in steps:
            try:
                async with asyncio.timeout(30):
                    await step
            except TimeoutError:
                hung.append(name)
            except asyncio.CancelledError:
                pass
        assert not hung, f"teardown hung in {hung}"


async def add_agent(line: Line, name: str, phone: Baresip, *, ready: bool) -> uuid.UUID:
    """An agent of the billing queue whose phone is ``phone`` (by user name in the plan)."""
    agent_id = await line.floor.add_agent(name, {"billing": 5}, ready=ready)
    async with line.floor.db.scoped(line.floor.tenant_id, readonly=True) as session:
        username = await session.scalar(select(User.username).where(User.id == agent_id))
    assert username is not None
    agents = {**line.center.plan.agents, username: phone.uri}
    line.center.plan = _with_agents(line.center.plan, agents)
    return agent_id


def _with_agents(plan: VoicePlan, agents: dict[str, str]) -> VoicePlan:
    return msgspec.structs.replace(plan, agents=agents)


async def press_after(phone: Baresip, digit: str, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    phone.command("sndcode", digit)


def window_levels(path: Path, window_s: float = 0.5) -> list[float]:
    """Mean absolute sample value of each window (silence is below 100 of 32767)."""
    samples, rate = read_wav(path)
    size = int(rate * window_s)
    return [float(abs(samples[i : i + size]).mean()) for i in range(0, len(samples) - size, size)]


def closed_calls(phone: Baresip, count: int, timeout_s: float = 10.0) -> None:
    """Wait until ``phone`` has seen ``count`` calls close (its dumps are complete)."""
    deadline = time.monotonic() + timeout_s
    while sum(e.get("type") == "CALL_CLOSED" for e in phone.events) < count:
        assert time.monotonic() < deadline, phone.events
        phone._pump()


def heard_in_order(phone: Baresip) -> list[float]:
    """The tones ``phone`` heard in its first call, consecutive half-seconds merged
    (once that call has closed: baresip completes the dump then)."""
    closed_calls(phone, 1)
    return [f for f, _ in groupby(tone_timeline(phone.dumps("dec")[0], TONES)) if f]


async def test_a_call_is_queued_offered_bridged_held_and_ends_in_wrap_up(line: Line) -> None:
    floor = line.floor
    [customer_id] = await do_import_customers(
        floor.db,
        line.keyring,
        tenant_id=floor.tenant_id,
        items=[CustomerRecord(name="鈴木 一郎", identifiers=(Identifier("phone", CALLER),))],
        actor="test",
    )
    caller = line.phone(CALLER, CUSTOMER_HZ)
    agent_phone = line.phone("aiko", AGENT_HZ)
    aiko = await add_agent(line, "aiko", agent_phone, ready=False)

    line.dial(caller)
    await press_after(caller, "2", 1.5)  # during the menu prompt
    contact = await line.contact_of_call()
    assert (contact.channel, contact.state) == ("voice", "queued")
    assert contact.idempotency_key is not None and contact.idempotency_key.startswith("sip:")
    await asyncio.sleep(2)  # queue music
    await floor.presence("aiko", Presence.READY)
    connected = await floor.wait_state(contact.id, "connected", timeout=15)
    assert connected.agent_id == aiko
    await asyncio.to_thread(agent_phone.wait_event, "CALL_ESTABLISHED")

    # The desk screen-pops the caller: the number was matched to the customer (sealed).
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        party = await session.get(ContactParty, contact.id)
    assert party is not None and party.kind == "phone" and party.customer_id == customer_id
    assert CALLER.encode() not in (party.address_enc or b"")
    me = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    pop = await screen_pop(floor.db, line.keyring, principal=me, contact_id=contact.id)
    assert pop.customer is not None and pop.customer.id == customer_id
    assert pop.address == CALLER

    await asyncio.sleep(2)  # talk
    await do_hold_contact(
        floor.db, tenant_id=floor.tenant_id, contact_id=contact.id, agent_id=aiko, actor="aiko"
    )
    await asyncio.sleep(2.5)  # hold music
    await do_resume_contact(
        floor.db, tenant_id=floor.tenant_id, contact_id=contact.id, agent_id=aiko, actor="aiko"
    )
    await asyncio.sleep(2)  # talk again
    caller.command("hangup")
    ended = await floor.wait_state(contact.id, "wrap_up")
    assert ended.agent_id == aiko
    await line.hung_up(2)  # the caller's leg and, after it, the agent's
    assert line.center.live_calls == 0

    types = [e["type"] for e in await events_of(floor, contact.id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.held",
        "contact.resumed",
        "contact.ended",
    ], types
    assert heard_in_order(caller) == [
        PROMPT_HZ,
        MENU_HZ,
        MUSIC_HZ,
        AGENT_HZ,
        HOLD_HZ,
        AGENT_HZ,
    ], heard_in_order(caller)
    assert set(heard_in_order(agent_phone)) == {CUSTOMER_HZ}


async def test_a_caller_who_hangs_up_while_waiting_is_an_abandoned_contact(line: Line) -> None:
    caller = line.phone(CALLER, CUSTOMER_HZ)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await line.floor.wait_state(contact.id, "queued")
    await asyncio.sleep(1.5)
    caller.command("hangup")
    abandoned = await line.floor.wait_state(contact.id, "abandoned")
    assert abandoned.waited_s is not None and abandoned.waited_s > 1
    types = [e["type"] for e in await events_of(line.floor, contact.id)]
    assert types == ["contact.created", "contact.queued", "contact.abandoned"], types
    assert heard_in_order(caller) == [PROMPT_HZ, MENU_HZ, MUSIC_HZ], heard_in_order(caller)


async def test_a_waiting_call_survives_a_routing_leader_restart(line: Line) -> None:
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    agent_phone = line.phone("ren", AGENT2_HZ)
    await add_agent(line, "ren", agent_phone, ready=False)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "queued")

    await floor.engine.stop()  # the leader goes away while the caller waits
    floor.engine = RoutingEngine(
        floor.db, floor.bus, worker_id=f"test-{uuid.uuid4().hex[:8]}", lease_s=1.0, sweep_s=0.1
    )
    await floor.engine.start()
    await floor.presence("ren", Presence.READY)
    await floor.wait_state(contact.id, "connected", timeout=15)
    await asyncio.sleep(2)

    agent_phone.command("hangup")  # the agent ends the call from the phone
    await floor.wait_state(contact.id, "wrap_up")
    await line.hung_up(2)
    types = [e["type"] for e in await events_of(floor, contact.id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.ended",
    ], types
    assert set(heard_in_order(agent_phone)) == {CUSTOMER_HZ}
    assert heard_in_order(caller)[-1] == AGENT2_HZ


async def test_desk_transfer_moves_the_caller_to_another_agents_phone_and_desk_end_hangs_up(
    line: Line,
) -> None:
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    ren_phone = line.phone("ren", AGENT2_HZ)
    aiko = await add_agent(line, "aiko", aiko_phone, ready=True)
    ren = await add_agent(line, "ren", ren_phone, ready=False)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "connected", timeout=15)
    await asyncio.sleep(2)

    # Aiko's desk: blind transfer to Ren, who is not ready yet; the caller waits with music.
    await do_transfer_contact(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=contact.id,
        by_agent_id=aiko,
        target=TransferTarget(agent_id=ren),
        actor="aiko",
    )
    await line.hung_up(1)  # Aiko's phone leg
    await asyncio.sleep(2)
    await floor.presence("ren", Presence.READY)
    connected = await floor.wait_state(contact.id, "connected", timeout=15)
    assert connected.agent_id == ren
    await asyncio.sleep(2)

    # Ren's desk ends the contact: both phones are hung up.
    await do_end_contact(
        floor.db, tenant_id=floor.tenant_id, contact_id=contact.id, agent_id=ren, actor="ren"
    )
    await line.hung_up(3)
    await asyncio.to_thread(caller.wait_event, "CALL_CLOSED")
    types = [e["type"] for e in await events_of(floor, contact.id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.transferred",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.ended",
    ], types
    # Music while Aiko's phone rang is heard only when routing took more than a moment.
    heard = [f for i, f in enumerate(heard_in_order(caller)) if (i, f) != (2, MUSIC_HZ)]
    assert heard == [PROMPT_HZ, MENU_HZ, AGENT_HZ, MUSIC_HZ, AGENT2_HZ], heard
    assert set(heard_in_order(aiko_phone)) == set(heard_in_order(ren_phone)) == {CUSTOMER_HZ}


async def test_a_consultative_transfer_on_a_call(line: Line) -> None:
    """Aiko consults Ren while the caller holds (Ren's phone rings; Aiko and Ren talk),
    then hands the caller over: Aiko's phone is hung up and the caller talks with Ren."""
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    ren_phone = line.phone("ren", AGENT2_HZ)
    aiko = await add_agent(line, "aiko", aiko_phone, ready=True)
    ren = await add_agent(line, "ren", ren_phone, ready=False)  # the caller goes to Aiko
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "connected", timeout=15)
    await asyncio.sleep(2)  # Aiko and the caller talk

    consult_id = await do_start_consult(
        floor.db,
        tenant_id=floor.tenant_id,
        contact_id=contact.id,
        by_agent_id=aiko,
        target=TransferTarget(agent_id=ren),
        actor="aiko",
    )
    await floor.presence("ren", Presence.READY)
    talking = await floor.wait_state(consult_id, "connected", timeout=15)  # Ren's phone answered
    assert talking.agent_id == ren
    await asyncio.sleep(2.5)  # Aiko and Ren talk; the caller hears hold music

    await do_complete_consult(
        floor.db, tenant_id=floor.tenant_id, contact_id=contact.id, by_agent_id=aiko, actor="aiko"
    )
    await line.hung_up(1)  # Aiko's phone
    await asyncio.sleep(2.5)  # Ren and the caller talk
    await do_end_contact(
        floor.db, tenant_id=floor.tenant_id, contact_id=contact.id, agent_id=ren, actor="ren"
    )
    await line.hung_up(3)
    await asyncio.to_thread(caller.wait_event, "CALL_CLOSED")

    assert (await floor.contact(consult_id)).outcome == "consult_transferred"
    types = [e["type"] for e in await events_of(floor, contact.id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.held",
        "contact.transferred",
        "contact.connected",
        "contact.ended",
    ], types
    # Music while Aiko's phone rang is heard only when routing took more than a moment.
    heard = [f for i, f in enumerate(heard_in_order(caller)) if (i, f) != (2, MUSIC_HZ)]
    assert heard == [PROMPT_HZ, MENU_HZ, AGENT_HZ, HOLD_HZ, AGENT2_HZ], heard
    assert heard_in_order(aiko_phone) == [CUSTOMER_HZ, AGENT2_HZ], heard_in_order(aiko_phone)
    assert heard_in_order(ren_phone) == [AGENT_HZ, CUSTOMER_HZ], heard_in_order(ren_phone)


async def test_a_busy_agent_phone_declines_the_offer_and_the_call_goes_to_the_next_agent(
    line: Line, tmp_path: Path
) -> None:
    floor = line.floor
    busy_port = free_port()
    busy = asyncio.create_task(
        asyncio.to_thread(run_sipp_uas, SCENARIOS / "agent_busy.xml", busy_port, tmp_path)
    )
    caller = line.phone(CALLER, CUSTOMER_HZ)
    ren_phone = line.phone("ren", AGENT2_HZ)
    desk_only = line.phone("desk", AGENT_HZ)  # a phone object only for its address
    await add_agent(line, "busy", desk_only, ready=True)
    username = next(iter(line.center.plan.agents))
    line.center.plan = _with_agents(line.center.plan, {username: f"sip:busy@127.0.0.1:{busy_port}"})
    ren = await add_agent(line, "ren", ren_phone, ready=False)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()

    async def declined() -> bool:
        types = [e["type"] for e in await events_of(floor, contact.id)]
        return "contact.offer_declined" in types

    await floor.until(declined, what="the busy phone's offer declined")
    assert (await floor.agent("busy")).presence == Presence.NOT_READY
    await floor.presence("ren", Presence.READY)
    connected = await floor.wait_state(contact.id, "connected", timeout=15)
    assert connected.agent_id == ren
    # Ren and the caller talk: as long as in the other tests (with 1.5 s, once in a full
    # run under load, Ren's recording held no half-second of the caller's tone).
    await asyncio.sleep(2.5)
    caller.command("hangup")
    await floor.wait_state(contact.id, "wrap_up")
    assert (await busy).returncode == 0
    types = [e["type"] for e in await events_of(floor, contact.id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.offer_declined",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.ended",
    ], types
    assert set(heard_in_order(ren_phone)) == {CUSTOMER_HZ}


async def test_media_plane_failure_keeps_waiting_callers_as_callbacks_and_ends_conversations(
    line: Line, rtpengine: MediaPlane
) -> None:
    floor = line.floor
    talking = line.phone(CALLER, CUSTOMER_HZ)
    waiting = line.phone("0398765432", CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    await add_agent(line, "aiko", aiko_phone, ready=True)
    line.dial(talking)
    await press_after(talking, "2", 1.5)
    (first,) = await line.contacts_of_calls(1)
    await floor.wait_state(first.id, "connected", timeout=15)
    line.dial(waiting)
    await press_after(waiting, "2", 1.5)
    _, second = await line.contacts_of_calls(2)
    await floor.wait_state(second.id, "queued")

    rtpengine.kill()
    ended = await floor.wait_state(first.id, "wrap_up")
    assert ended.agent_id is not None

    async def kept_as_callback() -> bool:
        return (await floor.contact(second.id)).channel == "callback"

    await floor.until(kept_as_callback, what="the waiting caller kept as a callback")
    kept = await floor.contact(second.id)
    assert kept.ranked_at == second.ranked_at  # its place in the line
    types = [e["type"] for e in await events_of(floor, second.id)]
    assert types[:3] == ["contact.created", "contact.queued", "contact.callback_scheduled"]

    # New calls are served once the media plane is back.
    await asyncio.to_thread(rtpengine.restart)
    await asyncio.sleep(2.5)  # the worker's next health pings reach the new rtpengine
    again = line.phone("0311112222", CUSTOMER_HZ)
    line.dial(again)
    await press_after(again, "2", 1.5)
    *_, third = await line.contacts_of_calls(3)
    await floor.wait_state(third.id, "queued", "offered", "connected")


async def test_contacts_of_calls_lost_with_a_voice_worker_are_released_when_it_starts_again(
    line: Line,
) -> None:
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "queued")

    # The call center dies (its calls with it); a new one starts on the same numbers.
    task = line.center_task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # A dead process's database connections die with it. A cancelled task's exception
    # keeps its frames alive, an interrupted SQLite write's connection among them (likely
    # why, once in a full run, the new center's writes waited on the write lock until
    # the test timed out): let them go, as the process's death would.
    line.center_task = None
    del task
    gc.collect()
    (offered,) = [e for e in line.events if isinstance(e, CallOffered)]
    await line.engine.hangup(offered.leg_id)
    line.center = CallCenter(
        line.engine, line.center.contacts, line.center.plan, poll_s=0.2, recordings=line.vault
    )
    line.center_task = asyncio.create_task(line.center.run())

    async def kept_as_callback() -> bool:
        return (await floor.contact(contact.id)).channel == "callback"

    await floor.until(kept_as_callback, what="the lost call kept as a callback")


async def test_the_recording_is_sealed_silent_while_paused_and_every_playback_audited(
    line: Line, world: World, rtpengine: MediaPlane
) -> None:
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    aiko = await add_agent(line, "aiko", aiko_phone, ready=True)
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "connected", timeout=15)
    await asyncio.sleep(2)
    # From the desk (the web process): a request through the outbox that the worker takes.
    me = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    await do_request_recording_pause(floor.db, principal=me, contact_id=contact.id, paused=True)
    await asyncio.sleep(3)  # the card number is read out
    await do_request_recording_pause(floor.db, principal=me, contact_id=contact.id, paused=False)
    await asyncio.sleep(2)
    caller.command("hangup")
    await floor.wait_state(contact.id, "wrap_up")

    async def stored() -> bool:
        return bool(line.vault.recordings_of(floor.tenant_id, contact.id))

    await floor.until(stored, timeout=15, what="the sealed recording")
    (recording_id,) = line.vault.recordings_of(floor.tenant_id, contact.id)
    sealed = next((line.workdir / "vault").rglob("*.sealed")).read_bytes()
    assert not sealed.startswith(b"RIFF")

    # No unencrypted audio stays on disk: the vault deletes the plain WAV once the sealed
    # file is written (in that order, so a crash between them loses nothing) — a moment
    # after the sealed file appears (seen in a full run: still there when first looked at).
    def plain_left() -> list[Path]:
        found = rtpengine.settings.recording_dir.rglob("*")
        return [p for p in found if p.suffix in (".pcap", ".wav")]

    async def plain_gone() -> bool:
        return not plain_left()

    await floor.until(plain_gone, timeout=5, what="the plain audio deleted")

    wav = await line.vault.play(me, contact.id, recording_id)
    (line.workdir / "played.wav").write_bytes(wav)
    played = line.workdir / "played.wav"
    shares = tone_shares(played, TONES)
    assert shares[CUSTOMER_HZ] > 0.15 and shares[AGENT_HZ] > 0.1, shares
    loud = [level >= 100 for level in window_levels(played)]  # 0.5 s windows
    inside = loud[loud.index(True) : len(loud) - loud[::-1].index(True)]
    silent_run = max((len(list(g)) for quiet, g in groupby(inside) if not quiet), default=0)
    assert silent_run >= 4, loud  # ≥ 2 s of the 3 s pause: nothing captured

    other = Principal(
        user_id=world.account("b", "communicator").user_id,
        tenant_id=world.tenants["b"],
        roles=frozenset({Role.COMMUNICATOR}),
    )
    with pytest.raises(NotFoundError):
        await line.vault.play(other, contact.id, recording_id)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        audited = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.actor_user_id, AuditEntry.resource_id)
                .where(AuditEntry.resource_type == "recording")
                .order_by(AuditEntry.occurred_at)
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        ("recording.paused", aiko, recording_id),
        ("recording.resumed", aiko, recording_id),
        ("recording.read", aiko, recording_id),
    ]


async def test_an_offered_callback_rings_the_agent_then_dials_the_customer(line: Line) -> None:
    floor = line.floor
    customer = line.phone(CALLER, CUSTOMER_HZ)  # reached through the "trunk"
    aiko_phone = line.phone("aiko", AGENT_HZ)
    aiko = await add_agent(line, "aiko", aiko_phone, ready=False)
    line.center.plan = msgspec.structs.replace(
        line.center.plan,
        trunk=f"sip:{{number}}@127.0.0.1:{customer.sip_port}",
        outbound_caller_id=NUMBER,
    )
    created = await do_create_contact(
        floor.db,
        tenant_id=floor.tenant_id,
        new=NewContact(channel="callback", queue_id=floor.queues["billing"], source="web"),
        actor="test",
    )
    await do_identify_party(
        floor.db,
        line.keyring,
        tenant_id=floor.tenant_id,
        contact_id=created.contact_id,
        kind="phone",
        address=CALLER,
    )
    await floor.presence("aiko", Presence.READY)
    connected = await floor.wait_state(created.contact_id, "connected", timeout=15)
    assert connected.agent_id == aiko  # accepted by answering the phone
    await asyncio.to_thread(customer.wait_event, "CALL_ESTABLISHED", 15)
    await asyncio.sleep(2.5)
    customer.command("hangup")
    await floor.wait_state(created.contact_id, "wrap_up")
    await line.hung_up(2)
    types = [e["type"] for e in await events_of(floor, created.contact_id)]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.ended",
    ], types
    assert set(heard_in_order(customer)) == {AGENT_HZ}
    assert set(heard_in_order(aiko_phone)) == {CUSTOMER_HZ}


async def test_a_waiting_caller_presses_9_for_a_callback_and_is_called_back_in_turn(
    line: Line,
) -> None:
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    await add_agent(line, "aiko", aiko_phone, ready=False)
    line.center.plan = msgspec.structs.replace(
        line.center.plan,
        callback_digit="9",
        callback_prompt="goodbye",
        trunk=f"sip:{{number}}@127.0.0.1:{caller.sip_port}",
    )
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call()
    await floor.wait_state(contact.id, "queued")
    await asyncio.sleep(1)
    caller.command("sndcode", "9")
    await asyncio.to_thread(caller.wait_event, "CALL_CLOSED", 15)  # told, then hung up
    kept = await floor.contact(contact.id)
    assert kept.channel == "callback" and kept.ranked_at == contact.ranked_at

    await floor.presence("aiko", Presence.READY)  # the place comes up: Aiko calls back
    await floor.wait_state(contact.id, "connected", timeout=15)
    await asyncio.sleep(2.5)
    aiko_phone.command("hangup")
    await floor.wait_state(contact.id, "wrap_up")
    await asyncio.to_thread(closed_calls, caller, 2)
    events = await events_of(floor, contact.id)
    types = [e["type"] for e in events]
    assert types[:4] == [
        "contact.created",
        "contact.queued",
        "contact.callback_scheduled",
        "contact.queued",
    ], events
    assert types[-3:] == ["contact.offered", "contact.connected", "contact.ended"], events
    # A busy machine may let an offer's lease lapse: re-offers in between are fine.
    assert set(types[4:-3]) <= {"contact.offered", "contact.offer_declined", "contact.queued"}
    first, second = caller.dumps("dec")[0], caller.dumps("dec")[-1]
    assert first != second
    assert [f for f, _ in groupby(tone_timeline(first, TONES)) if f][-2:] == [MUSIC_HZ, BYE_HZ]
    assert set(tone_timeline(second, TONES)) - {None} == {AGENT_HZ}


POS1_HZ, POS2_HZ = 1600.0, 1800.0


async def test_waiting_callers_hear_their_place_in_line_between_the_music(
    line: Line, media_dir: Path
) -> None:
    write_tone(media_dir / "position-1.wav", POS1_HZ, 1.0)
    write_tone(media_dir / "position-2.wav", POS2_HZ, 1.0)
    line.center.plan = msgspec.structs.replace(line.center.plan, announce_every_s=3.0)
    first = line.phone(CALLER, CUSTOMER_HZ)
    second = line.phone("0311112222", CUSTOMER_HZ)
    line.dial(first)
    await press_after(first, "2", 1.5)
    (contact,) = await line.contacts_of_calls(1, timeout_s=30)
    await line.floor.wait_state(contact.id, "queued", timeout=20)
    line.dial(second)
    await press_after(second, "2", 1.5)
    contacts = await line.contacts_of_calls(2, timeout_s=30)
    await line.floor.wait_state(contacts[1].id, "queued", timeout=20)
    await asyncio.sleep(8)  # at least two announcements each, with music between
    for phone in (first, second):
        phone.command("hangup")
    for queued in contacts:
        await line.floor.wait_state(queued.id, "abandoned", timeout=20)
    tones = [*TONES, POS1_HZ, POS2_HZ]
    heard: dict[str, list[float]] = {}
    for name, phone in (("first", first), ("second", second)):
        closed_calls(phone, 1)
        heard[name] = [f for f, _ in groupby(tone_timeline(phone.dumps("dec")[0], tones)) if f]
    # The first in line is told "number 1", the second "number 2"; music goes on after.
    assert heard["first"][0] == PROMPT_HZ, heard  # (the menu may be cut short by the digit)
    assert POS1_HZ in heard["first"] and POS2_HZ not in heard["first"], heard
    assert POS2_HZ in heard["second"] and POS1_HZ not in heard["second"], heard
    for name, told in (("first", POS1_HZ), ("second", POS2_HZ)):
        around = [f for f in heard[name] if f in (MUSIC_HZ, told)]
        # music, "your place", music, "your place" …: two announcements at least, and the
        # music back after the first (the hang-up may cut the last one short)
        assert around[:4] == [MUSIC_HZ, told, MUSIC_HZ, told], heard
    assert line.center.stats.announcements >= 4


async def test_a_placed_call_rings_the_communicator_then_dials_with_the_queues_caller_id(
    line: Line,
) -> None:
    floor = line.floor
    customer = line.phone(CALLER, CUSTOMER_HZ)  # reached through the "trunk"
    aiko_phone = line.phone("aiko", AGENT_HZ)
    aiko = await add_agent(line, "aiko", aiko_phone, ready=True)
    line.center.plan = msgspec.structs.replace(
        line.center.plan,
        trunk=f"sip:{{number}}@127.0.0.1:{customer.sip_port}",
        outbound_caller_id=NUMBER,
        queue_caller_ids={"billing": "0120999888"},
    )
    me = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    placed = await do_place_call(
        floor.db, line.keyring, principal=me, queue_id=floor.queues["billing"], number=CALLER
    )
    connected = await floor.wait_state(placed.contact_id, "connected", timeout=15)
    assert connected.agent_id == aiko and connected.channel == "callback"
    answered = await asyncio.to_thread(customer.wait_event, "CALL_ESTABLISHED", 15)
    assert answered["peeruri"].startswith("sip:0120999888@"), answered  # the queue's number
    await asyncio.sleep(2.5)
    aiko_phone.command("hangup")
    await floor.wait_state(placed.contact_id, "wrap_up")
    await line.hung_up(2)
    assert set(heard_in_order(customer)) == {AGENT_HZ}
    assert set(heard_in_order(aiko_phone)) == {CUSTOMER_HZ}
    # Only the communicator who placed it could be offered the call.
    offered = [
        e for e in await events_of(floor, placed.contact_id) if e["type"] == "contact.offered"
    ]
    assert {e["agent_id"] for e in offered} == {str(aiko)}


async def test_placing_a_call_checks_the_number_and_who_talks(line: Line) -> None:
    floor = line.floor
    aiko = await add_agent(line, "aiko", line.phone("aiko", AGENT_HZ), ready=False)
    other = await floor.add_agent("ben", {"billing": 5}, ready=False)
    me = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    queue = floor.queues["billing"]
    with pytest.raises(InvalidInputError, match="number: 'call me' is not a phone number"):
        await do_place_call(floor.db, line.keyring, principal=me, queue_id=queue, number="call me")
    with pytest.raises(PermissionDeniedError):
        await do_place_call(
            floor.db, line.keyring, principal=me, queue_id=queue, number=CALLER, agent_id=other
        )
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        made = (
            await session.scalars(
                select(RoutingContact).where(RoutingContact.source == "click_to_call")
            )
        ).all()
    assert made == []  # nothing was created by the refused requests


SUPERVISOR_HZ = 1900.0


@pytest.mark.parametrize("mode", ["whisper", "barge"])
async def test_a_supervisor_joins_a_live_call_from_the_web(
    mixing_line: Line, world: World, mode: str
) -> None:
    line = mixing_line
    floor = line.floor
    caller = line.phone(CALLER, CUSTOMER_HZ)
    aiko_phone = line.phone("aiko", AGENT_HZ)
    await add_agent(line, "aiko", aiko_phone, ready=True)
    boss_phone = line.phone("boss", SUPERVISOR_HZ)
    boss = await floor.add_agent("boss", {}, ready=False)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        boss_name = await session.scalar(select(User.username).where(User.id == boss))
    assert boss_name is not None
    line.center.plan = _with_agents(
        line.center.plan, {**line.center.plan.agents, boss_name: boss_phone.uri}
    )
    line.dial(caller)
    await press_after(caller, "2", 1.5)
    contact = await line.contact_of_call(timeout_s=30)
    await floor.wait_state(contact.id, "connected", timeout=20)
    await asyncio.sleep(1.5)
    supervisor = Principal(
        user_id=boss, tenant_id=floor.tenant_id, roles=frozenset({Role.SUPERVISOR})
    )
    await do_request_monitor(floor.db, principal=supervisor, contact_id=contact.id, mode=mode)
    await asyncio.to_thread(boss_phone.wait_event, "CALL_ESTABLISHED", 15)
    await asyncio.sleep(4)
    boss_phone.command("hangup")  # the supervisor leaves; the call goes on
    await asyncio.sleep(2)
    caller.command("hangup")
    await floor.wait_state(contact.id, "wrap_up")
    for phone in (caller, aiko_phone, boss_phone):
        await asyncio.to_thread(closed_calls, phone, 1, 15)
    tones = [*TONES, SUPERVISOR_HZ]
    customer_heard = tone_shares(caller.dumps("dec")[0], tones)
    agent_heard = tone_shares(aiko_phone.dumps("dec")[0], tones)
    boss_heard = tone_shares(boss_phone.dumps("dec")[0], tones)
    assert boss_heard[CUSTOMER_HZ] > 0.1 and boss_heard[AGENT_HZ] > 0.1, boss_heard
    assert agent_heard[SUPERVISOR_HZ] > 0.05, agent_heard  # the agent hears the supervisor
    if mode == "whisper":
        assert customer_heard[SUPERVISOR_HZ] < 0.02, customer_heard  # …the customer does not
    else:
        assert customer_heard[SUPERVISOR_HZ] > 0.05, customer_heard
    assert line.center.stats.monitors == 1
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        audited = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.resource_type == "contact")
            )
        ).all()
    assert f"call.{mode}" in audited


async def test_only_supervisors_join_calls_and_only_calls_in_conversation(line: Line) -> None:
    floor = line.floor
    aiko = await add_agent(line, "aiko", line.phone("aiko", AGENT_HZ), ready=False)
    created = await do_create_contact(
        floor.db,
        tenant_id=floor.tenant_id,
        new=NewContact(channel="voice", queue_id=floor.queues["billing"]),
        actor="test",
    )
    agent = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    boss = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.SUPERVISOR}))
    with pytest.raises(PermissionDeniedError):
        await do_request_monitor(
            floor.db, principal=agent, contact_id=created.contact_id, mode="listen"
        )
    with pytest.raises(ConflictError, match="in conversation"):
        await do_request_monitor(
            floor.db, principal=boss, contact_id=created.contact_id, mode="listen"
        )
    with pytest.raises(InvalidInputError, match="mode must be one of listen, whisper, barge"):
        await do_request_monitor(
            floor.db, principal=boss, contact_id=created.contact_id, mode="spy"
        )
