"""REST API of the FAQ bot.

* ``GET /api/v1/channels/bot/stats?from=&to=&queue_id=`` — per queue and day (the
  centre's time zone): bot conversations, resolved by the bot, handed over, hand-over
  rate and share resolved (supervisors, managers, administrators).
* ``GET|PATCH /api/v1/queues/{queue_id}/bot`` — whether a queue's chats start with the
  bot (default off: human chat only), its confidence threshold and turn limit.

The conversation itself (greeting, answers, the "talk to a person" button) runs through
the chat WebSocket, which calls ``actions.bot``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, patch
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from tsunagi.actions.bot import BotStatsRow, bot_stats, do_set_queue_bot, queue_bot_settings
from tsunagi.channels.bot import BotSettings
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import require_principal
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["bot"]
BASE = "/api/v1/channels/bot"
SETTINGS = "/api/v1/queues/{queue_id:uuid}/bot"


class StatsRowOut(Output):
    queue_id: UUID | None  # None on the total row
    day: date | None  # None on the total row
    conversations: int
    resolved: int
    handed_over: int
    with_bot: int
    bot_turns: int
    handover_rate: float | None
    resolved_share: float | None


class StatsOut(Output):
    day_from: date
    day_to: date
    queue_id: UUID | None
    rows: list[StatsRowOut]
    total: StatsRowOut


class BotSettingsOut(Output):
    enabled: bool
    min_confidence: float
    max_turns: int


class BotSettingsIn(Input):
    """Fields left out keep their value."""

    enabled: bool | None = None
    min_confidence: float | None = None
    max_turns: int | None = None


def _row(row: BotStatsRow, *, total: bool = False) -> StatsRowOut:
    return StatsRowOut(
        queue_id=None if total else row.queue_id,
        day=None if total else row.day,
        conversations=row.conversations,
        resolved=row.resolved,
        handed_over=row.handed_over,
        with_bot=row.with_bot,
        bot_turns=row.bot_turns,
        handover_rate=row.handover_rate,
        resolved_share=row.resolved_share,
    )


def _sum(rows: list[BotStatsRow], day: date) -> BotStatsRow:
    values = [
        sum(getattr(r, name) for r in rows)
        for name in ("conversations", "resolved", "handed_over", "with_bot", "bot_turns")
    ]
    return BotStatsRow(UUID(int=0), day, *values)


def _out(settings: BotSettings) -> BotSettingsOut:
    return BotSettingsOut(
        enabled=settings.enabled,
        min_confidence=settings.min_confidence,
        max_turns=settings.max_turns,
    )


@get(f"{BASE}/stats", opt={"authz": ("read", "bot")}, tags=TAGS)
async def read_bot_stats(
    request: AnyRequest,
    day_from: Annotated[date, QueryParameter(name="from")],
    day_to: Annotated[date, QueryParameter(name="to")],
    queue_id: FromQuery[UUID | None] = None,
) -> StatsOut:
    """Hand-over rate and share resolved by the bot, per queue and day, with a total."""
    principal = require_principal(request)
    rows = await bot_stats(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        start=day_from,
        end=day_to,
        queue_id=queue_id,
    )
    return StatsOut(
        day_from=day_from,
        day_to=day_to,
        queue_id=queue_id,
        rows=[_row(r) for r in rows],
        total=_row(_sum(rows, day_from), total=True),
    )


@get(SETTINGS, opt={"authz": ("read", "bot_settings")}, tags=TAGS)
async def read_queue_bot(request: AnyRequest, queue_id: FromPath[UUID]) -> BotSettingsOut:
    principal = require_principal(request)
    settings = await queue_bot_settings(
        services_of(request).db, tenant_id=principal.tenant_id, queue_id=queue_id
    )
    return _out(settings)


@patch(SETTINGS, opt={"authz": ("update", "bot_settings")}, tags=TAGS)
async def update_queue_bot(
    request: AnyRequest, queue_id: FromPath[UUID], data: JSONBody[BotSettingsIn]
) -> BotSettingsOut:
    """Switch the bot on or off for a queue's new chats; threshold and turn limit."""
    principal = require_principal(request)
    saved = await do_set_queue_bot(
        services_of(request).db,
        tenant_id=principal.tenant_id,
        queue_id=queue_id,
        enabled=data.enabled,
        min_confidence=data.min_confidence,
        max_turns=data.max_turns,
    )
    return _out(saved)


ROUTES = [read_bot_stats, read_queue_bot, update_queue_bot]
