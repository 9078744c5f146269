"""Reading received mail: text, sanitised HTML, attachments, ids — and never raising."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.channels.email import (
    html_to_text,
    parse_email,
    sanitise_html,
    synthetic_id,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def mail(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "山田花子 <Hanako@Example.org>")
    msg["To"] = "desk@center.test"
    msg["Subject"] = headers.pop("Subject", "配達について")
    msg["Message-ID"] = headers.pop("Message_ID", "<m1@Example.ORG>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def test_a_plain_message() -> None:
    msg = mail(In_Reply_To="<p@x.jp>", References="<r@x.jp> <p@x.jp>")
    msg.set_content("明日の配達時間を変えたいです。\n")
    email = parse_email(msg.as_bytes(policy=policy.SMTP))
    assert email.message_id == "<m1@Example.ORG>"
    assert (email.from_address, email.from_name) == ("hanako@example.org", "山田花子")
    assert email.subject == "配達について"
    assert email.text == "明日の配達時間を変えたいです。"
    assert email.in_reply_to == ("<p@x.jp>",) and email.references == ("<r@x.jp>", "<p@x.jp>")
    assert email.to == ("desk@center.test",)
    assert not email.malformed and email.flags == () and email.automatic is None


def test_html_only_mail_gets_its_text_from_the_html_and_keeps_it_sanitised() -> None:
    msg = mail()
    msg.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p onclick=alert(2)>ご注文<b>ありがとう</b></p><img src=x onerror=alert(3)>"
        '<a href="javascript:alert(4)">x</a><a href="https://ok.example/">ok</a></body></html>',
        subtype="html",
    )
    email = parse_email(msg.as_bytes())
    assert email.text is not None
    assert "alert" not in email.text and "ご注文ありがとう" in email.text
    assert email.html is not None
    for bad in ("<script", "onclick", "onerror", "<img", "javascript:", "<style"):
        assert bad not in email.html
    assert 'href="https://ok.example/"' in email.html and "noopener" in email.html


@pytest.mark.parametrize(
    "markup",
    [
        "<svg/onload=alert(1)>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<a href="  jav&#x09;ascript:alert(1)">x</a>',
        "<form action=https://evil><input name=p></form>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<object data=x.swf></object><embed src=x>",
        "<base href=https://evil/><meta http-equiv=refresh content=0>",
    ],
)
def test_the_sanitiser_keeps_no_active_content(markup: str) -> None:
    clean = sanitise_html(markup).lower()
    for bad in ("<script", "onload", "onerror", "<iframe", "javascript", "<form", "<input",
                "style=", "<object", "<embed", "<base", "<meta", "<svg"):  # fmt: skip
        assert bad not in clean, (markup, clean)


def test_html_to_text_drops_scripts_and_keeps_lines() -> None:
    assert (
        html_to_text("<p>一行目</p><script>x()</script><p>二行目<br>三</p>")
        == "一行目\n\n二行目\n三"
    )


def test_attachments_are_listed_with_clean_names() -> None:
    msg = mail()
    msg.set_content("添付します")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="../../写真.png")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream")
    email = parse_email(msg.as_bytes())
    assert email.text == "添付します"
    assert [(a.filename, a.declared_type) for a in email.attachments] == [
        ("写真.png", "image/png"),
        ("attachment.bin", "application/octet-stream"),
    ]
    assert email.attachments[0].content == PNG


def test_a_message_without_id_gets_a_stable_one() -> None:
    raw = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n"
    first, second = parse_email(raw), parse_email(raw)
    assert first.message_id == second.message_id == synthetic_id(raw)
    assert parse_email(raw + b"!").message_id != first.message_id


MALFORMED = [
    # multipart without its boundary anywhere
    b"From: a@b.example\r\nMessage-ID: <x1@b.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="zzz"\r\n\r\nno parts here\r\n',
    # broken base64 and an unknown charset
    b"From: a@b.example\r\nMessage-ID: <x2@b.example>\r\nContent-Type: text/plain; "
    b"charset=x-nonsense\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not-base64===\r\n",
    # header garbage, no separator line, NUL bytes
    b"From a@b.example\r\n\x00\x01garbage:::\r\nSubject: =?utf-8?q?broken\r\nbody\x00",
    # a multipart with no closing boundary
    b"From: a@b.example\r\nMessage-ID: <x4@b.example>\r\nContent-Type: multipart/alternative; "
    b'boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n',
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_mime_is_flagged_not_lost(raw: bytes) -> None:
    email = parse_email(raw)
    assert email.malformed and "malformed" in email.flags
    assert email.message_id.startswith("<")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_raising(raw: bytes) -> None:
    email = parse_email(raw)
    assert email.message_id
    assert email.text is None or "\x00" not in email.text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_sanitised_html_never_has_a_script_tag(text: str) -> None:
    clean = sanitise_html(text + "<script>x</script>" + text).lower()
    assert "<script" not in clean
