"""VOC on both profiles: texts gathered per tenant and month (notes, chat, email), opened,
masked by the customer's own values and by pattern, one audit entry per run; the API,
the page and the PDF through the running app, with their authorization."""

from __future__ import annotations

import base64
import io
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from testkit import Browserless, LiveServer, World, run
from tsunagi.actions.figures.voc import gather, voc_month
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import Conversation, ConversationMessage
from tsunagi.adapters.storage.crm_models import ContactParty, Customer, CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import AuditEntry, Category, Queue, Tenant
from tsunagi.adapters.storage.routing_models import RoutingContact
from tsunagi.adapters.storage.survey_models import SurveyResponse
from tsunagi.cli.figures import figures
from tsunagi.domain.permissions import Principal, Role

# The customer's own values: none may appear in anything the VOC returns.
KNOWN = {
    "name": "舟渡 さくら",
    "phone": "090-1111-2222",
    "member_no": "M-555777",
    "email": "sakura.funado@example.org",
}
SECRET_OF_B = "極秘案件"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class _Seed:
    db: Database
    keyring: KeyRing
    tenant: uuid.UUID

    async def customer(self) -> uuid.UUID:
        cipher = await self.keyring.cipher(self.db, self.tenant)
        customer_id = uuid.uuid4()
        async with self.db.scoped(self.tenant) as session, session.begin():
            session.add(
                Customer(
                    id=customer_id,
                    name_enc=cipher.seal(
                        KNOWN["name"], table="customers", column="name", row_id=customer_id
                    ),
                    created_at=at("2026-01-01T00:00:00"),
                    updated_at=at("2026-01-01T00:00:00"),
                )
            )
            for kind in ("phone", "member_no", "email"):
                row = uuid.uuid4()
                session.add(
                    CustomerIdentifier(
                        id=row,
                        customer_id=customer_id,
                        kind=kind,
                        value_enc=cipher.seal(
                            KNOWN[kind], table="customer_identifiers", column="value", row_id=row
                        ),
                        value_hash=cipher.lookup_hash(kind, KNOWN[kind]),
                    )
                )
        return customer_id

    async def queue(self) -> uuid.UUID:
        async with self.db.scoped(self.tenant) as session, session.begin():
            queue = Queue(code="voc", name_ja="VOC", name_en="VOC", created_at=at("2026-01-01"))
            session.add(queue)
            for code, ja, en in (("delivery", "配送", "Delivery"), ("billing", "料金", "Billing")):
                session.add(Category(code=code, name_ja=ja, name_en=en))
        return queue.id

    async def contact(
        self,
        when: str,
        category: str | None,
        *,
        notes: str | None = None,
        customer: uuid.UUID | None = None,
        channel: str = "voice",
        sub_reason: str | None = None,
    ) -> uuid.UUID:
        cipher = await self.keyring.cipher(self.db, self.tenant)
        contact_id = uuid.uuid4()
        moment = at(when)
        async with self.db.scoped(self.tenant) as session, session.begin():
            session.add(
                RoutingContact(
                    id=contact_id,
                    channel=channel,
                    state="closed",
                    skill="voc",
                    ranked_at=moment,
                    created_at=moment,
                    updated_at=moment,
                    category=category,
                    outcome="handled",
                )
            )
            await session.flush()
            session.add(
                ContactParty(
                    contact_id=contact_id,
                    customer_id=customer,
                    notes_enc=cipher.seal(
                        notes, table="contact_parties", column="notes", row_id=contact_id
                    ),
                    sub_reason=sub_reason,
                    created_at=moment,
                )
            )
        return contact_id

    async def conversation(
        self,
        when: str,
        channel: str,
        queue: uuid.UUID,
        contact: uuid.UUID,
        messages: list[tuple[str, str, str]],
        *,
        customer: uuid.UUID | None = None,
        subject: str | None = None,
    ) -> None:
        cipher = await self.keyring.cipher(self.db, self.tenant)
        conversation_id = uuid.uuid4()
        moment = at(when)
        async with self.db.scoped(self.tenant) as session, session.begin():
            session.add(
                Conversation(
                    id=conversation_id,
                    channel=channel,
                    contact_id=contact,
                    queue_id=queue,
                    customer_id=customer,
                    state="closed",
                    subject_enc=cipher.seal(
                        subject, table="conversations", column="subject", row_id=conversation_id
                    ),
                    next_seq=len(messages) + 1,
                    created_at=moment,
                    updated_at=moment,
                )
            )
            await session.flush()
            for seq, (direction, author, body) in enumerate(messages, start=1):
                row = uuid.uuid4()
                session.add(
                    ConversationMessage(
                        id=row,
                        conversation_id=conversation_id,
                        seq=seq,
                        direction=direction,
                        author=author,
                        body_enc=cipher.seal(
                            body, table="conversation_messages", column="body", row_id=row
                        ),
                        status="received",
                        flags=[],
                        created_at=moment,
                    )
                )

    async def survey(self, contact: uuid.UUID, when: str, comment: str) -> None:
        cipher = await self.keyring.cipher(self.db, self.tenant)
        row = uuid.uuid4()
        async with self.db.scoped(self.tenant) as session, session.begin():
            session.add(
                SurveyResponse(
                    id=row,
                    contact_id=contact,
                    csat_score=5,
                    comment_enc=cipher.seal(
                        comment, table="survey_responses", column="comment", row_id=row
                    ),
                    channel="chat",
                    answered_at=at(when),
                )
            )


async def seed_voc(database_url: str, world: World, master_key: bytes) -> None:
    """Tenant a (Asia/Tokyo): October 2026 notes, a chat and an email about deliveries and
    bills, a September baseline; tenant b: a note of its own that a must never see."""
    db = Database(database_url)
    keyring = KeyRing(master_key)
    try:
        a = _Seed(db, keyring, world.tenants["a"])
        customer = await a.customer()
        queue = await a.queue()
        await a.contact(
            "2026-10-05T01:00:00",
            "delivery",
            notes="舟渡さくら様より、配送が遅れて卵が割れていたとのご指摘。会員番号M555777、"
            "折り返しは09011112222へ。",
            customer=customer,
            sub_reason="再配達",
        )
        await a.contact(
            "2026-10-06T02:00:00",
            "delivery",
            notes="配送が遅れて牛乳が届かない",
            sub_reason="再配達",
        )
        chat = await a.contact("2026-10-07T03:00:00", "delivery", channel="chat", customer=customer)
        await a.conversation(
            "2026-10-07T03:00:00",
            "chat",
            queue,
            chat,
            [
                ("in", "customer", "卵が割れていました。配送の箱も破損していて困ります。"),
                ("out", "agent", "担当者からの返信は数えない"),
                ("note", "agent", "内部メモも数えない"),
                ("in", "customer", "連絡先は sakura.funado@example.org です"),
            ],
            customer=customer,
        )
        await a.survey(
            chat, "2026-10-08T09:00:00", "舟渡です。チャットの方がとても丁寧で助かりました。"
        )
        # 2026-09-30 16:30 UTC is 2026-10-01 01:30 in Tokyo: an October text.
        mail = await a.contact("2026-09-30T16:30:00", "billing", channel="email")
        await a.conversation(
            "2026-09-30T16:30:00",
            "email",
            queue,
            mail,
            [("in", "customer", "料金明細が分かりにくいです。\n> 引用された古いメール本文")],
            subject="料金明細について",
        )
        await a.contact("2026-09-10T05:00:00", "billing", notes="料金の支払い方法の確認")
        await a.contact("2026-09-11T05:00:00", "delivery", notes="配送日の変更")
        b = _Seed(db, keyring, world.tenants["b"])
        await b.contact("2026-10-05T01:00:00", "delivery", notes=f"{SECRET_OF_B}の配送")
    finally:
        await db.dispose()


# Random hex the page carries (the CSRF token, 64 characters): "1111" in one is chance, not
# a leak (seen in a full run). Digits of personal data never come as 32+ hex characters.
_RANDOM_HEX = re.compile(r"[0-9a-f]{32,}")


def _no_personal_data(text: str) -> None:
    checked = _RANDOM_HEX.sub("<hex>", text)
    for value in ("舟渡", "さくら", "1111", "2222", "555777", "sakura", "funado"):
        assert value not in checked, f"{value} leaked: {text}"
    assert SECRET_OF_B not in text


def test_gather_masks_scopes_and_dates_texts_per_tenant(
    database_url: str, world: World, tmp_path: Path
) -> None:
    master = load_or_create_master_key(tmp_path / "master.key", create=True)
    run(lambda: seed_voc(database_url, world, master))

    async def work() -> tuple[list[tuple[str, str, str, str]], int, list[AuditEntry]]:
        db = Database(database_url)
        keyring = KeyRing(master)
        try:
            gathered = await gather(
                db, keyring, tenant_id=world.tenants["a"], first="2026-09", last="2026-10"
            )
            texts = gathered.texts
            assert gathered.available == {"2026-09": 2, "2026-10": 6}
            sampled = await gather(
                db,
                keyring,
                tenant_id=world.tenants["a"],
                first="2026-09",
                last="2026-10",
                per_month=1,
            )  # one of each source per month at most, the first of an even spread
            assert [(t.month, t.source) for t in sampled.texts] == [
                ("2026-09", "note"),
                ("2026-10", "email"),
                ("2026-10", "note"),
                ("2026-10", "survey"),
            ]
            manager = world.account("a", "manager")
            principal = Principal(
                user_id=manager.user_id,
                tenant_id=manager.tenant_id,
                roles=frozenset({Role.MANAGER}),
            )
            month = await voc_month(
                db, keyring, principal=principal, month="2026-10", reason="test run"
            )
            async with db.scoped(world.tenants["a"], readonly=True) as session:
                audits = list(
                    (
                        await session.scalars(
                            select(AuditEntry).where(AuditEntry.action == "voc.read")
                        )
                    ).all()
                )
            return (
                [(t.month, t.category, t.source, t.text) for t in texts],
                month.summary.texts,
                audits,
            )
        finally:
            await db.dispose()

    texts, october, audits = run(work)
    by_source = sorted((month, category, source) for month, category, source, _ in texts)
    assert by_source == [
        ("2026-09", "billing", "note"),
        ("2026-09", "delivery", "note"),
        ("2026-10", "billing", "email"),  # 16:30 UTC on 30 September is October in Tokyo
        ("2026-10", "delivery", "chat"),
        ("2026-10", "delivery", "chat"),
        ("2026-10", "delivery", "note"),
        ("2026-10", "delivery", "note"),
        ("2026-10", "delivery", "survey"),  # the chat contact's survey comment
    ]
    bodies = [text for *_, text in texts]
    for body in bodies:
        _no_personal_data(body)
    joined = "\n".join(bodies)
    assert "担当者からの返信" not in joined and "内部メモ" not in joined  # customers' words only
    assert "引用された" not in joined  # quoted e-mail lines dropped
    assert "料金明細について\n料金明細が分かりにくいです。" in joined  # subject + body
    assert "[NAME]" in joined and "[NUMBER]" in joined and "[PHONE]" in joined
    assert "[EMAIL]" in joined
    assert october == 6
    assert len(audits) == 1  # one entry per run, not per text
    assert audits[0].resource_id == "2026-10" and audits[0].detail == {"texts": 8}
    assert audits[0].actor_user_id == world.account("a", "manager").user_id


# ------------------------------------------------------------------------ the running app


def _signed_in(
    make: Callable[[], Browserless], world: World, role: str, tenant: str = "a"
) -> Browserless:
    client = make()
    assert client.sign_in(world.account(tenant, role).username).status_code == 303
    return client


def seed_for_server(server: LiveServer, database_url: str, world: World) -> None:
    settings = server.app.state.services.settings
    master = load_or_create_master_key(settings.effective_master_key_file, create=False)
    run(lambda: seed_voc(database_url, world, master))


def test_voc_api_page_and_pdf(
    server: LiveServer, world: World, database_url: str, client_factory: Callable[[], Browserless]
) -> None:
    seed_for_server(server, database_url, world)
    manager = _signed_in(client_factory, world, "manager")
    response = manager.request("GET", "/api/v1/figures/voc", params={"month": "2026-10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["texts"], body["available"], body["texts_before"]) == (6, 6, 2)
    top = {t["term"]: t for t in body["top"]}
    assert top["配送"]["texts"] == 3 and top["卵"]["texts"] == 2
    assert body["sources"] == {"chat": 2, "email": 1, "note": 2, "survey": 1}
    assert body["volumes"]["delivery"] == {"2026-09": 1, "2026-10": 5}
    assert body["complaints"], body
    compliment = body["compliments"][0]
    assert (compliment["source"], compliment["text"]) == (
        "survey",
        "[NAME]です。チャットの方がとても丁寧で助かりました。",
    )
    _no_personal_data(response.text)

    narrowed = manager.request(
        "GET", "/api/v1/figures/voc", params={"month": "2026-10", "category": "billing"}
    ).json()
    assert narrowed["texts"] == 1 and "料金明細" in [p["term"] for p in narrowed["phrases"]]

    bad = manager.request("GET", "/api/v1/figures/voc", params={"month": "2026-13"})
    assert bad.status_code == 422 and "month" in bad.text

    page = manager.request("GET", "/figures/voc", params={"month": "2026-10"})
    assert page.status_code == 200 and 'data-term="配送"' in page.text
    _no_personal_data(page.text)

    pdf = manager.request(
        "GET",
        "/figures/voc/report.pdf",
        params={"month": "2026-10", "lang": "ja", "actions": "集荷時刻を30分早めた\n"},
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    squeezed = "".join(text.split())
    assert "月次VOCレポート2026-10" in squeezed
    assert "卵が割れていました。配送の箱も破損していて困ります。" in squeezed
    assert "集荷時刻を30分早めた" in squeezed and "再配達" in squeezed
    _no_personal_data(text)

    # Tenant b's manager sees b's text only.
    other = _signed_in(client_factory, world, "manager", "b").request(
        "GET", "/api/v1/figures/voc", params={"month": "2026-10"}
    )
    assert other.json()["texts"] == 1 and SECRET_OF_B in other.text


@pytest.mark.parametrize("path", ["/api/v1/figures/voc", "/figures/voc/report.pdf"])
def test_communicators_get_no_voc(
    world: World, client_factory: Callable[[], Browserless], path: str
) -> None:
    communicator = _signed_in(client_factory, world, "communicator")
    response = communicator.request("GET", path, params={"month": "2026-10"})
    assert response.status_code == 403


def test_voc_report_command(
    database_url: str, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master = secrets.token_bytes(32)
    run(lambda: seed_voc(database_url, world, master))
    monkeypatch.setenv("TSUNAGI_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TSUNAGI_MASTER_KEY", base64.b64encode(master).decode())
    slug = run(lambda: _slug(database_url, world.tenants["a"]))
    actions = tmp_path / "actions.txt"
    actions.write_text("料金明細の見方をFAQに追加した\n", encoding="utf-8")
    target = tmp_path / "voc.pdf"
    args = ["voc-report", "--tenant", slug, "--month", "2026-10", "-o", str(target)]
    runner = CliRunner()
    refused = runner.invoke(figures, [*args, "--as", world.account("a", "communicator").username])
    assert refused.exit_code != 0 and "not allowed" in refused.output and not target.exists()
    done = runner.invoke(
        figures,
        [*args, "--as", world.account("a", "supervisor").username, "--actions", str(actions)],
        obj={},
    )
    assert done.exit_code == 0, done.output
    text = "".join(p.extract_text() for p in PdfReader(str(target)).pages)
    squeezed = "".join(text.split())
    assert "月次VOCレポート2026-10" in squeezed and "料金明細の見方をFAQに追加した" in squeezed
    _no_personal_data(text)


async def _slug(database_url: str, tenant_id: uuid.UUID) -> str:
    db = Database(database_url)
    try:
        async with db.system(readonly=True) as session:
            slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        assert slug is not None
        return slug
    finally:
        await db.dispose()
