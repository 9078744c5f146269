"""Surveys after a contact (issue 6): invitations, answers, settings, sealed comments.

An invitation is a signed token (``tsunagi.figures.surveys``) made for one contact when
its queue asks on that channel: the chat widget fetches one when the chat has ended, a
communicator or supervisor sends one by email or SMS as a link to ``/survey/{token}``.

:func:`do_answer_survey` checks the token (our MAC under the tenant's key, not expired),
the scores, and that the contact has not answered, then in one transaction writes the
``survey_responses`` row (comment sealed) and the ``survey.answered`` event (scores only)
that the figures fold into NPS and CSAT. Reading comments opens personal data: audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions.audit import record as audit
from tsunagi.actions.conversations import conversation_by_token
from tsunagi.actions.email_desk import do_queue_email_reply
from tsunagi.actions.events import emit
from tsunagi.actions.routing.rows import utcnow
from tsunagi.actions.sms_send import do_queue_sms_reply
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue, Tenant, User
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.storage.survey_models import SurveyResponse
from tsunagi.channels.text import clean_text
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.ids import new_id
from tsunagi.domain.permissions import Principal, Role
from tsunagi.figures.surveys import (
    MAX_COMMENT,
    SURVEY_KIND,
    TOKEN_PURPOSE,
    Invitation,
    Questions,
    SurveyAnsweredEvent,
    SurveyExpiredError,
    SurveySettings,
    SurveyTokenError,
    encode_token,
    invitation,
    mac_matches,
    read_token,
    survey_settings,
)
from tsunagi.figures.surveys import (
    check_scores as check_survey_scores,
)

log = logging.getLogger(__name__)
_TABLE = "survey_responses"
ANSWERED = "this survey has already been answered — thank you"


@dataclass(frozen=True, slots=True)
class Offer:
    """An invitation ready to hand out."""

    token: str
    questions: Questions
    comment: bool
    expires_at: datetime
    contact_id: UUID
    channel: str


@dataclass(frozen=True, slots=True)
class OpenSurvey:
    """What the survey page or widget shows for a token."""

    invitation: Invitation
    tenant_name: str
    default_locale: str
    comment: bool
    answered: bool


@dataclass(frozen=True, slots=True)
class Answer:
    nps: int | None = None
    csat: int | None = None
    comment: str | None = None
    lang: str = "ja"


@dataclass(frozen=True, slots=True)
class Answered:
    response_id: UUID
    contact_id: UUID


# ------------------------------------------------------------------- settings


async def get_survey_settings(db: Database, *, tenant_id: UUID, queue_id: UUID) -> SurveySettings:
    async with db.scoped(tenant_id, readonly=True) as session:
        config = await session.scalar(select(Queue.config).where(Queue.id == queue_id))
        exists = await session.scalar(select(Queue.id).where(Queue.id == queue_id))
    if exists is None:
        raise NotFoundError("queue not found")
    return survey_settings(config)


async def do_set_survey_settings(
    db: Database, *, tenant_id: UUID, queue_id: UUID, settings: SurveySettings
) -> SurveySettings:
    """Replace the queue's survey settings (``queues.config["survey"]``)."""
    checked = settings.validated()
    async with db.scoped(tenant_id) as session, session.begin():
        queue = await session.scalar(select(Queue).where(Queue.id == queue_id).with_for_update())
        if queue is None:
            raise NotFoundError("queue not found")
        queue.config = {**(queue.config or {}), "survey": msgspec.to_builtins(checked)}
    return checked


# ----------------------------------------------------------------- invitations


async def _queue_settings(session: AsyncSession, contact: RoutingContact) -> SurveySettings:
    config = None
    if contact.queue_id is not None:
        config = await session.scalar(select(Queue.config).where(Queue.id == contact.queue_id))
    return survey_settings(config)


async def _answered(session: AsyncSession, contact_id: UUID) -> bool:
    found = await session.scalar(
        select(SurveyResponse.id).where(
            SurveyResponse.contact_id == contact_id, SurveyResponse.kind == SURVEY_KIND
        )
    )
    return found is not None


async def _sign(db: Database, keyring: KeyRing, invite: Invitation) -> str:
    cipher = await keyring.cipher(db, invite.tenant_id)
    return encode_token(invite, cipher.mac(TOKEN_PURPOSE, invite.payload()))


async def offer_for_contact(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    contact_id: UUID,
    channel: str,
    now: datetime | None = None,
) -> Offer | None:
    """An invitation for the contact by ``channel``, or None when its queue does not ask
    there or the contact has answered already."""
    at = now or utcnow()
    async with db.scoped(tenant_id, readonly=True) as session:
        contact = await session.get(RoutingContact, contact_id)
        if contact is None:
            raise NotFoundError("contact not found")
        settings = await _queue_settings(session, contact)
        answered = await _answered(session, contact_id)
    if not settings.asks(channel) or answered:
        return None
    invite = invitation(
        tenant_id=tenant_id, contact_id=contact_id, settings=settings, channel=channel, now=at
    )
    return Offer(
        token=await _sign(db, keyring, invite),
        questions=invite.questions,
        comment=settings.comment,
        expires_at=invite.expires_at,
        contact_id=contact_id,
        channel=channel,
    )


async def offer_for_chat(
    db: Database, keyring: KeyRing, *, tenant_id: UUID, visitor_token: str
) -> Offer | None:
    """The survey of a visitor's chat once it has ended (None while it goes on, when the
    queue asks nothing in chat, or when it was answered)."""
    conversation_id = await conversation_by_token(db, tenant_id=tenant_id, token=visitor_token)
    async with db.scoped(tenant_id, readonly=True) as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.contact_id is None or conversation.state != "closed":
        return None
    return await offer_for_contact(
        db, keyring, tenant_id=tenant_id, contact_id=conversation.contact_id, channel="chat"
    )


# ---------------------------------------------------------------------- answers


async def _verified(
    db: Database, keyring: KeyRing, token: str, now: datetime
) -> tuple[Invitation, Tenant]:
    """The invitation of a genuine, unexpired token and its tenant."""
    invite, payload, presented = read_token(token)
    async with db.system(readonly=True) as session:
        tenant = await session.get(Tenant, invite.tenant_id)
    if tenant is None:  # checked before the keyring, which would make a key for any id
        raise SurveyTokenError("this survey link is not valid")
    cipher = await keyring.cipher(db, tenant.id)
    if not mac_matches(cipher.mac(TOKEN_PURPOSE, payload), presented):
        raise SurveyTokenError("this survey link is not valid")
    if invite.expired(now):
        raise SurveyExpiredError(
            "this survey has closed: answers were taken until "
            f"{invite.expires_at.astimezone(ZoneInfo(tenant.timezone)):%Y-%m-%d %H:%M}"
        )
    return invite, tenant


async def open_survey(
    db: Database, keyring: KeyRing, *, token: str, now: datetime | None = None
) -> OpenSurvey:
    """The survey behind a token, for its page (raises for a bad or expired token)."""
    invite, tenant = await _verified(db, keyring, token, now or utcnow())
    async with db.scoped(tenant.id, readonly=True) as session:
        contact = await session.get(RoutingContact, invite.contact_id)
        if contact is None:
            raise SurveyTokenError("this survey link is not valid")
        settings = await _queue_settings(session, contact)
        answered = await _answered(session, contact.id)
    return OpenSurvey(
        invitation=invite,
        tenant_name=tenant.name,
        default_locale=tenant.default_locale,
        comment=settings.comment,
        answered=answered,
    )


async def do_answer_survey(
    db: Database,
    keyring: KeyRing,
    *,
    token: str,
    answer: Answer,
    tenant_id: UUID | None = None,
    now: datetime | None = None,
) -> Answered:
    """Record the answer of a token, once: 422 for a bad token or score (naming the field),
    409 when the contact has answered already. ``tenant_id`` pins the tenant the caller
    came through (the widget's): another tenant's token is then not found."""
    at = now or utcnow()
    invite, tenant = await _verified(db, keyring, token, at)
    if tenant_id is not None and tenant.id != tenant_id:
        raise SurveyTokenError("this survey link is not valid")
    check_survey_scores(answer.nps, answer.csat, invite.questions)
    comment = None
    if answer.comment and answer.comment.strip():
        comment = clean_text(answer.comment, limit=MAX_COMMENT, what="comment")
    cipher = await keyring.cipher(db, tenant.id)
    response_id = new_id()
    try:
        async with db.scoped(tenant.id) as session, session.begin():
            contact = await session.scalar(
                select(RoutingContact)
                .where(RoutingContact.id == invite.contact_id)
                .with_for_update()
            )
            if contact is None:
                raise SurveyTokenError("this survey link is not valid")
            if comment is not None and not (await _queue_settings(session, contact)).comment:
                raise InvalidInputError("comment: this survey takes no comment")
            if await _answered(session, contact.id):
                raise ConflictError(ANSWERED)
            session.add(
                SurveyResponse(
                    id=response_id,
                    tenant_id=tenant.id,
                    contact_id=contact.id,
                    kind=SURVEY_KIND,
                    nps_score=answer.nps,
                    csat_score=answer.csat,
                    comment_enc=cipher.seal(
                        comment, table=_TABLE, column="comment", row_id=response_id
                    ),
                    channel=invite.channel,
                    lang="en" if answer.lang == "en" else "ja",
                    answered_at=at,
                )
            )
            emit(
                session,
                SurveyAnsweredEvent(
                    tenant_id=tenant.id,
                    occurred_at=at,
                    actor=f"customer:{invite.channel}",
                    response_id=response_id,
                    contact_id=contact.id,
                    channel=invite.channel,
                    contact_channel=contact.channel,
                    queue_id=contact.queue_id,
                    nps=answer.nps,
                    csat=answer.csat,
                    commented=comment is not None,
                ),
            )
    except IntegrityError as exc:  # answered at the same moment by another request
        raise ConflictError(ANSWERED) from exc
    return Answered(response_id, invite.contact_id)


# ------------------------------------------------------------ staff: answers read


@dataclass(frozen=True, slots=True)
class ResponseView:
    id: UUID
    contact_id: UUID
    nps: int | None
    csat: int | None
    comment: str | None
    channel: str
    lang: str
    answered_at: datetime
    queue_id: UUID | None
    contact_channel: str
    category: str | None
    agent_id: UUID | None


async def list_responses(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    day_from: date,
    day_to: date,
    queue_id: UUID | None = None,
    with_comments: bool = False,
    reason: str | None = None,
    ip: str | None = None,
    limit: int = 500,
) -> list[ResponseView]:
    """Answers of the tenant's local days ``day_from``…``day_to``, newest first. Comments are
    personal data: opening them needs a reason and is audited (one row per read)."""
    if day_to < day_from:
        raise InvalidInputError("day_to is before day_from")
    if with_comments and not (reason and reason.strip()):
        raise InvalidInputError("reason: reading comments needs a reason (it is audited)")
    tenant_id = principal.tenant_id
    async with db.scoped(tenant_id, readonly=True) as session:
        zone = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
        local = ZoneInfo(zone or "UTC")
        begin = datetime.combine(day_from, time(), local)
        end = datetime.combine(day_to + timedelta(days=1), time(), local)
        statement = (
            select(SurveyResponse, RoutingContact)
            .join(RoutingContact, RoutingContact.id == SurveyResponse.contact_id)
            .where(SurveyResponse.answered_at >= begin, SurveyResponse.answered_at < end)
        )
        if queue_id is not None:
            statement = statement.where(RoutingContact.queue_id == queue_id)
        statement = statement.order_by(SurveyResponse.answered_at.desc()).limit(
            max(1, min(limit, 5000))
        )
        rows = (await session.execute(statement)).all()
    cipher = await keyring.cipher(db, tenant_id) if with_comments else None
    views = [
        ResponseView(
            id=response.id,
            contact_id=response.contact_id,
            nps=response.nps_score,
            csat=response.csat_score,
            comment=None
            if cipher is None
            else cipher.open(
                response.comment_enc, table=_TABLE, column="comment", row_id=response.id
            ),
            channel=response.channel,
            lang=response.lang,
            answered_at=response.answered_at,
            queue_id=contact.queue_id,
            contact_channel=contact.channel,
            category=contact.category,
            agent_id=contact.last_agent_id,
        )
        for response, contact in rows
    ]
    if with_comments:
        async with db.scoped(tenant_id) as session, session.begin():
            audit(
                session,
                tenant_id=tenant_id,
                action="survey_response.read",
                resource_type="survey_response",
                outcome="ok",
                actor_user_id=principal.user_id,
                ip=ip,
                reason=reason,
                detail={
                    "day_from": day_from.isoformat(),
                    "day_to": day_to.isoformat(),
                    "comments": sum(1 for v in views if v.comment is not None),
                },
            )
    return views


# --------------------------------------------------------- staff: send a link


@dataclass(frozen=True, slots=True)
class Sent:
    offer: Offer
    url: str
    message_id: UUID | None  # the queued email/SMS, None when only the link was made


INVITE_TEXT = {
    "ja": "お問い合わせありがとうございました。ご対応へのご感想をお聞かせください（1分ほど）:"
    " {url}",
    "en": "Thank you for contacting us. Would you tell us how it went? (1 minute): {url}",
}


async def do_send_invitation(
    db: Database,
    keyring: KeyRing,
    *,
    principal: Principal,
    contact_id: UUID,
    base_url: str,
    send: bool = True,
) -> Sent:
    """A survey link for an email or SMS contact, sent as a message of its conversation
    (``send``) or only returned. Refused (409) when the contact's queue does not ask on
    that channel or the customer has answered."""
    tenant_id = principal.tenant_id
    async with db.scoped(tenant_id, readonly=True) as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.contact_id == contact_id)
        )
        contact = await session.get(RoutingContact, contact_id)
    if contact is None:
        raise NotFoundError("contact not found")
    channel = conversation.channel if conversation is not None else contact.channel
    if channel not in ("email", "sms"):
        raise ConflictError(
            f"survey links go by email or SMS; this contact is {channel} "
            "(the chat widget asks by itself when a chat ends)"
        )
    offer = await offer_for_contact(
        db, keyring, tenant_id=tenant_id, contact_id=contact_id, channel=channel
    )
    if offer is None:
        raise ConflictError(
            f"no survey to send: the queue does not ask by {channel}, or it was answered"
        )
    url = f"{base_url.rstrip('/')}/survey/{offer.token}"
    if not send or conversation is None:
        return Sent(offer, url, None)
    text = INVITE_TEXT["en" if conversation.lang == "en" else "ja"].format(url=url)
    if channel == "sms":
        queued = await do_queue_sms_reply(
            db, keyring, tenant_id=tenant_id, conversation_id=conversation.id, body=text,
            author_user_id=principal.user_id, client_id=f"survey-{contact_id}",
            actor=principal.actor,
        )  # fmt: skip
        return Sent(offer, url, queued.message.id)
    view = await do_queue_email_reply(
        db, keyring, principal=principal, conversation_id=conversation.id, body=text,
        idempotency_key=f"survey-{contact_id}",
    )  # fmt: skip
    return Sent(offer, url, view.id)


@dataclass
class SendReport:
    """What :func:`do_send_due_invitations` did for one tenant."""

    sent: int = 0
    already: int = 0  # answered, or not asked on that channel
    refused: list[str] = field(default_factory=list)  # contact: why (opted out, no mailbox…)


async def do_send_due_invitations(
    db: Database,
    keyring: KeyRing,
    *,
    tenant_id: UUID,
    base_url: str,
    ended_after: datetime,
    ended_before: datetime | None = None,
) -> SendReport:
    """Send the survey link of every email and SMS contact closed in the window whose queue
    asks on its channel, on behalf of the communicator who closed it. Safe to repeat and to
    run from several processes: the message is idempotent per contact (``survey-<id>``)."""
    until = ended_before or utcnow()
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(
                    RoutingContact.id,
                    RoutingContact.channel,
                    RoutingContact.last_agent_id,
                    Queue.config,
                )
                .join(Queue, Queue.id == RoutingContact.queue_id)
                .where(
                    RoutingContact.state == "closed",
                    RoutingContact.channel.in_(("email", "sms")),
                    RoutingContact.ended_at > ended_after,
                    RoutingContact.ended_at <= until,
                )
                .order_by(RoutingContact.ended_at)
            )
        ).all()
        users = {
            user.id: user
            for user in await session.scalars(
                select(User).where(User.id.in_({row[2] for row in rows if row[2] is not None}))
            )
        }
    report = SendReport()
    for contact_id, channel, agent_id, config in rows:
        if not survey_settings(config).asks(channel):
            report.already += 1
            continue
        user = users.get(agent_id) if agent_id is not None else None
        if user is None:
            report.refused.append(f"{contact_id}: nobody closed it to send on behalf of")
            continue
        sender = Principal(
            user.id,
            tenant_id,
            frozenset(Role(r) for r in user.roles),
            display_name=user.display_name,
        )
        try:
            await do_send_invitation(
                db, keyring, principal=sender, contact_id=contact_id, base_url=base_url
            )
        except ConflictError as exc:
            if "no survey to send" in str(exc):
                report.already += 1
            else:
                report.refused.append(f"{contact_id}: {exc}")
        except (InvalidInputError, NotFoundError) as exc:
            report.refused.append(f"{contact_id}: {exc}")
        else:
            report.sent += 1
    return report
