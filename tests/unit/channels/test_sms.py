"""SMS rules without I/O: keywords, segment counts, webhook signatures, status order."""

from __future__ import annotations

import pytest

from tsunagi.channels.sms import (
    Keyword,
    advances,
    count_segments,
    keyword_of,
    our_status,
    request_signature,
    retry_delay_s,
    signature_matches,
)

# The provider's published example: auth token 12345, this URL and these fields.
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = [
    ("From", "+14158675309"),
    ("CallSid", "CA1234567890ABCDE"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
]


def test_signature_matches_the_published_example() -> None:
    assert request_signature("12345", VECTOR_URL, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature_matches("12345", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_repeated_fields_are_sorted_by_name_then_value_and_counted_once() -> None:
    params = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert request_signature("12345", VECTOR_URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("token", "url", "params", "presented"),
    [
        ("12345", VECTOR_URL + "&x=1", VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("54321", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            "12345",
            VECTOR_URL,
            [*VECTOR_PARAMS[:4], ("Digits", "9999")],
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        ("12345", VECTOR_URL, VECTOR_PARAMS, None),
        ("12345", VECTOR_URL, VECTOR_PARAMS, ""),
        ("12345", VECTOR_URL, VECTOR_PARAMS, "不正な署名"),
        ("", VECTOR_URL, VECTOR_PARAMS, request_signature("", VECTOR_URL, VECTOR_PARAMS)),
    ],
)
def test_anything_changed_fails_the_signature(
    token: str, url: str, params: list[tuple[str, str]], presented: str | None
) -> None:
    assert not signature_matches(token, url, params, presented)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", (Keyword.OPT_OUT, "STOP")),
        ("  stop. ", (Keyword.OPT_OUT, "STOP")),
        ("ＳＴＯＰ", (Keyword.OPT_OUT, "STOP")),
        ("StopAll", (Keyword.OPT_OUT, "STOPALL")),
        ("unsubscribe!", (Keyword.OPT_OUT, "UNSUBSCRIBE")),
        ("Cancel", (Keyword.OPT_OUT, "CANCEL")),
        ("end", (Keyword.OPT_OUT, "END")),
        ("QUIT", (Keyword.OPT_OUT, "QUIT")),
        ("停止", (Keyword.OPT_OUT, "停止")),
        ("配信停止。", (Keyword.OPT_OUT, "配信停止")),
        ("start", (Keyword.OPT_IN, "START")),
        ("UNSTOP", (Keyword.OPT_IN, "UNSTOP")),
        ("再開", (Keyword.OPT_IN, "再開")),
        ("help?", (Keyword.HELP, "HELP")),
        ("ヘルプ", (Keyword.HELP, "ヘルプ")),
        ("Please stop by the shop", None),
        ("配達を停止してほしい", None),
        ("", None),
        (None, None),
    ],
)
def test_only_a_whole_message_is_a_keyword(
    body: str | None, expected: tuple[Keyword, str] | None
) -> None:
    assert keyword_of(body) == expected


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments", "per_segment"),
    [
        ("", "GSM-7", 0, 0, 160),
        ("a" * 160, "GSM-7", 160, 1, 160),
        ("a" * 161, "GSM-7", 161, 2, 153),
        ("a" * 306, "GSM-7", 306, 2, 153),
        ("a" * 307, "GSM-7", 307, 3, 153),
        ("€" * 80, "GSM-7", 160, 1, 160),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 162, 2, 153),
        # 152 plain septets, then an escape pair that may not be split: 2 parts, not 1+1.
        ("a" * 152 + "{" + "a" * 10, "GSM-7", 164, 2, 153),
        ("あ" * 70, "UCS-2", 70, 1, 70),
        ("あ" * 71, "UCS-2", 71, 2, 67),
        ("あ" * 134, "UCS-2", 134, 2, 67),
        ("あ" * 135, "UCS-2", 135, 3, 67),
        ("a" * 69 + "é" + "ç", "UCS-2", 71, 2, 67),  # ç is not GSM: the whole text is UCS-2
        ("😀" * 35, "UCS-2", 70, 1, 70),  # outside the BMP: two units each
        ("a" * 66 + "😀" + "a", "UCS-2", 69, 1, 70),
        ("a" * 66 + "😀" + "a" * 3, "UCS-2", 71, 2, 67),
    ],
)
def test_segments(text: str, encoding: str, units: int, segments: int, per_segment: int) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.units, counted.segments, counted.per_segment) == (
        encoding,
        units,
        segments,
        per_segment,
    )


def test_a_surrogate_pair_is_not_split_across_parts() -> None:
    # 66 units, then an emoji (2 units) would straddle the 67-unit part boundary.
    assert count_segments("あ" * 66 + "😀" + "あ" * 10).segments == 2
    assert count_segments("あ" * 66 + "😀" + "あ" * 66).segments == 3


def test_japanese_reply_of_typical_length() -> None:
    text = "お問い合わせありがとうございます。ご注文の商品は明日発送いたします。"
    counted = count_segments(text)
    assert counted.encoding == "UCS-2" and counted.segments == 1


@pytest.mark.parametrize(
    ("current", "reported", "moves"),
    [
        ("queued", "sent", True),
        ("queued", "delivered", True),
        ("sent", "delivered", True),
        ("queued", "failed", True),
        ("sent", "failed", True),
        ("sent", "queued", False),
        ("delivered", "sent", False),
        ("delivered", "failed", False),
        ("failed", "delivered", False),
        ("failed", "sent", False),
        ("sent", "sent", False),
    ],
)
def test_reports_only_move_forward(current: str, reported: str, moves: bool) -> None:
    assert advances(current, reported) is moves


def test_provider_statuses_map_to_ours() -> None:
    assert [our_status(s) for s in ("accepted", "queued", "sending", "sent", "Delivered")] == [
        "queued",
        "queued",
        "sent",
        "sent",
        "delivered",
    ]
    assert our_status("undelivered") == our_status("failed") == "failed"
    assert our_status("receiving") is None


def test_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay_s(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay_s(30) == 300.0
