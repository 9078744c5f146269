"""Surveys through a real server on both profiles: settings by role, the widget's survey
after a chat, the link page of an email contact, misuse refused with nothing written,
answers kept per tenant, and NPS/CSAT reaching the figures API and exports."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from openpyxl import load_workbook
from websockets.sync.client import connect

from integration.routing.test_routing_api import signed_in, wait_for
from testkit import LiveServer, World, run
from tsunagi.actions import surveys
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.storage.db import Database
from web.test_chat_api import Center, center, frames, server, ws_url

CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]*)"')
__all__ = ["center", "server"]  # fixtures of the chat tests: public limits lifted, a widget


def turn_on(center: Center, queue_id: str, channels: list[str]) -> None:
    saved = center.admin.request(
        "PUT", f"/api/v1/queues/{queue_id}/survey", json={"channels": channels}
    )
    assert saved.status_code == 200, saved.text


def ended_chat(center: Center, server: LiveServer) -> dict[str, Any]:
    """A visitor starts a chat and leaves it (the contact was still waiting: abandoned)."""
    started = center.start()
    with connect(ws_url(server, f"/ws/widget/{center.widget}/chat")) as visitor:
        visitor.send(json.dumps({"type": "auth", "token": started["token"]}))
        frames(visitor, 1, kind="snapshot")
        visitor.send(json.dumps({"type": "close"}))
        assert frames(visitor, 1, kind="state")[0]["state"] == "closed"
    return started


def test_settings_are_for_managers_and_checked(
    center: Center, world: World, client_factory: Any
) -> None:
    supervisor = signed_in(client_factory, world, "supervisor")
    communicator = signed_in(client_factory, world, "communicator")
    path = f"/api/v1/queues/{center.queue_id}/survey"
    assert supervisor.request("GET", path).json() == {
        "channels": [],
        "questions": "both",
        "expire_days": 7,
        "comment": True,
    }
    assert communicator.request("GET", path).status_code == 403
    assert supervisor.request("PUT", path, json={"channels": ["chat"]}).status_code == 403
    bad = center.admin.request("PUT", path, json={"channels": ["fax"]})
    assert bad.status_code == 422 and "channels" in bad.text
    assert center.admin.request("PUT", path, json={"expire_days": 0}).status_code == 422
    turn_on(center, center.queue_id, ["chat"])
    assert supervisor.request("GET", path).json()["channels"] == ["chat"]


def test_the_widget_asks_after_the_chat_and_takes_one_answer(
    center: Center, server: LiveServer, world: World, client_factory: Any
) -> None:
    widget = f"/widget/{center.widget}/survey"
    before = center.start()
    off = center.public.get(widget, headers={"X-Visitor-Token": before["token"]})
    assert off.status_code == 200 and off.json() == {"survey": None}  # not asked, not ended
    turn_on(center, center.queue_id, ["chat"])
    started = ended_chat(center, server)
    assert center.public.get(widget).status_code == 404  # no visitor token
    asked = center.public.get(widget, headers={"X-Visitor-Token": started["token"]})
    assert asked.status_code == 200, asked.text
    survey = asked.json()["survey"]
    assert survey["questions"] == "both" and survey["comment"] is True
    token = survey["token"]
    supervisor = signed_in(client_factory, world, "supervisor")
    listed = "/api/v1/surveys/responses"

    bad = center.public.post(widget, json={"token": token, "csat": 6, "nps": 10})
    assert bad.status_code == 422 and "csat" in bad.text
    wrong_nps = center.public.post(widget, json={"token": token, "nps": "ten"})
    assert wrong_nps.status_code == 422 and "nps" in wrong_nps.text
    assert supervisor.request("GET", listed).json() == []  # nothing written

    answered = center.public.post(
        widget, json={"token": token, "csat": 5, "nps": 10, "comment": "丁寧でした", "lang": "ja"}
    )
    assert answered.status_code == 201, answered.text
    again = center.public.post(widget, json={"token": token, "csat": 1})
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert center.public.get(widget, headers={"X-Visitor-Token": started["token"]}).json() == {
        "survey": None
    }
    rows = supervisor.request("GET", listed).json()
    assert [(r["nps"], r["csat"], r["channel"], r["comment"]) for r in rows] == [
        (10, 5, "chat", None)
    ]
    assert supervisor.request("GET", listed, params={"comments": "true"}).status_code == 422
    opened = supervisor.request(
        "GET", listed, params={"comments": "true", "reason": "complaint follow-up"}
    ).json()
    assert [r["comment"] for r in opened] == ["丁寧でした"]

    def figures() -> dict[str, Any] | None:
        report = supervisor.request(
            "GET", "/api/v1/figures/report", params={"grain": "total"}
        ).json()
        rows = report["rows"]
        return rows[0] if rows and rows[0]["measures"]["nps_answers"] else None

    total = wait_for(figures, "the answer in the figures")
    assert total["figures"]["nps"] == 100.0 and total["figures"]["csat"] == 1.0
    assert total["measures"]["csat_score_sum"] == 5
    by_channel = supervisor.request(
        "GET", "/api/v1/figures/report", params={"grain": "total", "by": "channel"}
    ).json()["rows"]
    assert [(r["keys"], r["measures"]["nps_promoters"]) for r in by_channel] == [(["chat"], 1)]
    sheet = supervisor.request(
        "GET", "/api/v1/figures/report.xlsx", params={"grain": "day", "by": "queue"}
    )
    book = load_workbook(filename=io.BytesIO(sheet.content))
    rows_xlsx = list(book.active.iter_rows(values_only=True))
    header = list(rows_xlsx[0])
    assert "nps" in header and "csat" in header and "nps_answers" in header
    assert rows_xlsx[1][header.index("nps")] == 100.0
    csv = supervisor.request("GET", "/api/v1/figures/report.csv", params={"grain": "total"})
    assert "nps_promoters" in csv.text.splitlines()[0]
    drill = "/api/v1/figures/contacts"
    promoters = supervisor.request("GET", drill, params={"survey": "promoter"}).json()
    assert [(c["nps_score"], c["csat_score"], c["channel"]) for c in promoters] == [(10, 5, "chat")]
    assert supervisor.request("GET", drill, params={"survey": "detractor"}).json() == []
    assert supervisor.request("GET", drill, params={"survey": "bogus"}).status_code == 422
    page = supervisor.request("GET", "/figures")
    assert (
        'data-testid="fig-nps">+100.0' in page.text and 'data-testid="fig-nps-trend"' in page.text
    )

    # Tenant B sees none of it.
    other = client_factory()
    assert other.sign_in(world.account("b", "supervisor").username).status_code == 303
    assert other.request("GET", listed).json() == []
    elsewhere = other.request("GET", "/api/v1/figures/report", params={"grain": "total"}).json()
    assert all(r["measures"]["nps_answers"] == 0 for r in elsewhere["rows"])


def _email_contact(center: Center) -> str:
    """The widget's offline form: an email contact with a conversation in the mail queue."""
    offline = center.public.post(
        f"/widget/{center.widget}/offline",
        json={"name": "佐藤", "email": "sato@example.jp", "subject": "返品", "body": "返品したい"},
    )
    assert offline.status_code == 201, offline.text
    contacts = center.admin.request("GET", "/api/v1/contacts").json()
    return next(str(c["id"]) for c in contacts if c["channel"] == "email")


def test_the_link_page_of_an_email_invitation(
    center: Center, server: LiveServer, world: World, database_url: str
) -> None:
    contact_id = _email_contact(center)
    invite = f"/api/v1/contacts/{contact_id}/survey-invitations"
    refused = center.admin.request("POST", invite, json={"send": False})
    assert refused.status_code == 409 and "does not ask by email" in refused.text
    turn_on(center, center.mail_queue, ["email"])
    no_mailbox = center.admin.request("POST", invite, json={"send": True})
    assert no_mailbox.status_code == 422 and "mailbox" in no_mailbox.text
    made = center.admin.request("POST", invite, json={"send": False})
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    assert made.json()["channel"] == "email" and url.startswith(server.url + "/survey/")
    path = url[len(server.url) :]

    visitor = httpx.Client(base_url=server.url, timeout=10)
    try:
        page = visitor.get(path, params={"lang": "ja"})
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "今回のお問い合わせへの対応" in page.text and "<script" not in page.text
        csrf = CSRF_FIELD.search(page.text)
        assert csrf is not None
        bad = visitor.post(path, data={"_csrf": csrf.group(1), "csat": "9"})
        assert bad.status_code == 422 and "満足度：1〜5" in bad.text
        assert visitor.post(path, data={"csat": "4"}).status_code == 403  # no CSRF token
        done = visitor.post(path, data={"_csrf": csrf.group(1), "csat": "4", "nps": "3"})
        assert done.status_code == 200 and 'data-testid="survey-thanks"' in done.text
        again = visitor.post(path, data={"_csrf": csrf.group(1), "csat": "5"})
        assert again.status_code == 409 and "回答済み" in again.text
        assert visitor.get(path).status_code == 409
        english = visitor.get("/survey/not-a-real-token", params={"lang": "en"})
        assert english.status_code == 404 and "This survey link is not valid." in english.text

        settings = server.app.state.services.settings

        async def old_offer() -> str:
            db = Database(database_url)
            try:
                offer = await surveys.offer_for_contact(
                    db, KeyRing(master_key_for(settings)), tenant_id=world.tenants["a"],
                    contact_id=UUID(_second_contact), channel="email",
                    now=utcnow() - timedelta(days=8),
                )  # fmt: skip
                assert offer is not None
                return offer.token
            finally:
                await db.dispose()

        _second_contact = _email_contact_after(center, contact_id)
        expired = visitor.get(f"/survey/{run(old_offer)}", params={"lang": "en"})
        assert expired.status_code == 410 and "This survey has closed" in expired.text
    finally:
        visitor.close()


def _email_contact_after(center: Center, first: str) -> str:
    offline = center.public.post(
        f"/widget/{center.widget}/offline",
        json={"name": "鈴木", "email": "suzuki@example.jp", "subject": "配送", "body": "遅い"},
    )
    assert offline.status_code == 201, offline.text
    contacts = center.admin.request("GET", "/api/v1/contacts").json()
    return next(str(c["id"]) for c in contacts if c["channel"] == "email" and c["id"] != first)
