"""The FAQ bot's pure rules: intents, thresholds, turn limit, quoting, settings."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagi.channels.bot import (
    DEFAULT_MIN_CONFIDENCE,
    TEXTS,
    BotSettings,
    Candidate,
    answer_flags,
    answer_text,
    bot_enabled,
    bot_settings,
    confidence,
    decide,
    lang_of,
    query_idfs,
    quote,
    says_not_helped,
    says_thanks,
    text_lang,
    voice_answer_text,
    wants_human,
    with_bot_settings,
)
from tsunagi.domain.errors import InvalidInputError

ON = BotSettings(enabled=True, min_confidence=0.4, max_turns=3)


def candidate(score: float = 0.9, body: str = "配送状況はマイページで確認できます。") -> Candidate:
    return Candidate(uuid.uuid4(), "今日の配送が来ない", body, score)


@pytest.mark.parametrize(
    "text",
    [
        "オペレーターと話したい",
        "人と話したいです",
        "担当者につないで",
        "ｵﾍﾟﾚｰﾀｰ",  # half-width katakana
        "有人チャットに切り替えて",
        "agent please",
        "Can I talk to a HUMAN?",
        "operator",
        "I want to speak to someone",
        "representative",
    ],
)
def test_asking_for_a_person_is_recognised(text: str) -> None:
    assert wants_human(text)
    assert decide(text, candidate(), settings=ON).reason == "asked"


@pytest.mark.parametrize(
    "text", ["配送が来ない", "パスワードを忘れた", "my package is late", "reagent delivery"]
)
def test_ordinary_questions_are_not_a_request_for_a_person(text: str) -> None:
    assert not wants_human(text)


@pytest.mark.parametrize(
    "text", ["解決しない", "それでは解決しません", "違う", "違います。", "No", "nope!", "いいえ",
             "That did not help"],
)  # fmt: skip
def test_not_helped_after_an_answer_hands_over(text: str) -> None:
    assert says_not_helped(text)
    decision = decide(text, candidate(), last_was_answer=True, settings=ON)
    assert (decision.action, decision.reason) == ("hand_over", "no_answer")


def test_a_new_question_with_a_negative_word_is_a_question() -> None:
    assert not says_not_helped("違う商品が届いた")
    assert not says_not_helped("no delivery today, where is it")
    # Before any answer, "no" is not a judgement of an answer: it is searched like any text.
    assert decide("違う", candidate(), last_was_answer=False, settings=ON).action == "answer"


def test_thanks_after_an_answer_is_acknowledged_not_searched() -> None:
    assert says_thanks("ありがとうございました!") and says_thanks("Thanks, solved")
    assert not says_thanks("ありがとう。ところで来週の配送の締切と置き場所の変更方法を教えて")
    assert decide("ありがとう", None, last_was_answer=True, settings=ON).action == "thanks"


def test_thresholds_and_turn_limit() -> None:
    assert decide("配送", None, settings=ON).reason == "no_answer"
    low = decide("配送", candidate(0.39), settings=ON)
    assert (low.action, low.reason) == ("hand_over", "low_confidence")
    ok = decide("配送", candidate(0.4), settings=ON)
    assert ok.action == "answer" and ok.candidate is not None
    assert decide("配送", candidate(), answered_turns=2, settings=ON).action == "answer"
    limited = decide("配送", candidate(), answered_turns=3, settings=ON)
    assert (limited.action, limited.reason) == ("hand_over", "turn_limit")
    # Asking for a person wins over everything.
    assert decide("担当者", candidate(), answered_turns=9, settings=ON).reason == "asked"


def test_confidence_is_coverage_times_the_lead_over_the_next_article() -> None:
    idfs = query_idfs({"a": 1, "b": 9}, ["a", "b", "a", "zz"], 10)
    assert len(idfs) == 3 and idfs[2] > idfs[0] > idfs[1]  # unseen term: the largest idf
    total = sum(idfs)
    assert confidence(total, None, idfs) == pytest.approx(1.0)
    # A runner-up scoring 3/4 of the best leaves √(1/4) of it; a tie leaves nothing.
    assert confidence(total, total * 0.75, idfs) == pytest.approx(0.5)
    assert confidence(total, total, idfs) == 0.0
    assert confidence(1.0, None, []) == 0.0 and confidence(0.0, None, idfs) == 0.0


@given(
    st.floats(min_value=0.01, max_value=50),
    st.floats(min_value=0, max_value=1),
    st.lists(st.floats(min_value=0.01, max_value=10), min_size=1, max_size=8),
)
def test_confidence_grows_with_the_score_and_the_lead(
    score: float, share: float, idfs: list[float]
) -> None:
    alone = confidence(score, None, idfs)
    followed = confidence(score, score * share, idfs)
    assert 0.0 <= followed <= alone
    assert confidence(score * 2, None, idfs) >= alone


@given(st.text(min_size=0, max_size=2000), st.integers(min_value=20, max_value=600))
def test_a_quote_is_verbatim_text_of_the_article_within_the_limit(body: str, limit: int) -> None:
    quoted = quote(body, limit)
    assert len(quoted) <= limit
    flat = "\n".join(" ".join(line.split()) for line in body.strip().splitlines() if line.split())
    assert flat.startswith(quoted.removesuffix("…"))


def test_quote_cuts_at_a_sentence_end() -> None:
    body = "一文目です。" * 10 + "二文目はとても長い" * 50
    assert quote(body, 100) == "一文目です。" * 10
    assert quote("short answer.", 100) == "short answer."
    assert quote("x" * 500, 50) == "x" * 49 + "…"


def test_answers_quote_and_link_the_article_in_the_conversation_language() -> None:
    chosen = candidate()
    text = answer_text("ja", chosen)
    assert "配送状況はマイページで確認できます。" in text and "今日の配送が来ない" in text
    assert answer_flags(chosen) == ("bot_answer", f"article:{chosen.article_id}")
    assert "From our FAQ" in answer_text("en-US", chosen)
    assert "配送状況" in voice_answer_text("ja", chosen)
    assert lang_of("fr") == "ja" and lang_of("EN") == "en" and set(TEXTS) == {"ja", "en"}
    assert text_lang("I forgot my password") == "en" and text_lang("パスワード") == "ja"


def test_queue_settings_default_to_human_chat_only() -> None:
    assert not bot_enabled({}) and not bot_enabled(None) and not bot_enabled({"chat": {}})
    assert bot_enabled({"chat": {"bot": True}})
    assert bot_settings({}).min_confidence == DEFAULT_MIN_CONFIDENCE
    config = with_bot_settings(
        {"routing": {"x": 1}, "chat": {"widget": "blue"}}, BotSettings(True, 0.5, 4)
    )
    assert config == {
        "routing": {"x": 1},
        "chat": {"widget": "blue", "bot": True, "bot_min_confidence": 0.5, "bot_max_turns": 4},
    }
    assert bot_settings(config) == BotSettings(True, 0.5, 4)


@pytest.mark.parametrize(
    "chat",
    [
        {"bot": "yes"},
        {"bot": True, "bot_min_confidence": -1},
        {"bot": True, "bot_min_confidence": "high"},
        {"bot": True, "bot_max_turns": 0},
        {"bot": True, "bot_max_turns": 2.5},
        {"bot": True, "bot_max_turns": True},
    ],
)
def test_bad_settings_are_refused(chat: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        bot_settings({"chat": chat})
