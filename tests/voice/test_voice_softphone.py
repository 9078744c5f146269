"""The desk's browser softphone on a real call, on both database profiles.

A baresip caller reaches the IVR, presses 2, waits in the queue with music, and is offered
to a communicator whose phone is the desk softphone (JsSIP in headless Chromium, registered
over kamailio's WebSocket with the credential the web app issued, WebRTC media to
rtpengine). The communicator accepts on the desk (which answers the softphone), they talk,
the desk holds (music) and resumes, the softphone mutes and unmutes, the desk's Escalate
button transfers the caller blind to a supervisor (a baresip phone registered at the same
edge), and the caller hangs up.

Every party plays its own tone: what the caller heard (baresip's dump), what the browser
heard (an AnalyserNode on the softphone's remote stream, sampled in the page) and what the
recording holds are checked by frequency analysis; so are the contact's events and times.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from test_voice_contacts import CALLER, CUSTOMER_HZ, HOLD_HZ, Line, open_line, press_after
from voice_peers import (
    Baresip,
    require_tool,
    sip_register,
    tone_shares,
    tone_timeline,
    write_tone,
)

from conftest import MENU_HZ, MUSIC_HZ, PROMPT_HZ, MediaPlane
from integration.routing.routing_floor import events_of
from testkit import CHROMIUM, PASSWORD, LiveServer, World, live_server, require
from tsunagi.actions.routing.agents import do_set_agent_profile
from tsunagi.adapters.storage.models import User
from tsunagi.adapters.telephony.edge_auth import EDGE_PURPOSE, edge_secret, issue, phone_password
from tsunagi.adapters.telephony.processes import (
    KamailioSettings,
    ManagedProcess,
    free_port,
    start_kamailio,
)
from tsunagi.domain.permissions import Principal, Role
from tsunagi.routing.agents import AgentProfile, Presence
from tsunagi.web.app import VENDOR_DIR

pytestmark = [pytest.mark.voice, pytest.mark.browser, pytest.mark.slow]

BROWSER_ARGS = [  # as tests/browser/conftest.py, plus the media flags below
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
BROWSER_HZ, SUPERVISOR_HZ = 1000.0, 1400.0
HEARD_BY_CALLER = [PROMPT_HZ, MENU_HZ, MUSIC_HZ, HOLD_HZ, CUSTOMER_HZ, BROWSER_HZ, SUPERVISOR_HZ]

# Runs in the desk page once the softphone is in a call: the dominant frequency of what the
# softphone plays (its remote WebRTC stream), every 100 ms, with its level in dBFS.
LISTEN_JS = """() => {
  const audio = document.querySelector("[data-softphone-audio]");
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  context.createMediaStreamSource(audio.srcObject).connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  window.heard = [];
  const started = performance.now();
  window.listening = setInterval(() => {
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    window.heard.push([(performance.now() - started) / 1000,
      best * context.sampleRate / analyser.fftSize, Math.max(bins[best], -200)]);
  }, 100);
  return context.state;
}"""


@pytest.fixture
def chromium_available() -> None:
    require(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    require((VENDOR_DIR / "jssip.js").is_file(), "JsSIP from npm (run scripts/setup.sh)")


class Edge:
    """kamailio with SIP over WebSocket, in front of the line's voice worker."""

    def __init__(self, line: Line, workdir: Path) -> None:
        require_tool("kamailio", "kamailio")
        self.settings = KamailioSettings(
            workdir=workdir,
            worker_host="127.0.0.1",
            worker_port=line.engine._config.sip_port,
            port=free_port(),
            ws_port=free_port(socket.SOCK_STREAM),
            secret=edge_secret(line.keyring.installation_key(EDGE_PURPOSE)),
        )
        self.proc: ManagedProcess = start_kamailio(self.settings)

    @property
    def sip(self) -> str:
        return f"127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.ws_port}"


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
def edge(line: Line, tmp_path: Path) -> Iterator[Edge]:
    running = Edge(line, tmp_path / "kamailio")
    yield running
    running.proc.stop()


@pytest.fixture
def desk_server(
    database_url: str, profile: str, settings_for: Any, edge: Edge
) -> Iterator[LiveServer]:
    """The web app on the same database and master key as the line (tmp_path/keys)."""
    settings = settings_for(database_url, profile, voice_softphone_ws_url=edge.ws_url)
    with live_server(settings) as running:
        yield running


async def _communicator(line: Line, world: World) -> tuple[uuid.UUID, str]:
    """The world's communicator (who can sign in) as an agent of the billing queue."""
    account = world.account("a", "communicator")
    floor = line.floor
    floor.agents["desk"] = account.user_id
    await do_set_agent_profile(
        floor.db,
        tenant_id=floor.tenant_id,
        agent_id=account.user_id,
        profile=AgentProfile(skills={"billing": 5}, capacity={"voice": 1}),
        actor=None,
    )
    await floor.presence("desk", Presence.NOT_READY)
    return account.user_id, account.username


async def test_a_call_to_the_desk_softphone_is_answered_talked_escalated_and_recorded(
    line: Line,
    edge: Edge,
    desk_server: LiveServer,
    world: World,
    tmp_path: Path,
    chromium_available: None,
) -> None:
    from playwright.async_api import async_playwright, expect

    floor = line.floor
    # The web app is the routing floor here: its routing engine (the leader) offers and
    # tells the desk, its outbox relay publishes. The line's own are stopped (on PostgreSQL
    # their leadership is an advisory lock of a pooled connection: close the pool too).
    # The voice worker reads the contacts from the database as it does in production.
    await floor.engine.stop()
    await floor.relay.stop()
    await floor.db.engine.dispose()
    desk_id, desk_name = await _communicator(line, world)
    # The supervisor's phone: baresip registered by user name at the same edge (plain RTP).
    boss_id = await floor.add_agent("boss", {"escalation": 5}, ready=True)
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        boss_name = await session.scalar(select(User.username).where(User.id == boss_id))
    assert boss_name is not None
    boss_phone = Baresip(
        boss_name,
        tmp_path / "boss",
        write_tone(tmp_path / "boss.wav", SUPERVISOR_HZ, 60),
        registrar=edge.sip,
        password=phone_password(edge.settings.secret, boss_name),
    )
    boss_phone.start()
    line.phones.append(boss_phone)
    line.center.plan = msgspec.structs.replace(
        line.center.plan, agent_domain=edge.sip, softphone_agents=[desk_name]
    )
    caller = line.phone(CALLER, CUSTOMER_HZ)
    # Chromium's fake microphone plays this file in a loop.
    fake_mic = write_tone(tmp_path / "desk.wav", BROWSER_HZ, 30, rate=48000)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *BROWSER_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={fake_mic}",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ],
            env={**os.environ, "HOME": str(tmp_path)},
        )
        try:
            context = await browser.new_context(locale="en-US")
            await context.grant_permissions(["microphone"], origin=desk_server.url)
            desk = await context.new_page()
            desk.set_default_timeout(15_000)
            await desk.goto(f"{desk_server.url}/login")
            form = desk.get_by_test_id("login-form")
            await form.locator("input[name=username]").fill(desk_name)
            await form.locator("input[name=password]").fill(PASSWORD)
            await form.locator("button[type=submit]").click()
            await desk.wait_for_url(f"{desk_server.url}/home/**")
            await desk.goto(f"{desk_server.url}/routing/desk")

            # The softphone registers as the signed-in communicator.
            await expect(desk.get_by_test_id("softphone-state")).to_have_text("Registered")
            await expect(desk.locator("[data-live-status]")).to_have_text("Live")
            # The caller: IVR, digit 2, then the queue with music (nobody is ready yet).
            line.dial(caller)
            await press_after(caller, "2", 1.5)
            contact = await line.contact_of_call()
            await floor.wait_state(contact.id, "queued", timeout=15)
            await asyncio.sleep(2.5)

            # The communicator becomes ready (after the desk's snapshot: a click before it
            # could be missed by the stream) and the call is offered to the desk.
            await expect(desk.get_by_test_id("my-state")).to_have_text("Not ready (Break)")
            await desk.get_by_test_id("go-ready").click()
            mine = desk.get_by_test_id("my-contacts")
            await expect(mine.get_by_test_id("accept")).to_be_visible(timeout=20_000)
            await expect(desk.get_by_test_id("softphone-state")).to_have_text("Incoming call")
            await asyncio.sleep(1)  # the desk rings
            await mine.get_by_test_id("accept").click()  # also answers the softphone
            await expect(desk.get_by_test_id("softphone-state")).to_have_text("In call")
            connected = await floor.wait_state(contact.id, "connected", timeout=15)
            assert connected.agent_id == desk_id
            await expect(mine.locator("li strong")).to_have_text("Connected · Call")
            assert await desk.evaluate(LISTEN_JS) == "running"
            await asyncio.sleep(4)  # they talk
            # Hold from the desk: the caller hears the hold music, the softphone nothing.
            await mine.get_by_test_id("hold").click()
            await expect(mine.locator("li strong")).to_have_text("On hold · Call")
            await asyncio.sleep(3)
            await mine.get_by_test_id("resume").click()
            await expect(mine.locator("li strong")).to_have_text("Connected · Call")
            await asyncio.sleep(2)  # they talk again
            # Mute on the softphone: the caller hears nothing from the desk, then again.
            await desk.get_by_test_id("softphone-mute").click()
            await expect(desk.get_by_test_id("softphone-mute")).to_have_attribute(
                "aria-pressed", "true"
            )
            await asyncio.sleep(2.5)
            await desk.get_by_test_id("softphone-mute").click()
            await expect(desk.get_by_test_id("softphone-mute")).to_have_text("Mute")
            await asyncio.sleep(2)

            # The desk escalates: a blind transfer to the supervisors; the boss's phone
            # rings (auto answer) and takes the caller; the softphone is hung up.
            await mine.get_by_test_id("escalate").click()
            await expect(desk.get_by_test_id("softphone-state")).to_have_text("Registered")
            heard_by_desk: list[list[float]] = await desk.evaluate(
                "() => { clearInterval(window.listening); return window.heard; }"
            )

            async def with_the_boss() -> bool:
                now = await floor.contact(contact.id)
                return now.state == "connected" and now.agent_id == boss_id

            await floor.until(with_the_boss, timeout=20, what="the supervisor on the call")
            await asyncio.sleep(3)  # the caller talks to the supervisor
            caller.command("hangup")
            await floor.wait_state(contact.id, "wrap_up", timeout=15)
        finally:
            await browser.close()

    # The contact's story, in order, and its times.
    events = await events_of(floor, contact.id)
    types = [e["type"] for e in events]
    assert types == [
        "contact.created",
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.held",
        "contact.resumed",
        "contact.transferred",  # the escalation
        "contact.queued",
        "contact.offered",
        "contact.connected",
        "contact.ended",
    ], types
    ended = await floor.contact(contact.id)
    assert ended.agent_id == boss_id
    assert ended.queued_at is not None and ended.connected_at is not None
    assert ended.ended_at is not None
    assert ended.queued_at <= ended.connected_at <= ended.ended_at
    at = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert (at[2] - at[1]).total_seconds() >= 2.0  # waited in the queue before the offer
    assert 3.5 <= (at[4] - at[3]).total_seconds() <= 30  # talked with the desk
    assert 2.5 <= (at[5] - at[4]).total_seconds() <= 30  # held
    assert (at[10] - at[9]).total_seconds() >= 2.5  # then talked with the supervisor

    # What the caller heard: prompt, menu, music, the desk's tone, then the supervisor's.
    await asyncio.to_thread(caller.wait_event, "CALL_CLOSED")
    caller_dump = caller.dumps("dec")[0]
    order = [f for f, _ in groupby(tone_timeline(caller_dump, HEARD_BY_CALLER)) if f]
    assert order[:2] == [PROMPT_HZ, MENU_HZ], order
    assert BROWSER_HZ in order and SUPERVISOR_HZ in order, order
    assert MUSIC_HZ in order[: order.index(BROWSER_HZ)], order  # waited with music
    talk = order[order.index(BROWSER_HZ) :]
    # (muted: the desk's tone stops and comes back, two runs of it after the hold)
    assert talk in (
        [BROWSER_HZ, HOLD_HZ, BROWSER_HZ, BROWSER_HZ, SUPERVISOR_HZ],
        # the escalation may wait a moment (music) for the supervisor's phone
        [BROWSER_HZ, HOLD_HZ, BROWSER_HZ, BROWSER_HZ, MUSIC_HZ, SUPERVISOR_HZ],
    ), order
    timeline = tone_timeline(caller_dump, HEARD_BY_CALLER)
    after_hold = timeline[len(timeline) - timeline[::-1].index(HOLD_HZ) :]
    muted = [len(list(g)) for f, g in groupby(after_hold) if f is None]
    assert muted and max(muted) >= 3, after_hold  # ≥ 1.5 s of silence while muted
    assert CUSTOMER_HZ not in order, order  # never its own voice back

    # What the browser heard: the caller's tone (WebAudio in the page, 100 ms samples).
    loud = [round(hz) for _, hz, level in heard_by_desk if level > -70]
    near = Counter(min(HEARD_BY_CALLER, key=lambda f: abs(f - hz)) for hz in loud)
    assert len(loud) >= 20, heard_by_desk[:50]
    assert near[CUSTOMER_HZ] / len(loud) > 0.8, near
    # …and nothing while the caller was on hold: a quiet second and more between voices.
    quiet = [level <= -60 for _, _, level in heard_by_desk]
    first, last = quiet.index(False), len(quiet) - quiet[::-1].index(False)
    assert max(len(list(g)) for q, g in groupby(quiet[first:last]) if q) >= 10, heard_by_desk

    # The recording (the caller's leg): the caller, the desk and the supervisor.
    async def stored() -> bool:
        return bool(line.vault.recordings_of(floor.tenant_id, contact.id))

    await floor.until(stored, timeout=15, what="the sealed recording")
    (recording_id,) = line.vault.recordings_of(floor.tenant_id, contact.id)
    me = Principal(user_id=desk_id, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    played = tmp_path / "played.wav"
    played.write_bytes(await line.vault.play(me, contact.id, recording_id))
    shares = tone_shares(played, HEARD_BY_CALLER)
    assert shares[CUSTOMER_HZ] > 0.15, shares
    # A mix in which the caller talks throughout; Chromium's voice processing makes the
    # desk's steady tone quieter than the supervisor's. Prompts and music are not recorded.
    assert shares[BROWSER_HZ] > 0.01 and shares[SUPERVISOR_HZ] > 0.01, shares
    assert max(shares[PROMPT_HZ], shares[MENU_HZ], shares[MUSIC_HZ], shares[HOLD_HZ]) < 0.001, (
        shares
    )


def _register(user: str, cseq: int, authorization: str | None = None) -> str:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/WS test.invalid;branch=z9hG4bK{uuid.uuid4().hex}",
        "Max-Forwards: 70",
        f"To: <sip:{user}@127.0.0.1>",
        f"From: <sip:{user}@127.0.0.1>;tag=t{cseq}",
        "Call-ID: softphone-test",
        f"CSeq: {cseq} REGISTER",
        "Contact: <sip:x@test.invalid;transport=ws>",
        "Expires: 60",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


def _digest(digest_user: str, password: str, challenge: str) -> str:
    nonce = challenge.split('nonce="', 1)[1].split('"', 1)[0]
    ha1 = hashlib.md5(f"{digest_user}:tsunagi:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:127.0.0.1").hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{digest_user}", realm="tsunagi", nonce="{nonce}", '
        f'uri="sip:127.0.0.1", response="{response}"'
    )


def ws_register(ws_port: int, user: str, digest_user: str, password: str) -> str:
    """REGISTER ``user`` over the edge's WebSocket, answering its challenge; the status line."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{ws_port}", subprotocols=["sip"]) as ws:
        ws.send(_register(user, 1))
        challenge = str(ws.recv(timeout=5))
        assert challenge.startswith("SIP/2.0 401"), challenge
        ws.send(_register(user, 2, _digest(digest_user, password, challenge)))
        return str(ws.recv(timeout=5)).split("\r\n", 1)[0]


def test_the_edge_registers_a_softphone_only_with_a_fresh_credential_for_its_own_name(
    tmp_path: Path,
) -> None:
    """Over the WebSocket: no credential, a wrong password, someone else's name and an
    expired credential are refused; the issued one registers its own name."""
    from websockets.sync.client import connect

    require_tool("kamailio", "kamailio")
    secret = edge_secret(b"k" * 32)
    settings = KamailioSettings(
        workdir=tmp_path / "kamailio",
        worker_host="127.0.0.1",
        worker_port=free_port(),
        port=free_port(),
        ws_port=free_port(socket.SOCK_STREAM),
        secret=secret,
    )
    proc = start_kamailio(settings)
    try:
        with connect(f"ws://127.0.0.1:{settings.ws_port}", subprotocols=["sip"]) as ws:

            def attempt(user: str, digest_user: str, password: str) -> str:
                ws.send(_register(user, 1))
                challenge = str(ws.recv(timeout=5))
                assert challenge.startswith("SIP/2.0 401"), challenge
                ws.send(_register(user, 2, _digest(digest_user, password, challenge)))
                return str(ws.recv(timeout=5)).split("\r\n", 1)[0]

            now = time.time()
            mine = issue(secret, "aiko", now=now)
            assert attempt("aiko", mine.digest_user, "wrong") == "SIP/2.0 401 Unauthorized"
            assert attempt("ren", mine.digest_user, mine.password) == "SIP/2.0 403 Not Your Name"
            old = issue(secret, "aiko", now=now - 7200)
            assert attempt("aiko", old.digest_user, old.password) == "SIP/2.0 401 Unauthorized"
            forged = issue(edge_secret(b"x" * 32), "aiko", now=now)
            assert attempt("aiko", forged.digest_user, forged.password).startswith("SIP/2.0 401")
            assert attempt("aiko", mine.digest_user, mine.password) == "SIP/2.0 200 OK"
            # A desk phone's password is no good over the WebSocket.
            phone = phone_password(secret, "aiko")
            assert attempt("aiko", "aiko", phone) == "SIP/2.0 401 Unauthorized"
        # Plain SIP over TCP to the WebSocket's port is a desk phone: digest with its
        # phone password, never without.
        ws_port = settings.ws_port
        assert ws_port is not None
        assert sip_register(ws_port, "aiko", transport="tcp") == ["SIP/2.0 401 Unauthorized"]
        assert (
            sip_register(ws_port, "aiko", password="0" * 20, transport="tcp")
            == ["SIP/2.0 401 Unauthorized"] * 2
        )
        assert sip_register(ws_port, "aiko", password=phone, transport="tcp")[-1] == (
            "SIP/2.0 200 OK"
        )
    finally:
        proc.stop()
