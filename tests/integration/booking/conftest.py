"""Helpers for the booking tests: a queue with booking settings, the next slots, a visitor."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit import run
from tsunagi.adapters.security.crypto import load_or_create_master_key
from tsunagi.adapters.security.keyring import KeyRing
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import Queue

CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]*)"')
BOOKED = re.compile(r"/book/[^/]+/booked/([A-Z0-9]{8})$")
PHONE = "090-1234-5678"


@pytest.fixture
def keyring(tmp_path: Path) -> KeyRing:
    return KeyRing(load_or_create_master_key(tmp_path / "keys" / "master.key", create=True))


def make_queue(
    database_url: str,
    tenant_id: uuid.UUID,
    *,
    booking: dict[str, Any] | None = None,
    routing: dict[str, Any] | None = None,
    code: str = "support",
) -> uuid.UUID:
    """A queue open as ``routing`` says (24/7 by default) with booking enabled."""
    settings = {
        "enabled": True,
        "slot_minutes": 30,
        "days_ahead": 7,
        "min_notice_minutes": 60,
        "planned_agents": 2,
        "expected_per_slot": 0,
        "aht_s": 300,
        "spare_share": 0.5,
        **(booking or {}),
    }

    async def write() -> uuid.UUID:
        db = Database(database_url)
        try:
            async with db.scoped(tenant_id) as session, session.begin():
                queue = Queue(
                    code=code,
                    name_ja="お問い合わせ",
                    name_en="Support",
                    channel="voice",
                    config={"routing": routing or {}, "booking": settings},
                    created_at=datetime.now(UTC),
                )
                session.add(queue)
            return queue.id
        finally:
            await db.dispose()

    return run(write)


def slot_after(hours: float, *, minutes: int = 30) -> datetime:
    """The first slot start at least ``hours`` from now (Tokyo is a whole-hour offset, so
    the UTC grid is the local grid)."""
    at = datetime.now(UTC) + timedelta(hours=hours)
    floored = at.replace(second=0, microsecond=0) - timedelta(minutes=at.minute % minutes)
    return floored + timedelta(minutes=minutes)


class Visitor:
    """A customer's browser without JavaScript: reads the form's token, posts forms."""

    def __init__(self, base_url: str, slug: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.http.cookies.set("tsunagi_lang", "en")  # messages checked in English
        self.slug = slug

    def close(self) -> None:
        self.http.close()

    def page(self, **params: str) -> httpx.Response:
        return self.http.get(f"/book/{self.slug}", params=params)

    def token(self, path: str | None = None) -> str:
        page = self.http.get(path or f"/book/{self.slug}")
        match = CSRF_FIELD.search(page.text)
        assert match, page.text
        return match.group(1)

    def book(self, queue_id: uuid.UUID, start: datetime, **fields: str) -> httpx.Response:
        form = {
            "_csrf": self.token(),
            "queue": str(queue_id),
            "slot": start.isoformat(),
            "name": "山田 花子",
            "phone": PHONE,
            "member_no": "M-1001",
            "note": "請求書について",
            "consent": "yes",
            **fields,
        }
        return self.http.post(f"/book/{self.slug}", data=form)

    def cancel(self, reference: str, phone: str = PHONE) -> httpx.Response:
        token = self.token(f"/book/{self.slug}/cancel")
        return self.http.post(
            f"/book/{self.slug}/cancel",
            data={"_csrf": token, "reference": reference, "phone": phone},
        )


def reference_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    match = BOOKED.search(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)
