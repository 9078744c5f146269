"""The FAQ bot on a conversation: greet, answer from the public knowledge base, hand
over to a person — and the figures of how often it does which.

The chat layer calls :func:`do_bot_greet` when a bot conversation opens,
:func:`do_bot_turn` after each visitor message it stored while the conversation's state
is ``bot``, and :func:`do_request_human` for the widget's "talk to a person" button.
Each returns the bot's messages just added (to push to the visitor and the desk) and
whether the conversation went to a person. The rules are the pure
``tsunagi.channels.bot``; this module searches and writes through the conversation
actions, each of which is its own transaction. The voice IVR asks :func:`voice_reply`.

Only published *public* articles are ever read here: the search is ``public_only`` and
the article row and its published version are checked again before a word is quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.conversations import (
    MessageView,
    NewMessage,
    do_add_message,
    do_count_bot_turn,
    do_hand_over,
)
from tsunagi.adapters.search import index
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.kb_models import KbArticle, KbArticleVersion, KbPosting, KbSearchDoc
from tsunagi.adapters.storage.models import Queue, Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.channels.bot import (
    BotSettings,
    Candidate,
    Decision,
    answer_flags,
    answer_text,
    bot_settings,
    check_settings,
    confidence,
    decide_before_search,
    decide_on_candidate,
    lang_of,
    query_idfs,
    text_lang,
    texts,
    voice_answer_text,
    with_bot_settings,
)
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.knowledge.articles import ArticleStatus, Visibility
from tsunagi.knowledge.text import query_terms

ACTOR = "bot"
QUERY_MAX = 500
HITS = 10
STATS_DAYS_MAX = 366


@dataclass(frozen=True)
class BotTurn:
    messages: list[MessageView]  # the bot's messages just added (author "bot", direction "out")
    handed_over: bool
    contact_state: str | None
    # Why it handed over: asked | low_confidence | no_answer | turn_limit.
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _State:
    state: str
    lang: str
    queue_id: UUID
    bot_turns: int
    contact_state: str | None
    last_was_answer: bool
    settings: BotSettings


# ----------------------------------------------------------------------------- search


async def find_candidate(
    db: Database, *, tenant_id: UUID, text: str, lang: str
) -> Candidate | None:
    """The best published public article in ``lang`` for ``text``, with its confidence."""
    terms = query_terms(text[:QUERY_MAX])
    if not terms:
        return None
    async with db.scoped(tenant_id, readonly=True) as session:
        hits = await index.search(session, terms, public_only=True, limit=HITS)
        public = [h for h in hits if h.public]
        hit = next((h for h in public if text_lang(h.title) == lang_of(lang)), None)
        if hit is None:
            return None
        runner_up = next((h.score for h in public if h.article_id != hit.article_id), None)
        body = await _public_body(session, hit.article_id)
        if body is None:
            return None
        idfs = await _query_idfs(session, terms)
    return Candidate(hit.article_id, hit.title, body, confidence(hit.score, runner_up, idfs))


async def _query_idfs(session: AsyncSession, terms: list[str]) -> list[float]:
    count = int(await session.scalar(select(func.count()).select_from(KbSearchDoc)) or 0)
    rows = await session.execute(
        select(KbPosting.term, func.count())
        .where(KbPosting.term.in_(terms))
        .group_by(KbPosting.term)
    )
    return query_idfs({str(term): int(df) for term, df in rows}, terms, count)


async def _public_body(session: AsyncSession, article_id: UUID) -> str | None:
    """The published version's body if the article is published and public (else None)."""
    row = (
        await session.execute(
            select(
                KbArticle.status,
                KbArticle.visibility,
                KbArticleVersion.visibility,
                KbArticleVersion.body,
            )
            .join(
                KbArticleVersion,
                (KbArticleVersion.article_id == KbArticle.id)
                & (KbArticleVersion.version == KbArticle.published_version),
            )
            .where(KbArticle.id == article_id)
        )
    ).first()
    if row is None:
        return None
    status, visibility, version_visibility, body = row
    public = Visibility.PUBLIC.value
    if (
        status != ArticleStatus.PUBLISHED.value
        or public != visibility
        or public != version_visibility
    ):
        return None
    return str(body)


# ------------------------------------------------------------------------------ state


async def _state(db: Database, tenant_id: UUID, conversation_id: UUID) -> _State:
    async with db.scoped(tenant_id, readonly=True) as session:
        row = (
            await session.execute(
                select(Conversation, RoutingContact.state, Queue.config)
                .outerjoin(RoutingContact, RoutingContact.id == Conversation.contact_id)
                .join(Queue, Queue.id == Conversation.queue_id)
                .where(Conversation.id == conversation_id)
            )
        ).first()
        if row is None:
            raise NotFoundError("conversation not found")
        conversation, contact_state, config = row
        last_flags = await session.scalar(
            select(ConversationMessage.flags)
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.author == "bot",
            )
            .order_by(ConversationMessage.seq.desc())
            .limit(1)
        )
    return _State(
        state=conversation.state,
        lang=conversation.lang,
        queue_id=conversation.queue_id,
        bot_turns=conversation.bot_turns,
        contact_state=contact_state,
        last_was_answer="bot_answer" in (last_flags or []),
        settings=bot_settings(config),
    )


async def _say(
    db: Database,
    keyring: KeyRing,
    tenant_id: UUID,
    conversation_id: UUID,
    text: str,
    flags: tuple[str, ...] = (),
    external_id: str | None = None,
) -> MessageView:
    return await do_add_message(
        db,
        keyring,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        new=NewMessage("out", "bot", text, status="sent", flags=flags, external_id=external_id),
        actor=ACTOR,
    )


# ---------------------------------------------------------------------------- actions


async def do_bot_greet(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID, lang: str
) -> BotTurn:
    """The bot's opening line (once per conversation: a second call adds nothing)."""
    state = await _state(db, tenant_id, conversation_id)
    if state.state != "bot":
        return BotTurn([], False, state.contact_state)
    said = await _say(
        db, keyring, tenant_id, conversation_id, texts(lang).greeting,
        external_id=f"bot-greeting:{conversation_id}",
    )  # fmt: skip
    return BotTurn([said] if said.created else [], False, state.contact_state)


async def do_bot_turn(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    conversation_id: UUID,
    text: str,
    lang: str,
) -> BotTurn:
    """Answer the visitor's message (already stored) or hand the conversation over."""
    state = await _state(db, tenant_id, conversation_id)
    if state.state != "bot":
        return BotTurn([], False, state.contact_state)
    decision = decide_before_search(
        text,
        answered_turns=state.bot_turns,
        last_was_answer=state.last_was_answer,
        settings=state.settings,
    )
    if decision is None:
        found = await find_candidate(db, tenant_id=tenant_id, text=text, lang=lang)
        decision = decide_on_candidate(found, state.settings)
    return await _carry_out(db, keyring, tenant_id, conversation_id, decision, lang, state)


async def do_request_human(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, conversation_id: UUID, lang: str
) -> BotTurn:
    """The widget's "talk to a person" button: hand over now (nothing if already done)."""
    state = await _state(db, tenant_id, conversation_id)
    if state.state != "bot":
        return BotTurn([], False, state.contact_state)
    return await _hand_over(db, keyring, tenant_id, conversation_id, "asked", lang, state)


async def _carry_out(
    db: Database,
    keyring: KeyRing,
    tenant_id: UUID,
    conversation_id: UUID,
    decision: Decision,
    lang: str,
    state: _State,
) -> BotTurn:
    if decision.action == "hand_over":
        reason = decision.reason or "no_answer"
        return await _hand_over(db, keyring, tenant_id, conversation_id, reason, lang, state)
    if decision.action == "thanks":
        said = await _say(db, keyring, tenant_id, conversation_id, texts(lang).thanks)
        return BotTurn([said], False, state.contact_state)
    assert decision.candidate is not None
    said = await _say(
        db, keyring, tenant_id, conversation_id, answer_text(lang, decision.candidate),
        flags=answer_flags(decision.candidate),
    )  # fmt: skip
    await do_count_bot_turn(db, tenant_id=tenant_id, conversation_id=conversation_id)
    return BotTurn([said], False, state.contact_state)


async def _hand_over(
    db: Database,
    keyring: KeyRing,
    tenant_id: UUID,
    conversation_id: UUID,
    reason: str,
    lang: str,
    state: _State,
) -> BotTurn:
    try:
        contact_state = await do_hand_over(
            db, tenant_id=tenant_id, conversation_id=conversation_id, reason=reason, actor=ACTOR
        )
    except ConflictError:  # someone else handed it over first (a double click)
        return BotTurn([], False, state.contact_state)
    line = texts(lang).closed if contact_state == "closed" else texts(lang).handing_over
    said = await _say(db, keyring, tenant_id, conversation_id, line, flags=("bot_handover",))
    return BotTurn([said], True, contact_state, reason)


# ------------------------------------------------------------------------------ voice


@dataclass(frozen=True, slots=True)
class VoiceReply:
    action: str  # answer | hand_over | thanks
    text: str | None  # what to speak (None: say nothing, transfer)
    reason: str | None = None
    article_id: UUID | None = None


async def voice_reply(
    db: Database,
    *,
    tenant_id: UUID,
    queue_id: UUID,
    text: str,
    lang: str = "ja",
    answered_turns: int = 0,
    last_was_answer: bool = False,
) -> VoiceReply:
    """For a voice IVR: given the recognised ``text`` of a caller in a queue's self-service,
    the answer to speak or the decision to transfer to the queue. Writes nothing; the IVR
    keeps ``answered_turns``/``last_was_answer`` for its call and, on ``hand_over``, ends
    self-service with ``do_end_self_service(handover=True)``. Uses the queue's bot
    threshold and turn limit (whether to offer the bot on a line is the IVR's setting)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        config = await session.scalar(select(Queue.config).where(Queue.id == queue_id))
    if config is None:
        raise NotFoundError("queue not found")
    settings = bot_settings(config)
    decision = decide_before_search(
        text, answered_turns=answered_turns, last_was_answer=last_was_answer, settings=settings
    )
    if decision is None:
        found = await find_candidate(db, tenant_id=tenant_id, text=text, lang=lang)
        decision = decide_on_candidate(found, settings)
    if decision.action == "answer" and decision.candidate is not None:
        spoken = voice_answer_text(lang, decision.candidate)
        return VoiceReply("answer", spoken, None, decision.candidate.article_id)
    if decision.action == "thanks":
        return VoiceReply("thanks", texts(lang).thanks)
    return VoiceReply("hand_over", None, decision.reason)


# --------------------------------------------------------------------------- settings


async def queue_bot_settings(db: Database, *, tenant_id: UUID, queue_id: UUID) -> BotSettings:
    async with db.scoped(tenant_id, readonly=True) as session:
        config = await session.scalar(select(Queue.config).where(Queue.id == queue_id))
    if config is None:
        raise NotFoundError("queue not found")
    return bot_settings(config)


async def do_set_queue_bot(
    db: Database,
    *,
    tenant_id: UUID,
    queue_id: UUID,
    enabled: bool | None = None,
    min_confidence: float | None = None,
    max_turns: int | None = None,
) -> BotSettings:
    """Switch the bot on or off for a queue's chats, set its threshold and turn limit
    (a value left as None is kept). Applies to conversations started afterwards."""
    async with db.scoped(tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        now = bot_settings(queue.config)
        wanted = check_settings(
            now.enabled if enabled is None else enabled,
            now.min_confidence if min_confidence is None else min_confidence,
            now.max_turns if max_turns is None else max_turns,
        )
        queue.config = with_bot_settings(queue.config, wanted)
    return wanted


# ------------------------------------------------------------------------------ stats


@dataclass(frozen=True, slots=True)
class BotStatsRow:
    queue_id: UUID
    day: date
    conversations: int  # that reached an outcome with the bot or are still with it
    resolved: int
    handed_over: int
    with_bot: int  # still with the bot now
    bot_turns: int  # answers given

    @property
    def ended(self) -> int:
        return self.resolved + self.handed_over

    @property
    def handover_rate(self) -> float | None:
        return self.handed_over / self.ended if self.ended else None

    @property
    def resolved_share(self) -> float | None:
        return self.resolved / self.ended if self.ended else None


async def bot_stats(
    db: Database,
    *,
    tenant_id: UUID,
    start: date,
    end: date,
    queue_id: UUID | None = None,
) -> list[BotStatsRow]:
    """Per queue and day (the centre's time zone, by when the conversation started) from
    ``start`` to ``end`` inclusive: bot conversations, how many the bot resolved and how
    many it handed over. Rates are over conversations that ended with the bot."""
    if end < start:
        raise InvalidInputError("to must not be before from")
    if (end - start).days >= STATS_DAYS_MAX:
        raise InvalidInputError(f"at most {STATS_DAYS_MAX} days at a time")
    async with db.scoped(tenant_id, readonly=True) as session:
        zone = ZoneInfo(
            await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "UTC"
        )
        since = datetime.combine(start, time(), zone).astimezone(UTC)
        until = datetime.combine(end + timedelta(days=1), time(), zone).astimezone(UTC)
        query = select(
            Conversation.queue_id,
            Conversation.created_at,
            Conversation.state,
            Conversation.bot_outcome,
            Conversation.bot_turns,
        ).where(
            Conversation.created_at >= since,
            Conversation.created_at < until,
            (Conversation.bot_outcome.is_not(None)) | (Conversation.state == "bot"),
        )
        if queue_id is not None:
            query = query.where(Conversation.queue_id == queue_id)
        rows = (await session.execute(query)).all()
    return _group(rows, zone)


def _group(rows: Any, zone: ZoneInfo) -> list[BotStatsRow]:
    counts: dict[tuple[UUID, date], list[int]] = {}
    for queue_id, created_at, state, outcome, turns in rows:
        key = (queue_id, created_at.astimezone(zone).date())
        c = counts.setdefault(key, [0, 0, 0, 0, 0])
        c[0] += 1
        c[1] += outcome == "resolved"
        c[2] += outcome == "handed_over"
        c[3] += state == "bot"
        c[4] += turns or 0
    return [
        BotStatsRow(queue, day, *values)
        for (queue, day), values in sorted(
            counts.items(), key=lambda item: (item[0][1], str(item[0][0]))
        )
    ]
