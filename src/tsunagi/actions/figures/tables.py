"""The fast path of a report: the same table as :func:`reports.report`, as columns.

``reports.report`` turns each group into a :class:`~reports.ReportRow` with a dict of
measures and a dict of ~25 figures computed one group at a time. For the large tables
(90 days by 15 minutes × queue is 64,800 groups) that per-group Python work, not the
database, was most of the time (benchmarks/figures/RESULTS.md). Here the database does the
grouping with integer sums (``CAST(sum(…) AS BIGINT)``: PostgreSQL's ``sum(bigint)`` is a
``numeric``, which the driver hands over as ``Decimal``), the result is transposed into
one int64 array per measure, and the figures are computed once per *column* by the same
functions of :mod:`tsunagi.figures.definitions` (they take arrays as well as ints). The
result is :class:`ReportTable`: lists per column, which the API encodes without building
an object per row.

Same numbers as ``reports.report`` by construction and by test
(``tests/integration/figures/test_report_tables.py``, both profiles, random data). Queries
the fast path does not cover — 30/60-minute buckets (which merge 15-minute groups), team
dimensions or filters — are answered by ``reports.report`` and turned into columns, so
every query gets the same table either way.

A report that neither groups nor filters by category reads the roll-ups without the
category (``figures_queue_*``, ``figures_agent_queue_*``, decision 0507): at 1,000,000
contacts over 90 days that is ten times fewer rows than the category rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Select, Subquery, cast, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tsunagi.actions.figures import reports
from tsunagi.adapters.storage import pg_copy
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    FiguresAgentQueueDay,
    FiguresAgentQueueInterval,
    FiguresAgentQueueMonth,
    FiguresAgentStateDay,
    FiguresAgentStateMonth,
    FiguresQueueDay,
    FiguresQueueInterval,
    FiguresQueueMonth,
)
from tsunagi.adapters.storage.pg_copy import copy_columns
from tsunagi.figures.definitions import (
    AGENT_MAXES,
    AGENT_STATES,
    AGENT_SUMS,
    CONTACT_MAXES,
    CONTACT_SUMS,
    FigureOptions,
    agent_figures,
    contact_figures,
)

FAST_DIMENSIONS = ("queue", "channel", "category", "agent")
FAST_GRAINS = ("15", "day", "week", "month", "total")
PG_WORK_MEM = "256MB"  # for the one grouping query of a report (read-only transaction)


# A column of a table: a list, or a NumPy array (int64, or float64 with NaN for a figure
# whose denominator is zero, which a list or JSON holds as None/null).
Column = list[Any] | np.ndarray


@dataclass(slots=True)
class ReportTable:
    """A report as columns, rows in the order of ``reports.report`` (bucket, keys).

    Measures and figures stay NumPy arrays on the fast path, so the API can encode them
    without a Python object per value (``columns`` gives them as lists)."""

    buckets: list[str]
    keys: list[list[str]]  # one list per dimension of ``by``
    measures: dict[str, Column]
    figures: dict[str, Column]  # int, float or None (NaN in an array), as ``definitions``

    def __len__(self) -> int:
        return len(self.buckets)

    def columns(self) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        """Measures and figures as lists (None where a figure has no value)."""
        return (
            {name: _listed(column) for name, column in self.measures.items()},
            {name: _listed(column) for name, column in self.figures.items()},
        )

    def rows(self) -> list[reports.ReportRow]:
        """The same table as ``ReportRow``s (tests compare it with ``reports.report``)."""
        size = len(self.buckets)
        measured, figured = self.columns()
        keys = list(zip(*self.keys, strict=True)) if self.keys else [()] * size
        measures = list(zip(*measured.values(), strict=True)) or [()] * size
        figures = list(zip(*figured.values(), strict=True)) or [()] * size
        return [
            reports.ReportRow(
                bucket,
                tuple(key),
                dict(zip(self.measures, measured, strict=True)),
                dict(zip(self.figures, figured, strict=True)),
            )
            for bucket, key, measured, figured in zip(
                self.buckets, keys, measures, figures, strict=True
            )
        ]


def is_fast(query: reports.ReportQuery) -> bool:
    """Whether the columnar SQL path answers ``query`` (else ``reports.report`` does)."""
    return (
        query.grain in FAST_GRAINS
        and all(name in FAST_DIMENSIONS for name in query.by)
        and getattr(query, "team_id", None) is None
    )


async def report_table(
    db: Database, tenant_id: uuid.UUID, query: reports.ReportQuery
) -> ReportTable:
    """The table of ``reports.report(db, tenant_id, query)``, as columns."""
    query = query.validated()
    if not is_fast(query):
        return from_rows(query, await reports.report(db, tenant_id, query))
    async with db.scoped(tenant_id, readonly=True) as session:
        model = source_model(query)
        if query.table == "contacts":
            buckets, keys, measures = await _grouped(
                db, session, tenant_id, model, query, CONTACT_SUMS, CONTACT_MAXES
            )
            options = FigureOptions(exclude_short_abandons=query.exclude_short_abandons)
            figures = contact_figures(measures, options)
        else:
            # The state times come from another table: read them on a second connection
            # meanwhile (the database works on both at once).
            (buckets, keys, measures), states = await asyncio.gather(
                _grouped(db, session, tenant_id, model, query, AGENT_SUMS, AGENT_MAXES),
                _states(db, tenant_id, query),
            )
            held = None if states is None else _state_columns(states, query, buckets, keys)
            figures = agent_figures(measures, held)
    size = len(buckets)
    return ReportTable(
        buckets=buckets,
        keys=keys,
        measures=dict(measures),
        figures={name: _column(value, size) for name, value in figures.items()},
    )


async def _states(
    db: Database, tenant_id: uuid.UUID, query: reports.ReportQuery
) -> dict[tuple[str, str], dict[str, int]] | None:
    """Time in each agent state per (bucket, agent or ""), as ``reports._states`` gives it,
    read on a connection of its own and from whole months where the span has them."""
    if not reports.states_apply(query):
        return None
    model = reports._model("states", query.grain)
    time_name = _TIME_NAMES[query.grain]
    per_agent = "agent" in query.by
    keys = [n for n in (time_name, "agent_id" if per_agent else None, "state") if n is not None]
    async with db.scoped(tenant_id, readonly=True) as session:
        source = _rows(model, query, tenant_id, [*keys, "state_ms"])
        groups = [source.c[name] for name in keys]
        statement = select(*groups, func.sum(source.c.state_ms)).group_by(*groups)
        rows = await session.execute(statement)
        return reports.state_times(rows, query, time_name is not None, per_agent)


_ROLLUPS = {
    ("contacts", True): FiguresQueueInterval,
    ("contacts", False): FiguresQueueDay,
    ("agents", True): FiguresAgentQueueInterval,
    ("agents", False): FiguresAgentQueueDay,
}
# Day tables with a month table beside them (the same rows summed per local month).
_MONTHS: dict[Any, Any] = {
    FiguresQueueDay: FiguresQueueMonth,
    FiguresAgentQueueDay: FiguresAgentQueueMonth,
    FiguresAgentStateDay: FiguresAgentStateMonth,
}
_TIME_NAMES = {
    "15": "interval_start",
    "day": "local_day",
    "week": "local_week",
    "month": "local_month",
    "total": None,
}


def source_model(query: reports.ReportQuery) -> Any:
    """The table a fast query reads: the roll-up without the category when the report
    neither groups nor filters by category (decision 0507), else the category rows."""
    if "category" in query.by or query.category is not None:
        return reports._model(query.table, query.grain)
    return _ROLLUPS[query.table, query.grain in reports.INTERVAL_GRAINS]


def _rows(
    model: Any, query: reports.ReportQuery, tenant_id: uuid.UUID, names: Sequence[str]
) -> Subquery:
    """The rows a report sums: columns ``names`` of ``model`` over the report's span and
    filters, for this tenant (named explicitly: these statements run on the connection,
    without the session's tenant criterion). A month or total report over a day table
    with a month table reads the span's whole months from the month rows and only the
    days at its edges from the day rows: a quarter is 3 rows per key instead of 90."""
    days = _narrowed(select(*(getattr(model, n) for n in names)), model, query, tenant_id)
    days = days.where(model.local_day >= query.day_from, model.local_day <= query.day_to)
    months = _MONTHS.get(model) if query.grain in ("month", "total") else None
    whole = _whole_months(query.day_from, query.day_to)
    if months is None or whole is None:
        return days.subquery()
    first, last = whole
    end = _next_month(last) - timedelta(days=1)
    days = days.where(or_(model.local_day < first, model.local_day > end))
    monthly = _narrowed(select(*(getattr(months, n) for n in names)), months, query, tenant_id)
    monthly = monthly.where(months.local_month >= first, months.local_month <= last)
    return union_all(monthly, days).subquery()


def _narrowed(
    statement: Select[Any], model: Any, query: reports.ReportQuery, tenant_id: uuid.UUID
) -> Select[Any]:
    statement = statement.where(model.tenant_id == tenant_id)
    if query.queue_id is not None:
        statement = statement.where(model.queue_id == query.queue_id)
    if query.channel is not None:
        statement = statement.where(model.channel == query.channel)
    if query.category is not None:
        statement = statement.where(model.category == query.category)
    if query.agent_id is not None:
        statement = statement.where(model.agent_id == query.agent_id)
    return statement


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _whole_months(day_from: date, day_to: date) -> tuple[date, date] | None:
    """The first days of the first and last whole months inside the span, if any."""
    first = day_from if day_from.day == 1 else _next_month(day_from.replace(day=1))
    after = day_to + timedelta(days=1)
    last_end = after if after.day == 1 else after.replace(day=1)  # first day not covered
    if first >= last_end:
        return None
    return first, _previous_month(last_end)


def _previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


async def _grouped(
    db: Database,
    session: AsyncSession,
    tenant_id: uuid.UUID,
    model: Any,
    query: reports.ReportQuery,
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
) -> tuple[list[str], list[list[str]], dict[str, np.ndarray]]:
    """Buckets, key columns and one int64 array per measure, sorted by (bucket, keys)."""
    time_name = _TIME_NAMES[query.grain]
    dim_names = [reports._DIMENSION_COLUMNS[name] for name in query.by]
    key_names = [n for n in (time_name, *dim_names) if n is not None]
    names = (*sums, *maxes)
    source = _rows(model, query, tenant_id, [*key_names, *names])
    groups = [source.c[name] for name in key_names]
    # Executed on the session's connection, not through the ORM session: that skips ORM
    # row loading (a third of the Python time on 64,800 rows); the tenant is named in
    # ``_rows`` (tested: another tenant's rows never appear).
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # 64,800 groups × 27 sums is ~130 MB of aggregate state (and the copy path sorts
        # as many rows): with the default 4 MB PostgreSQL sorts on disk.
        await connection.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        if groups and set(query.by) <= UUID_DIMENSIONS:
            kinds = [_TIME_KINDS[query.grain]] if time_name is not None else []
            kinds += ["uuid"] * len(query.by) + ["int8"] * len(names)
            copied = await _copy_rows(
                db, connection, tenant_id, model, query, key_names, names, kinds
            )
            return _copied(copied, query, len(groups), sums, maxes)
    aggregates = [cast(func.sum(source.c[n]), BigInteger).label(n) for n in sums]
    aggregates += [cast(func.max(source.c[n]), BigInteger).label(n) for n in maxes]
    statement = select(*groups, *aggregates)
    if groups:
        statement = statement.group_by(*groups)
    found = (await connection.execute(statement)).all()
    columns = [list(column) for column in zip(*found, strict=True)] if found else []
    width = len(groups)
    if not columns:
        return [], [[] for _ in query.by], {n: np.zeros(0, np.int64) for n in names}
    size = len(columns[0])
    if time_name is None:
        buckets = ["total"] * size
        key_columns = columns[:width]
    else:
        grain = query.grain
        buckets = _texts(columns[0], lambda value: reports._label(value, grain))
        key_columns = columns[1:width]
    keys = [_texts(column, reports._key_text) for column in key_columns]
    if not groups:  # one row even over no rows, its sums NULL: zeros, as reports.report
        columns = [[value or 0 for value in column] for column in columns]
    # Otherwise a NULL sum cannot occur: every group has a row, every column is NOT NULL.
    measures = {
        name: np.array(column, dtype=np.int64)
        for name, column in zip(names, columns[width:], strict=True)
    }
    order = _order(buckets, keys)
    if order is not None:
        taken = np.array(order, dtype=np.int64)
        buckets = [buckets[i] for i in order]
        keys = [[column[i] for i in order] for column in keys]
        measures = {name: column[taken] for name, column in measures.items()}
    return buckets, keys, measures


UUID_DIMENSIONS = {"queue", "agent"}
_TIME_KINDS = {"15": "timestamptz", "day": "date", "week": "date", "month": "date"}


async def _copy_rows(
    db: Database,
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    model: Any,
    query: reports.ReportQuery,
    key_names: list[str],
    names: tuple[str, ...],
    kinds: list[str],
) -> list[np.ndarray]:
    """The report's rows (keys, then measures; ordered by the keys, no GROUP BY) as NumPy
    columns through a binary COPY (:mod:`~tsunagi.adapters.storage.pg_copy`).

    A 15-minute report is read in two halves of its span at once, the second on a
    connection of its own: formatting the rows for the COPY is most of PostgreSQL's work
    here, and two backends do it on two cores. The halves are whole local days, so the
    second's keys all sort after the first's and the columns are simply joined."""

    def statement(piece: reports.ReportQuery) -> Select[Any]:
        source = _rows(model, piece, tenant_id, [*key_names, *names])
        groups = [source.c[name] for name in key_names]
        return select(*groups, *(source.c[name] for name in names)).order_by(*groups)

    async def elsewhere(piece: reports.ReportQuery) -> list[np.ndarray]:
        async with db.scoped(tenant_id, readonly=True) as other:
            own = await other.connection()
            await own.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
            return await copy_columns(own, statement(piece), kinds)

    pieces = _halves(query) if query.grain == "15" else [query]
    found = await asyncio.gather(
        copy_columns(connection, statement(pieces[0]), kinds),
        *(elsewhere(piece) for piece in pieces[1:]),
    )
    if len(found) == 1:
        return found[0]
    return [np.concatenate(parts) for parts in zip(*found, strict=True)]


def _halves(query: reports.ReportQuery) -> list[reports.ReportQuery]:
    """The query over the first and the second half of its days (one piece if one day)."""
    days = (query.day_to - query.day_from).days + 1
    if days < 2:
        return [query]
    middle = query.day_from + timedelta(days=days // 2)
    return [
        replace(query, day_to=middle - timedelta(days=1)),
        replace(query, day_from=middle),
    ]


def _copied(
    columns: list[np.ndarray],
    query: reports.ReportQuery,
    width: int,
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
) -> tuple[list[str], list[list[str]], dict[str, np.ndarray]]:
    """``_grouped``'s answer from the copied rows of :func:`_copy_rows`: the rows of one
    key (other channels, other categories, a month's row and its edge days) are summed
    with ``reduceat``.

    PostgreSQL's ``sum(bigint)`` keeps a numeric state per group and measure: for 64,800
    groups × 27 measures that hashing took longer than reading the rows. Summing sorted
    int64 columns is exact and takes milliseconds."""
    names = (*sums, *maxes)
    timed = query.grain in _TIME_KINDS
    size = len(columns[0])
    if size == 0:
        return [], [[] for _ in query.by], {n: np.zeros(0, np.int64) for n in names}
    first = np.zeros(size, dtype=bool)  # where a new key starts
    first[0] = True
    for column in columns[:width]:
        values = column.view(np.uint8).reshape(size, -1) if column.dtype.kind == "V" else column
        changed = values[1:] != values[:-1]
        first[1:] |= changed.any(axis=1) if changed.ndim == 2 else changed
    starts = np.flatnonzero(first)
    measures = {
        name: np.add.reduceat(column, starts)
        for name, column in zip(sums, columns[width : width + len(sums)], strict=True)
    }
    for name, column in zip(maxes, columns[width + len(sums) :], strict=True):
        measures[name] = np.maximum.reduceat(column, starts)
    keyed = [column[starts] for column in columns[:width]]
    if not timed:
        buckets = ["total"] * len(starts)
    else:
        as_objects = pg_copy.datetimes if query.grain == "15" else pg_copy.dates
        buckets = _distinct_texts(
            keyed.pop(0), lambda found: [reports._label(v, query.grain) for v in as_objects(found)]
        )
    keys = [
        _distinct_texts(column, lambda found: [reports._key_text(v) for v in pg_copy.uuids(found)])
        for column in keyed
    ]
    # Already in the order of ``reports.report`` (bucket text, then key texts): PostgreSQL
    # orders timestamps and dates as their ISO texts sort, and uuids bytewise, as their
    # hex texts sort (the nil queue, shown as "", first). The comparison test with
    # ``reports.report`` (tests/integration/figures/test_report_tables.py) checks it.
    return buckets, keys, measures


def _distinct_texts(values: np.ndarray, texts: Callable[[np.ndarray], list[str]]) -> list[str]:
    """``texts`` of each value, computed once per distinct value."""
    if values.dtype.kind == "V":  # uuids: NumPy sorts 16-byte voids slowly; hash them
        raw = values.tolist()
        seen = list(dict.fromkeys(raw))
        known = dict(zip(seen, texts(np.array(seen, dtype=values.dtype)), strict=True))
        return [known[value] for value in raw]
    distinct, inverse = np.unique(values, return_inverse=True)
    shown = texts(distinct)
    return [shown[at] for at in inverse.tolist()]


def _texts(values: list[Any], text: Callable[[Any], str]) -> list[str]:
    """``text`` of each value, computed once per distinct value (64,800 rows hold ~3,240
    interval starts and 20 queues)."""
    known: dict[Any, str] = {}
    found = []
    for value in values:
        shown = known.get(value)
        if shown is None:
            shown = known[value] = text(value)
        found.append(shown)
    return found


def _order(buckets: list[str], keys: list[list[str]]) -> list[int] | None:
    """The permutation that sorts rows by (bucket, keys) as ``reports.report`` orders them,
    or ``None`` when they already are (the database's order usually agrees)."""
    rows = list(zip(buckets, *keys, strict=True))
    if all(rows[at] <= rows[at + 1] for at in range(len(rows) - 1)):
        return None
    return sorted(range(len(rows)), key=rows.__getitem__)


def _state_columns(
    states: dict[tuple[str, str], dict[str, int]],
    query: reports.ReportQuery,
    buckets: list[str],
    keys: list[list[str]],
) -> dict[str, np.ndarray]:
    """Time in each agent state aligned with the rows (zero where a row has none), as
    ``reports.report`` looks it up: per (bucket, agent) or per bucket."""
    agents = keys[query.by.index("agent")] if "agent" in query.by else [""] * len(buckets)
    held = [states.get(key, {}) for key in zip(buckets, agents, strict=True)]
    return {
        state: np.array([times.get(state, 0) for times in held], dtype=np.int64)
        for state in AGENT_STATES
    }


def _column(value: Any, size: int) -> Column:
    """A figure as a column: ``definitions`` gives an array, or one value for all rows."""
    return value if isinstance(value, np.ndarray) else [value] * size


def _listed(value: Column) -> list[Any]:
    """A column as a list: NaN (a zero denominator) becomes None, like the scalar
    definition gives; ints stay ints, floats floats."""
    if not isinstance(value, np.ndarray):
        return value
    listed: list[Any] = value.tolist()
    if value.dtype.kind == "f":
        for at in np.flatnonzero(np.isnan(value)).tolist():
            listed[at] = None
    return listed


def from_rows(query: reports.ReportQuery, rows: list[reports.ReportRow]) -> ReportTable:
    """Columns of ``reports.report``'s rows (the queries the fast path leaves to it)."""
    measure_names = list(rows[0].measures) if rows else []
    figure_names = list(rows[0].figures) if rows else []
    return ReportTable(
        buckets=[row.bucket for row in rows],
        keys=[[row.keys[at] for row in rows] for at in range(len(query.by))],
        measures={name: [row.measures[name] for row in rows] for name in measure_names},
        figures={name: [row.figures[name] for row in rows] for name in figure_names},
    )
