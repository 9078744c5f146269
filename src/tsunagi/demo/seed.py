"""The demo center: a consumer co-op's member service center (seed article 000).

Queues follow the article's inquiry areas (宅配, 料金・支払, お店, コープでんき, コープガス,
各種手続き, 商品情報, イベント) and the wrap-up list has the 25 categories it mentions.
Everything is created through the same actions the product uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from faker import Faker
from sqlalchemy import select

from tsunagi.actions import accounts
from tsunagi.actions.chat import Theme, Topic, WidgetSettings, do_save_widget
from tsunagi.actions.customers import do_import_customers, do_import_orders
from tsunagi.actions.desktop import do_identify_party
from tsunagi.adapters.relay import tenant_channel
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.storage.conversation_models import ChatWidget
from tsunagi.adapters.storage.crm_models import CustomerIdentifier
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Category, Queue
from tsunagi.demo.floor import run_floor
from tsunagi.demo.knowledge import load_knowledge
from tsunagi.domain.customers import CustomerRecord, Identifier, OrderLineRecord, OrderRecord
from tsunagi.domain.errors import TsunagiError
from tsunagi.settings import Settings

if TYPE_CHECKING:
    from tsunagi.web.services import Services

DEMO_PASSWORD = "tsunagi-demo-2026"  # noqa: S105 - printed on purpose for the demo accounts
TENANT_SLUG = "izumi-coop"

# code, Japanese, English, channel, priority, SL target %, SL threshold s
QUEUES: tuple[tuple[str, str, str, str, int, int, int], ...] = (
    ("delivery", "宅配", "Home delivery", "voice", 1, 80, 20),
    ("billing", "料金・支払", "Billing and payment", "voice", 1, 80, 20),
    ("stores", "お店", "Stores", "voice", 0, 80, 30),
    ("electricity", "コープでんき", "Co-op electricity", "voice", 0, 80, 30),
    ("gas", "コープガス", "Co-op gas", "voice", 2, 90, 20),
    ("procedures", "各種手続き", "Membership procedures", "voice", 0, 80, 30),
    ("products", "商品情報", "Product information", "voice", 0, 70, 30),
    ("events", "イベント", "Events", "voice", 0, 70, 60),
    ("chat", "チャット", "Web chat", "chat", 0, 80, 60),
    ("email", "メール", "Email", "email", 0, 90, 86400),
)

CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("delivery-missing", "配送が来ない・遅れ", "Delivery missing or late"),
    ("delivery-absent", "不在時の受け取り", "Receiving while away"),
    ("delivery-damaged", "商品の破損・不足", "Damaged or missing items"),
    ("delivery-change", "配送日・場所の変更", "Change delivery day or place"),
    ("order-add", "注文の追加・取消", "Add or cancel an order"),
    ("order-sheet", "注文書・カタログ", "Order sheets and catalogues"),
    ("billing-amount", "請求金額の確認", "Billing amount"),
    ("billing-method", "支払方法の変更", "Payment method change"),
    ("billing-overdue", "未払い・督促", "Overdue payment"),
    ("points", "ポイント", "Points"),
    ("stores-hours", "店舗の営業時間", "Store opening hours"),
    ("stores-service", "店舗のサービス", "Store services"),
    ("electricity-contract", "でんきの契約", "Electricity contract"),
    ("electricity-bill", "でんきの料金", "Electricity bill"),
    ("gas-contract", "ガスの契約", "Gas contract"),
    ("gas-safety", "ガスの安全・緊急", "Gas safety and emergency"),
    ("join", "加入・資格", "Joining"),
    ("leave", "脱退・休止", "Leaving or pausing"),
    ("address-change", "住所・氏名の変更", "Change of address or name"),
    ("eorder", "ネット注文・マイページ", "Online ordering and My Page"),
    ("product-allergen", "原材料・アレルギー", "Ingredients and allergens"),
    ("product-quality", "品質・苦情", "Quality complaint"),
    ("product-request", "商品リクエスト", "Product request"),
    ("events", "イベント・講座", "Events and classes"),
    ("opinion", "ご意見・ご要望", "Opinions and requests"),
)


@dataclass(slots=True)
class DemoAccounts:
    password: str = DEMO_PASSWORD
    by_role: dict[str, list[str]] = field(default_factory=dict)
    chat_widget: str | None = None


def _people() -> list[tuple[str, str, str]]:
    """(username, display name, role) for the demo staff."""
    people = [("admin", "管理 太郎", "administrator"), ("manager", "センター 長子", "manager")]
    people += [(f"sv{i}", f"スーパーバイザー {i}", "supervisor") for i in range(1, 4)]
    people += [(f"op{i:02d}", f"コミュニケーター {i:02d}", "communicator") for i in range(1, 41)]
    people.append(("client", "いずみ市民生協 担当", "client_viewer"))
    return people


async def load_demo(settings: Settings, *, customers: int = 10_000) -> DemoAccounts:
    """Migrate a fresh embedded database and fill it; refuses to overwrite an existing demo."""
    await upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    try:
        existing = await accounts.find_tenant_by_slug(db, TENANT_SLUG)
        if existing is None:
            tenant_id = await _fill(db, settings)
            await load_customers(db, KeyRing(master_key_for(settings)), tenant_id, customers)
            await load_knowledge(db, tenant_id)
            await _chat_widget(db, tenant_id)
        else:
            tenant_id = existing.id
        made = _accounts()
        async with db.scoped(tenant_id, readonly=True) as session:
            widget = await session.scalar(select(ChatWidget.id).limit(1))
        made.chat_widget = str(widget) if widget else None
        return made
    finally:
        await db.dispose()


async def _chat_widget(db: Database, tenant_id: UUID) -> UUID:
    """The co-op site's chat widget: chat by topic, email outside hours."""
    async with db.scoped(tenant_id, readonly=True) as session:
        queues = {q.code: q.id for q in await session.scalars(select(Queue))}
    return await do_save_widget(
        db,
        tenant_id=tenant_id,
        widget_id=None,
        settings=WidgetSettings(
            name="いずみ市民生協 ホームページ",
            topics=[
                Topic(
                    code="order",
                    label_ja="ご注文・配送",
                    label_en="Orders and delivery",
                    queue_id=queues["chat"],
                ),
                Topic(code="other", label_ja="その他", label_en="Other", queue_id=queues["chat"]),
            ],
            offline_queue_id=queues["email"],
            allowed_origins=["*"],
            theme=Theme(
                colour="#2e7d32", title_ja="いずみ生協 チャット", title_en="Izumi co-op chat"
            ),
        ),
    )


async def _fill(db: Database, settings: Settings) -> UUID:
    tenant_id = await accounts.do_create_tenant(
        db,
        slug=TENANT_SLUG,
        name="いずみ市民生協 組合員サービスセンター",
        timezone=settings.timezone,
    )
    now = datetime.now(UTC)
    async with db.scoped(tenant_id) as session, session.begin():
        for code, ja, en, channel, priority, sl_pct, sl_s in QUEUES:
            session.add(
                Queue(
                    tenant_id=tenant_id,
                    code=code,
                    name_ja=ja,
                    name_en=en,
                    channel=channel,
                    priority=priority,
                    sl_target_pct=sl_pct,
                    sl_threshold_s=sl_s,
                    created_at=now,
                )
            )
        for order, (code, ja, en) in enumerate(CATEGORIES, start=1):
            session.add(
                Category(tenant_id=tenant_id, code=code, name_ja=ja, name_en=en, sort_order=order)
            )
    hasher = PasswordHasher(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
    )
    for username, display_name, role in _people():
        await accounts.do_create_user(
            db,
            hasher,
            tenant_id=tenant_id,
            username=username,
            display_name=display_name,
            password=DEMO_PASSWORD,
            roles=[role],
            actor="demo",
        )
    return tenant_id


SEGMENTS = ("宅配", "宅配", "宅配", "店舗", "店舗", "でんき", "共済")
CUSTOMER_BATCH = 1000


def fake_customers(count: int, *, seed: int = 2026) -> list[CustomerRecord]:
    """Members of the demo co-op: made-up Japanese names, addresses and numbers."""
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    made = []
    for number in range(1, count + 1):
        company = number % 37 == 0
        identifiers = [
            Identifier("member_no", f"{number:08d}"),
            Identifier("phone", fake.phone_number(), "home"),
        ]
        if number % 2 == 0:
            identifiers.append(
                Identifier(
                    "phone", f"090-{number % 10000:04d}-{(number * 7919) % 10000:04d}", "mobile"
                )
            )
        if number % 3 != 0:
            identifiers.append(Identifier("email", f"member{number}@{fake.free_email_domain()}"))
        last, first = fake.last_name_pair(), fake.first_name_pair()  # (kanji, kana, romaji)
        made.append(
            CustomerRecord(
                kind="company" if company else "person",
                name=fake.company() if company else f"{last[0]} {first[0]}",
                name_kana=None if company else f"{last[1]} {first[1]}",
                address=fake.address(),
                segment="法人" if company else SEGMENTS[number % len(SEGMENTS)],
                vip=number % 50 == 0,
                tags=("高齢", "見守り") if number % 41 == 0 else (),
                identifiers=tuple(identifiers),
            )
        )
    return made


# The co-op's weekly delivery catalogue (code, name, price in yen) by aisle: members who
# buy from an aisle tend to buy more from it, which is what recommendations pick up.
CATALOGUE: tuple[tuple[tuple[str, str, int], ...], ...] = (
    (
        ("F01", "産直たまご 10個", 298),
        ("F02", "低温殺菌牛乳 1L", 248),
        ("F03", "国産小麦の食パン", 198),
        ("F04", "有機バナナ", 258),
        ("F05", "ヨーグルト 400g", 178),
    ),
    (
        ("M01", "国産豚こま切れ 300g", 498),
        ("M02", "若鶏もも肉 500g", 598),
        ("M03", "塩さば 2枚", 398),
        ("M04", "無添加ウインナー", 348),
    ),
    (
        ("V01", "産直キャベツ", 198),
        ("V02", "たまねぎ 1kg", 298),
        ("V03", "有機にんじん", 248),
        ("V04", "ほうれん草", 158),
        ("V05", "じゃがいも 1kg", 298),
    ),
    (
        ("H01", "洗濯用石けん", 498),
        ("H02", "トイレットペーパー 12ロール", 548),
        ("H03", "台所用洗剤", 228),
    ),
    (("B01", "紙おむつ M", 1480), ("B02", "ベビーフード セット", 680), ("B03", "おしりふき", 398)),
)
ORDER_WEEKS = 8


def fake_orders(customer_ids: list[UUID], *, seed: int = 2026) -> list[tuple[UUID, OrderRecord]]:
    """A few weeks of deliveries for a fifth of the members, each fond of one or two aisles."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    today = datetime.now(UTC).date()
    orders = []
    for index, customer_id in enumerate(customer_ids[::5]):
        aisles = rng.sample(range(len(CATALOGUE)), k=rng.choice((1, 2)))
        for week in range(rng.randint(1, ORDER_WEEKS)):
            picks = {item for aisle in aisles for item in rng.sample(CATALOGUE[aisle], k=2)}
            lines = tuple(
                OrderLineRecord(code, name, quantity, price * quantity)
                for code, name, price in sorted(picks)
                for quantity in (rng.randint(1, 3),)
            )
            number = f"W{index:05d}-{week:02d}"
            orders.append(
                (customer_id, OrderRecord(number, today - timedelta(weeks=week), lines=lines))
            )
    return orders


async def load_customers(db: Database, keyring: KeyRing, tenant_id: UUID, count: int) -> None:
    records = fake_customers(count)
    customer_ids: list[UUID] = []
    for start in range(0, len(records), CUSTOMER_BATCH):
        customer_ids += await do_import_customers(
            db,
            keyring,
            tenant_id=tenant_id,
            items=records[start : start + CUSTOMER_BATCH],
            actor="demo",
        )
    await do_import_orders(db, tenant_id=tenant_id, orders=fake_orders(customer_ids))


async def live_floor(services: Services, stop: asyncio.Event) -> None:
    """Run the simulated floor of the demo tenant while the app serves, and play the
    telephony adapter's part of saying who calls."""
    tenant = await accounts.find_tenant_by_slug(services.db, TENANT_SLUG)
    if tenant is None:
        return
    await asyncio.gather(
        run_floor(services, tenant.id, stop_event=stop),
        identify_callers(services, tenant.id, stop),
    )


KNOWN_CALLER_SHARE = 0.8


async def identify_callers(services: Services, tenant_id: UUID, stop: asyncio.Event) -> None:
    """For every new demo contact, give it a caller: usually a member's own number (so the
    desk pops their record), sometimes an unknown number — as a channel adapter would,
    through the same action (``do_identify_party``) after ``contact.created``."""
    rng = random.Random(7)  # noqa: S311 - demo data
    cipher = await services.keyring.cipher(services.db, tenant_id)
    async with services.db.scoped(tenant_id, readonly=True) as session:
        phones = (
            await session.execute(
                select(CustomerIdentifier.id, CustomerIdentifier.value_enc)
                .where(CustomerIdentifier.kind == "phone")
                .limit(2000)
            )
        ).all()
    numbers = [
        cipher.open(sealed, table="customer_identifiers", column="value", row_id=row_id)
        for row_id, sealed in phones
    ]
    async with services.bus.subscribe(tenant_channel(tenant_id)) as messages:
        iterator = messages.__aiter__()
        stopped = asyncio.ensure_future(stop.wait())
        while True:
            # Never cancel a pending read: that would close the subscription's generator.
            next_message = asyncio.ensure_future(iterator.__anext__())
            await asyncio.wait({next_message, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not next_message.done():
                next_message.cancel()
                return
            try:
                raw = next_message.result()
            except StopAsyncIteration:
                stopped.cancel()
                return
            event = json.loads(raw)["event"]
            if event.get("type") != "contact.created":
                continue
            known = numbers and rng.random() < KNOWN_CALLER_SHARE
            number = (
                rng.choice(numbers)
                if known
                else f"050-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
            )
            with contextlib.suppress(TsunagiError):
                await do_identify_party(
                    services.db,
                    services.keyring,
                    tenant_id=tenant_id,
                    contact_id=UUID(event["contact_id"]),
                    kind="phone",
                    address=number,
                )


def _accounts() -> DemoAccounts:
    result = DemoAccounts()
    for username, _name, role in _people():
        result.by_role.setdefault(role, []).append(username)
    return result
