"""The figures projector as a child process (decision 0012), on SQLite and PostgreSQL: it
folds what the floor's actions commit, is started again when killed, stops at SIGTERM,
and stops by itself once its parent is gone. Real processes, no stand-ins."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from integration.routing.routing_floor import Floor
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.adapters.storage.figures_models import FiguresContactInterval
from tsunagi.web.figures import describe, projector_process

WAIT_S = 30.0


async def handle_one(floor: Floor, agent: str) -> None:
    """A contact offered to ``agent``, accepted, ended and closed; its events published."""
    contact_id = await floor.create("billing")
    await floor.wait_state(contact_id, "offered")
    kw: dict[str, Any] = {
        "tenant_id": floor.tenant_id,
        "contact_id": contact_id,
        "agent_id": floor.agents[agent],
        "actor": "t",
    }
    await do_accept_offer(floor.db, **kw)
    await do_end_contact(floor.db, **kw)
    await do_close_contact(floor.db, **kw)
    while await floor.relay.run_once() > 0:  # numbered: the child folds numbered events
        pass


async def answered(floor: Floor) -> int:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        total = await session.scalar(select(func.sum(FiguresContactInterval.answered)))
    return int(total or 0)


async def wait_answered(floor: Floor, expected: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while (found := await answered(floor)) != expected:
        assert time.monotonic() < deadline, f"folded {found} answered, expected {expected}"
        await asyncio.sleep(0.1)


async def test_the_child_folds_is_started_again_when_killed_and_stops(
    floor: Floor, database_url: str
) -> None:
    await floor.add_queue("billing")
    await floor.add_agent("aiko", {"billing": 5})
    await handle_one(floor, "aiko")
    child = projector_process(database_url)
    await child.start()
    try:
        await wait_answered(floor, 1)
        first = child.process
        assert first is not None
        running, detail = describe(child)  # as the status page shows it
        assert running and detail["projector_pid"] == first.pid
        assert detail["projector_starts"] == 1
        first.kill()
        assert await first.wait() == -signal.SIGKILL
        running, detail = describe(child)  # dead, not yet started again (after 1 s)
        assert not running and detail["projector_pid"] is None
        deadline = time.monotonic() + WAIT_S
        while child.starts < 2:
            assert time.monotonic() < deadline, "the killed projector was not started again"
            await asyncio.sleep(0.1)
        assert child.process is not first and child.process is not None
        assert describe(child)[0]
        await handle_one(floor, "aiko")
        await wait_answered(floor, 2)  # folded by the new child, and only once
    finally:
        await child.stop()
    assert child.process is not None
    assert child.process.returncode == 0  # SIGTERM: the pass in hand ended, then it stopped
    await handle_one(floor, "aiko")
    await asyncio.sleep(1.0)
    assert await answered(floor) == 2  # nothing folds any more


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie left for init to reap counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.parametrize("parent_lives_s", [0, 4])
def test_the_child_stops_once_its_parent_is_gone(database_url: str, parent_lives_s: int) -> None:
    # The parent is a shell that starts the projector and exits: at once (before the
    # projector is up: it is told its parent's pid) or after it has started folding.
    env = {**os.environ, "TSUNAGI_DATABASE_URL": database_url}
    command = (
        f'TSUNAGI_PARENT_PID=$$ "{sys.executable}" -m tsunagi.actions.figures.worker'
        f" >/dev/null 2>&1 & echo $!; sleep {parent_lives_s}"
    )
    shell = subprocess.run(
        ["sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(shell.stdout.split()[0])
    deadline = time.monotonic() + WAIT_S
    while not gone(pid):
        assert time.monotonic() < deadline, "the orphaned projector kept running"
        time.sleep(0.1)


def test_the_child_refuses_to_start_without_a_database() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TSUNAGI_DATABASE_URL"}
    finished = subprocess.run(
        [sys.executable, "-m", "tsunagi.actions.figures.worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert finished.returncode == 1
    assert "TSUNAGI_DATABASE_URL is not set" in finished.stderr
