"""VOC mining on small hand-written texts whose counts can be stated by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures import voc
from tsunagi.figures.voc_layout import NO_LINE_END, NO_LINE_START, break_lines
from tsunagi.figures.voc_text import analyse, mask

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def _docs(*rows: tuple[str, str, str]) -> list[voc.Doc]:
    """(month, category, text) → analysed documents; sources alternate chat/note."""
    texts = [
        voc.VocText(f"k{index:02d}", month, category, "chat", mask(text))
        for index, (month, category, text) in enumerate(rows)
    ]
    return voc.documents(texts)


# ---------------------------------------------------------------------------- words


def test_japanese_words_are_base_forms_of_nouns_verbs_and_adjectives() -> None:
    analysed = analyse("配送が遅れて商品が届きませんでした。")
    assert [w.key for w in analysed.words] == ["配送", "遅れる", "商品", "届く"]
    assert [w.pos for w in analysed.words] == ["noun", "verb", "noun", "verb"]


def test_stop_words_numbers_and_grammar_are_dropped() -> None:
    keys = [w.key for w in analyse("今日、3個の商品について確認をお願いします。").words]
    assert keys == ["商品"]


def test_noun_runs_become_phrases() -> None:
    analysed = analyse("コープでんきの料金明細が分かりにくい。組合員番号を忘れた")
    assert [p.display for p in analysed.phrases] == ["コープでんき", "料金明細", "組合員番号"]


def test_english_words_are_stemmed_and_shown_by_their_commonest_spelling() -> None:
    docs = _docs(
        ("2026-10", "d", "The delivery was late."),
        ("2026-10", "d", "Deliveries are late again"),
        ("2026-10", "d", "late delivery"),
    )
    top = voc.top_terms(docs, 2)
    assert [(t.key, t.display, t.texts, t.count) for t in top] == [
        ("deliveri", "delivery", 3, 3),
        ("late", "late", 3, 3),
    ]
    assert [p.display for p in docs[2].analysed.phrases] == ["late delivery"]


# ---------------------------------------------------------------------------- tone


@pytest.mark.parametrize(
    ("text", "tone"),
    [
        ("お弁当がとても美味しかったです。ありがとうございます", "compliment"),
        ("丁寧に対応していただき助かりました", "compliment"),
        ("卵が割れていて困ります", "complaint"),
        ("注文した牛乳が届かない", "complaint"),
        ("美味しくなかった", "complaint"),
        ("注文の締め切りは何曜日ですか", None),
        ("Thank you, the courier was very helpful", "compliment"),
        ("The box was damaged and the driver was rude", "complaint"),
        ("This was not helpful", "complaint"),
    ],
)
def test_tone_from_cues_with_negation(text: str, tone: str | None) -> None:
    assert analyse(mask(text)).tone == tone


# ---------------------------------------------------------------------------- masking


def test_patterns_mask_phones_emails_numbers_addresses_and_names() -> None:
    text = (
        "山田太郎さんから電話。電話番号は090-1234-5678、メールは taro.yamada@example.jp 。"
        "組合員番号は12345678。東京都港区芝公園4-2-8に住んでいます。〒105-0011"
    )
    masked = mask(text)
    assert masked == (
        "[NAME]さんから電話。電話番号は[PHONE]、メールは [EMAIL] 。"
        "組合員番号は[NUMBER]。[ADDRESS]に住んでいます。[ADDRESS]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03(1234)5678 か 0120-123-456 まで", "[PHONE] か [PHONE] まで"),
        ("０９０１２３４５６７８に電話", "[PHONE]に電話"),  # full-width digits (NFKC)
        ("田中様にお伝えください", "[NAME]様にお伝えください"),
        ("横浜市中区山下町1-2-3 の者です", "[ADDRESS] の者です"),
        ("My name is John Smith, call +1 415-555-0100", "My name is [NAME], call [PHONE]"),
        ("Mrs. Green lives at 12 Baker Street", "Mrs [NAME] lives at [ADDRESS]"),
        ("member number: A123456", "member number: [NUMBER]"),
        ("card 4111 1111 1111 1111 lost", "card [NUMBER] lost"),
        ("2026年10月に3個注文", "2026年10月に3個注文"),  # dates and quantities stay
    ],
)
def test_pattern_masks(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_known_values_are_masked_even_when_no_pattern_finds_them() -> None:
    known = [
        ("name", "鈴木 一郎"),
        ("phone", "03-1234-5678"),
        ("member_no", "K-77"),
        ("email", "ICHIRO@Example.org"),
        ("address", "さくら台 2-5"),
    ]
    text = "鈴木一郎です。鈴木が 0312345678 から。番号 k77、ichiro@example.org、さくら台2-5"
    masked = mask(text, known)
    for value in ("鈴木", "一郎", "0312345678", "k77", "ichiro", "さくら台"):
        assert value not in masked
    assert masked.startswith("[NAME]です。[NAME]が [PHONE] から。")


def test_masks_are_not_counted_as_words() -> None:
    analysed = analyse(mask("My name is John Smith; email john@example.com"))
    keys = {w.key for w in analysed.words} | {p.key for p in analysed.phrases}
    assert not {k for k in keys if "john" in k or "smith" in k or "exampl" in k}
    assert {w.key for w in analysed.words} == {"name", "email"}


# ---------------------------------------------------------------------------- counts


def test_counts_per_category_are_texts_then_occurrences() -> None:
    docs = _docs(
        ("2026-10", "delivery", "配送が遅れた。配送の連絡がない"),
        ("2026-10", "delivery", "配送が遅れて卵が割れた"),
        ("2026-10", "delivery", "卵が割れていた"),
        ("2026-10", "billing", "料金明細が分かりにくい"),
        ("2026-10", "billing", "料金の引き落とし日"),
    )
    by_category = voc.by_category(docs, 3)
    assert [(t.display, t.texts, t.count) for t in by_category["delivery"]] == [
        ("配送", 2, 3),  # two texts, three mentions
        ("割れる", 2, 2),
        ("卵", 2, 2),
    ]
    assert [(t.display, t.texts) for t in by_category["billing"]][:1] == [("料金", 2)]
    assert voc.volumes(docs) == {"billing": {"2026-10": 2}, "delivery": {"2026-10": 3}}


def test_log_likelihood_matches_the_formula() -> None:
    a, n, b, m = 6, 10, 2, 20
    expected_cells = [
        (a, n * (a + b) / (n + m)),
        (n - a, n * (n + m - a - b) / (n + m)),
        (b, m * (a + b) / (n + m)),
        (m - b, m * (n + m - a - b) / (n + m)),
    ]
    expected = 2 * sum(o * math.log(o / e) for o, e in expected_cells)
    assert voc.log_likelihood(a, n, b, m) == pytest.approx(expected)
    assert voc.log_likelihood(0, 5, 0, 5) == 0.0


def test_rising_topics_are_ordered_by_g2_with_a_minimum_count() -> None:
    before = [("2026-09", "d", "配送の時間") for _ in range(6)] + [
        ("2026-09", "d", "牛乳を注文"),
        ("2026-08", "d", "牛乳を注文"),
    ]
    now = (
        [("2026-10", "d", "卵が割れた") for _ in range(5)]  # 卵: 5/8 now, 0/8 before
        + [("2026-10", "d", "牛乳と卵") for _ in range(1)]  # 卵 6/8, 牛乳 3/8 vs 2/8
        + [("2026-10", "d", "牛乳を注文"), ("2026-10", "d", "牛乳の配送")]
    )
    docs = _docs(*before, *now)
    current = [d for d in docs if d.text.month == "2026-10"]
    past = [d for d in docs if d.text.month < "2026-10"]
    found = voc.rising(current, past, min_texts=3, min_g2=0)
    assert [r.display for r in found] == ["卵", "割れる", "牛乳"]
    # 牛乳 (3/8 after 2/8) is no significant rise: the default G² ≥ 3.84 leaves it out.
    assert found[2].g2 < voc.MIN_G2 < found[1].g2
    assert [r.display for r in voc.rising(current, past)] == ["卵", "割れる"]
    egg = found[0]
    assert (egg.texts, egg.total, egg.texts_before, egg.total_before) == (6, 8, 0, 8)
    assert egg.ratio == pytest.approx((6.5 / 9) / (0.5 / 9))
    assert egg.g2 == pytest.approx(voc.log_likelihood(6, 8, 0, 8))
    # 配送 fell (6/8 → 1/8) and 注文 (1/8 vs 2/8) did not rise: neither is listed.
    assert not {"配送", "注文"} & {r.display for r in found}
    assert voc.rising(current, past, min_texts=7) == []
    assert voc.rising(current, [], min_texts=1) == []


def test_cooccurrence_pmi_over_texts() -> None:
    docs = _docs(
        ("2026-10", "d", "卵が割れた"),
        ("2026-10", "d", "卵が割れていた"),
        ("2026-10", "d", "牛乳の配送"),
        ("2026-10", "d", "牛乳の配送が遅い"),
    )
    pairs = voc.cooccurrence(docs, min_texts=2)
    # 卵 and 割れる: each in 2 of 4 texts, together in 2 → log2(4·2 / (2·2)) = 1.
    assert [(p.a, p.b, p.texts, p.pmi) for p in pairs] == [
        ("割れる", "卵", 2, 1.0),
        ("牛乳", "配送", 2, 1.0),
    ]


def test_summary_verbatims_notables_and_rank_changes() -> None:
    docs = _docs(
        ("2026-09", "d", "牛乳が届かない"),
        ("2026-09", "d", "牛乳の注文"),
        ("2026-10", "d", "卵が割れていて困ります。山田花子です、090-1111-2222"),
        ("2026-10", "d", "卵が割れた"),
        ("2026-10", "d", "牛乳が美味しかった、ありがとう"),
    )
    summary = voc.summarise(docs, "2026-10")
    assert (summary.texts, summary.texts_before, summary.months) == (3, 2, ["2026-09", "2026-10"])
    ranks = {t.display: (t.rank, t.previous_rank, t.previous_texts) for t in summary.top}
    assert ranks["割れる"] == (1, None, 0) and ranks["卵"] == (2, None, 0)
    assert ranks["牛乳"][1:] == (1, 2)  # first last month, in both of its texts
    assert summary.tones == {"compliment": 1, "complaint": 1, "neutral": 1}
    assert [v.text for v in summary.compliments] == ["牛乳が美味しかった、ありがとう"]
    assert summary.complaints[0].text == "卵が割れていて困ります。[NAME]です、[PHONE]"
    assert summary.verbatims[0].topic == "割れる"
    texts = [v.text for v in summary.verbatims]
    assert len(texts) == len(set(texts))  # each text used once
    assert all("山田" not in v.text and "090" not in v.text for v in summary.verbatims)
    narrowed = voc.summarise(docs, "2026-10", category="other")
    assert narrowed.texts == 0 and narrowed.top == []


def test_even_sample() -> None:
    assert voc.even_sample(list(range(10)), 4) == [0, 2, 5, 7]
    assert voc.even_sample([1, 2], 5) == [1, 2]


def test_months() -> None:
    assert voc.parse_month("2026-10") == "2026-10"
    for bad in ("2026-13", "2026/10", "26-10", "", None, "2026-1x"):
        with pytest.raises(InvalidInputError, match="month"):
            voc.parse_month(bad)
    assert voc.shift_month("2026-01", -1) == "2025-12"
    assert voc.shift_month("2026-11", 3) == "2027-02"


def test_the_same_texts_give_the_same_summary() -> None:
    rows = [("2026-10", "d", "配送が遅れた"), ("2026-10", "d", "配送と卵"), ("2026-09", "d", "卵")]
    first = voc.summarise(_docs(*rows), "2026-10")
    again = voc.summarise(_docs(*reversed(rows)), "2026-10")
    assert first.top == again.top and first.pairs == again.pairs


# ---------------------------------------------------------------------------- kinsoku


def test_line_breaking_keeps_punctuation_off_the_line_start() -> None:
    # Greedy at 4 would start line 2 with 。; push-out moves え down with it.
    assert break_lines("あいうえ。かきくけこ", 4, len) == ["あいう", "え。かき", "くけこ"]
    assert break_lines("あいう「かきくけこ」です", 4, len) == [
        "あいう",
        "「かきく",
        "けこ」で",
        "す",
    ]
    assert break_lines("the quick brown fox", 10, len) == ["the quick", "brown fox"]
    assert break_lines("abcdefghijkl", 5, len) == ["abcde", "fghij", "kl"]
    assert break_lines("一行目\n二行目", 10, len) == ["一行目", "二行目"]


def test_line_breaking_rules_hold_for_every_width() -> None:
    text = "配送が遅れました（本当に）。ありがとう、ございます！「卵」が割れていた…ショック。"
    for width in range(3, 20):
        lines = break_lines(text, width, len)
        assert "".join(lines) == text
        assert all(len(line) <= width for line in lines)
        assert all(line[0] not in NO_LINE_START for line in lines[1:])
        assert all(line[-1] not in NO_LINE_END for line in lines[:-1])


# ---------------------------------------------------------------------------- real data


def test_banking77_categories_have_their_own_top_terms() -> None:
    """English calibration on BANKING77 (../shared/data), read only when present."""
    source = DATA / "banking77_en" / "train.csv"
    if not source.exists():  # the data is never committed; CI has a copy beside the repo
        pytest.fail(f"{source} is missing")
    import csv

    with source.open(encoding="utf-8") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if r["category"] in ("card_arrival", "lost_or_stolen_phone")
        ]
    texts = [
        voc.VocText(f"b{i}", "2026-10", r["category"], "chat", mask(r["text"]))
        for i, r in enumerate(rows)
    ]
    tops = voc.by_category(voc.documents(texts), 3)
    assert "card" in [t.display for t in tops["card_arrival"]]
    assert "phone" in [t.display for t in tops["lost_or_stolen_phone"]]
