"""Recordings: ``GET /api/v1/contacts/{id}/recordings`` (list), ``…/recordings/{rid}``
(the WAV, each read audited), the page ``/contacts/{id}/recordings`` with a player, and
``GET|PUT /api/v1/recording-policy`` (the tenant's retention period)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, get, put
from litestar.params import FromPath, JSONBody
from litestar.response import Response, Template

from tsunagi.actions import recordings as actions
from tsunagi.actions.accounts import get_tenant
from tsunagi.adapters.telephony.recordings import RecordingVault
from tsunagi.web.api.schemas import Input, Output
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.services import Services, services_of

AnyRequest = Request[Any, Any, Any]
TAGS = ["voice"]


class RecordingOut(Output):
    id: str
    contact_id: UUID
    size_bytes: int
    stored_at: datetime
    url: str


class RetentionOut(Output):
    days: int
    tenant_days: int | None
    default_days: int


class RetentionIn(Input):
    # Days to keep recordings; null returns to the server's default.
    days: int | None


def vault_of(services: Services) -> RecordingVault:
    return RecordingVault(services.db, services.keyring, services.settings.data_dir / "recordings")


def _out(info: actions.RecordingInfo) -> RecordingOut:
    return RecordingOut(
        id=info.id,
        contact_id=info.contact_id,
        size_bytes=info.size_bytes,
        stored_at=info.stored_at,
        url=f"/api/v1/contacts/{info.contact_id}/recordings/{info.id}",
    )


@get(
    "/api/v1/contacts/{contact_id:uuid}/recordings",
    opt={"authz": ("read", "recording")},
    tags=TAGS,
)
async def list_recordings(request: AnyRequest, contact_id: FromPath[UUID]) -> list[RecordingOut]:
    """The call recordings of a contact (a communicator: only of calls they handled)."""
    services = services_of(request)
    found = await actions.list_recordings(
        services.db, vault_of(services), require_principal(request), contact_id
    )
    return [_out(info) for info in found]


@get(
    "/api/v1/contacts/{contact_id:uuid}/recordings/{recording_id:str}",
    opt={"authz": ("read", "recording")},
    tags=TAGS,
    media_type="audio/wav",
)
async def play_recording(
    request: AnyRequest, contact_id: FromPath[UUID], recording_id: FromPath[str]
) -> Response[bytes]:
    """The recording as WAV; every read is written to the audit log."""
    services = services_of(request)
    audio = await actions.play_recording(
        services.db,
        vault_of(services),
        require_principal(request),
        contact_id,
        recording_id,
        ip=request.client.host if request.client else None,
    )
    return Response(
        audio,
        media_type="audio/wav",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{recording_id}.wav"',
        },
    )


@get(
    "/contacts/{contact_id:uuid}/recordings",
    opt={"authz": ("read", "recording")},
    include_in_schema=False,
)
async def recordings_page(request: AnyRequest, contact_id: FromPath[UUID]) -> Template:
    services = services_of(request)
    principal = require_principal(request)
    found = await actions.list_recordings(services.db, vault_of(services), principal, contact_id)
    return Template(
        "voice/recordings.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(services.db, principal.tenant_id),
            "csrf": csrf_for(request),
            "contact_id": contact_id,
            "recordings": [_out(info) for info in found],
        },
    )


@get("/api/v1/recording-policy", opt={"authz": ("read", "recording_policy")}, tags=TAGS)
async def get_retention(request: AnyRequest) -> RetentionOut:
    """How long the center keeps call recordings."""
    services = services_of(request)
    default = services.settings.recording_retention_days
    policy = await actions.retention_of(services.db, require_principal(request).tenant_id, default)
    return RetentionOut(days=policy.days, tenant_days=policy.tenant_days, default_days=default)


@put("/api/v1/recording-policy", opt={"authz": ("update", "recording_policy")}, tags=TAGS)
async def set_retention(request: AnyRequest, data: JSONBody[RetentionIn]) -> RetentionOut:
    """Set the retention period (1–3650 days, or null for the server's default); audited."""
    services = services_of(request)
    default = services.settings.recording_retention_days
    policy = await actions.do_set_retention(
        services.db, principal=require_principal(request), days=data.days, default_days=default
    )
    return RetentionOut(days=policy.days, tenant_days=policy.tenant_days, default_days=default)


ROUTES = [list_recordings, play_recording, recordings_page, get_retention, set_retention]
