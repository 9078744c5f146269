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

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tsunagi.actions.figures import reports
from tsunagi.adapters.storage import pg_copy
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.figures_models import (
    FiguresAgentQueueDay,
    FiguresAgentQueueInterval,
    FiguresQueueDay,
    FiguresQueueInterval,
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


@dataclass(slots=True)
class ReportTable:
    """A report as columns, rows in the order of ``reports.report`` (bucket, keys)."""

    buckets: list[str]
    keys: list[list[str]]  # one list per dimension of ``by``
    measures: dict[str, list[int]]
    figures: dict[str, list[Any]]  # int, float or None, as ``definitions`` gives them

    def __len__(self) -> int:
        return len(self.buckets)

    def rows(self) -> list[reports.ReportRow]:
        """The same table as ``ReportRow``s (tests compare it with ``reports.report``)."""
        size = len(self.buckets)
        keys = list(zip(*self.keys, strict=True)) if self.keys else [()] * size
        measures = list(zip(*self.measures.values(), strict=True)) or [()] * size
        figures = list(zip(*self.figures.values(), strict=True)) or [()] * size
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
                session, tenant_id, model, query, CONTACT_SUMS, CONTACT_MAXES
            )
            options = FigureOptions(exclude_short_abandons=query.exclude_short_abandons)
            figures = contact_figures(measures, options)
        else:
            buckets, keys, measures = await _grouped(
                session, tenant_id, model, query, AGENT_SUMS, AGENT_MAXES
            )
            states = await reports._states(session, query)
            held = None if states is None else _state_columns(states, query, buckets, keys)
            figures = agent_figures(measures, held)
    size = len(buckets)
    return ReportTable(
        buckets=buckets,
        keys=keys,
        measures={name: column.tolist() for name, column in measures.items()},
        figures={name: _listed(value, size) for name, value in figures.items()},
    )


_ROLLUPS = {
    ("contacts", True): FiguresQueueInterval,
    ("contacts", False): FiguresQueueDay,
    ("agents", True): FiguresAgentQueueInterval,
    ("agents", False): FiguresAgentQueueDay,
}


def source_model(query: reports.ReportQuery) -> Any:
    """The table a fast query reads: the roll-up without the category when the report
    neither groups nor filters by category (decision 0507), else the category rows."""
    if "category" in query.by or query.category is not None:
        return reports._model(query.table, query.grain)
    return _ROLLUPS[query.table, query.grain in reports.INTERVAL_GRAINS]


async def _grouped(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    model: Any,
    query: reports.ReportQuery,
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
) -> tuple[list[str], list[list[str]], dict[str, np.ndarray]]:
    """Buckets, key columns and one int64 array per measure, sorted by (bucket, keys)."""
    time = reports._time_column(model, query.grain)
    dims = [reports._dimension(model, name) for name in query.by]
    groups = [c for c in (time, *dims) if c is not None]
    aggregates = [cast(func.sum(getattr(model, n)), BigInteger).label(n) for n in sums]
    aggregates += [cast(func.max(getattr(model, n)), BigInteger).label(n) for n in maxes]
    statement = reports._filtered(select(*groups, *aggregates), model, query)
    # Executed on the session's connection, not through the ORM session: that skips ORM
    # row loading (a third of the Python time on 64,800 rows) and also the session's
    # automatic tenant criterion, so the tenant is named here, explicitly (tested:
    # another tenant's rows never appear).
    statement = statement.where(model.tenant_id == tenant_id)
    if groups:
        statement = statement.group_by(*groups)
    connection = await session.connection()
    width = len(groups)
    names = (*sums, *maxes)
    if connection.dialect.name == "postgresql":
        # 64,800 groups × 27 sums is ~130 MB of aggregate state (and the copy path sorts
        # as many rows): with the default 4 MB PostgreSQL sorts on disk.
        await connection.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        if groups and set(query.by) <= UUID_DIMENSIONS:
            return await _copied(connection, tenant_id, model, query, sums, maxes)
    found = (await connection.execute(statement)).all()
    columns = [list(column) for column in zip(*found, strict=True)] if found else []
    if not columns:
        return [], [[] for _ in query.by], {n: np.zeros(0, np.int64) for n in names}
    size = len(columns[0])
    if time is None:
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


async def _copied(
    connection: AsyncConnection,
    tenant_id: uuid.UUID,
    model: Any,
    query: reports.ReportQuery,
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
) -> tuple[list[str], list[list[str]], dict[str, np.ndarray]]:
    """``_grouped`` on PostgreSQL for reports keyed by time, queue and agent: the rows in
    the range, ordered by the report's keys and without a GROUP BY, come out through a
    binary COPY as NumPy columns (:mod:`~tsunagi.adapters.storage.pg_copy`), and the rows
    of one key (other channels, other categories) are summed here with ``reduceat``.

    PostgreSQL's ``sum(bigint)`` keeps a numeric state per group and measure: for 64,800
    groups × 27 measures that hashing took longer than reading the rows. Summing sorted
    int64 columns is exact and takes milliseconds."""
    time = reports._time_column(model, query.grain)
    dims = [reports._dimension(model, name) for name in query.by]
    groups = [c for c in (time, *dims) if c is not None]
    names = (*sums, *maxes)
    kinds = [_TIME_KINDS[query.grain]] if time is not None else []
    kinds += ["uuid"] * len(dims) + ["int8"] * len(names)
    statement = reports._filtered(
        select(*groups, *(getattr(model, name) for name in names)), model, query
    )
    statement = statement.where(model.tenant_id == tenant_id).order_by(*groups)
    columns = await copy_columns(connection, statement, kinds)
    size = len(columns[0])
    if size == 0:
        return [], [[] for _ in query.by], {n: np.zeros(0, np.int64) for n in names}
    width = len(groups)
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
    if time is None:
        buckets = ["total"] * len(starts)
    else:
        as_objects = pg_copy.datetimes if kinds[0] == "timestamptz" else pg_copy.dates
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


def _listed(value: Any, size: int) -> list[Any]:
    """A figure column as a list: NaN (a zero denominator) becomes None, like the scalar
    definition gives; ints stay ints, floats floats."""
    if not isinstance(value, np.ndarray):
        return [value] * size
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
