"""Call recordings through the web: who may list and hear them, audited playback, the
tenant's retention period and the purge — on both database profiles.

The recordings here are sealed into the vault from a WAV made by the test, not recorded
from a live call: the voice tests (tests/voice) record real calls; this file is about
access, audit and retention, which do not depend on how the audio was captured.
"""

from __future__ import annotations

import io
import os
import time
import uuid
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from testkit import Browserless, LiveServer, World, run
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.telephony.recordings import RecordingVault


def _wav(seconds: float = 0.2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x02" * int(8000 * seconds))
    return out.getvalue()


def _settings(server: LiveServer) -> Any:
    return server.app.state.services.settings


def _contact_with_recording(
    server: LiveServer, tenant_id: uuid.UUID, agent_id: uuid.UUID | None, tmp: Path
) -> tuple[uuid.UUID, str, bytes]:
    settings = _settings(server)
    audio = _wav()

    async def write() -> tuple[uuid.UUID, str]:
        db = Database(settings.effective_database_url)
        try:
            now = datetime.now(UTC)
            async with db.scoped(tenant_id) as session, session.begin():
                contact = RoutingContact(
                    channel="voice",
                    state="closed",
                    skill="s",
                    ranked_at=now,
                    created_at=now,
                    updated_at=now,
                    ended_at=now,
                    last_agent_id=agent_id,
                )
                session.add(contact)
            recording_id = str(uuid.uuid4())
            wav = tmp / f"{recording_id}.wav"
            wav.write_bytes(audio)
            vault = RecordingVault(
                db, KeyRing(master_key_for(settings)), settings.data_dir / "recordings"
            )
            await vault.store(tenant_id, contact.id, recording_id, str(wav))
            assert not wav.exists()  # the plain WAV is gone once sealed
            return contact.id, recording_id
        finally:
            await db.dispose()

    contact_id, recording_id = run(write)
    return contact_id, recording_id, audio


def _signed_in(client_factory: Any, world: World, tenant: str, role: str) -> Browserless:
    client: Browserless = client_factory()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def _audit(server: LiveServer, tenant_id: uuid.UUID, action: str) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        db = Database(_settings(server).effective_database_url)
        try:
            async with db.scoped(tenant_id, readonly=True) as session:
                return list(
                    await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
                )
        finally:
            await db.dispose()

    return run(read)


def test_who_may_hear_a_recording_and_every_playback_is_audited(
    server: LiveServer, world: World, client_factory: Any, tmp_path: Path
) -> None:
    tenant = world.tenants["a"]
    agent = world.account("a", "communicator")
    contact_id, recording_id, audio = _contact_with_recording(
        server, tenant, agent.user_id, tmp_path
    )
    listing = f"/api/v1/contacts/{contact_id}/recordings"
    audio_url = f"{listing}/{recording_id}"

    communicator = _signed_in(client_factory, world, "a", "communicator")
    found = communicator.request("GET", listing)
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()] == [recording_id]
    assert found.json()[0]["url"] == audio_url
    played = communicator.request("GET", audio_url)
    assert played.status_code == 200
    assert played.headers["content-type"].startswith("audio/wav")
    assert played.headers["cache-control"] == "no-store"
    assert played.content == audio

    supervisor = _signed_in(client_factory, world, "a", "supervisor")
    assert supervisor.request("GET", audio_url).content == audio
    page = supervisor.request("GET", f"/contacts/{contact_id}/recordings")
    assert page.status_code == 200
    assert f'src="{audio_url}"' in page.text

    viewer = _signed_in(client_factory, world, "a", "client_viewer")
    assert viewer.request("GET", audio_url).status_code == 403
    outsider = _signed_in(client_factory, world, "b", "supervisor")
    assert outsider.request("GET", audio_url).status_code == 404
    assert outsider.request("GET", listing).status_code == 404
    bad = supervisor.request("GET", f"{listing}/not-a-uuid")
    assert bad.status_code == 422, bad.text
    assert "recording id" in bad.text

    reads = _audit(server, tenant, "recording.read")
    assert len(reads) == 2  # the communicator's and the supervisor's playback
    assert {r.actor_user_id for r in reads} == {
        agent.user_id,
        world.account("a", "supervisor").user_id,
    }
    assert all(r.resource_id == recording_id for r in reads)


def test_a_communicator_hears_only_the_calls_they_handled(
    server: LiveServer, world: World, client_factory: Any, tmp_path: Path
) -> None:
    tenant = world.tenants["a"]
    someone_else = world.account("a", "supervisor").user_id
    contact_id, recording_id, _ = _contact_with_recording(server, tenant, someone_else, tmp_path)
    unhandled, unhandled_recording, _ = _contact_with_recording(server, tenant, None, tmp_path)
    communicator = _signed_in(client_factory, world, "a", "communicator")
    for contact, recording in ((contact_id, recording_id), (unhandled, unhandled_recording)):
        refused = communicator.request("GET", f"/api/v1/contacts/{contact}/recordings/{recording}")
        assert refused.status_code == 403, refused.text
    assert _audit(server, tenant, "recording.read") == []
    manager = _signed_in(client_factory, world, "a", "manager")
    listed = manager.request("GET", f"/api/v1/contacts/{unhandled}/recordings")
    assert [r["id"] for r in listed.json()] == [unhandled_recording]


def test_retention_is_set_by_administrators_and_the_purge_deletes_only_older_recordings(
    server: LiveServer, world: World, client_factory: Any, tmp_path: Path
) -> None:
    tenant = world.tenants["a"]
    agent = world.account("a", "communicator").user_id
    old_contact, old_id, _ = _contact_with_recording(server, tenant, agent, tmp_path)
    new_contact, new_id, _ = _contact_with_recording(server, tenant, agent, tmp_path)
    other_tenant, other_id, _ = _contact_with_recording(
        server, world.tenants["b"], world.account("b", "communicator").user_id, tmp_path
    )
    vault_root = _settings(server).data_dir / "recordings"
    forty_days_ago = time.time() - 40 * 86400
    for tenant_id, contact, recording in (
        (tenant, old_contact, old_id),
        (world.tenants["b"], other_tenant, other_id),
    ):
        path = vault_root / str(tenant_id) / str(contact) / f"{recording}.sealed"
        os.utime(path, (forty_days_ago, forty_days_ago))

    admin = _signed_in(client_factory, world, "a", "administrator")
    policy = admin.request("GET", "/api/v1/recording-policy").json()
    assert policy == {"days": 365, "tenant_days": None, "default_days": 365}
    for days in (0, 4000):
        bad = admin.request("PUT", "/api/v1/recording-policy", json={"days": days})
        assert bad.status_code == 422, bad.text
        assert "days must be between 1 and 3650" in bad.text
    assert admin.request("GET", "/api/v1/recording-policy").json()["tenant_days"] is None
    supervisor = _signed_in(client_factory, world, "a", "supervisor")
    assert (
        supervisor.request("PUT", "/api/v1/recording-policy", json={"days": 1}).status_code == 403
    )
    changed = admin.request("PUT", "/api/v1/recording-policy", json={"days": 30})
    assert changed.status_code == 200, changed.text
    assert changed.json()["days"] == 30
    assert len(_audit(server, tenant, "recording.retention_changed")) == 1

    settings = _settings(server)
    env = {
        "TSUNAGI_DATABASE_URL": settings.effective_database_url,
        "TSUNAGI_DATA_DIR": str(settings.data_dir),
    }
    from tsunagi.cli.main import cli

    dry = CliRunner().invoke(cli, ["voice", "purge-recordings", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 1, kept 1" in dry.output
    assert (vault_root / str(tenant) / str(old_contact) / f"{old_id}.sealed").exists()

    done = CliRunner().invoke(cli, ["voice", "purge-recordings"], env=env)
    assert done.exit_code == 0, done.output
    assert not (vault_root / str(tenant) / str(old_contact)).exists()
    assert (vault_root / str(tenant) / str(new_contact) / f"{new_id}.sealed").exists()
    # Tenant b keeps the server default (365 days): its 40-day-old recording stays.
    assert (
        vault_root / str(world.tenants["b"]) / str(other_tenant) / f"{other_id}.sealed"
    ).exists()
    deleted = _audit(server, tenant, "recording.deleted")
    assert [d.resource_id for d in deleted] == [old_id]
    assert deleted[0].actor_user_id is None
    gone = admin.request("GET", f"/api/v1/contacts/{old_contact}/recordings")
    assert gone.json() == []
