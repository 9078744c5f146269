"""Conversations on the written channels: contacts of the routing engine, sealed text,
idempotent messages, the bot's hand-over and the customer leaving — on both profiles."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from integration.routing.routing_floor import Floor, events_of
from testkit import World
from tsunagi.actions.conversations import (
    NewAttachment,
    NewConversation,
    NewMessage,
    attachment_content,
    check_staff_access,
    conversation_by_token,
    conversation_view,
    do_add_message,
    do_close_conversation,
    do_count_bot_turn,
    do_hand_over,
    do_mark_read,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.routing.offers import do_accept_offer
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import ConversationMessage
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal, Role

SECRET = "カナリア秘密の伝言 7c1f"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def staff(
    world: World, role: str, tenant: str = "a", user_id: uuid.UUID | None = None
) -> Principal:
    account = world.account(tenant, role)
    return Principal(
        user_id=user_id or account.user_id,
        tenant_id=account.tenant_id,
        roles=frozenset({Role(role)}),
    )


def chat(floor: Floor, queue: str, **kwargs: object) -> NewConversation:
    return NewConversation(
        channel="chat",
        queue_id=floor.queues[queue],
        source="widget",
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_chat_is_a_routed_contact_with_a_sealed_transcript(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("chat")
    aiko = await floor.add_agent("aiko", {"chat": 5}, {"chat": 3})
    started = await do_start_conversation(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        new=chat(floor, "chat", visitor_name="山田", visitor_token="tok-1", topic="delivery"),
        actor="visitor",
    )
    assert started.created and started.state == "open"
    assert await conversation_by_token(floor.db, tenant_id=floor.tenant_id, token="tok-1") == (
        started.conversation_id
    )
    with pytest.raises(NotFoundError):
        await conversation_by_token(floor.db, tenant_id=floor.tenant_id, token="tok-2")

    first = await do_add_message(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        new=NewMessage("in", "customer", SECRET, external_id="m-1"),
        actor="visitor",
    )
    again = await do_add_message(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        new=NewMessage("in", "customer", SECRET, external_id="m-1"),
        actor="visitor",
    )
    assert (first.seq, first.created) == (1, True)
    assert (again.id, again.seq, again.created) == (first.id, 1, False)

    await floor.wait_state(started.contact_id, "offered")
    await do_accept_offer(
        floor.db, tenant_id=floor.tenant_id, contact_id=started.contact_id, agent_id=aiko,
        actor="test",
    )  # fmt: skip
    reply = await do_add_message(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        new=NewMessage(
            "out",
            "agent",
            "確認します",
            author_user_id=aiko,
            attachments=(NewAttachment("map.png", "image/png", PNG),),
        ),
        actor="agent",
    )
    assert reply.seq == 2 and reply.attachments[0].filename == "map.png"
    messages = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id
    )
    assert [(m.seq, m.author, m.text) for m in messages] == [
        (1, "customer", SECRET),
        (2, "agent", "確認します"),
    ]
    view, content = await attachment_content(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        attachment_id=reply.attachments[0].id,
    )
    assert content == PNG and view.media_type == "image/png"
    conversation = await conversation_view(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id
    )
    assert conversation.visitor_name == "山田" and conversation.first_response_at is not None

    # Sealed at rest: neither the text nor the name is anywhere in the tables' bytes.
    async with floor.db.system() as session:
        bodies = (await session.scalars(select(ConversationMessage.body_enc))).all()
        names = (await session.execute(text("SELECT visitor_name_enc FROM conversations"))).all()
    assert all(SECRET.encode() not in (body or b"") for body in bodies)
    assert all("山田".encode() not in (row[0] or b"") for row in names)
    # …and the events carry no text.
    events = await events_of(floor, started.contact_id)
    assert events and all(SECRET not in str(e) for e in events)

    # Read marks only move forward and stop at the last message.
    assert await do_mark_read(
        floor.db, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        side="visitor", seq=99,
    ) == 2  # fmt: skip
    assert await do_mark_read(
        floor.db, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        side="visitor", seq=1,
    ) == 2  # fmt: skip

    # The holder and supervisors see it; another communicator and another tenant do not.
    holder = Principal(aiko, floor.tenant_id, frozenset({Role.COMMUNICATOR}))
    await check_staff_access(floor.db, holder, started.conversation_id, write=True)
    await check_staff_access(
        floor.db, staff(world, "supervisor"), started.conversation_id, write=True
    )
    with pytest.raises(NotFoundError):
        await check_staff_access(
            floor.db, staff(world, "communicator"), started.conversation_id, write=False
        )
    with pytest.raises(NotFoundError):
        await check_staff_access(
            floor.db, staff(world, "supervisor", "b"), started.conversation_id, write=False
        )


async def test_the_bot_hands_over_or_resolves(floor: Floor, keyring: KeyRing) -> None:
    await floor.add_queue("chat")
    handed = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=chat(floor, "chat", bot=True, idempotency_key="chat-1"), actor="visitor",
    )  # fmt: skip
    assert (handed.state, handed.contact_state) == ("bot", "ivr")
    retried = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=chat(floor, "chat", bot=True, idempotency_key="chat-1"), actor="visitor",
    )  # fmt: skip
    assert retried.conversation_id == handed.conversation_id and not retried.created
    await do_count_bot_turn(
        floor.db, tenant_id=floor.tenant_id, conversation_id=handed.conversation_id
    )
    state = await do_hand_over(
        floor.db, tenant_id=floor.tenant_id, conversation_id=handed.conversation_id,
        reason="asked", actor="bot",
    )  # fmt: skip
    assert state == "queued"
    with pytest.raises(ConflictError):
        await do_hand_over(
            floor.db, tenant_id=floor.tenant_id, conversation_id=handed.conversation_id,
            reason="asked", actor="bot",
        )  # fmt: skip

    resolved = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id, new=chat(floor, "chat", bot=True),
        actor="visitor",
    )  # fmt: skip
    await do_count_bot_turn(
        floor.db, tenant_id=floor.tenant_id, conversation_id=resolved.conversation_id
    )
    closed = await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=resolved.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    assert closed is not None and closed.bot_outcome == "resolved"
    contact = await floor.contact(resolved.contact_id)
    assert (contact.state, contact.outcome) == ("closed", "self_service")
    closed_again = await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=resolved.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    assert closed_again is None


async def test_a_visitor_leaving_the_queue_abandons_the_contact(
    floor: Floor, keyring: KeyRing
) -> None:
    await floor.add_queue("chat")  # nobody is ready: the contact waits
    started = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id, new=chat(floor, "chat"), actor="visitor"
    )
    assert started.contact_state == "queued"
    await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    assert (await floor.contact(started.contact_id)).state == "abandoned"
    with pytest.raises(ConflictError):
        await do_add_message(
            floor.db, keyring, tenant_id=floor.tenant_id,
            conversation_id=started.conversation_id,
            new=NewMessage("out", "agent", "too late"), actor="agent",
        )  # fmt: skip


async def test_bad_messages_change_nothing(floor: Floor, keyring: KeyRing) -> None:
    await floor.add_queue("chat")
    started = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id, new=chat(floor, "chat"), actor="visitor"
    )
    for bad in (
        NewMessage("sideways", "customer", "x"),
        NewMessage("in", "robot", "x"),
        NewMessage("in", "customer", None),
    ):
        with pytest.raises(InvalidInputError):
            await do_add_message(
                floor.db, keyring, tenant_id=floor.tenant_id,
                conversation_id=started.conversation_id, new=bad, actor="visitor",
            )  # fmt: skip
    with pytest.raises(NotFoundError):
        await do_add_message(
            floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=uuid.uuid4(),
            new=NewMessage("in", "customer", "x"), actor="visitor",
        )  # fmt: skip
    assert (
        await list_messages(
            floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id
        )
        == []
    )
