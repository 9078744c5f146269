"""Scheduled figure reports: the API and the page ``/figures/schedules``.

Managers and administrators create, change, pause, resume and delete schedules;
supervisors read them. Recipients are accepted in full and shown masked
(``actions.figures.schedules``). Sending is done by ``ReportSender`` (``startup``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Template
from sqlalchemy import select

from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.figures import reports
from tsunagi.actions.figures import schedules as actions
from tsunagi.actions.teams import list_teams
from tsunagi.adapters.storage.conversation_models import ChannelAccount
from tsunagi.adapters.storage.models import Category, Queue
from tsunagi.domain.permission_types import Action
from tsunagi.domain.permissions import Resource, is_allowed
from tsunagi.figures.intervals import GRAINS
from tsunagi.figures.schedules import CADENCES, FORMATS
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["figures"]
BASE = "/api/v1/figures/schedules"
READ = {"authz": ("read", "report_schedule")}
CREATE = {"authz": ("create", "report_schedule")}
UPDATE = {"authz": ("update", "report_schedule")}
DELETE = {"authz": ("delete", "report_schedule")}


class ScheduleIn(Input):
    """A schedule: the report (``table`` and the filters of ``/api/v1/figures/report``),
    ``file_format``, ``cadence`` (``weekday`` 0 = Monday for weekly, ``month_day`` for
    monthly; days past a month's end mean its last day), ``send_time`` (HH:MM, the
    tenant's zone), ``recipients`` (1-20 addresses), optionally the ``mailbox_id`` to
    send through (default: the tenant's first enabled mailbox) and the ``locale`` of names
    in the file."""

    name: str
    table: str = "contacts"
    grain: str = "day"
    by: list[str] = msgspec.field(default_factory=list)
    queue: UUID | None = None
    channel: str | None = None
    category: str | None = None
    agent: UUID | None = None
    team: UUID | None = None
    exclude_short_abandons: bool = True
    file_format: str = "xlsx"
    cadence: str = "daily"
    weekday: int | None = None
    month_day: int | None = None
    send_time: str = "08:00"
    recipients: list[str] = msgspec.field(default_factory=list)
    mailbox_id: UUID | None = None
    locale: str | None = None


class RunOut(Output):
    id: UUID
    period_from: date
    period_to: date
    due_at: datetime
    status: str
    attempts: int
    next_try_at: datetime | None
    sent_at: datetime | None
    error: str | None


class ScheduleOut(Output):
    id: UUID
    name: str
    query: dict[str, Any]
    file_format: str
    cadence: str
    weekday: int | None
    month_day: int | None
    send_time: str
    locale: str
    mailbox_id: UUID | None
    recipients: list[str]  # masked: h***@example.org
    paused: bool
    next_due_at: datetime
    created_at: datetime
    updated_at: datetime
    last_run: RunOut | None


def _run_out(run: actions.RunView) -> RunOut:
    return RunOut(**{name: getattr(run, name) for name in RunOut.__struct_fields__})


def _out(view: actions.ScheduleView) -> ScheduleOut:
    values = {name: getattr(view, name) for name in ScheduleOut.__struct_fields__}
    values["last_run"] = None if view.last_run is None else _run_out(view.last_run)
    return ScheduleOut(**values)


def _input(data: ScheduleIn) -> actions.ScheduleInput:
    return actions.ScheduleInput(
        name=data.name,
        table=data.table,
        grain=data.grain,
        by=list(data.by),
        queue=data.queue,
        channel=data.channel,
        category=data.category,
        agent=data.agent,
        team=data.team,
        exclude_short_abandons=data.exclude_short_abandons,
        file_format=data.file_format,
        cadence=data.cadence,
        weekday=data.weekday,
        month_day=data.month_day,
        send_time=data.send_time,
        recipients=list(data.recipients),
        mailbox_id=data.mailbox_id,
        locale=data.locale or current_locale.get(),
    )


@get(BASE, opt=READ, tags=TAGS)
async def list_schedules(request: AnyRequest) -> list[ScheduleOut]:
    """The tenant's report schedules with their last run (recipients masked)."""
    principal = require_principal(request)
    services = services_of(request)
    found = await actions.list_schedules(
        services.db, services.keyring, tenant_id=principal.tenant_id
    )
    return [_out(view) for view in found]


@post(BASE, opt=CREATE, tags=TAGS, status_code=201)
async def create_schedule(request: AnyRequest, data: JSONBody[ScheduleIn]) -> ScheduleOut:
    """Create a schedule (422 naming the field when one is not acceptable)."""
    principal = require_principal(request)
    services = services_of(request)
    view = await actions.do_create_schedule(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        data=_input(data),
        actor_user_id=principal.user_id,
    )
    return _out(view)


@get(f"{BASE}/{{schedule_id:uuid}}", opt=READ, tags=TAGS)
async def read_schedule(request: AnyRequest, schedule_id: FromPath[UUID]) -> ScheduleOut:
    principal = require_principal(request)
    services = services_of(request)
    view = await actions.get_schedule(
        services.db, services.keyring, tenant_id=principal.tenant_id, schedule_id=schedule_id
    )
    return _out(view)


@put(f"{BASE}/{{schedule_id:uuid}}", opt=UPDATE, tags=TAGS)
async def update_schedule(
    request: AnyRequest, schedule_id: FromPath[UUID], data: JSONBody[ScheduleIn]
) -> ScheduleOut:
    """Replace the settings (recipients too); the next send is computed from now."""
    principal = require_principal(request)
    services = services_of(request)
    view = await actions.do_update_schedule(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        schedule_id=schedule_id,
        data=_input(data),
        actor_user_id=principal.user_id,
    )
    return _out(view)


async def _pause(request: AnyRequest, schedule_id: UUID, paused: bool) -> ScheduleOut:
    principal = require_principal(request)
    services = services_of(request)
    view = await actions.do_set_paused(
        services.db,
        services.keyring,
        tenant_id=principal.tenant_id,
        schedule_id=schedule_id,
        paused=paused,
        actor_user_id=principal.user_id,
    )
    return _out(view)


@post(f"{BASE}/{{schedule_id:uuid}}/pause", opt=UPDATE, tags=TAGS, status_code=200)
async def pause_schedule(request: AnyRequest, schedule_id: FromPath[UUID]) -> ScheduleOut:
    """Stop sending until resumed (409 if already paused)."""
    return await _pause(request, schedule_id, True)


@post(f"{BASE}/{{schedule_id:uuid}}/resume", opt=UPDATE, tags=TAGS, status_code=200)
async def resume_schedule(request: AnyRequest, schedule_id: FromPath[UUID]) -> ScheduleOut:
    """Send again from the next send time after now (missed ones are not sent)."""
    return await _pause(request, schedule_id, False)


@delete(f"{BASE}/{{schedule_id:uuid}}", opt=DELETE, tags=TAGS, status_code=204)
async def delete_schedule(request: AnyRequest, schedule_id: FromPath[UUID]) -> None:
    principal = require_principal(request)
    await actions.do_delete_schedule(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        schedule_id=schedule_id,
        actor_user_id=principal.user_id,
    )


@get(f"{BASE}/{{schedule_id:uuid}}/runs", opt=READ, tags=TAGS)
async def list_runs(
    request: AnyRequest,
    schedule_id: FromPath[UUID],
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> list[RunOut]:
    """The periods sent or being sent, newest first: status, attempts, error (masked)."""
    principal = require_principal(request)
    found = await actions.list_runs(
        services_of(request).db, tenant_id=principal.tenant_id, schedule_id=schedule_id, limit=limit
    )
    return [_run_out(run) for run in found]


@post(
    f"{BASE}/{{schedule_id:uuid}}/runs/{{run_id:uuid}}/retry",
    opt=UPDATE,
    tags=TAGS,
    status_code=200,
)
async def retry_run(
    request: AnyRequest, schedule_id: FromPath[UUID], run_id: FromPath[UUID]
) -> RunOut:
    """Send a failed or interrupted period again (409 otherwise)."""
    principal = require_principal(request)
    run = await actions.do_retry_run(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        schedule_id=schedule_id,
        run_id=run_id,
        actor_user_id=principal.user_id,
    )
    return _run_out(run)


@get("/figures/schedules", opt={**READ, "page": True})
async def schedules_page(request: AnyRequest) -> Template:
    """The schedules with their last run; the form and buttons call the API."""
    principal = require_principal(request)
    services = services_of(request)
    db = services.db
    tenant_id = principal.tenant_id
    schedules = await actions.list_schedules(db, services.keyring, tenant_id=tenant_id)
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = (await session.scalars(select(Queue).order_by(Queue.code))).all()
        categories = (await session.scalars(select(Category).order_by(Category.sort_order))).all()
        mailboxes = (
            await session.scalars(
                select(ChannelAccount)
                .where(ChannelAccount.channel == "email")
                .order_by(ChannelAccount.name)
            )
        ).all()
    may_change = is_allowed(principal, Action.UPDATE, Resource("report_schedule", tenant_id))
    return Template(
        "figures/schedules.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, tenant_id),
            "csrf": csrf_for(request),
            "schedules": schedules,
            "names": await reports.names(db, tenant_id, current_locale.get()),
            "queues": queues,
            "categories": categories,
            "mailboxes": mailboxes,
            "teams": await list_teams(db, tenant_id=tenant_id),
            "channels": ("voice", "chat", "email", "sms", "callback"),
            "grains": GRAINS,
            "weekdays": range(7),
            "cadences": CADENCES,
            "formats": FORMATS,
            "may_change": may_change,
        },
    )


ROUTES = [
    list_schedules,
    create_schedule,
    read_schedule,
    update_schedule,
    pause_schedule,
    resume_schedule,
    delete_schedule,
    list_runs,
    retry_run,
    schedules_page,
]
