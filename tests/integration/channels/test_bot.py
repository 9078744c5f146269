"""The FAQ bot before a human, on both profiles: it answers from public articles only,
hands over with the transcript when asked or unsure, resolves, and is counted."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from sqlalchemy import select

from integration.routing.routing_floor import Floor
from testkit import World
from tsunagi.actions import knowledge
from tsunagi.actions.bot import (
    BotTurn,
    bot_stats,
    do_bot_greet,
    do_bot_turn,
    do_request_human,
    do_set_queue_bot,
    find_candidate,
    queue_bot_settings,
    voice_reply,
)
from tsunagi.actions.conversations import (
    NewConversation,
    NewMessage,
    Started,
    check_staff_access,
    conversation_view,
    do_add_message,
    do_close_conversation,
    do_start_conversation,
    list_messages,
)
from tsunagi.actions.routing.offers import do_accept_offer
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.models import OutboxEvent, Queue
from tsunagi.channels.bot import bot_enabled
from tsunagi.demo.knowledge import ARTICLES, load_knowledge
from tsunagi.domain.permissions import Principal, Role

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "bot" / "bench_bot.py"
INTERNAL_SECRET = "社内限定: 返金は課長承認 9f3a"
ON = {"chat": {"bot": True}}


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_bot", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_bot"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def editor(world: World) -> Principal:
    account = world.account("a", "supervisor")
    return Principal(
        user_id=account.user_id, tenant_id=account.tenant_id, roles=frozenset({Role.SUPERVISOR})
    )


async def articles(world: World, floor: Floor) -> dict[str, uuid.UUID]:
    """Three public FAQ (two Japanese, one English) and one internal manual."""
    who = editor(world)
    made = {}
    for key, title, body, visibility in (
        (
            "late",
            "今日の配送が来ない",
            "配送状況はマイページで確認できます。交通事情により遅れることがあります。"
            "お届け予定時刻を過ぎても届かない場合はセンターにご連絡ください。",
            "public",
        ),
        (
            "hours",
            "お店の営業時間",
            "多くの店舗は午前10時から午後8時まで営業しています。",
            "public",
        ),
        (
            "password",
            "I forgot my password",
            "Open the sign-in page and choose 'Forgot password'. A reset link is sent to your"
            " email address.",
            "public",
        ),
        ("refund", "返金の社内手続き", INTERNAL_SECRET + " 返金 手続き 承認 返金方法", "internal"),
    ):
        made[key] = await knowledge.do_create_article(
            floor.db, who, title=title, body=body, visibility=visibility, publish=True
        )
    return made


async def start(floor: Floor, keyring: KeyRing, queue: str, *, lang: str = "ja") -> Started:
    return await do_start_conversation(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        new=NewConversation(
            channel="chat", queue_id=floor.queues[queue], source="widget", lang=lang, bot=True
        ),
        actor="visitor",
    )


async def visitor_says(
    floor: Floor, keyring: KeyRing, started: Started, text: str, *, lang: str = "ja"
) -> BotTurn:
    await do_add_message(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        new=NewMessage("in", "customer", text),
        actor="visitor",
    )
    return await do_bot_turn(
        floor.db,
        keyring,
        tenant_id=floor.tenant_id,
        conversation_id=started.conversation_id,
        text=text,
        lang=lang,
    )


async def released_reasons(floor: Floor) -> list[str]:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        rows = (await session.scalars(select(OutboxEvent.payload).order_by(OutboxEvent.id))).all()
    found = [json.loads(p) for p in rows]
    return [str(e["reason"]) for e in found if e.get("type") == "conversation.bot_released"]


async def test_the_bot_answers_from_a_public_article_and_resolves(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("chat", config=ON)
    made = await articles(world, floor)
    started = await start(floor, keyring, "chat")
    assert started.contact_state == "ivr"

    greeting = await do_bot_greet(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        lang="ja",
    )  # fmt: skip
    again = await do_bot_greet(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        lang="ja",
    )  # fmt: skip
    assert len(greeting.messages) == 1 and again.messages == []
    assert greeting.messages[0].author == "bot" and "オペレーター" in (
        greeting.messages[0].text or ""
    )

    turn = await visitor_says(floor, keyring, started, "配送が来ないのですが")
    assert not turn.handed_over and turn.contact_state == "ivr"
    [answer] = turn.messages
    assert (answer.author, answer.direction) == ("bot", "out")
    assert f"article:{made['late']}" in answer.flags
    assert "配送状況はマイページで確認できます。" in (answer.text or "")
    assert "今日の配送が来ない" in (answer.text or "")

    thanks = await visitor_says(floor, keyring, started, "ありがとう")
    assert not thanks.handed_over and "よかった" in (thanks.messages[0].text or "")

    closed = await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    assert closed is not None and closed.bot_outcome == "resolved"
    contact = await floor.contact(started.contact_id)
    assert (contact.state, contact.outcome) == ("closed", "self_service")

    # An English conversation is answered from the English article, never a Japanese one.
    english = await start(floor, keyring, "chat", lang="en")
    reply = await visitor_says(floor, keyring, english, "forgot password", lang="en")
    assert f"article:{made['password']}" in reply.messages[0].flags
    assert "Forgot password" in (reply.messages[0].text or "")


async def test_asking_for_a_person_hands_over_with_the_transcript(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("chat", config=ON)
    aiko = await floor.add_agent("aiko", {"chat": 5}, {"chat": 3})
    await articles(world, floor)
    started = await start(floor, keyring, "chat")
    await do_bot_greet(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        lang="ja",
    )  # fmt: skip
    first = await visitor_says(floor, keyring, started, "お店の営業時間は?")
    assert not first.handed_over

    turn = await visitor_says(floor, keyring, started, "オペレーターと話したい")
    assert turn.handed_over and turn.reason == "asked"
    assert turn.contact_state in ("queued", "offered")
    assert [m.author for m in turn.messages] == ["bot"]
    await floor.wait_state(started.contact_id, "offered")
    await do_accept_offer(
        floor.db, tenant_id=floor.tenant_id, contact_id=started.contact_id, agent_id=aiko,
        actor="test",
    )  # fmt: skip

    agent = Principal(user_id=aiko, tenant_id=floor.tenant_id, roles=frozenset({Role.COMMUNICATOR}))
    await check_staff_access(floor.db, agent, started.conversation_id, write=True)
    transcript = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id
    )
    texts = [(m.author, m.text or "") for m in transcript]
    assert [author for author, _ in texts] == ["bot", "customer", "bot", "customer", "bot"]
    assert texts[1][1] == "お店の営業時間は?" and "午前10時" in texts[2][1]
    assert texts[3][1] == "オペレーターと話したい"

    # The bot is out of it now: a later message or button press adds nothing.
    later = await visitor_says(floor, keyring, started, "まだですか")
    button = await do_request_human(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id,
        lang="ja",
    )  # fmt: skip
    assert later.messages == [] and button.messages == [] and not button.handed_over
    view = await conversation_view(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=started.conversation_id
    )
    assert (view.state, view.bot_outcome) == ("open", "handed_over")
    assert await released_reasons(floor) == ["asked"]


async def test_internal_articles_are_never_quoted_and_unsure_answers_hand_over(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("chat", config=ON)
    await floor.add_queue("strict", config={"chat": {"bot": True, "bot_min_confidence": 5.0}})
    await floor.add_queue("short", config={"chat": {"bot": True, "bot_max_turns": 1}})
    await articles(world, floor)

    internal = await start(floor, keyring, "chat")
    turn = await visitor_says(floor, keyring, internal, "返金の手続き 承認")
    assert turn.handed_over and turn.reason in ("no_answer", "low_confidence")
    transcript = await list_messages(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=internal.conversation_id
    )
    assert all("社内" not in (m.text or "") and "課長" not in (m.text or "") for m in transcript)

    unknown = await start(floor, keyring, "chat")
    off_topic = await visitor_says(floor, keyring, unknown, "量子コンピュータの株価予想を教えて")
    assert off_topic.handed_over and off_topic.reason in ("no_answer", "low_confidence")

    strict = await start(floor, keyring, "strict")
    unsure = await visitor_says(floor, keyring, strict, "配送が来ない")
    assert unsure.handed_over and unsure.reason == "low_confidence"

    short = await start(floor, keyring, "short")
    assert not (await visitor_says(floor, keyring, short, "配送が来ない")).handed_over
    limited = await visitor_says(floor, keyring, short, "お店の営業時間")
    assert limited.handed_over and limited.reason == "turn_limit"

    helped_not = await start(floor, keyring, "chat")
    assert not (await visitor_says(floor, keyring, helped_not, "配送が来ない")).handed_over
    no = await visitor_says(floor, keyring, helped_not, "違う")
    assert no.handed_over and no.reason == "no_answer"

    reasons = await released_reasons(floor)
    assert reasons[2:] == ["low_confidence", "turn_limit", "no_answer"]


async def test_the_button_the_stats_and_the_queue_setting(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    human_only = await floor.add_queue("human")
    bot_queue = await floor.add_queue("chat", config=ON)
    await articles(world, floor)

    # Human chat only unless switched on (centre 000); the setting is per queue.
    assert not (
        await queue_bot_settings(floor.db, tenant_id=floor.tenant_id, queue_id=human_only)
    ).enabled
    plain = await do_start_conversation(
        floor.db, keyring, tenant_id=floor.tenant_id,
        new=NewConversation(channel="chat", queue_id=human_only, source="widget", bot=False),
        actor="visitor",
    )  # fmt: skip
    assert plain.state == "open"
    nothing = await visitor_says(floor, keyring, plain, "配送が来ない")
    assert nothing.messages == [] and not nothing.handed_over
    await do_set_queue_bot(
        floor.db, tenant_id=floor.tenant_id, queue_id=human_only,
        enabled=True, max_turns=2,
    )  # fmt: skip
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        config = await session.scalar(select(Queue.config).where(Queue.id == human_only))
    assert bot_enabled(config) and config["chat"]["bot_max_turns"] == 2

    resolved = await start(floor, keyring, "chat")
    await visitor_says(floor, keyring, resolved, "配送が来ない")
    await do_close_conversation(
        floor.db, tenant_id=floor.tenant_id, conversation_id=resolved.conversation_id,
        by="customer", actor="visitor",
    )  # fmt: skip
    pressed = await start(floor, keyring, "chat")
    button = await do_request_human(
        floor.db, keyring, tenant_id=floor.tenant_id, conversation_id=pressed.conversation_id,
        lang="ja",
    )  # fmt: skip
    assert button.handed_over and button.reason == "asked"
    still = await start(floor, keyring, "chat")

    today = datetime.now(UTC).date()
    rows = await bot_stats(
        floor.db, tenant_id=floor.tenant_id, start=today.replace(day=1) if today.day > 1 else today,
        end=today.fromordinal(today.toordinal() + 1), queue_id=bot_queue,
    )  # fmt: skip
    assert len(rows) == 1
    row = rows[0]
    assert (row.conversations, row.resolved, row.handed_over, row.with_bot) == (3, 1, 1, 1)
    assert row.handover_rate == 0.5 and row.resolved_share == 0.5 and row.bot_turns == 1
    assert still.state == "bot"


async def test_the_voice_hook_answers_or_transfers(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    queue = await floor.add_queue("phone", config=ON)
    made = await articles(world, floor)
    answer = await voice_reply(
        floor.db, tenant_id=floor.tenant_id, queue_id=queue, text="配送が来ないんですけど"
    )
    assert answer.action == "answer" and answer.article_id == made["late"]
    assert answer.text is not None and "配送状況" in answer.text
    person = await voice_reply(
        floor.db, tenant_id=floor.tenant_id, queue_id=queue, text="担当者につないでください"
    )
    assert (person.action, person.reason, person.text) == ("hand_over", "asked", None)
    internal = await voice_reply(
        floor.db, tenant_id=floor.tenant_id, queue_id=queue, text="返金の社内手続き"
    )
    assert internal.action == "hand_over"


async def test_the_database_bot_decides_like_the_offline_benchmark(
    floor: Floor, world: World
) -> None:
    """``benchmarks/bot`` replays questions through ``MemoryIndex``; the live bot's
    ``find_candidate`` must pick the same article with the same confidence."""
    bench_bot = load_benchmark()
    ids = await load_knowledge(floor.db, floor.tenant_id)
    key_of = {article_id: article.key for article_id, article in zip(ids, ARTICLES, strict=True)}
    docs, queries = bench_bot.japanese()
    reference = bench_bot.replay(docs, queries, "ja")
    for outcome in reference[: len(queries)]:  # the "answerable" condition: whole base
        found = await find_candidate(
            floor.db, tenant_id=floor.tenant_id, text=outcome.trial.query, lang="ja"
        )
        assert (key_of[found.article_id] if found else None) == outcome.article
        if found is not None:
            assert abs(found.confidence - outcome.features["confidence"]) < 1e-6
