"""Follow-up tasks on both profiles: created with a sealed note and an event, listed for
their owner (and the customer), completed or cancelled once with optimistic concurrency;
bad input names the field and writes nothing; another tenant sees none of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from testkit import World
from tsunagi.actions.customers import do_import_customers
from tsunagi.actions.desktop import do_identify_party
from tsunagi.actions.follow_ups import (
    do_cancel_follow_up,
    do_complete_follow_up,
    do_create_follow_up,
    list_follow_ups,
    open_follow_ups_of_customer,
)
from tsunagi.actions.routing.contacts import NewContact, do_create_contact
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.desk_models import ContactFollowUp
from tsunagi.adapters.storage.models import AuditEntry, OutboxEvent, Queue
from tsunagi.domain.customers import CustomerRecord, Identifier
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.follow_ups import DueState, FollowUpDraft, FollowUpState
from tsunagi.domain.permissions import Principal, Role

CANARY_NOTE = "カナリア追跡メモ 7f3a"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    yield opened
    await opened.dispose()


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))


def principal(world: World, role: str = "communicator", tenant: str = "a") -> Principal:
    account = world.account(tenant, role)
    return Principal(
        user_id=account.user_id,
        tenant_id=account.tenant_id,
        roles=frozenset({Role(role)}),
        locale="en",
    )


async def contact_with_customer(
    db: Database, keyring: KeyRing, tenant_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.scoped(tenant_id) as session, session.begin():
        queue = Queue(
            code=f"q{uuid.uuid4().hex[:6]}",
            name_ja="宅配",
            name_en="Home delivery",
            channel="voice",
            config={},
            created_at=datetime.now(UTC),
        )
        session.add(queue)
    imported = await do_import_customers(
        db,
        keyring,
        tenant_id=tenant_id,
        items=[
            CustomerRecord(name="追跡 花子", identifiers=(Identifier("phone", "03-1111-2222"),))
        ],
        actor="test",
    )
    created = await do_create_contact(
        db, tenant_id=tenant_id, new=NewContact(channel="voice", queue_id=queue.id), actor="test"
    )
    assert (
        await do_identify_party(
            db,
            keyring,
            tenant_id=tenant_id,
            contact_id=created.contact_id,
            kind="phone",
            address="0311112222",
        )
        == 1
    )
    assert len(imported) == 1
    return created.contact_id, queue.id


async def count_rows(db: Database, tenant_id: uuid.UUID) -> tuple[int, int]:
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = await session.scalar(select(func.count()).select_from(ContactFollowUp))
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type.like("follow_up.%"))
        )
    return int(rows or 0), int(events or 0)


async def test_create_list_complete(
    db: Database, database_url: str, world: World, keyring: KeyRing, profile: str
) -> None:
    me = principal(world)
    contact_id, _queue = await contact_with_customer(db, keyring, me.tenant_id)
    due = datetime.now(UTC) + timedelta(hours=2)
    follow_up_id = await do_create_follow_up(
        db,
        keyring,
        principal=me,
        contact_id=contact_id,
        draft=FollowUpDraft(due_at=due, note=f"  {CANARY_NOTE}  "),
    )
    mine = await list_follow_ups(db, keyring, principal=me)
    assert [(f.id, f.note, f.state, f.version, f.customer_name) for f in mine] == [
        (follow_up_id, CANARY_NOTE, "open", 1, "追跡 花子")
    ]
    assert mine[0].owner_user_id == me.user_id
    assert mine[0].due in (DueState.TODAY, DueState.LATER)
    # Overdue: due before now.
    later = datetime.now(UTC) + timedelta(hours=3)
    assert len(await list_follow_ups(db, keyring, principal=me, due_before=later)) == 1
    assert await list_follow_ups(db, keyring, principal=me, due_before=due) == []
    # The customer's open follow-ups, for anyone who opens the customer.
    other = principal(world, "communicator", "a")
    customer_id = mine[0].customer_id
    assert customer_id is not None
    opened = await open_follow_ups_of_customer(
        db, keyring, principal=other, customer_id=customer_id, reason="contact x"
    )
    assert [f.id for f in opened] == [follow_up_id]

    assert await do_complete_follow_up(db, principal=me, follow_up_id=follow_up_id, version=1) == 2
    assert await list_follow_ups(db, keyring, principal=me) == []
    done = await list_follow_ups(db, keyring, principal=me, state=FollowUpState.DONE)
    assert [(f.state, f.version, f.due) for f in done] == [("done", 2, None)]
    assert done[0].closed_at is not None
    # Once closed, it stays closed.
    with pytest.raises(ConflictError):
        await do_cancel_follow_up(db, principal=me, follow_up_id=follow_up_id, version=2)
    async with db.scoped(me.tenant_id, readonly=True) as session:
        types = list(
            await session.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.type.like("follow_up.%"))
                .order_by(OutboxEvent.id)
            )
        )
        payloads = list(
            await session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.type.like("follow_up.%"))
            )
        )
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "follow_up.list_read")
        )
    assert types == ["follow_up.created", "follow_up.completed"]
    assert not any(CANARY_NOTE in payload for payload in payloads)
    assert (audited or 0) >= 3
    if profile == "sqlite":  # the note is sealed at rest (database file and its WAL)
        base = Path(database_url.split("///", 1)[1])
        files = [base, base.with_name(base.name + "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert raw and CANARY_NOTE.encode() not in raw


async def test_stale_version_and_cancel(db: Database, world: World, keyring: KeyRing) -> None:
    me = principal(world)
    contact_id, queue_id = await contact_with_customer(db, keyring, me.tenant_id)
    follow_up_id = await do_create_follow_up(
        db,
        keyring,
        principal=me,
        contact_id=contact_id,
        draft=FollowUpDraft(due_at=datetime.now(UTC) + timedelta(days=1), owner_queue_id=queue_id),
    )
    with pytest.raises(ConflictError, match="version"):
        await do_complete_follow_up(db, principal=me, follow_up_id=follow_up_id, version=7)
    # A queue's follow-up: any communicator may take it; "me" does not list it, "team" does.
    assert await list_follow_ups(db, keyring, principal=me) == []
    team = await list_follow_ups(db, keyring, principal=me, owner="team")
    assert [(f.id, f.owner_queue_id, f.owner_name) for f in team] == [
        (follow_up_id, queue_id, "Home delivery")
    ]
    assert await do_cancel_follow_up(db, principal=me, follow_up_id=follow_up_id, version=1) == 2
    with pytest.raises(ConflictError):
        await do_complete_follow_up(db, principal=me, follow_up_id=follow_up_id, version=1)
    assert (await count_rows(db, me.tenant_id)) == (1, 2)


async def test_another_communicators_follow_up_is_not_mine(
    db: Database, world: World, keyring: KeyRing
) -> None:
    sup = principal(world, "supervisor")
    me = principal(world)
    contact_id, _queue = await contact_with_customer(db, keyring, me.tenant_id)
    theirs = await do_create_follow_up(
        db,
        keyring,
        principal=sup,
        contact_id=contact_id,
        draft=FollowUpDraft(due_at=datetime.now(UTC) + timedelta(hours=1)),
    )
    assert await list_follow_ups(db, keyring, principal=me, owner="team") == []
    with pytest.raises(InvalidInputError, match="owner"):
        await list_follow_ups(db, keyring, principal=me, owner="all")
    with pytest.raises(NotFoundError):
        await do_complete_follow_up(db, principal=me, follow_up_id=theirs, version=1)
    # The supervisor sees everyone's.
    assert [f.id for f in await list_follow_ups(db, keyring, principal=sup, owner="all")] == [
        theirs
    ]


@pytest.mark.parametrize(
    ("draft", "named"),
    [
        (lambda now, q: FollowUpDraft(due_at=now - timedelta(hours=1)), "due_at"),
        (lambda now, q: FollowUpDraft(due_at=now + timedelta(days=400)), "due_at"),
        (lambda now, q: FollowUpDraft(due_at=now.replace(tzinfo=None)), "due_at"),
        (lambda now, q: FollowUpDraft(due_at=now + timedelta(hours=1), note="x" * 501), "note"),
        (
            lambda now, q: FollowUpDraft(
                due_at=now + timedelta(hours=1), owner_queue_id=uuid.uuid4()
            ),
            "queue_id",
        ),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(
    db: Database, world: World, keyring: KeyRing, draft: object, named: str
) -> None:
    me = principal(world)
    contact_id, queue_id = await contact_with_customer(db, keyring, me.tenant_id)
    before = await count_rows(db, me.tenant_id)
    with pytest.raises(InvalidInputError, match=named):
        await do_create_follow_up(
            db,
            keyring,
            principal=me,
            contact_id=contact_id,
            draft=draft(datetime.now(UTC), queue_id),  # type: ignore[operator]
        )
    assert await count_rows(db, me.tenant_id) == before


async def test_tenants_are_isolated(db: Database, world: World, keyring: KeyRing) -> None:
    me = principal(world)
    stranger = principal(world, "supervisor", "b")
    contact_id, _queue = await contact_with_customer(db, keyring, me.tenant_id)
    follow_up_id = await do_create_follow_up(
        db,
        keyring,
        principal=me,
        contact_id=contact_id,
        draft=FollowUpDraft(due_at=datetime.now(UTC) + timedelta(hours=1), note=CANARY_NOTE),
    )
    assert await list_follow_ups(db, keyring, principal=stranger, owner="all") == []
    with pytest.raises(NotFoundError):
        await do_complete_follow_up(db, principal=stranger, follow_up_id=follow_up_id, version=1)
    with pytest.raises(NotFoundError):
        await do_create_follow_up(
            db,
            keyring,
            principal=stranger,
            contact_id=contact_id,
            draft=FollowUpDraft(due_at=datetime.now(UTC) + timedelta(hours=1)),
        )
    assert await count_rows(db, stranger.tenant_id) == (0, 0)
    assert [f.state for f in await list_follow_ups(db, keyring, principal=me)] == ["open"]
