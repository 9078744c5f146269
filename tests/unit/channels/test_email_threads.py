"""Threading ids, automatic-answer rules, writing replies, templates and the send state."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tsunagi.channels.email import (
    MAX_IDS,
    OutboundEmail,
    build_email,
    external_id,
    header_ids,
    may_auto_answer,
    new_message_id,
    normalise_id,
    parse_email,
    references_for,
    render,
    reply_subject,
    thread_ids,
    thread_key,
    thread_root,
    with_signature,
)
from tsunagi.channels.email_settings import (
    MailboxConfig,
    SendState,
    queue_email,
    retry_delay_s,
)
from tsunagi.domain.errors import InvalidInputError


def received(**headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "hanako@example.org")
    msg["To"] = "desk@center.test"
    msg["Subject"] = "x"
    msg["Message-ID"] = "<m@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("hello")
    return msg.as_bytes()


def test_thread_ids_are_nearest_first_and_normalised() -> None:
    email = parse_email(
        received(In_Reply_To="<p@X.jp>", References="<root@x.jp> <mid@x.jp> <p@x.jp>")
    )
    assert thread_ids(email) == ("<p@x.jp>", "<mid@x.jp>", "<root@x.jp>")
    assert thread_root(email) == "<root@x.jp>"
    assert thread_key("<root@X.JP>") == thread_key("<root@x.jp>") and len(thread_key("<a@b>")) == 64


def test_ids_too_long_for_the_column_are_hashed() -> None:
    long_id = "<" + "a" * 300 + "@example.org>"
    assert external_id(long_id).startswith("sha256:") and len(external_id(long_id)) < 255
    assert external_id("m@Example.org") == "<m@example.org>" == normalise_id("<m@EXAMPLE.org>")


def test_references_keep_the_root_when_cut() -> None:
    chain = [f"<{i}@x>" for i in range(40)]
    refs = references_for("<parent@x>", chain)
    assert len(refs) == MAX_IDS and refs[0] == "<0@x>" and refs[-1] == "<parent@x>"
    assert references_for(None, []) == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("配達", "Re: 配達"),
        ("Re: 配達", "Re: 配達"),
        ("RE:x", "RE:x"),
        ("返信: y", "返信: y"),
        (None, "Re:"),
    ],
)
def test_reply_subject(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-submitted"),
        ({"Auto_Submitted": "auto-generated"}, "auto-submitted"),
        ({"Precedence": "bulk"}, "precedence"),
        ({"Precedence": "list"}, "precedence"),
        ({"List_Id": "<news.example.org>"}, "mailing-list"),
        ({"List_Unsubscribe": "<mailto:u@example.org>"}, "mailing-list"),
        ({"X_Autoreply": "yes"}, "auto-submitted"),
        ({"Return_Path": "<>"}, "bounce"),
        ({"From": "MAILER-DAEMON@example.org"}, "automatic-sender"),
        ({"From": "no-reply@shop.example"}, "automatic-sender"),
        ({"From": "desk@center.test"}, "own-address"),
        ({"Reply_To": "desk@center.test"}, "own-address"),
        ({"Auto_Submitted": "no"}, None),
        ({}, None),
    ],
)
def test_automatic_answers_only_to_people(headers: dict[str, str], reason: str | None) -> None:
    assert may_auto_answer(parse_email(received(**headers)), ["Desk@Center.test"]) == reason


def test_a_built_reply_reads_back_with_its_threading_headers() -> None:
    raw = build_email(
        OutboundEmail(
            from_address="desk@center.test",
            from_name="生協 お客様窓口",
            to="hanako@example.org",
            subject="Re: 配達について\r\nBcc: evil@example.org",
            message_id="<r1@center.test>",
            text="午後に変更しました。\n" + "長い行" * 400,
            in_reply_to="<m@example.org>",
            references=("<root@example.org>", "<m@example.org>"),
            automatic=True,
            date=datetime(2026, 4, 1, tzinfo=UTC),
        )
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Message-ID"] == "<r1@center.test>" and msg["In-Reply-To"] == "<m@example.org>"
    assert msg["References"] == "<root@example.org> <m@example.org>"
    assert msg["Auto-Submitted"] == "auto-replied" and msg["Bcc"] is None
    assert msg["From"].addresses[0].display_name == "生協 お客様窓口"
    assert msg.get_body(preferencelist=("plain",)).get_content().startswith("午後に変更しました。")
    assert header_ids(raw) == (("<root@example.org>", "<m@example.org>"), "<r1@center.test>")


def test_message_ids_repeat_only_for_the_same_seed() -> None:
    assert new_message_id("Center.test", seed="a") == new_message_id("center.test", seed="a")
    assert new_message_id("center.test", seed="a") != new_message_id("center.test", seed="b")
    assert new_message_id("center.test") != new_message_id("center.test")
    assert new_message_id("center.test").endswith("@center.test>")


def test_templates_and_signatures_substitute_only() -> None:
    values = {"name": "山田", "agent.name": "佐藤", "queue.name": "窓口"}
    assert render("{name}様 {{literal}} {missing} {name.__class__}", values) == (
        "山田様 {literal} {missing} {name.__class__}"
    )
    assert with_signature("本文\n\n", "-- \n{agent.name}\n{queue.name}", values) == (
        "本文\n\n-- \n佐藤\n窓口"
    )
    assert with_signature("本文", None, values) == "本文"


def test_send_state_round_trips() -> None:
    at = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    state = SendState(3, at, "SMTP 451; try=9 again", "acc-1")
    decoded = SendState.decode(state.encode())
    assert (decoded.attempts, decoded.next_at, decoded.via) == (3, at, "acc-1")
    assert decoded.error == "SMTP 451  try=9 again"
    assert SendState.decode(None) == SendState() == SendState.decode("garbage;try=x")
    assert [retry_delay_s(n) for n in range(8)] == [None, 30, 120, 600, 1800, 3600, 10800, None]


def test_settings_are_checked() -> None:
    assert queue_email(None).auto_ack is False
    assert queue_email({"email": {"first_response_s": 600}}).first_response_s == 600
    with pytest.raises(InvalidInputError, match="email"):
        queue_email({"email": {"auto_ack": "sometimes"}})
    with pytest.raises(InvalidInputError):
        queue_email({"email": {"first_response_s": 0}})
    good = {"address": "desk@center.test", "imap_host": "i", "username": "u", "smtp_host": "s"}
    assert MailboxConfig(**good).validated().domain == "center.test"  # type: ignore[arg-type]
    for bad in (
        {"address": "desk"},
        {"imap_tls": "starttls"},
        {"smtp_port": 0},
        {"poll_interval_s": 1},
    ):
        with pytest.raises(InvalidInputError):
            MailboxConfig(**{**good, **bad}).validated()  # type: ignore[arg-type]


def test_a_reply_carries_an_html_alternative_that_is_only_the_typed_text() -> None:
    from email import policy as email_policy
    from email.parser import BytesParser as Parser

    from tsunagi.channels.email import OutboundEmail, build_email, html_of

    typed = "<b>太字</b> & 詳細は https://example.jp/faq?a=1&b=2 をご覧ください。\n2行目"
    page = html_of(typed)
    assert "<b>" not in page and "&lt;b&gt;太字&lt;/b&gt; &amp;" in page
    assert '<a href="https://example.jp/faq?a=1&amp;b=2">' in page
    raw = build_email(
        OutboundEmail(
            from_address="center@example.jp",
            from_name=None,
            to="hanako@example.jp",
            subject="Re: 配達",
            message_id="<m1@example.jp>",
            text=typed,
        )
    )
    parsed = Parser(policy=email_policy.default).parsebytes(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(preferencelist=("plain",))
    rich = parsed.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n").rstrip("\n") == typed
    assert rich is not None and "2行目" in rich.get_content()
