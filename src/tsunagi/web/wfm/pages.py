"""Planning pages: ``/wfm`` (forecast and staffing), ``/wfm/schedule`` (shifts) and
``/wfm/budget`` (the annual budget), with CSV and Excel exports of what they show.

The forms are plain GET forms whose fields are the API's fields (flattened), so a page is
a bookmarkable URL and its export link repeats the same query. An uploaded history CSV
cannot travel in a URL: ``POST /wfm/upload`` (multipart, CSRF-checked) shows the page or
returns the export directly. Nothing is run until the planner presses a button (the
``run`` field), so opening ``/wfm`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions import wfm as actions
from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.figures import reports
from tsunagi.adapters.storage.models import Queue
from tsunagi.domain.errors import InvalidInputError
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.figures.exports import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of
from tsunagi.web.wfm import api
from tsunagi.web.wfm import schemas as s
from tsunagi.web.wfm.charts import interval_chart, month_chart
from tsunagi.web.wfm.exports import budget_table, schedule_table, staffing_table

AnyRequest = Request[Any, Any, Any]
PAGE = {"authz": ("read", "wfm"), "page": True}
EXPORT = {"authz": ("read", "wfm")}
CHANNELS = ("voice", "chat", "email", "sms", "callback")
In = TypeVar("In", bound=s.StaffingIn)

# Flat form fields that fill a nested part of the request.
SHIFT_FIELDS = tuple(s.ShiftIn.__struct_fields__)
RATE_FIELDS = tuple(f for f in s.RatesIn.__struct_fields__ if f != "roles")
# What the tabs carry from one planning page to the next: the history and the target.
CARRIED = (
    "queue_id",
    "channel",
    "history_weeks",
    "history_from",
    "history_to",
    "interval_minutes",
    "method",
    "weeks",
    "open_weekdays",
    "holidays",
    "special_days",
    "busy_seasons",
    *tuple(f for f in s.StaffingIn.__struct_fields__ if f not in s.ForecastIn.__struct_fields__),
)
PAGE_FIELDS = ("run", "format", "_csrf", "supervisor_rate", "supervisor_per_agents")


def form_values(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Flat form pairs to the nested request shape; empty fields mean "default"."""
    values: dict[str, Any] = {}
    calendar: dict[str, Any] = {}
    shifts: dict[int, dict[str, str]] = {}
    rates: dict[str, Any] = {}
    for key, value in pairs:
        if value == "" or key in PAGE_FIELDS:
            continue
        if key == "open_weekdays":
            calendar.setdefault("open_weekdays", []).append(value)
        elif key == "holidays":
            calendar["holidays"] = value
        elif key == "special_days":
            calendar["special_days"] = _special_days(value)
        elif key == "busy_seasons":
            calendar["busy_seasons"] = _busy_seasons(value)
        elif key.startswith("shift") and "_" in key:
            number, _, name = key[len("shift") :].partition("_")
            if number.isdigit() and name in SHIFT_FIELDS:
                shifts.setdefault(int(number), {})[name] = value
            else:
                values[key] = value  # unknown: refused by the schema
        elif key.startswith("rate_") and key[5:] in RATE_FIELDS:
            rates[key[5:]] = value
        else:
            values[key] = value
    found = dict(pairs)
    if found.get("supervisor_rate") and found.get("supervisor_per_agents"):
        rates["roles"] = [
            {
                "name": "supervisor",
                "hourly_rate": found["supervisor_rate"],
                "per_agents": found["supervisor_per_agents"],
            }
        ]
    if calendar:
        values["calendar"] = calendar
    if shifts:
        values["shifts"] = [shifts[k] for k in sorted(shifts) if "name" in shifts[k]]
    if rates:
        values["rates"] = rates
    return values


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _special_days(text: str) -> dict[str, str]:
    """``DATE=FACTOR`` per line (``DATE`` alone closes the day)."""
    found = {}
    for line in _lines(text):
        day, _, factor = line.partition("=")
        found[day.strip()] = factor.strip() or "0"
    return found


def _busy_seasons(text: str) -> list[dict[str, str]]:
    """``FIRST:LAST=FACTOR`` per line."""
    found = []
    for line in _lines(text):
        span, sep, factor = line.partition("=")
        first, colon, last = span.partition(":")
        if not sep or not colon:
            raise InvalidInputError(
                f"busy_seasons: {line!r}: write FIRST:LAST=FACTOR, e.g. 2027-03-01:2027-03-31=1.3"
            )
        found.append({"first": first.strip(), "last": last.strip(), "factor": factor.strip()})
    return found


def parse_form(pairs: list[tuple[str, str]], kind: type[In]) -> In:
    try:
        return msgspec.convert(form_values(pairs), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(str(exc)) from exc


def _pairs(request: AnyRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if isinstance(v, str)]


async def _context(request: AnyRequest, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    principal = require_principal(request)
    db = services_of(request).db
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
    names = await reports.names(db, principal.tenant_id, current_locale.get())
    shown = [(k, v) for k, v in pairs if k not in ("_csrf", "format", "history_csv")]
    return {
        "principal": principal,
        "tenant": await get_tenant(db, principal.tenant_id),
        "csrf": csrf_for(request),
        "queues": queues,
        "queue_names": names["queue"],
        "channels": CHANNELS,
        "form": dict(shown),
        "weekdays": [v for k, v in shown if k == "open_weekdays"] or [str(d) for d in range(7)],
        "query": urlencode(shown),
        "carry": urlencode([(k, v) for k, v in shown if k in CARRIED]),
        "carry_days": urlencode([(k, v) for k, v in shown if k in (*CARRIED, "days", "start")]),
        "error": None,
    }


def _staffing_context(plan: Any, data: s.StaffingIn) -> dict[str, Any]:
    out = api.staffing_out(plan, data.model)
    starts = plan.forecast.starts
    actual = plan.forecast.actual
    return {
        "staffing": out,
        "forecast_chart": interval_chart(
            starts, plan.forecast.volume, {"actual": actual}, bar_css="forecast"
        ),
        "staffing_chart": interval_chart(
            starts,
            [int(n) for n in plan.table.agents_with_shrinkage],
            {"net": [float(n) for n in plan.table.agents]},
        ),
        "has_actual": any(v is not None for v in actual),
        "total_volume": sum(plan.forecast.volume),
    }


async def _page(
    name: str, context: dict[str, Any], fill: Callable[[], Awaitable[None]]
) -> Template:
    """Render a planning page; bad input shows the same form with the message (422), so
    the planner corrects the field instead of starting again."""
    try:
        await fill()
    except InvalidInputError as exc:
        context["error"] = str(exc)
        return Template(name, context=context, status_code=422)
    return Template(name, context=context)


@get("/wfm", opt=PAGE)
async def plan_page(request: AnyRequest) -> Template:
    """Forecast and staffing of a queue and channel from the figures (or, by upload, a CSV)."""
    pairs = _pairs(request)
    context = await _context(request, pairs)
    return await _page("wfm/plan.html", context, lambda: _fill_plan(request, pairs, context))


async def _fill_plan(
    request: AnyRequest, pairs: list[tuple[str, str]], context: dict[str, Any]
) -> None:
    if dict(pairs).get("run"):
        data = parse_form(pairs, s.StaffingIn)
        plan = await api.staffing_plan(request, data)
        context.update(_staffing_context(plan, data))
        if data.holdout_weeks is not None:
            principal = require_principal(request)
            _table, context["accuracy"] = await actions.plan_forecast(
                services_of(request).db,
                principal.tenant_id,
                await api.source_of(request, data),
                s.forecast_spec(data),
                data.holdout_weeks,
            )


def _download(content: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(
        content,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "x-content-type-options": "nosniff",
        },
    )


async def _export(header: list[str], rows: list[list[Any]], fmt: str, name: str) -> Response[bytes]:
    """The file is written in the planning pool: a year of rows in Excel takes seconds."""
    if fmt == "xlsx":
        content = await actions.compute(to_xlsx, name, header, rows)
        return _download(content, XLSX_TYPE, f"{name}.xlsx")
    return _download(await actions.compute(to_csv, header, rows), CSV_TYPE, f"{name}.csv")


@post("/wfm/upload", opt=PAGE, status_code=200)
async def upload_page(
    request: AnyRequest,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template | Response[bytes]:
    """The planning page on an uploaded history CSV; ``format=csv|xlsx`` downloads instead."""
    upload = data.get("history")
    if not isinstance(upload, UploadFile):
        raise InvalidInputError("history: choose a CSV file with interval_start,volume")
    raw = await upload.read(s.MAX_CSV_CHARS + 1)
    if len(raw) > s.MAX_CSV_CHARS:
        raise InvalidInputError("history: the file is larger than 10 MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("history: the file is not UTF-8 text") from exc
    pairs = [
        (k, str(v))
        for k, values in data.items()
        if k != "history"
        for v in (values if isinstance(values, list) else [values])
    ]
    parsed = parse_form([*pairs, ("history_csv", text)], s.StaffingIn)
    plan = await api.staffing_plan(request, parsed)
    fmt = dict(pairs).get("format", "page")
    if fmt in ("csv", "xlsx"):
        header, rows = staffing_table(api.staffing_out(plan, parsed.model))
        return await _export(header, rows, fmt, "wfm-staffing")
    context = await _context(request, pairs)
    context.update(_staffing_context(plan, parsed))
    context["uploaded"] = upload.filename
    return Template("wfm/plan.html", context=context)


@get("/wfm/plan.csv", opt=EXPORT)
async def plan_csv(request: AnyRequest) -> Response[bytes]:
    """The staffing plan of the page's query as CSV (formula-like text made inert)."""
    data = parse_form(_pairs(request), s.StaffingIn)
    header, rows = staffing_table(
        api.staffing_out(await api.staffing_plan(request, data), data.model)
    )
    return await _export(header, rows, "csv", "wfm-staffing")


@get("/wfm/plan.xlsx", opt=EXPORT)
async def plan_xlsx(request: AnyRequest) -> Response[bytes]:
    """The staffing plan of the page's query as an Excel workbook."""
    data = parse_form(_pairs(request), s.StaffingIn)
    header, rows = staffing_table(
        api.staffing_out(await api.staffing_plan(request, data), data.model)
    )
    return await _export(header, rows, "xlsx", "wfm-staffing")


@get("/wfm/schedule", opt=PAGE)
async def schedule_page(request: AnyRequest) -> Template:
    """Shifts covering the staffing of the chosen days, with over/under per interval."""
    pairs = _pairs(request)
    context = await _context(request, pairs)
    return await _page(
        "wfm/schedule.html", context, lambda: _fill_schedule(request, pairs, context)
    )


async def _fill_schedule(
    request: AnyRequest, pairs: list[tuple[str, str]], context: dict[str, Any]
) -> None:
    if dict(pairs).get("run"):
        data = parse_form(pairs, s.ScheduleIn)
        plan, shifted = await api.schedule_plan(request, data)
        out = api.schedule_out(shifted)
        context.update(
            {
                "schedule": out,
                "coverage_chart": interval_chart(
                    shifted.starts,
                    [float(n) for n in shifted.required],
                    {"scheduled": [float(n) for n in shifted.scheduled]},
                ),
                "aht_s": float(plan.aht_s),
            }
        )


async def _schedule_export(request: AnyRequest, fmt: str) -> Response[bytes]:
    data = parse_form(_pairs(request), s.ScheduleIn)
    _plan, shifted = await api.schedule_plan(request, data)
    header, rows = schedule_table(api.schedule_out(shifted))
    return await _export(header, rows, fmt, "wfm-schedule")


@get("/wfm/schedule.csv", opt=EXPORT)
async def schedule_csv(request: AnyRequest) -> Response[bytes]:
    """Coverage per interval of the schedule page's query, as CSV."""
    return await _schedule_export(request, "csv")


@get("/wfm/schedule.xlsx", opt=EXPORT)
async def schedule_xlsx(request: AnyRequest) -> Response[bytes]:
    """Coverage per interval of the schedule page's query, as an Excel workbook."""
    return await _schedule_export(request, "xlsx")


@get("/wfm/budget", opt=PAGE)
async def budget_page(request: AnyRequest) -> Template:
    """The annual budget by month for the plan and its variants, side by side."""
    pairs = _pairs(request)
    context = await _context(request, pairs)
    # A budget year is twelve whole months: from the first of next month by default.
    principal = require_principal(request)
    zone = await actions.tenant_zone(services_of(request).db, principal.tenant_id)
    today = datetime.now(zone).date()
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    context["year_start"] = first.isoformat()
    context["year_days"] = str((first.replace(year=first.year + 1) - first).days)
    return await _page("wfm/budget.html", context, lambda: _fill_budget(request, pairs, context))


async def _fill_budget(
    request: AnyRequest, pairs: list[tuple[str, str]], context: dict[str, Any]
) -> None:
    if dict(pairs).get("run"):
        data = parse_form(pairs, s.BudgetIn)
        out = await api.budget_of(request, data)
        months = [m.month for m in out.scenarios[0].months] if out.scenarios else []
        context.update(
            {
                "budget": out,
                "budget_chart": month_chart(
                    months, {sc.scenario: [m.total for m in sc.months] for sc in out.scenarios}
                ),
            }
        )


async def _budget_export(request: AnyRequest, fmt: str) -> Response[bytes]:
    data = parse_form(_pairs(request), s.BudgetIn)
    out = await api.budget_of(request, data)
    header, rows = budget_table(out)
    return await _export(header, rows, fmt, "wfm-budget")


@get("/wfm/budget.csv", opt=EXPORT)
async def budget_csv(request: AnyRequest) -> Response[bytes]:
    """The budget months of every scenario of the budget page's query, as CSV."""
    return await _budget_export(request, "csv")


@get("/wfm/budget.xlsx", opt=EXPORT)
async def budget_xlsx(request: AnyRequest) -> Response[bytes]:
    """The budget months of every scenario of the budget page's query, as Excel."""
    return await _budget_export(request, "xlsx")


ROUTES = [
    plan_page,
    upload_page,
    plan_csv,
    plan_xlsx,
    schedule_page,
    schedule_csv,
    schedule_xlsx,
    budget_page,
    budget_csv,
    budget_xlsx,
]
