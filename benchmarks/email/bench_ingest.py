"""Email ingest: messages/s from a real Dovecot mailbox into the database.

Run: ``python benchmarks/email/bench_ingest.py --profile sqlite`` (or ``--profile
postgres`` for PostgreSQL on 127.0.0.1; a scratch database is created and dropped).

It starts a private Dovecot (as the tests do), puts ``--messages`` customer messages in
the queue mailbox (IMAP APPEND, not timed): every ``--reply-every``-th answers an earlier
one (In-Reply-To/References), every other one has an HTML alternative with markup to
sanitise, from ``--senders`` distinct addresses. Then it times one ``poll_once`` — fetch
in batches of 100, parse, sanitise, start conversations and routing contacts, identify
customers, store sealed text, HTML and originals, move the cursor — and a second pass
after resetting the cursor (a re-poll after a crash: every message a duplicate).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import asyncpg
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from integration.email.mailserver import Dovecot
from tsunagi.actions import accounts
from tsunagi.actions.email_accounts import do_configure_mailbox, do_save_cursor
from tsunagi.actions.email_worker import poll_once
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.conversation_models import (
    Conversation,
    ConversationMessage,
)
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.migrate import upgrade
from tsunagi.adapters.storage.models import Queue
from tsunagi.channels.email_settings import (
    MailboxConfig,
)

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"


def customer_message(i: int, senders: int, reply_to: str | None) -> tuple[bytes, str]:
    mid = f"<bench-{i}-{uuid.uuid4().hex[:8]}@example.org>"
    msg = EmailMessage()
    msg["From"] = f"お客様{i % senders} <customer{i % senders}@example.org>"
    msg["To"] = "desk@center.test"
    msg["Subject"] = f"配達について {i}"
    msg["Message-ID"] = mid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content("明日の配達時間を変えたいです。よろしくお願いします。\n" * 5)
    if i % 2:
        msg.add_alternative(
            "<html><body><p>明日の<b>配達時間</b>を変えたいです。</p>"
            "<script>alert(1)</script><img src=x onerror=alert(2)></body></html>",
            subtype="html",
        )
    return msg.as_bytes(policy=policy.SMTP), mid


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-email-"))
    database = f"bench_email_{uuid.uuid4().hex[:8]}"
    if args.profile == "postgres":
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        url = PG + database
    else:
        url = f"sqlite+aiosqlite:///{scratch / 'tsunagi.db'}"
    dovecot = Dovecot().start({"desk": "desk-secret"})
    try:
        await upgrade(url)
        db = Database(url)
        keyring = KeyRing(load_or_create_master_key(scratch / "master.key", create=True))
        tenant_id = await accounts.do_create_tenant(db, slug="bench-email", name="bench")
        async with db.scoped(tenant_id) as session, session.begin():
            queue = Queue(
                code="mail", name_ja="メール", name_en="Mail", channel="email", config={},
                created_at=datetime.now(UTC),
            )  # fmt: skip
            session.add(queue)
        account_id = await do_configure_mailbox(
            db, keyring, tenant_id=tenant_id, queue_id=queue.id, name="bench",
            config=MailboxConfig(
                address="desk@center.test", imap_host="127.0.0.1", imap_port=dovecot.port,
                imap_tls="none", username="desk", smtp_host="127.0.0.1", smtp_port=9,
                smtp_tls="none", smtp_username="",
            ),
            password="desk-secret", actor="bench",
        )  # fmt: skip
        ids: list[str] = []
        with dovecot.imap("desk") as client:
            for i in range(args.messages):
                reply_to = ids[i // 2] if i and i % args.reply_every == 0 else None
                raw, mid = customer_message(i, args.senders, reply_to)
                client.append("INBOX", None, None, raw)  # type: ignore[arg-type]
                ids.append(mid)

        started = time.perf_counter()
        first = await poll_once(db, keyring, tenant_id=tenant_id, account_id=account_id)
        ingest_s = time.perf_counter() - started
        await do_save_cursor(db, tenant_id=tenant_id, account_id=account_id, cursor={})
        started = time.perf_counter()
        second = await poll_once(db, keyring, tenant_id=tenant_id, account_id=account_id)
        repoll_s = time.perf_counter() - started
        async with db.scoped(tenant_id, readonly=True) as session:
            conversations = await session.scalar(select(func.count()).select_from(Conversation))
            messages = await session.scalar(select(func.count()).select_from(ConversationMessage))
        await db.dispose()
        assert first is not None
        assert second is not None
        assert first.created == args.messages, first
        assert second.created == 0, second
        assert messages == args.messages
        print(
            f"profile={args.profile} messages={args.messages} conversations={conversations} "
            f"ingest={ingest_s:.2f}s ({args.messages / ingest_s:.0f} msg/s) "
            f"re-poll={repoll_s:.2f}s ({args.messages / repoll_s:.0f} msg/s, "
            f"{second.duplicates} duplicates, 0 created)"
        )
    finally:
        dovecot.stop()
        if args.profile == "postgres":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=300)
    parser.add_argument("--reply-every", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
