"""Survey answers on SQLite and PostgreSQL: recorded once, sealed, folded into NPS/CSAT,
refused when misused (nothing written), kept per tenant, and equal to a rebuild."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from integration.routing.routing_floor import Floor
from testkit import World
from tsunagi.actions import surveys
from tsunagi.actions.figures.projector import do_fold_all, do_rebuild
from tsunagi.actions.routing.offers import do_accept_offer, do_close_contact, do_end_contact
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.crm_models import TenantKey
from tsunagi.adapters.storage.figures_models import (
    FiguresAgentInterval,
    FiguresContact,
    FiguresContactDay,
    FiguresContactInterval,
)
from tsunagi.adapters.storage.models import AuditEntry, OutboxEvent
from tsunagi.adapters.storage.survey_models import SurveyResponse
from tsunagi.domain.errors import ConflictError, InvalidInputError
from tsunagi.domain.permissions import Principal, Role
from tsunagi.figures.definitions import FigureOptions, contact_figures
from tsunagi.figures.intervals import interval_start
from tsunagi.figures.surveys import (
    SurveyExpiredError,
    SurveySettings,
    SurveyTokenError,
    encode_token,
    invitation,
)

SURVEY = {"survey": {"channels": ["sms", "email", "chat"], "questions": "both"}}
CANARY = "電話番号は090-0000-1234です canary-comment"


async def settle(floor: Floor) -> None:
    while await floor.relay.run_once() > 0:
        pass
    await do_fold_all(floor.db, floor.tenant_id, batch=5)


async def handled(floor: Floor, queue: str, agent: uuid.UUID, category: str) -> uuid.UUID:
    """A voice contact answered by ``agent`` and closed with ``category``."""
    contact_id = await floor.create(queue)
    await floor.wait_state(contact_id, "offered")
    row = await floor.contact(contact_id)
    holder = row.agent_id
    assert holder is not None
    kw = {"tenant_id": floor.tenant_id, "contact_id": contact_id, "agent_id": holder, "actor": "t"}
    await do_accept_offer(floor.db, **kw)  # type: ignore[arg-type]
    await do_end_contact(floor.db, **kw)  # type: ignore[arg-type]
    await do_close_contact(floor.db, **kw, category=category, resolved_first_contact=True)  # type: ignore[arg-type]
    return contact_id


async def token_for(floor: Floor, keyring: KeyRing, contact_id: uuid.UUID) -> str:
    offer = await surveys.offer_for_contact(
        floor.db, keyring, tenant_id=floor.tenant_id, contact_id=contact_id, channel="sms"
    )
    assert offer is not None
    return offer.token


def supervisor(world: World, tenant: str = "a") -> Principal:
    account = world.account(tenant, "supervisor")
    return Principal(account.user_id, account.tenant_id, frozenset({Role.SUPERVISOR}))


async def test_an_answer_is_recorded_once_sealed_and_counted_for_the_contact(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    queue = await floor.add_queue("billing", config=SURVEY)
    aiko = await floor.add_agent("aiko", {"billing": 5})
    contact_id = await handled(floor, "billing", aiko, "billing-amount")
    await settle(floor)
    token = await token_for(floor, keyring, contact_id)
    answered = await surveys.do_answer_survey(
        floor.db,
        keyring,
        token=token,
        answer=surveys.Answer(nps=9, csat=4, comment=CANARY, lang="ja"),
    )
    await settle(floor)
    at = interval_start(utcnow())
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        response = await session.get(SurveyResponse, answered.response_id)
        rows = (await session.scalars(select(FiguresContactInterval))).all()
        agent_rows = (await session.scalars(select(FiguresAgentInterval))).all()
        record = await session.get(FiguresContact, contact_id)
        payloads = (
            await session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.type == "survey.answered")
            )
        ).all()
    assert response is not None and (response.nps_score, response.csat_score) == (9, 4)
    assert response.channel == "sms" and response.comment_enc is not None
    # The ciphertext holds neither fragment as bytes (a hex rendering of random bytes
    # may contain "090" by chance: about one run in 25 did).
    for fragment in ("canary-comment", "090-0000-1234", "電話番号"):
        assert fragment.encode() not in response.comment_enc
    assert len(payloads) == 1 and "canary" not in payloads[0] and '"commented":true' in payloads[0]
    counted = [r for r in rows if r.nps_answers]
    assert len(counted) == 1
    row = counted[0]
    assert (row.queue_id, row.channel, row.category) == (queue, "voice", "billing-amount")
    assert row.interval_start == at or row.interval_start == at - timedelta(minutes=15)
    assert (row.nps_answers, row.nps_promoters, row.nps_detractors) == (1, 1, 0)
    assert (row.csat_answers, row.csat_satisfied, row.csat_score_sum) == (1, 1, 4)
    assert [
        (a.agent_id, a.nps_promoters, a.csat_score_sum) for a in agent_rows if a.nps_answers
    ] == [(aiko, 1, 4)]
    assert record is not None and (record.nps_score, record.csat_score) == (9, 4)
    figures = contact_figures({"nps_answers": 1, "nps_promoters": 1}, FigureOptions())
    assert figures["nps"] == 100.0
    # The comment opens only through the audited read, with a reason.
    today = utcnow().date()
    span = {"day_from": today - timedelta(days=1), "day_to": today + timedelta(days=1)}
    with pytest.raises(InvalidInputError, match="reason"):
        await surveys.list_responses(
            floor.db, keyring, principal=supervisor(world), with_comments=True, **span
        )
    views = await surveys.list_responses(
        floor.db, keyring, principal=supervisor(world), with_comments=True,
        reason="monthly VOC review", **span,
    )  # fmt: skip
    assert [(v.nps, v.csat, v.comment, v.agent_id) for v in views] == [(9, 4, CANARY, aiko)]
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        audits = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "survey_response.read")
            )
        ).all()
    assert [(a.reason, a.detail["comments"]) for a in audits] == [("monthly VOC review", 1)]
    assert (await do_rebuild(floor.db, floor.tenant_id)).equal


async def _counts(floor: Floor) -> tuple[int, int]:
    async with floor.db.scoped(floor.tenant_id, readonly=True) as session:
        responses = await session.scalar(select(func.count()).select_from(SurveyResponse))
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "survey.answered")
        )
    return int(responses or 0), int(events or 0)


async def test_misuse_is_refused_and_writes_nothing(floor: Floor, keyring: KeyRing) -> None:
    await floor.add_queue("billing", config=SURVEY)
    aiko = await floor.add_agent("aiko", {"billing": 5})
    contact_id = await handled(floor, "billing", aiko, "billing-amount")
    token = await token_for(floor, keyring, contact_id)
    for bad, field in (
        (surveys.Answer(csat=6), "csat"),
        (surveys.Answer(nps=11), "nps"),
        (surveys.Answer(), "csat"),
    ):
        with pytest.raises(InvalidInputError, match=f"^{field}:"):
            await surveys.do_answer_survey(floor.db, keyring, token=token, answer=bad)
    assert await _counts(floor) == (0, 0)
    await surveys.do_answer_survey(floor.db, keyring, token=token, answer=surveys.Answer(csat=2))
    assert await _counts(floor) == (1, 1)
    with pytest.raises(ConflictError, match="already been answered"):
        await surveys.do_answer_survey(
            floor.db, keyring, token=token, answer=surveys.Answer(nps=10)
        )
    # A new token for the same contact is not offered, and would not answer either.
    assert (
        await surveys.offer_for_contact(
            floor.db, keyring, tenant_id=floor.tenant_id, contact_id=contact_id, channel="sms"
        )
        is None
    )
    assert await _counts(floor) == (1, 1)


async def test_expired_altered_and_forged_tokens(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("billing", config={"survey": {"channels": ["sms"], "expire_days": 2}})
    aiko = await floor.add_agent("aiko", {"billing": 5})
    contact_id = await handled(floor, "billing", aiko, "x")
    token = await token_for(floor, keyring, contact_id)
    later = utcnow() + timedelta(days=2, seconds=1)
    with pytest.raises(SurveyExpiredError, match="closed"):
        await surveys.do_answer_survey(
            floor.db, keyring, token=token, answer=surveys.Answer(csat=5), now=later
        )
    with pytest.raises(SurveyExpiredError):
        await surveys.open_survey(floor.db, keyring, token=token, now=later)
    altered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    with pytest.raises(SurveyTokenError):
        await surveys.do_answer_survey(
            floor.db, keyring, token=altered, answer=surveys.Answer(csat=5)
        )
    # Signed with another key (a guess at the MAC), or naming a tenant that does not exist.
    invite = invitation(
        tenant_id=floor.tenant_id, contact_id=contact_id, settings=SurveySettings(),
        channel="sms", now=utcnow(),
    )  # fmt: skip
    with pytest.raises(SurveyTokenError):
        await surveys.do_answer_survey(
            floor.db, keyring, token=encode_token(invite, b"\0" * 32), answer=surveys.Answer(csat=5)
        )
    nowhere = invitation(
        tenant_id=uuid.uuid4(), contact_id=contact_id, settings=SurveySettings(),
        channel="sms", now=utcnow(),
    )  # fmt: skip
    with pytest.raises(SurveyTokenError):
        await surveys.open_survey(floor.db, keyring, token=encode_token(nowhere, b"\0" * 32))
    async with floor.db.system(readonly=True) as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(TenantKey)
            .where(TenantKey.tenant_id == nowhere.tenant_id)
        )
    assert keys == 0  # a forged tenant id never makes a key
    # Tenant A's token through tenant B's widget is not found.
    with pytest.raises(SurveyTokenError):
        await surveys.do_answer_survey(
            floor.db, keyring, token=token, answer=surveys.Answer(csat=5),
            tenant_id=world.tenants["b"],
        )  # fmt: skip
    assert await _counts(floor) == (0, 0)


async def test_tenants_do_not_see_each_others_answers(
    floor: Floor, keyring: KeyRing, world: World
) -> None:
    await floor.add_queue("billing", config=SURVEY)
    aiko = await floor.add_agent("aiko", {"billing": 5})
    contact_id = await handled(floor, "billing", aiko, "x")
    token = await token_for(floor, keyring, contact_id)
    await surveys.do_answer_survey(floor.db, keyring, token=token, answer=surveys.Answer(nps=0))
    await settle(floor)
    today = utcnow().date()
    span = {"day_from": today - timedelta(days=1), "day_to": today + timedelta(days=1)}
    assert (
        len(await surveys.list_responses(floor.db, keyring, principal=supervisor(world), **span))
        == 1
    )
    assert (
        await surveys.list_responses(floor.db, keyring, principal=supervisor(world, "b"), **span)
        == []
    )
    await do_fold_all(floor.db, world.tenants["b"])
    async with floor.db.scoped(world.tenants["b"], readonly=True) as session:
        assert await session.scalar(select(func.count()).select_from(FiguresContactDay)) == 0
    with pytest.raises(Exception, match="not found"):
        await surveys.offer_for_contact(
            floor.db, keyring, tenant_id=world.tenants["b"], contact_id=contact_id, channel="sms"
        )


async def test_live_rows_equal_a_rebuild_with_answers_before_and_after_the_close(
    floor: Floor, keyring: KeyRing
) -> None:
    rng = random.Random(6)
    await floor.add_queue("billing", config=SURVEY)
    await floor.add_queue("orders", config=SURVEY)
    await floor.add_agent("aiko", {"billing": 5, "orders": 5})
    tenant = floor.tenant_id
    expected_nps = []
    for step in range(8):
        queue = rng.choice(["billing", "orders"])
        contact_id = await floor.create(queue)
        await floor.wait_state(contact_id, "offered")
        holder = (await floor.contact(contact_id)).agent_id
        kw = {"tenant_id": tenant, "contact_id": contact_id, "agent_id": holder, "actor": "t"}
        await do_accept_offer(floor.db, **kw)  # type: ignore[arg-type]
        await do_end_contact(floor.db, **kw)  # type: ignore[arg-type]
        token = await token_for(floor, keyring, contact_id)
        nps = rng.randint(0, 10)
        expected_nps.append(nps)
        before_close = step % 2 == 0
        if before_close:  # answered in wrap-up: counted when the contact closes
            await surveys.do_answer_survey(
                floor.db, keyring, token=token, answer=surveys.Answer(nps=nps)
            )
        if step % 3 == 0:
            await settle(floor)
        await do_close_contact(floor.db, **kw, category=rng.choice(["a", "b"]))  # type: ignore[arg-type]
        if not before_close:
            await surveys.do_answer_survey(
                floor.db,
                keyring,
                token=token,
                answer=surveys.Answer(nps=nps, csat=rng.randint(1, 5)),
            )
    await settle(floor)
    async with floor.db.scoped(tenant, readonly=True) as session:
        summed = (
            await session.execute(
                select(
                    func.sum(FiguresContactDay.nps_answers),
                    func.sum(FiguresContactDay.nps_promoters),
                    func.sum(FiguresContactDay.nps_detractors),
                )
            )
        ).one()
    assert tuple(int(v) for v in summed) == (
        len(expected_nps),
        sum(1 for n in expected_nps if n >= 9),
        sum(1 for n in expected_nps if n <= 6),
    )
    report = await do_rebuild(floor.db, tenant)
    assert report.equal, report.differences[:5]
