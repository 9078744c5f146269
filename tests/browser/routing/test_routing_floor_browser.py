"""The floor in a real browser: the wallboard sees a new waiting contact within a second; a
communicator gets the offer on the desk, accepts, wraps up, and the wallboard's figures move."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from testkit import PASSWORD, Browserless, LiveServer, World, run
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Category, OutboxEvent, Queue
from tsunagi.adapters.storage.routing_models import RoutingContact

pytestmark = pytest.mark.browser


def seed(database_url: str, tenant_id: uuid.UUID) -> str:
    async def write() -> str:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code="delivery",
                    name_ja="宅配",
                    name_en="Home delivery",
                    channel="voice",
                    sl_threshold_s=20,
                    config={},
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
                session.add(
                    Category(
                        code="delivery-missing",
                        name_ja="配送が来ない",
                        name_en="Delivery missing",
                        sort_order=1,
                    )
                )
            return str(queue.id)
        finally:
            await db.dispose()

    return run(write)


def open_signed_in(browser: Browser, server: LiveServer, username: str, path: str) -> Page:
    page = browser.new_context(locale="en-US").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/login")
    form = page.get_by_test_id("login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/home/**")
    page.goto(f"{server.url}{path}")
    return page


def test_wallboard_and_desk_follow_a_contact(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = seed(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    assert (
        admin.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"delivery": 6}},
        ).status_code
        == 200
    )

    wallboard = open_signed_in(
        browser, server, world.account("a", "supervisor").username, "/routing/wallboard"
    )
    desk = open_signed_in(browser, server, communicator.username, "/routing/desk")
    expect(wallboard.locator("[data-live-status]")).to_have_text("Live")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    waiting = wallboard.get_by_test_id("queue-delivery-waiting")
    expect(waiting).to_have_text("0")

    # A contact arrives while nobody is ready: within a second of its creation (the API's
    # answer: the transaction has committed) the wallboard shows it.
    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert created.status_code == 201, created.text
    started = time.monotonic()
    expect(waiting).to_have_text("1", timeout=1_000)
    assert time.monotonic() - started < 1.0

    # The communicator becomes ready and gets the offer on the desk.
    desk.get_by_test_id("go-ready").click()
    accept = desk.get_by_test_id("my-contacts").get_by_test_id("accept")
    expect(accept).to_be_visible()
    # The tab says so, for a desk in the background (a ring plays too, and a notification
    # when allowed).
    expect(desk).to_have_title("(1) Offer · My desk · Tsunagi")
    expect(desk.locator("body")).to_have_attribute("data-rings", "1")  # after the ready click
    expect(waiting).to_have_text("0")
    expect(wallboard.get_by_test_id("agents-on_contact")).to_have_text("1")
    accept.click()
    expect(desk).to_have_title("My desk · Tsunagi")
    mine = desk.get_by_test_id("my-contacts").locator("li")
    expect(mine.locator("strong")).to_have_text("Connected · Call")
    expect(mine.locator(".queue-name")).to_have_text("Home delivery")  # the queue it came from
    # Payment details are read out: the recording pauses (the voice worker acts on it).
    pause = mine.get_by_test_id("recording-pause")
    expect(pause).to_have_text("Pause recording")
    pause.click()
    expect(pause).to_have_text("Resume recording")
    expect(pause).to_have_attribute("aria-pressed", "true")
    desk.get_by_test_id("my-contacts").get_by_test_id("end").click()
    wrap = desk.get_by_test_id("my-contacts")
    wrap.get_by_test_id("wrap-category").select_option("delivery-missing")
    wrap.get_by_test_id("wrap-resolved").check()
    wrap.get_by_test_id("close").click()
    expect(wrap.locator("li")).to_have_count(0)
    expect(wallboard.get_by_test_id("queue-delivery-answered")).to_have_text("1")
    expect(wallboard.get_by_test_id("queue-delivery-sl-today")).to_have_text("100%")
    expect(wallboard.get_by_test_id("agents-available")).to_have_text("1")
    expect(desk.get_by_test_id("my-state")).to_have_text("Available")
    # Not-ready reasons are shown in words, in the select and in the state.
    desk.get_by_test_id("reason").select_option("back_office")
    desk.get_by_test_id("go-not-ready").click()
    expect(desk.get_by_test_id("my-state")).to_have_text("Not ready (Back office)")
    admin.close()


def test_a_chat_in_conversation_is_in_progress_not_on_a_call(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = seed(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    profile = admin.request(
        "PATCH",
        f"/api/v1/agents/{communicator.user_id}/profile",
        json={"skills": {"delivery": 6}, "capacity": {"chat": 2}},
    )
    assert profile.status_code == 200, profile.text
    desk = open_signed_in(browser, server, communicator.username, "/routing/desk")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    desk.get_by_test_id("go-ready").click()
    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "chat", "queue_id": queue_id}
    )
    assert created.status_code == 201, created.text
    desk.get_by_test_id("my-contacts").get_by_test_id("accept").click()
    mine = desk.get_by_test_id("my-contacts").locator("li")
    expect(mine.locator("strong")).to_have_text("In progress · Chat")
    expect(mine.get_by_test_id("recording-pause")).to_have_count(0)  # no recording in a chat
    admin.close()


def test_a_supervisor_asks_to_join_a_call_from_the_floor(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    """The floor offers listen/whisper/barge for an agent on a call; the request reaches the
    outbox for the voice worker (which rings the supervisor's phone: tests/voice)."""
    queue_id = seed(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    profile = admin.request(
        "PATCH", f"/api/v1/agents/{communicator.user_id}/profile", json={"skills": {"delivery": 6}}
    )
    assert profile.status_code == 200, profile.text
    agent = Browserless(server.url)
    agent.sign_in(communicator.username)
    ready = agent.request(
        "PATCH", f"/api/v1/agents/{communicator.user_id}/presence", json={"presence": "ready"}
    )
    assert ready.status_code == 200, ready.text
    floor = open_signed_in(
        browser, server, world.account("a", "supervisor").username, "/routing/floor"
    )
    expect(floor.locator("[data-live-status]")).to_have_text("Live")
    row = floor.get_by_test_id("agent-table").locator(f"tr[data-agent-id='{communicator.user_id}']")
    expect(row.get_by_test_id("monitor-listen")).to_have_count(0)  # not on a call yet
    contact = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    for _ in range(100):
        if agent.request("POST", f"/api/v1/contacts/{contact}/accept").status_code == 200:
            break
        time.sleep(0.1)
    row.get_by_test_id("monitor-whisper").click()

    async def requested() -> list[str]:
        db = Database(database_url)
        try:
            async with db.scoped(world.tenants["a"], readonly=True) as session:
                rows = await session.scalars(
                    select(OutboxEvent.payload).where(OutboxEvent.type == "call.monitor_requested")
                )
                return list(rows)
        finally:
            await db.dispose()

    deadline = time.monotonic() + 5
    while not (found := run(requested)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(found) == 1 and '"mode":"whisper"' in found[0], found
    # Closed calls take the buttons away again.
    agent.request("POST", f"/api/v1/contacts/{contact}/end")
    expect(row.get_by_test_id("monitor-whisper")).to_have_count(0)
    agent.close()
    admin.close()


def test_a_consultative_transfer_between_two_desks(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = seed(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    boss = world.account("a", "supervisor")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    for who, skills in ((communicator, {"delivery": 6}), (boss, {"escalation": 6})):
        profile = admin.request(
            "PATCH", f"/api/v1/agents/{who.user_id}/profile", json={"skills": skills}
        )
        assert profile.status_code == 200, profile.text
    desk = open_signed_in(browser, server, communicator.username, "/routing/desk")
    boss_desk = open_signed_in(browser, server, boss.username, "/routing/desk")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    expect(boss_desk.locator("[data-live-status]")).to_have_text("Live")
    desk.get_by_test_id("go-ready").click()
    created = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    )
    assert created.status_code == 201, created.text
    contact = created.json()["id"]
    mine = desk.get_by_test_id("my-contacts")
    mine.get_by_test_id("accept").click()
    expect(mine.locator("li strong")).to_have_text("Connected · Call")

    # The communicator asks the supervisors; the customer is put on hold meanwhile.
    mine.get_by_test_id("consult-target").select_option("escalate")
    mine.get_by_test_id("consult").click()
    expect(mine.locator("li strong")).to_have_text("On hold · Call")
    complete = mine.get_by_test_id("consult-complete")
    expect(complete).to_be_visible()
    complete.click()  # nobody has answered yet: refused, and the controls stay
    # What went wrong in the page's words first, then the server's (a 409 here).
    expect(desk.get_by_test_id("desk-error")).to_contain_text("It changed meanwhile")
    expect(desk.get_by_test_id("desk-error")).to_contain_text("not answered")
    expect(mine.get_by_test_id("consult-cancel")).to_be_visible()
    desk.reload()  # the running consultation comes back with the desk's snapshot
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    expect(mine.get_by_test_id("consult-complete")).to_be_visible()

    # The supervisor takes the consultation on their desk, marked as one.
    boss_desk.get_by_test_id("go-ready").click()
    theirs = boss_desk.get_by_test_id("my-contacts")
    expect(theirs.locator("li strong")).to_have_text("Offered · Call · Consultation")
    theirs.get_by_test_id("accept").click()
    expect(theirs.locator("li strong")).to_have_text("Connected · Call · Consultation")

    # Hand-over: the customer's contact leaves the communicator's desk and is the
    # supervisor's; the consultation is gone from theirs.
    mine.get_by_test_id("consult-complete").click()
    expect(mine.locator("li")).to_have_count(0)
    expect(theirs.locator("li")).to_have_count(1)
    expect(theirs.locator(f"li[data-contact-id='{contact}'] strong")).to_have_text(
        "Connected · Call"
    )
    admin.close()


def test_a_blind_transfer_to_a_named_colleague_from_the_desk(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    queue_id = seed(database_url, world.tenants["a"])
    communicator = world.account("a", "communicator")
    colleague = world.account("a", "supervisor")
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    assert (
        admin.request(
            "PATCH",
            f"/api/v1/agents/{communicator.user_id}/profile",
            json={"skills": {"delivery": 6}},
        ).status_code
        == 200
    )
    desk = open_signed_in(browser, server, communicator.username, "/routing/desk")
    expect(desk.locator("[data-live-status]")).to_have_text("Live")
    desk.get_by_test_id("go-ready").click()
    contact = admin.request(
        "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
    ).json()["id"]
    mine = desk.get_by_test_id("my-contacts")
    mine.get_by_test_id("accept").click()
    expect(mine.locator("li strong")).to_have_text("Connected · Call")
    mine.get_by_test_id("consult-target").select_option(f"agent:{colleague.user_id}")
    mine.get_by_test_id("transfer").click()
    expect(mine.locator("li")).to_have_count(0)
    moved = admin.request("GET", f"/api/v1/contacts/{contact}").json()
    # It waits for the named colleague (not ready yet), keeping its history.
    assert (moved["state"], moved["agent_id"]) == ("queued", None)
    assert waiting_for(database_url, world.tenants["a"], contact) == [str(colleague.user_id)]
    admin.close()


def waiting_for(database_url: str, tenant_id: uuid.UUID, contact_id: str) -> list[str]:
    """The agents a waiting contact is named to."""

    async def read() -> list[str]:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                found = await session.scalar(
                    select(RoutingContact.target_agent_ids).where(
                        RoutingContact.id == uuid.UUID(contact_id)
                    )
                )
            return list(found or [])
        finally:
            await db.dispose()

    return run(read)


def test_the_wallboard_fits_the_screen_it_is_shown_on(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    """A wall monitor is not scrolled: on a screen too small for the board it is zoomed out
    until all of it shows, and back to full size on a screen it fits; words are not broken
    inside the queue cards."""
    seed(database_url, world.tenants["a"])
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    for role in ("communicator", "supervisor"):
        ready = admin.request(
            "PATCH",
            f"/api/v1/agents/{world.account('a', role).user_id}/presence",
            json={"presence": "ready"},
        )
        assert ready.status_code == 200, ready.text
    admin.close()
    board = open_signed_in(
        browser, server, world.account("a", "supervisor").username, "/routing/wallboard"
    )
    expect(board.locator("[data-live-status]")).to_have_text("Live")
    expect(board.get_by_test_id("agents-available")).to_have_text("2")

    def shown() -> tuple[float, bool]:
        zoom, fits = board.evaluate(
            "() => [Number(getComputedStyle(document.querySelector('main')).zoom),"
            " document.documentElement.scrollHeight <= innerHeight]"
        )
        return float(zoom), bool(fits)

    board.set_viewport_size({"width": 640, "height": 300})
    board.wait_for_function(
        "() => document.documentElement.scrollHeight <= innerHeight", timeout=5_000
    )
    zoom, fits = shown()
    assert fits and zoom < 1
    expect(board.get_by_test_id("queue-delivery-waiting")).to_be_in_viewport()
    expect(board.locator("[data-agent-list] li")).to_have_count(2)
    for tile in board.locator("[data-agent-list] li").all():
        expect(tile).to_be_in_viewport()
    board.set_viewport_size({"width": 1920, "height": 1080})
    board.wait_for_function("() => getComputedStyle(document.querySelector('main')).zoom === '1'")
    assert shown() == (1.0, True)
    # The target is said as people say it, and labels keep to one line.
    expect(board.get_by_test_id("queue-delivery")).to_contain_text("Target 80% / 20s")
    label_heights = board.locator("[data-queue-id] dt").evaluate_all(
        "labels => labels.map(dt => dt.getBoundingClientRect().height)"
    )
    assert max(label_heights) < 2 * min(label_heights)


def test_the_wallboard_counts_abandons_as_the_figures_do(
    browser: Browser, server: LiveServer, world: World, database_url: str
) -> None:
    """A caller who hangs up before the queue's short-abandon limit is not counted (as in
    the figures, docs/figures.md); one who waited longer is an abandon and counts against
    the service level — live and after a reload (the snapshot)."""
    tenant = world.tenants["a"]
    queue_id = seed(database_url, tenant)

    async def short_limit() -> None:
        db = Database(database_url)
        try:
            async with db.scoped(tenant) as session, session.begin():
                queue = await session.get(Queue, uuid.UUID(queue_id))
                assert queue is not None
                queue.config = {**queue.config, "figures": {"short_abandon_s": 1}}
        finally:
            await db.dispose()

    run(short_limit)
    admin = Browserless(server.url)
    admin.sign_in(world.account("a", "administrator").username)
    board = open_signed_in(
        browser, server, world.account("a", "supervisor").username, "/routing/wallboard"
    )
    expect(board.locator("[data-live-status]")).to_have_text("Live")

    def abandon_after(seconds: float) -> None:
        created = admin.request(
            "POST", "/api/v1/contacts", json={"channel": "voice", "queue_id": queue_id}
        )
        assert created.status_code == 201, created.text
        time.sleep(seconds)
        gone = admin.request("POST", f"/api/v1/contacts/{created.json()['id']}/abandon")
        assert gone.status_code == 200, gone.text

    abandon_after(0)  # short: not counted
    abandon_after(1.3)
    for _ in ("live", "from the snapshot after a reload"):
        expect(board.get_by_test_id("queue-delivery-waiting")).to_have_text("0")
        expect(board.get_by_test_id("queue-delivery-abandoned")).to_have_text("1")
        expect(board.get_by_test_id("queue-delivery-sl-today")).to_have_text("0%")
        board.reload()
        expect(board.locator("[data-live-status]")).to_have_text("Live")
    admin.close()
