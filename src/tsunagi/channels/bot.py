"""The FAQ bot's decisions: when to answer from the public knowledge base, when to hand
the customer to a person, and what it says. Pure: the actions (``actions/bot.py``) do the
search and the writes, and the voice IVR can call the same rules.

The bot never writes an answer of its own. It *quotes* the start of a published public
article (:func:`quote`) and names the article; everything else it says is one of the
fixed lines of :data:`TEXTS`. It hands over (``reason`` in the hand-over event):

* ``asked`` — the customer asks for a person (:func:`wants_human`) or presses the
  widget's button;
* ``no_answer`` — no public article in the conversation's language matches at all, or
  the customer says the last answer did not help (:func:`says_not_helped`);
* ``low_confidence`` — the best match's :func:`confidence` is under the queue's
  ``min_confidence`` (calibrated on a held-out split, ``benchmarks/bot/RESULTS.md``);
* ``turn_limit`` — it has already answered ``max_turns`` questions in this conversation.

Per queue, ``queue.config["chat"]``: ``bot`` (default false: human chat only, as some
centres insist), ``bot_min_confidence`` and ``bot_max_turns``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tsunagi.domain.errors import InvalidInputError
from tsunagi.knowledge.ranking import idf

# Calibrated on held-out splits (benchmarks/bot/bench_bot.py, RESULTS.md): the lowest
# threshold with ≥ 0.9 precision of answered questions on the calibration half of the
# Japanese + English sets was 0.67–0.94 over five seeds (mean 0.77); rounded to 0.75.
DEFAULT_MIN_CONFIDENCE = 0.75
DEFAULT_MAX_TURNS = 3
MAX_TURNS_LIMIT = 20
QUOTE_MAX = 400
VOICE_QUOTE_MAX = 160
LANGS = ("ja", "en")
REASONS = ("asked", "low_confidence", "no_answer", "turn_limit")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class BotSettings:
    enabled: bool = False
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_turns: int = DEFAULT_MAX_TURNS


def check_settings(enabled: object, min_confidence: object, max_turns: object) -> BotSettings:
    """Settings from untrusted values; the first bad one raises naming it."""
    if not isinstance(enabled, bool):
        raise InvalidInputError("bot must be true or false")
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, int | float):
        raise InvalidInputError("min_confidence must be a number")
    if not 0.0 <= float(min_confidence) <= 5.0:
        raise InvalidInputError("min_confidence must be between 0 and 5")
    if isinstance(max_turns, bool) or not isinstance(max_turns, int):
        raise InvalidInputError("max_turns must be a whole number")
    if not 1 <= max_turns <= MAX_TURNS_LIMIT:
        raise InvalidInputError(f"max_turns must be between 1 and {MAX_TURNS_LIMIT}")
    return BotSettings(enabled, float(min_confidence), max_turns)


def bot_settings(queue_config: Mapping[str, Any] | None) -> BotSettings:
    """The bot settings of a queue's ``config`` (defaults when absent: no bot)."""
    chat = (queue_config or {}).get("chat") or {}
    if not isinstance(chat, Mapping):
        raise InvalidInputError("queue chat settings must be an object")
    return check_settings(
        chat.get("bot", False),
        chat.get("bot_min_confidence", DEFAULT_MIN_CONFIDENCE),
        chat.get("bot_max_turns", DEFAULT_MAX_TURNS),
    )


def bot_enabled(queue_config: Mapping[str, Any] | None) -> bool:
    """Whether chats of the queue start with the bot (false unless switched on)."""
    return bot_settings(queue_config).enabled


def with_bot_settings(
    queue_config: Mapping[str, Any] | None, settings: BotSettings
) -> dict[str, Any]:
    """A copy of ``queue_config`` with these bot settings (other chat keys kept)."""
    config = dict(queue_config or {})
    chat = dict(config.get("chat") or {})
    chat.update(
        bot=settings.enabled,
        bot_min_confidence=settings.min_confidence,
        bot_max_turns=settings.max_turns,
    )
    config["chat"] = chat
    return config


# ----------------------------------------------------------------------- what they say

_PUNCT = re.compile(r"[\s、。,.!?！？・…〜~「」『』()（）\"'`]+")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _bare(text: str) -> str:
    """Without spaces and punctuation: for whole-message matching."""
    return _PUNCT.sub("", _norm(text))


_HUMAN_JA = (
    "オペレーター",
    "オペレータ",
    "担当者",
    "人と話",
    "人間と話",
    "人に代わ",
    "人に繋",
    "人につな",
    "有人",
    "スタッフと話",
    "係の人",
    "電話で話",
)
_HUMAN_EN = re.compile(
    r"\b(agent|human|operator|representative|real person|a person|someone real|"
    r"live (chat|person)|talk to (someone|a person|somebody)|speak to (someone|somebody))\b"
)


def wants_human(text: str) -> bool:
    """The customer asks for a person (「オペレーター」「人と話したい」「担当者」, "agent",
    "human", "operator", …) anywhere in the message."""
    norm = _norm(text)
    return any(word in norm for word in _HUMAN_JA) or bool(_HUMAN_EN.search(norm))


_NOT_HELPED_ANYWHERE = ("解決しない", "解決しません", "解決していません", "解決できない",
                        "役に立たない", "役に立ちません", "参考にならない",
                        "didn't help", "did not help", "doesn't help", "does not help",
                        "not helpful", "didn't answer", "did not answer", "not what i")  # fmt: skip
_NOT_HELPED_WHOLE = frozenset(
    {
        "違う", "違います", "ちがう", "ちがいます", "違うよ", "違うんだけど", "いいえ",
        "いや", "だめ", "ダメ", "わからない", "分からない", "わかりません", "分かりません",
        "no", "nope", "wrong", "notreally", "nothanks", "unhelpful", "thatswrong",
    }
)  # fmt: skip


def says_not_helped(text: str) -> bool:
    """The customer says the answer did not help: 「解決しない」 anywhere, or a reply that
    is only 「違う」, 「いいえ」, "no", "wrong"… (「違う商品が届いた」 is a new question)."""
    norm = _norm(text)
    return any(p in norm for p in _NOT_HELPED_ANYWHERE) or _bare(text) in _NOT_HELPED_WHOLE


_THANKS = ("ありがとう", "解決しました", "わかりました", "分かりました", "了解", "助かりました",
           "thank", "thanks", "that helped", "solved", "got it")  # fmt: skip


def says_thanks(text: str) -> bool:
    """A short message that closes the question (「ありがとう」, "thanks", "solved")."""
    return len(_bare(text)) <= 20 and any(word in _norm(text) for word in _THANKS)


_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def text_lang(text: str) -> str:
    """``ja`` when the text has any kana or kanji, else ``en``: the language of an
    article (articles carry no language of their own yet)."""
    return "ja" if _JAPANESE.search(text) else "en"


def lang_of(lang: str | None) -> str:
    """A conversation's language among those the bot speaks (default Japanese)."""
    base = (lang or "ja").split("-")[0].lower()
    return base if base in LANGS else "ja"


# --------------------------------------------------------------------------- scoring


def confidence(score: float, runner_up: float | None, query_idfs: Iterable[float]) -> float:
    """How sure the bot is that the best article answers the question::

        confidence = score / Σ idf(t ∈ query) · √((score − runner_up) / score)

    The first factor is how well the article covers the question: its BM25 score over
    the sum of the idf of every distinct query term (a term no article has counts with
    the idf of an unseen term), 1.0 being what an article of average length with each
    query term once would score. The second is how clearly it beats the next public
    article (1 when there is none): a question whose answer is missing tends to match
    several articles weakly and alike. Of the measures compared in
    ``benchmarks/bot/bench_bot.py`` this one separated right from wrong answers best
    across both languages, and its calibrated threshold is nearly the same for Japanese
    and English (ADR 0750)."""
    total = sum(query_idfs)
    if total <= 0 or score <= 0:
        return 0.0
    margin = 1.0 if runner_up is None else max(0.0, (score - runner_up) / score)
    return score / total * math.sqrt(margin)


def query_idfs(
    document_frequencies: Mapping[str, int], terms: Iterable[str], count: int
) -> list[float]:
    """The idf of each distinct query term in an index of ``count`` articles."""
    return [idf(document_frequencies.get(term, 0), count) for term in dict.fromkeys(terms)]


# -------------------------------------------------------------------------- deciding


@dataclass(frozen=True, slots=True)
class Candidate:
    """The best public article in the conversation's language for a question."""

    article_id: UUID
    title: str
    body: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # answer | hand_over | thanks
    reason: str | None = None  # for hand_over: one of REASONS
    candidate: Candidate | None = None


def decide_before_search(
    text: str, *, answered_turns: int, last_was_answer: bool, settings: BotSettings
) -> Decision | None:
    """What the message alone decides (None: search the knowledge base)."""
    if wants_human(text):
        return Decision("hand_over", "asked")
    if last_was_answer and says_not_helped(text):
        return Decision("hand_over", "no_answer")
    if last_was_answer and says_thanks(text):
        return Decision("thanks")
    if answered_turns >= settings.max_turns:
        return Decision("hand_over", "turn_limit")
    return None


def decide_on_candidate(candidate: Candidate | None, settings: BotSettings) -> Decision:
    if candidate is None:
        return Decision("hand_over", "no_answer")
    if candidate.confidence < settings.min_confidence:
        return Decision("hand_over", "low_confidence", candidate)
    return Decision("answer", None, candidate)


def decide(
    text: str,
    candidate: Candidate | None,
    *,
    answered_turns: int = 0,
    last_was_answer: bool = False,
    settings: BotSettings | None = None,
) -> Decision:
    """The whole decision for one customer message (the search already done)."""
    settings = settings or BotSettings(enabled=True)
    first = decide_before_search(
        text, answered_turns=answered_turns, last_was_answer=last_was_answer, settings=settings
    )
    return first or decide_on_candidate(candidate, settings)


# ----------------------------------------------------------------------------- texts


@dataclass(frozen=True, slots=True)
class BotTexts:
    greeting: str
    answer: str  # {title} {quote}
    handing_over: str
    closed: str
    thanks: str
    voice_answer: str  # {quote}


TEXTS: dict[str, BotTexts] = {
    "ja": BotTexts(
        greeting=(
            "こんにちは。よくあるご質問に自動でお答えします。ご質問を入力してください。"
            "担当者とのチャットをご希望の場合は「オペレーター」と入力するか、"
            "「担当者と話す」ボタンを押してください。"
        ),
        answer=(
            "よくあるご質問「{title}」より:\n{quote}\n\n"
            "詳しくは記事「{title}」をご覧ください。"
            "解決しない場合は「解決しない」または「オペレーター」と入力してください。"
        ),
        handing_over=(
            "担当者におつなぎします。これまでの会話は担当者に引き継がれます。少々お待ちください。"
        ),
        closed=(
            "申し訳ありません。ただいま担当者が対応できません。受付時間内に改めてお問い合わせください。"
        ),
        thanks="お役に立ててよかったです。ほかにご質問があれば入力してください。",
        voice_answer="よくあるご質問からご案内します。{quote}",
    ),
    "en": BotTexts(
        greeting=(
            "Hello. I answer frequently asked questions automatically: please type your"
            ' question. To chat with a person, type "agent" or press "Talk to a person".'
        ),
        answer=(
            'From our FAQ "{title}":\n{quote}\n\n'
            'See the article "{title}" for more. If this does not help, type "no" or'
            ' "agent".'
        ),
        handing_over=(
            "I am passing you to a person. They will see our conversation so far. Please wait"
            " a moment."
        ),
        closed="Sorry, nobody can take your chat right now. Please contact us again during"
        " opening hours.",
        thanks="Glad it helped. Type another question if you have one.",
        voice_answer="From our frequently asked questions: {quote}",
    ),
}


def texts(lang: str | None) -> BotTexts:
    return TEXTS[lang_of(lang)]


_SENTENCE_END = re.compile(r"(?<=[。!?！？])|(?<=[.!?])\s")


def quote(body: str, limit: int = QUOTE_MAX) -> str:
    """The start of an article, verbatim, whole sentences within ``limit`` characters
    (a single over-long sentence is cut with "…"). Lines are kept, runs of spaces and
    blank lines are not."""
    lines = [" ".join(line.split()) for line in body.strip().splitlines()]
    flat = "\n".join(line for line in lines if line)
    if len(flat) <= limit:
        return flat
    head = flat[:limit]
    cuts = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() > 0]
    if cuts and cuts[-1] >= limit // 4:
        return head[: cuts[-1]].rstrip()
    return head[: limit - 1].rstrip() + "…"


def answer_text(lang: str | None, candidate: Candidate) -> str:
    return texts(lang).answer.format(title=candidate.title, quote=quote(candidate.body))


def voice_answer_text(lang: str | None, candidate: Candidate) -> str:
    """What the IVR would speak: a shorter quote, no instructions to type."""
    return texts(lang).voice_answer.format(quote=quote(candidate.body, VOICE_QUOTE_MAX))


def answer_flags(candidate: Candidate) -> tuple[str, ...]:
    """Flags of an answer message: the widget links ``article:<id>``."""
    return ("bot_answer", f"article:{candidate.article_id}")
