"""Synthetic contacts for the raw-vs-aggregates benchmarks, made inside PostgreSQL.

``fill(session, ...)`` writes, with ``generate_series``, ``contacts`` ended contacts over
``DAYS`` local days × 36 opening intervals (09:00-18:00 Asia/Tokyo), 20 queues, 25
wrap-up categories (skewed like real wrap-up codes: the first few carry most contacts) and
500 communicators (25 per queue), 90 % answered, some survey answers, into the raw table
``figures_contacts`` (one row per contact), and the agent-state time of each communicator
and day into a bench-only raw table ``bench_agent_states``. It then fills the aggregates
the reports read — ``figures_contact_intervals`` (interval × queue table) and
``figures_agent_days`` + ``figures_agent_state_days`` (per-communicator table over days),
and their roll-ups without the category (``figures_queue_intervals``,
``figures_agent_queue_days``: ``refresh_rollups``) — from those raw rows by
``INSERT … SELECT … GROUP BY`` applying the definitions of
``docs/figures.md`` (not by the projector: folding millions of contacts' events through
Python is not what these benchmarks measure).

``RAW_*`` are the plain GROUP BYs over the raw rows that compute the same measures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tsunagi.actions.figures.store import refresh_rollups

DAYS = 90
SLOTS = 36  # 15-minute intervals a day, 09:00-18:00 local
QUEUES = 20
AGENTS = 500
FIRST_DAY = date(2025, 1, 1)

# One row per ended contact. i → interval (i % 3240), queue (i / 3240 % 20), communicator
# (one of the queue's 25), category (cubed uniform: skewed), outcome, times, surveys.
FILL_CONTACTS = """
INSERT INTO figures_contacts (tenant_id, contact_id, version, state, channel, queue_id,
  created_at, offered_at, answered_at, answered_by, ended_at, interval_start, local_day,
  wait_ms, talk_ms, hold_ms, holds, acw_ms, callback, transfers, escalations, outcome,
  category, resolved, last_agent_id, segments, nps_score, csat_score)
SELECT :tenant, gen_random_uuid(), 7, CASE WHEN ab THEN 'abandoned' ELSE 'closed' END,
  'voice', (CAST(:queues AS uuid[]))[1 + q], t, t, CASE WHEN ab THEN NULL ELSE t END,
  CASE WHEN ab THEN NULL ELSE (CAST(:agents AS uuid[]))[1 + q + 20 * ((i / 7) % 25)] END,
  t, t, (t AT TIME ZONE 'Asia/Tokyo')::date, (i * 7919) % 120000,
  CASE WHEN ab THEN 0 ELSE 60000 + (i * 104729) % 540000 END,
  CASE WHEN ab THEN 0 ELSE (i * 1299709) % 60000 END, CASE WHEN ab THEN 0 ELSE i % 2 END,
  CASE WHEN ab THEN 0 ELSE (i * 15485863) % 120000 END, false, 0, 0,
  CASE WHEN ab THEN 'abandoned' ELSE 'handled' END,
  'cat' || lpad(floor(25 * power(((i * 40503) % 65536) / 65536.0, 3))::int::text, 2, '0'),
  CASE WHEN ab OR i % 7 = 0 THEN NULL ELSE i % 3 <> 0 END,
  CASE WHEN ab THEN NULL ELSE (CAST(:agents AS uuid[]))[1 + q + 20 * ((i / 7) % 25)] END,
  '[]'::json,
  CASE WHEN i % 13 = 0 THEN i % 11 END, CASE WHEN i % 17 = 0 THEN 1 + i % 5 END
FROM (SELECT i, i % 10 = 0 AS ab, (i / :cells) % 20 AS q,
        timestamptz '2025-01-01 00:00:00+00' + ((i % :cells) / 36) * interval '1 day'
        + ((i % :cells) % 36) * interval '15 minutes' AS t
      FROM generate_series(CAST(1 AS bigint), CAST(:n AS bigint)) AS i) AS s
"""

# Raw agent-state time: each communicator, each day, four states (within the day).
BENCH_STATES_TABLE = """
CREATE TABLE bench_agent_states (tenant_id uuid NOT NULL, agent_id uuid NOT NULL,
  local_day date NOT NULL, state varchar(24) NOT NULL, state_ms bigint NOT NULL)
"""
FILL_STATES = """
INSERT INTO bench_agent_states
SELECT :tenant, (CAST(:agents AS uuid[]))[a], date '2025-01-01' + d, s.state,
  s.base + ((a * 7919 + d * 104729 + s.k * 1299709) % 3600000)
FROM generate_series(1, :nagents) AS a, generate_series(0, :days - 1) AS d,
  (VALUES (0, 'available', 3600000), (1, 'on_contact', 18000000),
          (2, 'after_call_work', 3600000), (3, 'not_ready', 1800000)) AS s(k, state, base)
"""

CONTACT_MEASURES = """
  count(*) FILTER (WHERE offered_at IS NOT NULL) AS offered,
  count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
  count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned') AS abandoned,
  count(*) FILTER (WHERE answered_at IS NULL AND outcome = 'abandoned' AND wait_ms < 5000)
    AS short_abandoned,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND wait_ms <= 20000) AS answered_in_sl,
  coalesce(sum(wait_ms) FILTER (WHERE answered_at IS NOT NULL), 0) AS wait_answered_ms,
  coalesce(sum(wait_ms) FILTER (WHERE answered_at IS NULL), 0) AS wait_abandoned_ms,
  max(wait_ms) AS wait_max_ms, sum(talk_ms) AS talk_ms, sum(hold_ms) AS hold_ms,
  sum(holds) AS holds, sum(acw_ms) AS acw_ms,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND resolved) AS fcr_yes,
  count(*) FILTER (WHERE answered_at IS NOT NULL AND NOT resolved) AS fcr_no,
  count(nps_score) AS nps_answers, count(*) FILTER (WHERE nps_score >= 9) AS nps_promoters,
  count(*) FILTER (WHERE nps_score <= 6) AS nps_detractors,
  count(csat_score) AS csat_answers, count(*) FILTER (WHERE csat_score >= 4) AS csat_satisfied,
  coalesce(sum(csat_score), 0) AS csat_score_sum
"""
CONTACT_NAMES = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answered_in_sl",
    "wait_answered_ms",
    "wait_abandoned_ms",
    "wait_max_ms",
    "talk_ms",
    "hold_ms",
    "holds",
    "acw_ms",
    "fcr_yes",
    "fcr_no",
    "nps_answers",
    "nps_promoters",
    "nps_detractors",
    "csat_answers",
    "csat_satisfied",
    "csat_score_sum",
)
CONTACT_ZEROS = ("unqueued", "transfers", "escalations", "callbacks", "callbacks_kept")
CONTACT_ZEROS += ("callbacks_missed",)

# A communicator's part = the answered contact (one part each: no transfers here).
AGENT_MEASURES = """
  count(*) AS handled, sum(talk_ms) AS talk_ms, sum(hold_ms) AS hold_ms,
  sum(holds) AS holds, sum(acw_ms) AS acw_ms, 0 AS transfers_out,
  count(*) FILTER (WHERE resolved) AS fcr_yes, count(*) FILTER (WHERE NOT resolved) AS fcr_no,
  count(nps_score) AS nps_answers, count(*) FILTER (WHERE nps_score >= 9) AS nps_promoters,
  count(*) FILTER (WHERE nps_score <= 6) AS nps_detractors,
  count(csat_score) AS csat_answers, count(*) FILTER (WHERE csat_score >= 4) AS csat_satisfied,
  coalesce(sum(csat_score), 0) AS csat_score_sum
"""
AGENT_NAMES = (
    "handled",
    "talk_ms",
    "hold_ms",
    "holds",
    "acw_ms",
    "transfers_out",
    "fcr_yes",
    "fcr_no",
    "nps_answers",
    "nps_promoters",
    "nps_detractors",
    "csat_answers",
    "csat_satisfied",
    "csat_score_sum",
)

FILL_INTERVALS = f"""
INSERT INTO figures_contact_intervals (tenant_id, interval_start, local_day, local_week,
  local_month, queue_id, channel, category, {", ".join(CONTACT_NAMES)},
  {", ".join(CONTACT_ZEROS)})
SELECT tenant_id, interval_start, local_day, date_trunc('week', local_day)::date,
  date_trunc('month', local_day)::date, queue_id, channel, category, {CONTACT_MEASURES},
  {", ".join("0" for _ in CONTACT_ZEROS)}
FROM figures_contacts WHERE tenant_id = :tenant
GROUP BY tenant_id, interval_start, local_day, queue_id, channel, category
"""
FILL_AGENT_DAYS = f"""
INSERT INTO figures_agent_days (tenant_id, local_day, local_week, local_month, agent_id,
  queue_id, channel, category, {", ".join(AGENT_NAMES)})
SELECT tenant_id, local_day, date_trunc('week', local_day)::date,
  date_trunc('month', local_day)::date, answered_by, queue_id, channel, category,
  {AGENT_MEASURES}
FROM figures_contacts WHERE tenant_id = :tenant AND answered_by IS NOT NULL
GROUP BY tenant_id, local_day, answered_by, queue_id, channel, category
"""
FILL_STATE_DAYS = """
INSERT INTO figures_agent_state_days (tenant_id, local_day, local_week, local_month,
  agent_id, state, reason, state_ms)
SELECT tenant_id, local_day, date_trunc('week', local_day)::date,
  date_trunc('month', local_day)::date, agent_id, state, '', state_ms
FROM bench_agent_states WHERE tenant_id = :tenant
"""

# The plain GROUP BYs over the raw rows (measures only; the figures follow from them).
RAW_INTERVAL_QUEUE = f"""
SELECT interval_start, queue_id, {CONTACT_MEASURES}
FROM figures_contacts
WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
GROUP BY interval_start, queue_id
"""
RAW_AGENTS = f"""
SELECT c.*, s.available, s.on_contact, s.after_call_work, s.not_ready
FROM (SELECT answered_by AS agent_id, {AGENT_MEASURES}
      FROM figures_contacts
      WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
        AND answered_by IS NOT NULL
      GROUP BY answered_by) AS c
LEFT JOIN (SELECT agent_id,
             sum(state_ms) FILTER (WHERE state = 'available') AS available,
             sum(state_ms) FILTER (WHERE state = 'on_contact') AS on_contact,
             sum(state_ms) FILTER (WHERE state = 'after_call_work') AS after_call_work,
             sum(state_ms) FILTER (WHERE state = 'not_ready') AS not_ready
           FROM bench_agent_states
           WHERE tenant_id = :tenant AND local_day BETWEEN :day_from AND :day_to
           GROUP BY agent_id) AS s USING (agent_id)
"""


async def fill(
    session: Any,
    tenant: uuid.UUID,
    queues: list[uuid.UUID],
    agents: list[uuid.UUID],
    contacts: int,
) -> None:
    """The raw rows and the aggregates of one tenant (one transaction: the caller's)."""
    await session.execute(
        text(FILL_CONTACTS),
        {
            "tenant": tenant,
            "queues": queues,
            "agents": agents,
            "n": contacts,
            "cells": DAYS * SLOTS,
        },
    )
    await session.execute(text(BENCH_STATES_TABLE))
    await session.execute(
        text(FILL_STATES),
        {"tenant": tenant, "agents": agents, "nagents": len(agents), "days": DAYS},
    )
    for statement in (FILL_INTERVALS, FILL_AGENT_DAYS, FILL_STATE_DAYS):
        await session.execute(text(statement), {"tenant": tenant})
    # The roll-ups without the category, summed from those rows by the product's own
    # statement (the one migration 0016 also applies).
    await refresh_rollups(session, tenant)


# ------------------------------------------------------------- the API, as a client sees it

ROOT = Path(__file__).resolve().parents[2]
SPAN = {"day_from": FIRST_DAY.isoformat(), "day_to": date(2025, 3, 31).isoformat()}
INTERVAL_QUEUE = {**SPAN, "grain": "15", "by": "queue"}
PER_AGENT = {**SPAN, "table": "agents", "grain": "total", "by": "agent"}


async def create_manager(db: Any, tenant: uuid.UUID) -> str:
    """A manager of the tenant (password ``testkit.PASSWORD``); returns the username."""
    from tsunagi.actions.accounts import do_create_user
    from tsunagi.adapters.security.passwords import PasswordHasher

    sys.path.insert(0, str(ROOT / "tests"))
    from testkit import PASSWORD

    username = f"bench-{uuid.uuid4().hex[:6]}"
    await do_create_user(
        db,
        PasswordHasher(time_cost=1, memory_kib=64),
        tenant_id=tenant,
        username=username,
        display_name="Bench",
        password=PASSWORD,
        roles=["manager"],
        locale="en",
    )
    return username


@contextmanager
def server(database_url: str) -> Iterator[str]:
    """``tsunagi serve`` in its own process (its own CPU time, as in production)."""
    port = _free_port()
    data_dir = ROOT / "var" / "bench" / f"server-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TSUNAGI_ENV": "test",
        "TSUNAGI_DATABASE_URL": database_url,
        "TSUNAGI_DATA_DIR": str(data_dir),
        "TSUNAGI_PASSWORD_TIME_COST": "1",
        "TSUNAGI_PASSWORD_MEMORY_KIB": "64",
        "TSUNAGI_DEFAULT_LOCALE": "en",
    }
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "tsunagi"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: see {data_dir / 'server.log'}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def signed_in(url: str, username: str) -> Any:
    sys.path.insert(0, str(ROOT / "tests"))
    from testkit import Browserless

    client = Browserless(url)
    client.http.timeout = httpx.Timeout(600)
    assert client.sign_in(username).status_code == 303
    return client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def timed(work: Any, repeat: int) -> tuple[Any, list[float]]:
    """``work()`` once to warm up, then ``repeat`` timed runs (ms); the last result."""
    result = work()
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        timings.append((time.perf_counter() - began) * 1000)
    return result, timings


def columns_to_cells(body: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The API's columnar table as {(bucket, *keys): {name: value}} (measures and figures)."""
    cells: dict[tuple[str, ...], dict[str, Any]] = {}
    named = {**body["measures"], **{f"figure:{n}": v for n, v in body["figures"].items()}}
    for i, bucket in enumerate(body["buckets"]):
        key = (bucket, *(keys[i] for keys in body["keys"]))
        cells[key] = {name: values[i] for name, values in named.items()}
    return cells


def differences(
    expected: dict[tuple[str, ...], dict[str, Any]], found: dict[tuple[str, ...], dict[str, Any]]
) -> list[str]:
    """Cells that differ in value or type (1 and 1.0, 0 and None are different)."""
    out = []
    for key in sorted(set(expected) | set(found)):
        want, got = expected.get(key), found.get(key)
        if want is None or got is None:
            out.append(f"{key}: only in {'API' if want is None else 'reference'}")
            continue
        for name, value in want.items():
            other = got.get(name, "missing")
            if type(value) is not type(other) or value != other:
                out.append(f"{key} {name}: reference {value!r}, API {other!r}")
    return out
