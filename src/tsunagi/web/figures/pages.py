"""The figures dashboard (``/figures``) and the drill-down page (``/figures/contacts``).

Server-rendered from the same report queries as the API: filters are a plain GET form, so
a filter change is a new page with new charts, and every number links to the contacts
behind it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.figures import reports
from tsunagi.actions.figures.repeats import repeat_check
from tsunagi.actions.teams import list_teams, team_of_users
from tsunagi.adapters.storage.models import Queue
from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.definitions import (
    FigureOptions,
    Measures,
    add_into,
    contact_figures,
    repeat_figures,
)
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.figures.charts import heat_map, histogram, score_chart, volume_chart
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
HANDLE_EDGES_S = (0, 60, 120, 180, 300, 420, 600, 900, 1200, 1800)
CHANNELS = ("voice", "chat", "email", "sms", "callback")


def _range(
    today: date, day_from: date | None, day_to: date | None, grain: str | None
) -> tuple[date, date, str]:
    end = day_to or today
    start = day_from or end - timedelta(days=6)
    if start > end:
        raise InvalidInputError("the first day is after the last day")
    chosen = grain or ("60" if start == end else "day")
    return start, end, chosen


@get("/figures", opt={"authz": ("read", "figures"), "page": True})
async def figures_page(
    request: AnyRequest,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    grain: FromQuery[str | None] = None,
    queue_text: Annotated[str | None, QueryParameter(name="queue")] = None,
    channel_text: Annotated[str | None, QueryParameter(name="channel")] = None,
    team_text: Annotated[str | None, QueryParameter(name="team")] = None,
) -> Template:
    """The dashboard; the filter form sends empty values for "all", read as no filter.
    A team narrows the communicator tables (contacts are not a team's)."""
    principal = require_principal(request)
    db = services_of(request).db
    tenant_id = principal.tenant_id
    queue = _uuid_or_none(queue_text)
    team = _uuid_or_none(team_text, "team")
    channel = channel_text or None
    today = await reports.tenant_today(db, tenant_id)
    start, end, chosen = _range(today, day_from, day_to, grain)
    base = reports.ReportQuery(
        day_from=start, day_to=end, grain=chosen, queue_id=queue, channel=channel
    ).validated()
    names = await reports.names(db, tenant_id, current_locale.get())
    trend = await reports.report(db, tenant_id, base)
    totals = await reports.report(db, tenant_id, _with(base, grain="total"))
    by_queue = await reports.report(db, tenant_id, _with(base, grain="total", by=("queue",)))
    by_category = await reports.report(db, tenant_id, _with(base, grain="total", by=("category",)))
    agents = await reports.report(
        db, tenant_id, _with(base, table="agents", grain="total", by=("agent",), team_id=team)
    )
    by_team = await reports.report(
        db, tenant_id, _with(base, table="agents", grain="total", by=("team",), team_id=team)
    )
    pairs = await reports.report(
        db,
        tenant_id,
        _with(base, table="agents", grain="total", by=("agent", "category"), team_id=team),
    )
    handle = await reports.handle_times(db, tenant_id, base)
    repeat_pairs = await repeat_check(
        db, tenant_id, _with(base, table="agents", grain="total", by=("agent", "category"))
    )
    if team is not None:  # the repeat check is per communicator: keep the team's
        members = {
            str(u) for u, t in (await team_of_users(db, tenant_id=tenant_id)).items() if t == team
        }
        repeat_pairs = [row for row in repeat_pairs if row.keys[0] in members]
    repeat_total: Measures = {}
    for row in repeat_pairs:  # every judged contact is in exactly one pair
        add_into(repeat_total, row.measures)
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
    filters = {
        "day_from": start.isoformat(),
        "day_to": end.isoformat(),
        "grain": chosen,
        **({"queue": str(queue)} if queue else {}),
        **({"channel": channel} if channel else {}),
        **({"team": str(team)} if team else {}),
    }
    total = totals[0].figures if totals else contact_figures({}, FigureOptions())
    return Template(
        "figures/dashboard.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, tenant_id),
            "csrf": csrf_for(request),
            "filters": filters,
            # the contact exports have no team (a team narrows communicator tables only)
            "query": urlencode({k: v for k, v in filters.items() if k != "team"}),
            "queues": queues,
            "channels": CHANNELS,
            "grains": ("15", "30", "60", "day", "week", "month"),
            "total": total,
            "total_measures": totals[0].measures if totals else {},
            "volume": volume_chart(
                [r.bucket for r in trend],
                [int(r.figures["answered"] or 0) for r in trend],
                [int(r.figures["abandoned"] or 0) for r in trend],
                [r.figures["service_level"] for r in trend],
            ),
            "trend": trend,
            "scores": score_chart(
                [r.bucket for r in trend],
                [r.figures["nps"] for r in trend],
                [r.figures["csat"] for r in trend],
            ),
            "handle": histogram(handle, HANDLE_EDGES_S),
            "handled_count": len(handle),
            "by_queue": by_queue,
            "by_category": by_category,
            "agents": agents,
            "by_team": by_team,
            "teams": await list_teams(db, tenant_id=tenant_id),
            "repeat": repeat_figures(repeat_total),
            "heat": heat_map(
                {
                    (r.keys[0], r.keys[1]): (r.measures["fcr_yes"], r.measures["fcr_no"])
                    for r in pairs
                },
                {
                    (r.keys[0], r.keys[1]): (r.measures["repeat_judged"], r.measures["repeated"])
                    for r in repeat_pairs
                },
            ),
            "names": names,
            "drill": _drill_link,
        },
    )


def _uuid_or_none(text: str | None, name: str = "queue") -> UUID | None:
    if not text:
        return None
    try:
        return UUID(text)
    except ValueError as error:
        raise InvalidInputError(f"{name} must be a {name} id") from error


def _with(query: reports.ReportQuery, **changes: Any) -> reports.ReportQuery:
    return replace(query, **changes)


def _drill_link(filters: dict[str, str], **more: str) -> str:
    params = {k: v for k, v in {**filters, **more}.items() if v is not None}
    return "/figures/contacts?" + urlencode(params)


@get("/figures/contacts", opt={"authz": ("read", "figures"), "page": True})
async def drill_page(
    request: AnyRequest,
    day_from: FromQuery[date | None] = None,
    day_to: FromQuery[date | None] = None,
    grain: FromQuery[str | None] = None,
    bucket: FromQuery[str | None] = None,
    queue: FromQuery[UUID | None] = None,
    channel: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    agent: FromQuery[UUID | None] = None,
    outcome: FromQuery[str | None] = None,
    survey: FromQuery[str | None] = None,
) -> Template:
    """The contacts behind a number of the dashboard."""
    principal = require_principal(request)
    db = services_of(request).db
    today = await reports.tenant_today(db, principal.tenant_id)
    start, end, chosen = _range(today, day_from, day_to, grain)
    query = reports.DrillQuery(
        day_from=start,
        day_to=end,
        bucket=bucket,
        grain=chosen,
        queue_id=queue,
        channel=channel,
        category=category,
        agent_id=agent,
        outcome=outcome,
        survey=survey,
        limit=500,
    )
    contacts = await reports.contacts_behind(db, principal.tenant_id, query)
    filters = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    return Template(
        "figures/contacts.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, principal.tenant_id),
            "csrf": csrf_for(request),
            "contacts": contacts,
            "names": await reports.names(db, principal.tenant_id, current_locale.get()),
            "back": "/figures?"
            + urlencode({k: v for k, v in filters.items() if k in ("day_from", "day_to", "grain")}),
            "export": "/api/v1/figures/contacts.csv?" + urlencode(filters),
            "start": start,
            "end": end,
        },
    )


ROUTES = [figures_page, drill_page]
