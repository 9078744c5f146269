"""Figures REST API: reports by grain and dimension, drill-down, exports, rebuild."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from tsunagi.actions.figures import exports, projector, reports, tables
from tsunagi.actions.figures.repeats import repeat_check
from tsunagi.adapters.storage.figures_models import FiguresContact
from tsunagi.figures.cells import Cell
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.figures.exports import CSV_TYPE, to_csv
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
READ = {"authz": ("read", "figures")}
ADMIN = {"authz": ("update", "figures.admin")}
TAGS = ["figures"]
BASE = "/api/v1/figures"


class RowOut(Output):
    bucket: str
    keys: list[str]
    labels: list[str]
    measures: dict[str, int]
    figures: dict[str, float | None]


class ReportOut(Output):
    table: str
    grain: str
    by: list[str]
    day_from: date
    day_to: date
    rows: list[RowOut]


class ContactOut(Output):
    contact_id: UUID
    state: str
    channel: str
    queue_id: UUID | None
    category: str | None
    outcome: str | None
    created_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_s: float | None
    talk_s: float
    hold_s: float
    holds: int
    acw_s: float
    transfers: int
    escalations: int
    resolved_first_contact: bool | None
    callback: bool
    answered_by: UUID | None
    last_agent_id: UUID | None
    nps_score: int | None = None  # the survey answer of the contact, if any
    csat_score: int | None = None


class LiveOut(Output):
    day: date
    in_progress: dict[str, int]
    queues: list[RowOut]


class RebuildIn(Input):
    apply: bool = False


class RebuildOut(Output):
    last_seq: int
    events: int
    rows: dict[str, int]
    equal: bool
    applied: bool
    differences: list[str]


async def _query(
    request: AnyRequest,
    *,
    table: str,
    grain: str,
    by: str | None,
    day_from: date | None,
    day_to: date | None,
    queue: UUID | None,
    channel: str | None,
    category: str | None,
    agent: UUID | None,
    exclude_short_abandons: bool,
    team: UUID | None = None,
) -> reports.ReportQuery:
    principal = require_principal(request)
    today = await reports.tenant_today(services_of(request).db, principal.tenant_id)
    return reports.ReportQuery(
        day_from=day_from or day_to or today,
        day_to=day_to or day_from or today,
        table=table,
        grain=grain,
        by=tuple(name for name in (by or "").split(",") if name),
        queue_id=queue,
        channel=channel,
        category=category,
        agent_id=agent,
        exclude_short_abandons=exclude_short_abandons,
        team_id=team,
    )


async def _rows(request: AnyRequest, query: reports.ReportQuery) -> list[RowOut]:
    principal = require_principal(request)
    # The columnar fast path: the same rows as ``reports.report`` (tested), computed per
    # column instead of per row.
    table = await tables.report_table(services_of(request).db, principal.tenant_id, query)
    return await _labelled(request, query, table.rows())


async def _labelled(
    request: AnyRequest, query: reports.ReportQuery, found: list[reports.ReportRow]
) -> list[RowOut]:
    principal = require_principal(request)
    names = await reports.names(services_of(request).db, principal.tenant_id, current_locale.get())
    return [
        RowOut(
            bucket=row.bucket,
            keys=list(row.keys),
            labels=[
                names.get(dim, {}).get(key, key)
                for dim, key in zip(query.by, row.keys, strict=True)
            ],
            measures=row.measures,
            figures=row.figures,
        )
        for row in found
    ]


# The report's query parameters, shared by the JSON, CSV and Excel routes.
Table = Annotated[str, QueryParameter(description="contacts or agents")]
Grain = Annotated[str, QueryParameter(description="15, 30, 60, day, week, month or total")]
By = Annotated[
    str | None,
    QueryParameter(
        description="up to two of queue, channel, category; with table=agents also agent or "
        "team (a communicator's current team; not agent and team together)"
    ),
]
Survey = Annotated[
    str | None,
    QueryParameter(
        description="contacts whose survey answer is: " + ", ".join(reports.SURVEY_FILTERS)
    ),
]


@get(f"{BASE}/report", opt=READ, tags=TAGS)
async def read_report(
    request: AnyRequest,
    table: Table = "contacts",
    grain: Grain = "day",
    by: By = None,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    exclude_short_abandons: FromQuery[bool] = True,
    team: FromQuery[UUID | None] = None,
) -> ReportOut:
    """Summed measures and figures per bucket and dimension (see docs/figures.md)."""
    query = await _query(request, **_params(locals()))
    return _report_out(query, await _rows(request, query))


def _report_out(query: reports.ReportQuery, rows: list[RowOut]) -> ReportOut:
    return ReportOut(
        table=query.table,
        grain=query.grain,
        by=list(query.by),
        day_from=query.day_from,
        day_to=query.day_to,
        rows=rows,
    )


@get(f"{BASE}/repeats", opt=READ, tags=TAGS)
async def read_repeats(
    request: AnyRequest,
    grain: Annotated[str, QueryParameter(description="day, week, month or total")] = "total",
    by: By = None,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    window_days: FromQuery[int | None] = None,
) -> ReportOut:
    """即答率 checked by repeat contacts: judged, repeated and pending contacts and
    ``fcr_repeat_rate`` per bucket and dimension (docs/figures.md). ``window_days``
    overrides the queues' windows (default 7 days)."""
    dims = [name for name in (by or "").split(",") if name]
    table = "agents" if "agent" in dims or agent is not None else "contacts"
    query = await _query(
        request, **_params({**locals(), "table": table, "exclude_short_abandons": True})
    )
    principal = require_principal(request)
    found = await repeat_check(
        services_of(request).db, principal.tenant_id, query, window_days=window_days
    )
    return _report_out(query, await _labelled(request, query, found))


def _params(values: dict[str, Any]) -> dict[str, Any]:
    names = (
        "table",
        "grain",
        "by",
        "day_from",
        "day_to",
        "queue",
        "channel",
        "category",
        "agent",
        "exclude_short_abandons",
        "team",
    )
    return {name: values.get(name) for name in names}


async def _report_download(
    request: AnyRequest, query: reports.ReportQuery, file_format: str
) -> Response[bytes]:
    """The same file a scheduled report attaches (``actions.figures.exports``)."""
    principal = require_principal(request)
    found = await exports.report_file(
        services_of(request).db,
        principal.tenant_id,
        query,
        locale=current_locale.get(),
        file_format=file_format,
    )
    return _download(found.content, found.media_type, found.filename)


def _download(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "x-content-type-options": "nosniff",
        },
    )


@get(f"{BASE}/report.csv", opt=READ, tags=TAGS)
async def export_report_csv(
    request: AnyRequest,
    table: Table = "contacts",
    grain: Grain = "day",
    by: By = None,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    exclude_short_abandons: FromQuery[bool] = True,
    team: FromQuery[UUID | None] = None,
) -> Response[bytes]:
    """The report as CSV (UTF-8 with BOM; formula-like text made inert)."""
    query = await _query(request, **_params(locals()))
    return await _report_download(request, query, "csv")


@get(f"{BASE}/report.xlsx", opt=READ, tags=TAGS)
async def export_report_xlsx(
    request: AnyRequest,
    table: Table = "contacts",
    grain: Grain = "day",
    by: By = None,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    exclude_short_abandons: FromQuery[bool] = True,
    team: FromQuery[UUID | None] = None,
) -> Response[bytes]:
    """The report as an Excel workbook (formula-like text made inert)."""
    query = await _query(request, **_params(locals()))
    return await _report_download(request, query, "xlsx")


def _contact_out(row: FiguresContact) -> ContactOut:
    return ContactOut(
        contact_id=row.contact_id,
        state=row.state,
        channel=row.channel,
        queue_id=row.queue_id,
        category=row.category,
        outcome=row.outcome,
        created_at=row.created_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        wait_s=None if row.wait_ms is None else row.wait_ms / 1000,
        talk_s=row.talk_ms / 1000,
        hold_s=row.hold_ms / 1000,
        holds=row.holds,
        acw_s=row.acw_ms / 1000,
        transfers=row.transfers,
        escalations=row.escalations,
        resolved_first_contact=row.resolved,
        callback=row.callback,
        answered_by=row.answered_by,
        last_agent_id=row.last_agent_id,
        nps_score=row.nps_score,
        csat_score=row.csat_score,
    )


async def _drill(
    request: AnyRequest,
    *,
    day_from: date | None,
    day_to: date | None,
    bucket: str | None,
    grain: str,
    queue: UUID | None,
    channel: str | None,
    category: str | None,
    agent: UUID | None,
    outcome: str | None,
    limit: int,
    survey: str | None = None,
) -> list[ContactOut]:
    principal = require_principal(request)
    db = services_of(request).db
    today = await reports.tenant_today(db, principal.tenant_id)
    query = reports.DrillQuery(
        day_from=day_from or day_to or today,
        day_to=day_to or day_from or today,
        bucket=bucket,
        grain=grain,
        queue_id=queue,
        channel=channel,
        category=category,
        agent_id=agent,
        outcome=outcome,
        survey=survey,
        limit=limit,
    )
    found = await reports.contacts_behind(db, principal.tenant_id, query)
    return [_contact_out(row) for row in found]


@get(f"{BASE}/contacts", opt=READ, tags=TAGS)
async def drill_contacts(
    request: AnyRequest,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    bucket: FromQuery[str | None] = None,
    grain: Grain = "day",
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    outcome: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=reports.MAX_DRILL)] = 200,
    survey: Survey = None,
) -> list[ContactOut]:
    """The ended contacts behind a number (same days, bucket and dimensions)."""
    return await _drill(request, **{k: v for k, v in locals().items() if k != "request"})


CONTACT_COLUMNS = tuple(ContactOut.__struct_fields__)


@get(f"{BASE}/contacts.csv", opt=READ, tags=TAGS)
async def export_contacts_csv(
    request: AnyRequest,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    bucket: FromQuery[str | None] = None,
    grain: Grain = "day",
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    outcome: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=reports.MAX_DRILL)] = reports.MAX_DRILL,
    survey: Survey = None,
) -> Response[bytes]:
    """The drill-down contacts as CSV."""
    found = await _drill(request, **{k: v for k, v in locals().items() if k != "request"})
    body = [[_cell(getattr(c, name)) for name in CONTACT_COLUMNS] for c in found]
    return _download(to_csv(CONTACT_COLUMNS, body), CSV_TYPE, "figures-contacts.csv")


def _cell(value: Any) -> Cell:
    if isinstance(value, UUID):
        return str(value)
    result: Cell = value
    return result


@get(f"{BASE}/live", opt=READ, tags=TAGS)
async def read_live(request: AnyRequest) -> LiveOut:
    """Today so far per queue (ended contacts) and the contacts still in progress."""
    principal = require_principal(request)
    db = services_of(request).db
    today = await reports.tenant_today(db, principal.tenant_id)
    query = reports.ReportQuery(day_from=today, day_to=today, grain="total", by=("queue",))
    return LiveOut(
        day=today,
        in_progress=await reports.in_progress(db, principal.tenant_id),
        queues=await _rows(request, query),
    )


@post(f"{BASE}/rebuild", opt=ADMIN, tags=TAGS, status_code=200)
async def rebuild(request: AnyRequest, data: JSONBody[RebuildIn]) -> RebuildOut:
    """Recompute the figures from all events and compare; ``apply`` replaces differing rows."""
    principal = require_principal(request)
    report = await projector.do_rebuild(
        services_of(request).db, principal.tenant_id, apply=data.apply
    )
    return RebuildOut(
        last_seq=report.last_seq,
        events=report.events,
        rows=report.rows,
        equal=report.equal,
        applied=report.applied,
        differences=report.differences[:50],
    )


ROUTES = [
    read_report,
    read_repeats,
    export_report_csv,
    export_report_xlsx,
    drill_contacts,
    export_contacts_csv,
    read_live,
    rebuild,
]
