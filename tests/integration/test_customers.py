"""Customers' personal data: sealed at rest, found by keyed hash, every read audited."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, update

from testkit import World, run
from tsunagi.actions.customers import do_import_customers, find_customers, read_customer
from tsunagi.adapters.security.crypto import CryptoKeyError, load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import Customer
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.adapters.storage.schema import metadata
from tsunagi.domain.customers import CustomerRecord, Identifier
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal, Role

# Values that must never appear in plaintext anywhere but the screen.
CANARY_NAME = "鈴木カナリア太郎"
CANARY_ADDRESS = "東京都カナリア区見張町1-2-3"
CANARY_EMAIL = "canary.7c1f@example.jp"
CANARY_PHONE = "03-9876-5432"
CANARY_NOTE = "カナリアの秘密メモ"


def principal_in(world: World, tenant: str = "a") -> Principal:
    account = world.account(tenant, "communicator")
    return Principal(
        user_id=account.user_id, tenant_id=account.tenant_id, roles=frozenset({Role.COMMUNICATOR})
    )


def canary() -> CustomerRecord:
    return CustomerRecord(
        name=CANARY_NAME,
        name_kana="スズキカナリアタロウ",
        address=CANARY_ADDRESS,
        notes=CANARY_NOTE,
        vip=True,
        identifiers=(
            Identifier("phone", CANARY_PHONE, "home"),
            Identifier("email", CANARY_EMAIL),
            Identifier("member_no", "00112233"),
        ),
    )


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))


async def test_find_read_and_audit(database_url: str, world: World, keyring: KeyRing) -> None:
    db = Database(database_url)
    me = principal_in(world)
    try:
        [customer_id] = await do_import_customers(
            db, keyring, tenant_id=me.tenant_id, items=[canary()], actor=me.actor
        )
        for spelling in ("0398765432", "+81 3 9876 5432", "０３－９８７６－５４３２"):
            assert await find_customers(
                db, keyring, principal=me, kind="phone", value=spelling
            ) == [customer_id]
        assert await find_customers(
            db, keyring, principal=me, kind="email", value=CANARY_EMAIL.upper()
        ) == [customer_id]
        other = principal_in(world, "b")
        assert (
            await find_customers(db, keyring, principal=other, kind="phone", value=CANARY_PHONE)
            == []
        )
        with pytest.raises(NotFoundError):
            await read_customer(db, keyring, principal=other, customer_id=customer_id, reason="x")
        with pytest.raises(InvalidInputError):
            await read_customer(db, keyring, principal=me, customer_id=customer_id, reason=" ")
        view = await read_customer(
            db, keyring, principal=me, customer_id=customer_id, reason="incoming call"
        )
        assert (view.name, view.address, view.notes, view.vip) == (
            CANARY_NAME,
            CANARY_ADDRESS,
            CANARY_NOTE,
            True,
        )
        assert {i["value"] for i in view.identifiers} == {CANARY_PHONE, CANARY_EMAIL, "00112233"}
        async with db.scoped(me.tenant_id, readonly=True) as session:
            reads = (
                await session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "customer.read")
                )
            ).all()
        assert [(r.actor_user_id, r.resource_id, r.reason) for r in reads] == [
            (me.user_id, str(customer_id), "incoming call")
        ]
    finally:
        await db.dispose()


async def test_sealed_values_are_bound_to_their_row(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    db = Database(database_url)
    me = principal_in(world)
    try:
        first, second = await do_import_customers(
            db,
            keyring,
            tenant_id=me.tenant_id,
            items=[canary(), CustomerRecord(name="別の人")],
            actor=None,
        )
        async with db.scoped(me.tenant_id) as session, session.begin():
            sealed = await session.scalar(select(Customer.name_enc).where(Customer.id == first))
            await session.execute(
                update(Customer).where(Customer.id == second).values(name_enc=sealed)
            )
        with pytest.raises(CryptoKeyError):
            await read_customer(db, keyring, principal=me, customer_id=second, reason="test")
        stranger = KeyRing(secrets.token_bytes(32))
        with pytest.raises(CryptoKeyError):
            await stranger.cipher(db, me.tenant_id)
    finally:
        await db.dispose()


def _stored_and_dumped(profile: str, database_url: str) -> tuple[bytes, bytes]:
    """The database's files (SQLite: the file and its WAL) and a full SQL dump."""
    if profile == "sqlite":
        path = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        with sqlite3.connect(path) as connection:
            return stored, "\n".join(connection.iterdump()).encode()
    name = database_url.rsplit("/", 1)[1]
    dumped = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", name], check=True, capture_output=True
    )
    # pg_dump writes bytea as hex: also read every stored byte string as it is.
    return run(lambda: _all_bytes(database_url)), dumped.stdout


async def _all_bytes(database_url: str) -> bytes:
    import asyncpg

    name = database_url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(host="127.0.0.1", user="postgres", database=name)
    try:
        chunks = []
        for table in metadata.sorted_tables:
            for row in await connection.fetch(f'SELECT * FROM "{table.name}"'):
                chunks += [v if isinstance(v, bytes) else str(v).encode() for v in row.values()]
        return b"\n".join(chunks)
    finally:
        await connection.close()


def _plaintext_hits(blob: bytes) -> list[str]:
    values = (CANARY_NAME, CANARY_ADDRESS, CANARY_EMAIL, CANARY_PHONE, CANARY_NOTE, "0398765432")
    return [
        value for value in values if value.encode() in blob or value.encode("utf-16-le") in blob
    ]


async def test_canary_values_never_reach_disk_dumps_or_logs(
    database_url: str,
    profile: str,
    world: World,
    keyring: KeyRing,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = Database(database_url)
    me = principal_in(world)
    try:
        [customer_id] = await do_import_customers(
            db, keyring, tenant_id=me.tenant_id, items=[canary()], actor=None
        )
        await find_customers(db, keyring, principal=me, kind="phone", value=CANARY_PHONE)
        view = await read_customer(db, keyring, principal=me, customer_id=customer_id, reason="t")
        assert view.name == CANARY_NAME  # the data is there, just not in plaintext
    finally:
        await db.dispose()
    stored, dump = _stored_and_dumped(profile, database_url)
    assert b"customers" in dump
    assert _plaintext_hits(stored) == []
    assert _plaintext_hits(dump) == []
    assert _plaintext_hits(caplog.text.encode()) == []


def test_a_new_tenant_key_per_tenant(world: World) -> None:
    assert world.tenants["a"] != world.tenants["b"]
    assert uuid.UUID(str(world.tenants["a"])).version == 4
