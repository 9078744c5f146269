"""The screen-pop read paths on both profiles: lookup finds and opens records in one read
and audits exactly what it returns; a history page is audited and tenant-scoped."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from testkit import World
from tsunagi.actions.customers import do_import_customers, lookup_customers
from tsunagi.actions.desktop import customer_history
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry
from tsunagi.domain.customers import CustomerRecord, Identifier
from tsunagi.domain.errors import InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal, Role

SHARED_PHONE = "03-5555-0101"


def principal_in(world: World, tenant: str) -> Principal:
    account = world.account(tenant, "communicator")
    return Principal(
        user_id=account.user_id, tenant_id=account.tenant_id, roles=frozenset({Role.COMMUNICATOR})
    )


def person(name: str, *identifiers: Identifier) -> CustomerRecord:
    return CustomerRecord(name=name, identifiers=identifiers)


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))


async def audited(db: Database, principal: Principal, action: str) -> list[tuple[str, str]]:
    async with db.scoped(principal.tenant_id, readonly=True) as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return sorted((row.resource_id or "", row.reason or "") for row in rows)


async def test_lookup_opens_and_audits_what_it_returns(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    db = Database(database_url)
    me, other = principal_in(world, "a"), principal_in(world, "b")
    try:
        mother, son = await do_import_customers(
            db,
            keyring,
            tenant_id=me.tenant_id,
            items=[
                person(
                    "佐藤 花子",
                    Identifier("phone", SHARED_PHONE, "home"),
                    Identifier("email", "hanako@example.jp"),
                ),
                person("佐藤 翔太", Identifier("phone", SHARED_PHONE, "home")),
            ],
            actor=me.actor,
        )
        [theirs] = await do_import_customers(
            db,
            keyring,
            tenant_id=other.tenant_id,
            items=[person("他社 太郎", Identifier("phone", SHARED_PHONE))],
            actor=other.actor,
        )

        found = await lookup_customers(
            db, keyring, principal=me, kind="phone", value="0355550101", reason="call", limit=10
        )
        assert sorted(view.id for view in found) == sorted([mother, son])
        [hanako] = [view for view in found if view.id == mother]
        assert (hanako.name, sorted(i["value"] for i in hanako.identifiers)) == (
            "佐藤 花子",
            [SHARED_PHONE, "hanako@example.jp"],
        )

        [one] = await lookup_customers(
            db, keyring, principal=me, kind="phone", value=SHARED_PHONE, reason="again", limit=1
        )
        assert one.id in (mother, son)  # never the other tenant's customer

        nobody = await lookup_customers(
            db, keyring, principal=me, kind="phone", value="03-0000-0000", reason="x", limit=10
        )
        assert nobody == []
        with pytest.raises(InvalidInputError):
            await lookup_customers(
                db, keyring, principal=me, kind="phone", value=SHARED_PHONE, reason=" ", limit=10
            )

        assert await audited(db, me, "customer.read") == sorted(
            [(str(mother), "call"), (str(son), "call"), (str(one.id), "again")]
        )
        [their_view] = await lookup_customers(
            db, keyring, principal=other, kind="phone", value=SHARED_PHONE, reason="b", limit=10
        )
        assert their_view.id == theirs
        assert await audited(db, other, "customer.read") == [(str(theirs), "b")]
    finally:
        await db.dispose()


async def test_history_page_is_scoped_and_audited(
    database_url: str, world: World, keyring: KeyRing
) -> None:
    db = Database(database_url)
    me, other = principal_in(world, "a"), principal_in(world, "b")
    try:
        [customer_id] = await do_import_customers(
            db, keyring, tenant_id=me.tenant_id, items=[person("新規 一郎")], actor=me.actor
        )
        page = await customer_history(
            db, keyring, principal=me, customer_id=customer_id, audit_reason="first call"
        )
        assert page == []  # no contacts yet: an empty page, not "not found"
        assert await audited(db, me, "customer.history_read") == [(str(customer_id), "first call")]
        for principal, wanted in ((other, customer_id), (me, uuid.uuid4())):
            with pytest.raises(NotFoundError):
                await customer_history(
                    db, keyring, principal=principal, customer_id=wanted, audit_reason="peek"
                )
        assert await audited(db, other, "customer.history_read") == []
        assert await audited(db, me, "customer.history_read") == [(str(customer_id), "first call")]
    finally:
        await db.dispose()
