"""Knowledge base on both profiles: versions and publishing, Japanese search through the
database index, tenant and visibility scoping, and the database ranking matching the
in-memory reference."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from testkit import World
from tsunagi.actions import knowledge
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.kb_models import KbPosting
from tsunagi.adapters.storage.models import OutboxEvent
from tsunagi.demo.knowledge import ARTICLES, load_knowledge
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.domain.permissions import Principal, Role
from tsunagi.knowledge.ranking import MemoryIndex
from tsunagi.knowledge.text import query_terms, term_counts


def principal(world: World, role: str = "supervisor", tenant: str = "a") -> Principal:
    account = world.account(tenant, role)
    return Principal(
        user_id=account.user_id, tenant_id=account.tenant_id, roles=frozenset({Role(role)})
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def test_japanese_query_finds_the_delivery_faq(db: Database, world: World) -> None:
    editor = principal(world)
    late = await knowledge.do_create_article(
        db,
        editor,
        title="今日の配送が来ない",
        body="配送状況はマイページで確認できます。",
        publish=True,
    )
    await knowledge.do_create_article(
        db,
        editor,
        title="お店の営業時間",
        body="多くの店舗は午前10時から営業します。",
        publish=True,
    )
    hits = await knowledge.search_articles(db, principal(world, "communicator"), "配送 来ない")
    assert [hit.article_id for hit in hits] == [late]
    english = await knowledge.search_articles(db, editor, "配送が来ません")
    assert english[0].article_id == late


async def test_a_draft_is_not_found_until_published(db: Database, world: World) -> None:
    editor = principal(world)
    article = await knowledge.do_create_article(
        db, editor, title="ガス漏れのとき", body="窓を開けてガス会社に連絡してください。"
    )
    assert await knowledge.search_articles(db, editor, "ガス漏れ") == []
    await knowledge.do_publish_article(db, editor, article)
    assert [h.article_id for h in await knowledge.search_articles(db, editor, "ガス漏れ")] == [
        article
    ]


async def test_revisions_keep_versions_and_search_follows_the_published_one(
    db: Database, world: World
) -> None:
    editor = principal(world)
    article = await knowledge.do_create_article(
        db, editor, title="ポイントについて", body="ポイントは1ポイント1円です。", publish=True
    )
    version = await knowledge.do_revise_article(
        db,
        editor,
        article,
        title="ポイントと割引",
        body="宅配の手数料割引もあります。",
        kind="faq",
        visibility="internal",
        expected_version=1,
        note="割引を追記",
    )
    assert version == 2
    # Version 2 is saved but not published: search still finds version 1's words only.
    assert await knowledge.search_articles(db, editor, "手数料割引") == []
    assert (await knowledge.search_articles(db, editor, "1ポイント1円"))[0].article_id == article
    with pytest.raises(ConflictError):
        await knowledge.do_revise_article(
            db,
            editor,
            article,
            title="x",
            body="y",
            kind="faq",
            visibility="internal",
            expected_version=1,
        )
    await knowledge.do_publish_article(db, editor, article)
    assert (await knowledge.search_articles(db, editor, "手数料割引"))[0].article_id == article
    assert await knowledge.search_articles(db, editor, "1円") == []
    versions = await knowledge.list_versions(db, editor, article)
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].note == "割引を追記"
    old = await knowledge.get_article(db, editor, article, version=1)
    assert old.body == "ポイントは1ポイント1円です。"
    async with db.scoped(editor.tenant_id, readonly=True) as session:
        types = list(
            await session.scalars(
                select(OutboxEvent.type)
                .where(OutboxEvent.type.like("article.%"))
                .order_by(OutboxEvent.id)
            )
        )
    assert types == ["article.created", "article.published", "article.revised", "article.published"]


async def test_archiving_removes_the_article_and_its_postings(db: Database, world: World) -> None:
    editor = principal(world)
    article = await knowledge.do_create_article(
        db,
        editor,
        title="チャットの使い方",
        body="ホームページから文字で相談できます。",
        publish=True,
    )
    await knowledge.do_archive_article(db, editor, article)
    assert await knowledge.search_articles(db, editor, "チャット") == []
    async with db.scoped(editor.tenant_id, readonly=True) as session:
        left = await session.scalar(
            select(func.count()).select_from(KbPosting).where(KbPosting.article_id == article)
        )
    assert left == 0


async def test_client_viewers_see_only_public_articles(db: Database, world: World) -> None:
    editor = principal(world)
    public = await knowledge.do_create_article(
        db,
        editor,
        title="配達のお休み",
        body="旅行のときは休止できます。",
        visibility="public",
        publish=True,
    )
    internal = await knowledge.do_create_article(
        db,
        editor,
        title="配達休止の社内手順",
        body="休止は締切日までに登録します。",
        visibility="internal",
        publish=True,
    )
    viewer = principal(world, "client_viewer")
    assert {h.article_id for h in await knowledge.search_articles(db, editor, "休止")} == {
        public,
        internal,
    }
    assert [h.article_id for h in await knowledge.search_articles(db, viewer, "休止")] == [public]
    assert [a.id for a in await knowledge.list_articles(db, viewer)] == [public]
    with pytest.raises(NotFoundError):
        await knowledge.get_article(db, viewer, internal)
    assert (await knowledge.get_article(db, viewer, public)).title == "配達のお休み"


async def test_another_tenant_sees_nothing(db: Database, world: World) -> None:
    article = await knowledge.do_create_article(
        db, principal(world), title="コープでんき", body="切り替えの方法", publish=True
    )
    other = principal(world, tenant="b")
    assert await knowledge.search_articles(db, other, "でんき 切り替え") == []
    with pytest.raises(NotFoundError):
        await knowledge.get_article(db, other, article)
    with pytest.raises(NotFoundError):
        await knowledge.do_publish_article(db, other, article)


async def test_bad_input_is_refused(db: Database, world: World) -> None:
    editor = principal(world)
    with pytest.raises(InvalidInputError):
        await knowledge.do_create_article(db, editor, title=" ", body="x")
    with pytest.raises(InvalidInputError):
        await knowledge.do_create_article(db, editor, title="x", body="y", visibility="secret")
    with pytest.raises(InvalidInputError):
        await knowledge.search_articles(db, editor, "x" * 501)


async def test_database_ranking_matches_the_in_memory_reference(db: Database, world: World) -> None:
    tenant_editor = principal(world)
    ids = await load_knowledge(db, tenant_editor.tenant_id)
    reference: MemoryIndex[object] = MemoryIndex()
    for article_id, article in zip(ids, ARTICLES, strict=True):
        reference.add(article_id, term_counts([(article.title, 2), (article.body, 1)]))
    for query in ("配送 来ない", "パスワード 忘れた", "ガス臭い", "引越し 住所変更", "卵 割れてた"):
        expected = reference.search(query_terms(query), 5)
        hits = await knowledge.search_articles(db, tenant_editor, query, limit=5)
        assert [h.article_id for h in hits] == [key for key, _ in expected], query
        for hit, (_, score) in zip(hits, expected, strict=True):
            assert hit.score == pytest.approx(score, rel=1e-9)


async def test_script_fields_are_filled_from_the_customer(db: Database, world: World) -> None:
    editor = principal(world)
    article = await knowledge.do_create_article(
        db,
        editor,
        title="第一声",
        body="{customer.name}様、お電話ありがとうございます。{agent.name}です。",
        kind="script",
        publish=True,
    )
    filled = await knowledge.fill_script(
        db, principal(world, "communicator"), article, {"customer.name": "山田"}
    )
    assert filled.text == "山田様、お電話ありがとうございます。{agent.name}です。"
    assert filled.missing == ("agent.name",)
    with pytest.raises(InvalidInputError):
        await knowledge.fill_script(db, editor, article, {"customer.name": "x" * 1001})


async def test_suggestions_give_categories_and_articles(db: Database, world: World) -> None:
    editor = principal(world)
    await load_knowledge(db, editor.tenant_id)
    cache = knowledge.SuggesterCache()
    result = await knowledge.suggest(
        db, principal(world, "communicator"), cache, "ガスの臭いがするとのこと", limit=3
    )
    assert result.categories[0].code == "gas-safety"
    assert result.articles[0].title.startswith("ガス臭い")


async def test_concurrent_publications_of_one_article_do_not_collide(
    db: Database, world: World
) -> None:
    import asyncio

    editor = principal(world)
    article = await knowledge.do_create_article(
        db, editor, title="店舗の営業時間", body="午前10時から午後9時まで。"
    )
    await asyncio.gather(*(knowledge.do_publish_article(db, editor, article) for _ in range(5)))
    hits = await knowledge.search_articles(db, editor, "営業時間")
    assert [h.article_id for h in hits] == [article]
    async with db.scoped(editor.tenant_id, readonly=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(KbPosting).where(KbPosting.article_id == article)
        )
    assert count == len(term_counts([("店舗の営業時間", 2), ("午前10時から午後9時まで。", 1)]))
