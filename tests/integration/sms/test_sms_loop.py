"""SMS end to end over real HTTP both ways, on SQLite and PostgreSQL.

``fake_provider.FakeProvider`` stands in for the SMS provider (there is no internet
here): a local HTTP server speaking the provider's Messages API with basic auth, which
posts signed status callbacks and inbound messages to the live app's webhooks.
"""

from __future__ import annotations

import uuid
from typing import Any

from integration.sms.conftest import (
    CUSTOMER,
    OUR_NUMBER,
    SmsFloor,
    configure,
    open_sms_floor,
    until,
)
from integration.sms.fake_provider import Report
from testkit import LiveServer, World, live_server

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _customer(sms: SmsFloor, phone: str = "090-1234-5678") -> uuid.UUID:
    made = sms.supervisor.request(
        "POST",
        "/api/v1/customers",
        json={"name": "山田 花子", "identifiers": [{"kind": "phone", "value": phone}]},
    )
    assert made.status_code == 201, made.text
    return uuid.UUID(made.json()["id"])


def _started(sms: SmsFloor, body: str = "注文の配送状況を教えてください") -> Any:
    answer = sms.inbound(body)
    assert answer.status_code == 200, answer.text
    [conversation] = sms.conversations()
    return conversation


def test_an_inbound_sms_is_a_contact_in_the_queue_with_the_customer_identified(
    sms: SmsFloor,
) -> None:
    customer_id = _customer(sms)
    answer = sms.inbound("注文の配送状況を教えてください")
    assert answer.status_code == 200, answer.text
    assert answer.text == EMPTY_TWIML
    assert answer.headers["content-type"].startswith("application/xml")
    [conversation] = sms.conversations()
    assert (conversation.channel, conversation.queue_id) == ("sms", sms.queue_id)
    assert (conversation.account_id, conversation.customer_id) == (sms.account_id, customer_id)
    assert conversation.contact_id is not None
    contact = sms.contact(conversation.contact_id)
    assert (contact.channel, contact.queue_id, contact.state) == ("sms", sms.queue_id, "queued")

    # The same number writes again: the same conversation and contact, the next message.
    assert sms.inbound("注文番号は A-1001 です").status_code == 200
    assert len(sms.conversations()) == 1
    messages = sms.messages(conversation.id)
    assert [(m.seq, m.direction, m.author, m.status) for m in messages] == [
        (1, "in", "customer", "received"),
        (2, "in", "customer", "received"),
    ]
    assert all(m.provider_id and m.provider_id.startswith("SM") for m in messages)
    # Another number is another conversation, with nobody identified.
    assert sms.inbound("hello", sender="+819099998888").status_code == 200
    others = [c for c in sms.conversations() if c.id != conversation.id]
    assert len(others) == 1 and others[0].customer_id is None


def test_a_retried_webhook_creates_nothing_new_and_a_bad_signature_stores_nothing(
    sms: SmsFloor,
) -> None:
    empty = sms.counts()
    for signature in (None, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""):
        refused = sms.inbound("偽物です", signature=signature)
        assert refused.status_code == 403, refused.text
    # Signed with another account's token: refused too.
    refused = sms.fake.post_inbound(
        sms.hook("inbound").replace(str(sms.account_id), str(uuid.uuid4())),
        sender=CUSTOMER, to=OUR_NUMBER, body="x",
    )  # fmt: skip
    assert refused.status_code == 403
    assert sms.counts() == empty

    sid = "SM" + uuid.uuid4().hex
    assert sms.inbound("一度だけ", sid=sid).status_code == 200
    once = sms.counts()
    assert once[:3] == (1, 1, 1)
    for _ in range(3):
        again = sms.inbound("一度だけ", sid=sid)
        assert again.status_code == 200 and again.text == EMPTY_TWIML
    assert sms.counts() == once


def test_a_reply_reaches_the_provider_and_its_delivery_reports_follow(sms: SmsFloor) -> None:
    conversation = _started(sms)
    answer = sms.reply(conversation.id, "明日お届け予定です。")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["message"]["status"] == "queued" and body["created"] is True
    assert body["segments"] == {"encoding": "UCS-2", "units": 10, "segments": 1, "per_segment": 70}
    [sent] = sms.wait_sent(1)
    assert sent.auth == (sms.fake.account_sid, sms.fake.auth_token)
    assert (sent.to, sent.sender, sent.body) == (CUSTOMER, OUR_NUMBER, "明日お届け予定です。")
    assert sent.status_callback is not None
    assert sent.status_callback.startswith(sms.hook("status"))
    message = sms.wait_status(body["message"]["id"], "delivered")
    assert message.provider_id == sent.sid and message.sent_at is not None
    assert sms.fake.callbacks == [("sent", 204), ("delivered", 204)]

    # Late and repeated reports never move it back.
    for status in ("sent", "queued", "failed", "sent"):
        assert sms.fake.post_status(sent.status_callback, sent, status).status_code == 204
    assert sms.message(message.id).status == "delivered"
    assert len(sms.fake.sent) == 1


def test_reports_out_of_order_and_a_failure_with_its_error_code(sms: SmsFloor) -> None:
    conversation = _started(sms)
    sms.fake.reports = []  # this time the test posts the reports itself, out of order
    first = sms.reply(conversation.id, "1通目").json()["message"]["id"]
    [sent] = sms.wait_sent(1)
    until(lambda: sms.message(first).provider_id == sent.sid, what="the provider id stored")
    assert sms.message(first).status == "queued"
    callback = sent.status_callback
    assert callback is not None
    # A report must be signed like any webhook.
    forged = sms.fake.post_status(callback, sent, "failed", token="not-the-token")
    assert forged.status_code == 403
    assert sms.message(first).status == "queued"
    assert sms.fake.post_status(callback, sent, "delivered").status_code == 204
    assert sms.fake.post_status(callback, sent, "sent").status_code == 204
    assert sms.fake.post_status(callback, sent, "queued").status_code == 204
    assert sms.message(first).status == "delivered"

    sms.fake.reports = [Report("sent"), Report("undelivered", "30003")]
    second = sms.reply(conversation.id, "2通目").json()["message"]["id"]
    failed = sms.wait_status(second, "failed")
    assert failed.status_detail == "undelivered error 30003"
    [_, again] = sms.wait_sent(2)
    assert again.status_callback is not None
    assert sms.fake.post_status(again.status_callback, again, "delivered").status_code == 204
    assert sms.message(second).status == "failed"


def test_stop_opts_out_start_opts_back_in_help_answers(sms: SmsFloor) -> None:
    conversation = _started(sms)
    help_answer = sms.inbound("HELP")
    assert "ヘルプ: 0120-000-000" in help_answer.text
    assert sms.fake.replies == [(CUSTOMER, "ヘルプ: 0120-000-000 (平日9-18時)")]

    assert sms.inbound("停止").status_code == 200
    assert sms.counts()[3] == 1
    refused = sms.reply(conversation.id, "キャンペーンのお知らせ")
    assert refused.status_code == 409, refused.text
    assert "opted out" in refused.json()["detail"]
    # STOP again (another word, a retried webhook) changes nothing; still refused.
    assert sms.inbound("STOP").status_code == 200
    assert sms.counts()[3] == 1
    assert sms.reply(conversation.id, "もう一度").status_code == 409
    assert sms.fake.sent == []
    flags = [m.flags for m in sms.messages(conversation.id) if m.direction == "in"]
    assert flags == [[], ["help"], ["opt_out"], ["opt_out"]]

    assert sms.inbound("START").status_code == 200
    assert sms.counts()[3] == 0
    allowed = sms.reply(conversation.id, "再開を承りました")
    assert allowed.status_code == 202, allowed.text
    assert [s.body for s in sms.wait_sent(1)] == ["再開を承りました"]

    # A keyword alone from a number without a conversation starts no contact.
    before = sms.counts()
    assert sms.inbound("STOP", sender="+819011112222").status_code == 200
    after = sms.counts()
    assert after[:3] == before[:3] and after[3] == before[3] + 1


def test_failed_sends_are_retried_with_backoff_and_never_sent_twice(sms: SmsFloor) -> None:
    conversation = _started(sms)
    sms.fake.fail_next = 2  # the provider answers 503 twice
    answer = sms.reply(conversation.id, "少々お待ちください", client_id="desk-1")
    message_id = answer.json()["message"]["id"]
    until(
        lambda: (sms.message(message_id).status_detail or "").startswith("attempt 1 failed"),
        what="the first failure recorded",
    )
    assert "HTTP 503" in (sms.message(message_id).status_detail or "")
    sms.wait_status(message_id, "delivered")
    assert sms.fake.requests == 3 and len(sms.fake.sent) == 1
    # The desk sends the same reply again (a double click, a retried request): no new send.
    repeat = sms.reply(conversation.id, "少々お待ちください", client_id="desk-1")
    assert repeat.status_code == 202 and repeat.json()["created"] is False
    assert repeat.json()["message"]["id"] == message_id
    assert len(sms.messages(conversation.id)) == 2
    assert len(sms.fake.sent) == 1


def test_long_replies_are_counted_and_refused_over_the_queue_limit(sms: SmsFloor) -> None:
    conversation = _started(sms)
    counted = sms.supervisor.request("POST", "/api/v1/sms/segments", json={"text": "あ" * 135})
    assert counted.json() == {"encoding": "UCS-2", "units": 135, "segments": 3, "per_segment": 67}
    three = sms.reply(conversation.id, "あ" * 201)
    assert three.status_code == 202 and three.json()["segments"]["segments"] == 3
    four = sms.reply(conversation.id, "あ" * 202)
    assert four.status_code == 422
    assert "4 SMS segments" in four.json()["detail"] and "at most 3" in four.json()["detail"]
    assert len(sms.messages(conversation.id)) == 2


def test_the_sms_number_api(sms: SmsFloor, world: World, client_factory: Any) -> None:
    read = sms.admin.request("GET", f"/api/v1/queues/{sms.queue_id}/sms-account")
    assert read.status_code == 200
    account = read.json()
    assert account["has_auth_token"] is True and sms.fake.auth_token not in read.text
    assert account["inbound_url"] == sms.hook("inbound")
    bad = configure(
        sms.admin, sms.queue_id, account_sid="AC1", from_number="0312345678",
        webhook_base_url=sms.server.url,
    )  # fmt: skip
    assert bad.status_code == 422 and "E.164" in bad.json()["detail"]
    # Changing settings without a token keeps the token: webhooks still verify.
    kept = configure(
        sms.admin, sms.queue_id, account_sid=sms.fake.account_sid, from_number=OUR_NUMBER,
        webhook_base_url=sms.server.url, api_base_url=sms.fake.url, max_segments=1,
    )  # fmt: skip
    assert kept.status_code == 200 and kept.json()["max_segments"] == 1
    assert sms.inbound("まだ届きますか").status_code == 200
    communicator = client_factory()
    communicator.sign_in(world.account("a", "communicator").username)
    assert communicator.request(
        "GET", f"/api/v1/queues/{sms.queue_id}/sms-account"
    ).status_code in (403,)
    missing = sms.admin.request("GET", f"/api/v1/queues/{uuid.uuid4()}/sms-account")
    assert missing.status_code == 404


def test_webhooks_are_rate_limited(
    world: World, database_url: str, profile: str, settings_for: Any, server: LiveServer
) -> None:
    settings = settings_for(database_url, profile, public_requests_per_minute=5)
    with live_server(settings) as limited:
        from testkit import Browserless

        clients: list[Browserless] = []

        def factory() -> Browserless:
            client = Browserless(limited.url)
            clients.append(client)
            return client

        sms = None
        try:
            sms = open_sms_floor(limited, world, database_url, factory)
            answers = [sms.inbound(f"message {n}").status_code for n in range(8)]
            assert answers[:5] == [200] * 5
            assert answers[5:] == [429] * 3
            limited_answer = sms.inbound("one more")
            assert limited_answer.status_code == 429
            assert int(limited_answer.headers["retry-after"]) >= 1
            [conversation] = sms.conversations()
            assert len(sms.messages(conversation.id)) == 5
        finally:  # also when setting up failed: no client socket outlives the test
            if sms is not None:
                sms.fake.stop()
            for client in clients:
                client.close()
