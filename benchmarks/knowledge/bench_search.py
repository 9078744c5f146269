"""Knowledge search latency over 10,000 published articles, on SQLite and PostgreSQL.

Run: ``python benchmarks/knowledge/bench_search.py --profile sqlite`` (or ``postgres``:
a scratch database on 127.0.0.1:5432 is created, migrated and dropped).

Corpus: ``--articles`` articles (default 10,000), 80 % Japanese and 20 % English. A
Japanese article is 4–8 sentences drawn (seeded) from the seed articles in
``../shared/seeds`` and the demo FAQ; an English one is a StackFAQ thread's question and
answers (``../shared/data/stackfaq_en``). They are written through the real index
adapter (``adapters/search/index.put``) in batches, with their article and version rows.

Queries: the Japanese evaluation queries and StackFAQ paraphrases, cycled. Each timing is
one ``actions.knowledge.search_articles`` call as the API makes it: tokenising the query,
opening a read-only tenant session, the statistics, document-frequency and BM25 queries,
and loading the top 10. Reported: p50/p95/p99/max in milliseconds after a warm-up. On
PostgreSQL the load is followed by ``VACUUM ANALYZE`` (the steady state autovacuum
reaches); nothing else runs on the machine during a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import insert

from tsunagi.actions import accounts, knowledge
from tsunagi.adapters.search import index
from tsunagi.adapters.search.index import IndexedArticle
from tsunagi.adapters.storage import migrate
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.kb_models import KbArticle, KbArticleVersion
from tsunagi.demo.knowledge import ARTICLES
from tsunagi.domain.permissions import Principal, Role
from tsunagi.knowledge.articles import snippet
from tsunagi.knowledge.text import term_counts

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def japanese_sentences() -> list[str]:
    text = "\n".join(p.read_text("utf-8") for p in sorted((SHARED / "seeds").glob("*.txt")))
    text += "\n".join(a.body for a in ARTICLES)
    found = [s.strip() for s in re.split(r"(?<=[。!?])|\n", text)]
    return [s for s in found if 8 <= len(s) <= 160]


def english_threads() -> list[tuple[str, str, list[str]]]:
    data = json.loads((SHARED / "data/stackfaq_en/stackExchange-FAQ.json").read_text("utf-8"))
    threads = []
    for thread in data["root"]["qapair"]:
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        rephr = thread["rephr"] if isinstance(thread["rephr"], list) else [thread["rephr"]]
        body = "\n".join(a or "" for a in answers)[:4000]
        threads.append((thread["question"], body, [r for r in rephr if r and r.strip() != "*"]))
    return threads


def corpus(count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sentences = japanese_sentences()
    threads = english_threads()
    articles = []
    for number in range(count):
        if number % 5 == 4:
            title, body, _ = threads[rng.randrange(len(threads))]
            articles.append((f"{title} ({number})", body))
        else:
            chosen = rng.sample(sentences, rng.randint(4, 8))
            articles.append((chosen[0][:60], "".join(chosen)))
    return articles


def queries() -> list[str]:
    ja = [q for q, _ in json.loads((HERE / "ja_queries.json").read_text("utf-8"))["queries"]]
    en = [p for _, _, paraphrases in english_threads() for p in paraphrases[:1]]
    mixed = []
    for i in range(max(len(ja), len(en))):
        mixed += [ja[i % len(ja)], ja[(i * 7) % len(ja)], en[i % len(en)]]
    return mixed


async def load(db: Database, tenant_id: uuid.UUID, author: uuid.UUID, count: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    articles = corpus(count)
    batch = 200
    for start in range(0, len(articles), batch):
        async with db.scoped(tenant_id) as session, session.begin():
            rows, versions, indexed = [], [], []
            for title, body in articles[start : start + batch]:
                article_id = uuid.uuid4()
                rows.append(
                    {
                        "id": article_id,
                        "tenant_id": tenant_id,
                        "kind": "faq",
                        "visibility": "internal",
                        "status": "published",
                        "category_code": None,
                        "owner_id": author,
                        "title": title,
                        "current_version": 1,
                        "published_version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                versions.append(
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": tenant_id,
                        "article_id": article_id,
                        "version": 1,
                        "title": title,
                        "body": body,
                        "kind": "faq",
                        "visibility": "internal",
                        "category_code": None,
                        "tags": [],
                        "author_id": author,
                        "note": None,
                        "created_at": now,
                    }
                )
                indexed.append((article_id, title, body))
            await session.execute(insert(KbArticle), rows)
            await session.execute(insert(KbArticleVersion), versions)
            for article_id, title, body in indexed:
                await index.put(
                    session,
                    tenant_id,
                    IndexedArticle(article_id, 1, False, "faq", None, title, snippet(body, 300)),
                    term_counts([(title, knowledge.TITLE_WEIGHT), (body, 1)]),
                )
    return time.perf_counter() - started


async def measure(url: str, count: int, runs: int) -> dict[str, float]:
    await migrate.upgrade(url)
    db = Database(url)
    try:
        tenant_id = await accounts.do_create_tenant(
            db, slug=f"kb-{uuid.uuid4().hex[:6]}", name="kb"
        )
        principal = Principal(
            user_id=uuid.uuid4(), tenant_id=tenant_id, roles=frozenset({Role.COMMUNICATOR})
        )
        load_s = await load(db, tenant_id, None, count)  # type: ignore[arg-type]
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load: statistics for the planner and the
            # visibility map that lets the covering indexes answer without the heap.
            autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")
            async with autocommit.connect() as connection:
                await connection.exec_driver_sql("VACUUM ANALYZE")
        asked = queries()
        for query in asked[:50]:  # warm-up: caches, prepared statements, the analyser
            await knowledge.search_articles(db, principal, query)
        timings = []
        empty = 0
        for number in range(runs):
            query = asked[number % len(asked)]
            started = time.perf_counter()
            hits = await knowledge.search_articles(db, principal, query)
            timings.append((time.perf_counter() - started) * 1000)
            empty += not hits
        timings.sort()
        return {
            "articles": count,
            "load_s": round(load_s, 1),
            "runs": runs,
            "no_hit": empty,
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(0.95 * len(timings)) - 1], 2),
            "p99_ms": round(timings[int(0.99 * len(timings)) - 1], 2),
            "max_ms": round(timings[-1], 2),
        }
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2_000)
    args = parser.parse_args()
    if args.profile == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            result = await measure(
                f"sqlite+aiosqlite:///{folder}/kb.sqlite3", args.articles, args.runs
            )
    else:
        name = f"kb_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            result = await measure(f"{PG}/{name}", args.articles, args.runs)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()
    print(json.dumps({"profile": args.profile, **result}))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
