"""Historical import, checked: the Anonymous Bank log through Tsunagi vs pandas on the raw file.

Run: ``python benchmarks/figures/check_history_import.py --profile sqlite`` (or
``postgres``); ``--months january february`` chooses the files (default both).

1. A fresh database (a temporary SQLite file, or a scratch PostgreSQL database) gets a
   tenant in ``Asia/Jerusalem`` — the zone of the log's clock times.
2. Each month's file is imported with ``do_import_history`` (format ``anonymous-bank``,
   ``--create-queues``: one queue per call type), timed (rows/s) and with the process's
   peak resident memory noted after each file (the import is streamed: the peak must not
   grow with the number of rows). Then the outbox relay numbers the events and the
   projector folds them (timed); the rebuild must report *equal*; importing the first
   file again must import nothing.
3. Figures per local day, per month and per queue × month are read through
   ``reports.report`` — the code behind the API and the dashboard.
4. The same figures are computed **independently** from the raw TSV with pandas (no
   Tsunagi code: its own parsing of the clock times, its own rules written from
   docs/figures.md) and compared: every integer measure must be identical and every rate
   equal to 1e-12. The script exits 1 on any difference.

pandas is imported only after the imports, so the memory figure is the importer's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "anonymous_bank_callcenter"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
ZONE = "Asia/Jerusalem"
SL_S = 20  # queues.sl_threshold_s default
SHORT_S = 5  # queues.config.figures.short_abandon_s default
REPEAT_DAYS = 7  # queues.config.figures.repeat_window_days default
COUNTS = ("offered", "answered", "abandoned", "short_abandoned", "unqueued")
MEASURES = ("answered_in_sl", "wait_answered_ms", "talk_ms", "wait_max_ms")
RATES = ("service_level", "asa_s", "aht_s", "abandon_rate")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- through Tsunagi


async def load(url: str, files: list[Path]) -> dict[str, Any]:
    from tsunagi.actions.accounts import do_create_tenant
    from tsunagi.actions.figures.history import HistoryOptions, do_import_history
    from tsunagi.actions.figures.projector import do_fold_all, do_rebuild
    from tsunagi.adapters.bus.memory import MemoryBus
    from tsunagi.adapters.relay import OutboxRelay
    from tsunagi.adapters.security.keyring import KeyRing
    from tsunagi.adapters.storage.db import Database
    from tsunagi.adapters.storage.migrate import upgrade

    await upgrade(url)
    db = Database(url)
    keyring = KeyRing(os.urandom(32))
    out: dict[str, Any] = {"imports": []}
    try:
        tenant = await do_create_tenant(db, slug="bank", name="Anonymous Bank", timezone=ZONE)
        options = HistoryOptions(fmt="anonymous-bank", create_queues=True)
        for path in files:
            began = time.perf_counter()
            with path.open(encoding="utf-8", newline="") as handle:
                report = await do_import_history(
                    db, keyring, tenant_id=tenant, lines=handle, options=options, actor="check"
                )
            spent = time.perf_counter() - began
            out["imports"].append((path.name, report, spent, peak_rss_mib()))
        bus = MemoryBus()
        await bus.start()
        relay = OutboxRelay(db, bus)
        began = time.perf_counter()
        while await relay.run_once() > 0:
            pass
        out["relay_s"] = time.perf_counter() - began
        began = time.perf_counter()
        out["folded"] = await do_fold_all(db, tenant)
        out["fold_s"] = time.perf_counter() - began
        await bus.stop()
        rebuilt = await do_rebuild(db, tenant)
        out["rebuild"] = (rebuilt.equal, rebuilt.events, rebuilt.differences[:5])
        with files[0].open(encoding="utf-8", newline="") as handle:
            again = await do_import_history(
                db, keyring, tenant_id=tenant, lines=handle, options=options, actor="check"
            )
        out["again"] = (again.imported, again.duplicates)
        out["figures"] = await figures(db, tenant)
        out["repeats"] = await repeats(db, tenant)
    finally:
        await db.dispose()
    return out


async def figures(db: Any, tenant: uuid.UUID) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    from tsunagi.actions.figures import reports
    from tsunagi.adapters.storage.models import Queue

    async with db.scoped(tenant, readonly=True) as session:
        from sqlalchemy import select

        codes = {
            str(qid): code for qid, code in await session.execute(select(Queue.id, Queue.code))
        }
    found: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    for label, grain, by in (
        ("day", "day", ()),
        ("month", "month", ()),
        ("queue", "month", ("queue",)),
    ):
        query = reports.ReportQuery(
            day_from=date(1998, 12, 1), day_to=date(1999, 12, 31), grain=grain, by=by
        )
        rows = await reports.report(db, tenant, query)
        found[label] = {
            (row.bucket, *(codes.get(k, k) for k in row.keys)): {**row.measures, **row.figures}
            for row in rows
        }
    return found


async def repeats(db: Any, tenant: uuid.UUID) -> dict[str, dict[str, Any]]:
    from tsunagi.actions.figures import reports
    from tsunagi.actions.figures.repeats import repeat_check

    query = reports.ReportQuery(
        day_from=date(1998, 12, 1), day_to=date(1999, 12, 31), grain="month"
    )
    rows = await repeat_check(db, tenant, query)
    return {row.bucket: {**row.measures, **row.figures} for row in rows}


# ---------------------------------------------------------------- independently


def independent(files: list[Path]) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The figures straight from the raw TSV, with pandas only."""
    import numpy as np
    import pandas as pd

    raw = pd.concat([pd.read_csv(p, sep="\t", dtype=str) for p in files], ignore_index=True)
    raw = raw[raw["outcome"] != "PHANTOM"].copy()
    day = pd.to_datetime("19" + raw["date"], format="%Y%m%d")

    def clock(name: str) -> pd.Series:
        parts = raw[name].str.split(":", expand=True).astype(int)
        return pd.to_timedelta(parts[0] * 3600 + parts[1] * 60 + parts[2], unit="s")

    entry = day + clock("vru_entry")

    def moment(name: str) -> pd.Series:  # no date in the log: > 12 h before entry = next day
        at = day + clock(name)
        return at.where(at >= entry - pd.Timedelta(hours=12), at + pd.Timedelta(days=1))

    queued = raw["q_start"] != "0:00:00"
    answered = raw["outcome"] == "AGENT"
    abandoned = (raw["outcome"] == "HANG") & queued
    unqueued = (raw["outcome"] == "HANG") & ~queued
    q_time = pd.to_numeric(raw["q_time"]).where(queued, 0)
    ser_time = pd.to_numeric(raw["ser_time"]).where(answered, 0)
    offered_at = moment("q_start").where(queued, moment("vru_exit"))
    no_service = (raw["ser_start"] == "0:00:00") & (ser_time == 0)
    answered_at = moment("ser_start").where(
        ~no_service, offered_at + pd.to_timedelta(q_time, unit="s")
    )
    ended = np.select(
        [answered, abandoned],
        [
            answered_at + pd.to_timedelta(ser_time, unit="s"),
            moment("q_start") + pd.to_timedelta(q_time, unit="s"),
        ],
        moment("vru_exit"),
    )
    ended = pd.Series(pd.to_datetime(ended), index=raw.index)
    # The figures count a contact in the 15-minute interval (UTC) in which it ended, on the
    # local day of that interval's start.
    local = ended.dt.tz_localize(ZONE).dt.tz_convert("UTC").dt.floor("15min").dt.tz_convert(ZONE)
    short = abandoned & (q_time < SHORT_S)
    frame = pd.DataFrame(
        {
            "day": local.dt.strftime("%Y-%m-%d"),
            "month": local.dt.strftime("%Y-%m-01"),
            "queue": raw["type"],
            "offered": (answered | abandoned) & ~short,
            "answered": answered,
            "abandoned": abandoned & ~short,
            "short_abandoned": short,
            "unqueued": unqueued,
            "answered_in_sl": answered & (q_time <= SL_S),
            "wait_answered_ms": (q_time * 1000).where(answered, 0),
            "talk_ms": ser_time * 1000,
            "wait": (q_time * 1000).where(answered | abandoned, 0),
        }
    )
    out: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    out["repeats"] = independent_repeats(raw, frame, entry, ended, answered | abandoned)
    for label, keys in (("day", ["day"]), ("month", ["month"]), ("queue", ["month", "queue"])):
        grouped = frame.groupby(keys)
        sums = grouped[[*COUNTS, "answered_in_sl", "wait_answered_ms", "talk_ms"]].sum()
        sums["wait_max_ms"] = grouped["wait"].max()
        table: dict[tuple[str, ...], dict[str, Any]] = {}
        for key, row in sums.iterrows():
            values = {name: int(row[name]) for name in sums.columns}
            offered, answered_n = values["offered"], values["answered"]
            values["service_level"] = values["answered_in_sl"] / offered if offered else None
            values["abandon_rate"] = values["abandoned"] / offered if offered else None
            values["asa_s"] = values["wait_answered_ms"] / 1000 / answered_n if answered_n else None
            values["aht_s"] = values["talk_ms"] / 1000 / answered_n if answered_n else None
            table[key if isinstance(key, tuple) else (key,)] = values
        out[label] = table
    return out


def independent_repeats(
    raw: Any, frame: Any, entry: Any, ended: Any, offered: Any
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Repeat check: an answered call of an identified customer is repeated when the same
    customer reached the queue again after it arrived, within 7 days of its end; judged
    only when that window ends before the last arrival in the data."""
    import pandas as pd

    utc = lambda s: s.dt.tz_localize(ZONE).dt.tz_convert("UTC")  # noqa: E731
    known = raw["customer_id"].str.fullmatch(r"[0-9]+") & (raw["customer_id"] != "0")
    calls = pd.DataFrame(
        {
            "customer": raw["customer_id"],
            "arrived": utc(entry),
            "until": utc(ended) + pd.Timedelta(days=REPEAT_DAYS),
            "month": frame["month"],
            "judged": frame["answered"] & known,
            "offered": offered & known,
        }
    )
    horizon = calls["arrived"].max()
    judged = calls[calls["judged"] & (calls["until"] <= horizon)].sort_values("arrived")
    later = calls.loc[calls["offered"], ["customer", "arrived"]].rename(columns={"arrived": "next"})
    later["at"] = later["next"]
    nearest = pd.merge_asof(
        judged,
        later.sort_values("at"),
        left_on="arrived",
        right_on="at",
        by="customer",
        direction="forward",
        allow_exact_matches=False,
    )
    nearest["repeated"] = nearest["next"].notna() & (nearest["next"] <= nearest["until"])
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for month, group in nearest.groupby("month"):
        judged_n, repeated_n = len(group), int(group["repeated"].sum())
        out[(str(month),)] = {
            "repeat_judged": judged_n,
            "repeated": repeated_n,
            "fcr_repeat_rate": (judged_n - repeated_n) / judged_n if judged_n else None,
        }
    return out


def compare(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for label in ("day", "month", "queue"):
        a, b = mine[label], theirs[label]
        # Tsunagi has no row for a day/queue with nothing ended in it; pandas neither.
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                problems.append(f"{label} {key}: only in {'tsunagi' if key in a else 'pandas'}")
                continue
            for name in (*COUNTS, *MEASURES):
                if int(a[key][name]) != int(b[key][name]):
                    problems.append(
                        f"{label} {key} {name}: tsunagi {a[key][name]} pandas {b[key][name]}"
                    )
            for name in RATES:
                x, y = a[key][name], b[key][name]
                if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-12):
                    problems.append(f"{label} {key} {name}: tsunagi {x} pandas {y}")
    for key in sorted(set(mine["repeats"]) | set(theirs["repeats"])):
        a, b = mine["repeats"].get(key), theirs["repeats"].get(key)
        if a is None or b is None:
            problems.append(f"repeats {key}: only in {'tsunagi' if b is None else 'pandas'}")
            continue
        for name in ("repeat_judged", "repeated"):
            if a[name] != b[name]:
                problems.append(f"repeats {key} {name}: tsunagi {a[name]} pandas {b[name]}")
    return problems


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> None:
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


async def main(args: argparse.Namespace) -> int:
    files = [DATA / f"anonymous_bank_{month}_1999.tsv" for month in args.months]
    scratch = None
    if args.profile == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='history-')) / 'h.db'}"
    else:
        import asyncpg

        scratch = f"history_check_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        url = PG + scratch
    try:
        loaded = await load(url, files)
    finally:
        if scratch is not None:
            import asyncpg

            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
            await admin.close()
    print(f"profile {args.profile}, load average {os.getloadavg()[0]:.2f} at the end")
    for name, report, spent, rss in loaded["imports"]:
        print(
            f"import {name}: {report.rows} rows, imported {report.imported}, "
            f"skipped {report.skipped} (PHANTOM), rejected {report.rejected}, "
            f"customer ids left out {report.warned}; {spent:.1f} s = "
            f"{report.rows / spent:,.0f} rows/s; peak RSS after it {rss:.0f} MiB"
        )
    print(
        f"relay {loaded['relay_s']:.1f} s, fold {loaded['folded']} events in "
        f"{loaded['fold_s']:.1f} s; rebuild equal={loaded['rebuild'][0]} "
        f"({loaded['rebuild'][1]} events) {loaded['rebuild'][2]}"
    )
    print(f"import again: imported {loaded['again'][0]}, already imported {loaded['again'][1]}")
    mine = loaded["figures"]
    mine["repeats"] = {(key,): value for key, value in loaded["repeats"].items()}
    theirs = independent(files)
    problems = compare(mine, theirs)

    def same(prefix: str) -> str:
        return "NO" if any(p.startswith(prefix) for p in problems) else "yes"

    month_header = "month offered answered abandoned short_ab. unqueued SL(20s) ASA_s AHT_s"
    _table(
        [*month_header.split(), "identical"],
        [
            [
                key[0][:7],
                *(str(row[n]) for n in COUNTS),
                _pct(row["service_level"]),
                _s(row["asa_s"]),
                _s(row["aht_s"]),
                same(f"month {key}"),
            ]
            for key, row in sorted(mine["month"].items())
        ],
    )
    _table(
        ["month", "judged", "repeated within 7 days", "FCR by repeats", "pending", "identical"],
        [
            [
                key[0][:7],
                str(row["repeat_judged"]),
                str(row["repeated"]),
                _pct(row["fcr_repeat_rate"]),
                str(row["repeat_pending"]),
                same(f"repeats {key}"),
            ]
            for key, row in sorted(mine["repeats"].items())
        ],
    )
    days = len(mine["day"])
    day_problems = sum(p.startswith("day ") for p in problems)
    print(
        f"\n{days} days, {len(mine['queue'])} queue × month rows compared; "
        f"{len(problems)} differences ({day_problems} in days)"
    )
    for line in problems[:20]:
        print("  ", line)
    ok = not problems and loaded["rebuild"][0] and loaded["again"][0] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--months", nargs="+", default=["january", "february"])
    sys.exit(asyncio.run(main(parser.parse_args())))
