"""VOC text: personal data masked, then words and phrases for mining (issue 6).

Masking comes first and everything downstream (terms, phrases, verbatims) only ever sees
the masked text. Two passes:

* **known values** — the customer's own name, phone numbers, e-mail addresses, member and
  contract numbers and address, when the text belongs to a known customer (or the
  conversation recorded a visitor name or an address). Found with separators and spaces
  tolerated (``090-1234-5678`` matches ``09012345678``), a name also by each of its parts.
* **patterns** — e-mail addresses, Japanese and international phone numbers, postal codes
  and addresses (prefecture or city followed by block numbers, English street addresses),
  labelled member/contract/account numbers, any other run of six or more digits, and
  people's names: words SudachiPy tags as personal names (固有名詞・人名), a word
  followed by 様/さん, and English names after Mr/Ms/Mrs/Dr or "my name is".

Masks are plain placeholders (``[NAME]``, ``[PHONE]``, ``[EMAIL]``, ``[ADDRESS]``,
``[NUMBER]``) that the tokeniser skips.

Words: Japanese runs go through SudachiPy in split mode C (longest units, so 組合員番号
stays one word where the dictionary has it) and keep nouns, verbs, adjectives and
adjectival nouns (形状詞) by their normalised base form (届きません → 届く); numbers,
personal names and a stop list are dropped. Latin words are case-folded, stop words
dropped, and counted by their Snowball English stem (deliveries, delivery → deliveri), shown
by their most frequent spelling. Phrases are runs of two or more nouns (料金 + 明細 →
料金明細) and, in English, two adjacent content words.

Tone: a small lexicon of compliment and complaint cues (ありがとう, 助かる, 丁寧 / 遅い,
困る, 破損; thanks / broken, late) read over every word, a cue negated by ない/ず or
not/never flipped (美味しくない is a complaint; 届かない too: a few neutral verbs count as
complaints when negated). Deterministic and explainable, not a sentiment model.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import snowballstemmer  # type: ignore[import-untyped]
from sudachipy import Dictionary, SplitMode  # type: ignore[import-untyped]

NAME, PHONE, EMAIL, ADDRESS, NUMBER = "[NAME]", "[PHONE]", "[EMAIL]", "[ADDRESS]", "[NUMBER]"
MASKS = (NAME, PHONE, EMAIL, ADDRESS, NUMBER)
KNOWN_KINDS = ("name", "phone", "email", "member_no", "contract_no", "address")

_SEPARATORS = r"[\s\-‐‑–—−ー()（）.]*"
_JA_CHAR = r"\u3041-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u3006"
_KANJI = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u30f6\u30b1"

_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", re.ASCII)
_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+\d{1,3}[\s\-]?\(?\d{1,4}\)?|\(?0\d{1,4}\)?)"
    r"(?:[\s\-‐−ー()]?\d{1,4}){1,2}[\s\-‐−ー()]?\d{3,4}(?!\d)"
)
_POSTAL_RE = re.compile(r"〒\s*\d{3}[\-‐−ー]?\d{4}|(?<![\d\-])\d{3}[\-‐−ー]\d{4}(?![\d\-])")
_BLOCK = r"\d+(?:(?:丁目|番地|番|号|[\-‐−ー]|の(?=\d))\d*){0,4}(?:号室|号)?"
_ADDRESS_RES = (
    # A prefecture, then place names, then block numbers: 東京都港区芝公園4-2-8.
    re.compile(
        rf"(?:北海道|東京都|(?:京都|大阪)府|[{_KANJI}]{{2,3}}県)[{_KANJI}ヶケノ]*"
        rf"(?:{_BLOCK})?"
    ),
    # A city, ward, town or village with block numbers: 港区芝公園4-2-8, 横浜市中区1-2.
    re.compile(rf"[{_KANJI}]{{1,6}}[市区町村][{_KANJI}ヶケノ]{{0,8}}{_BLOCK}"),
    re.compile(
        r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}"
        r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct)\b\.?"
    ),
)
_LABELLED_NUMBER_RE = re.compile(
    r"(?P<label>組合員番号|会員番号|お客様番号|顧客番号|契約番号|注文番号|口座番号|"
    r"(?:member(?:ship)?|customer|account|contract|order)\s*(?:no\.?|number|#))"
    r"(?P<glue>\s*(?:は|が|:|：|#)?\s*)(?P<value>[A-Za-z]*\d[\dA-Za-z\-]{2,})",
    re.IGNORECASE,
)
_LONG_NUMBER_RE = re.compile(r"(?<![\w\]])\d(?:[\-\s]?\d){5,}(?!\w)")
_HONORIFIC_RE = re.compile(rf"[{_KANJI}ァ-ヶー]{{1,6}}(?=(?:様|さま|さん|氏)(?![{_KANJI}]))")
_EN_NAME_RE = re.compile(
    r"\b(?:(?P<title>Mr|Mrs|Ms|Miss|Dr)\.?\s+|(?P<intro>[Mm]y name is|[Tt]his is)\s+)"
    r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
)
_MASK_RE = re.compile(r"\[(?:NAME|PHONE|EMAIL|ADDRESS|NUMBER)\]")

# ------------------------------------------------------------------------ analyser


class _Morpheme(Protocol):
    def surface(self) -> str: ...
    def normalized_form(self) -> str: ...
    def part_of_speech(self) -> tuple[str, ...]: ...


class _Sudachi:
    """SudachiPy (core dictionary) in split mode C, one tokenizer per thread."""

    def __init__(self) -> None:
        self._dictionary = Dictionary(dict="core")
        self._local = threading.local()

    def tokenize(self, text: str) -> list[_Morpheme]:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._dictionary.tokenizer(
                mode=SplitMode.C, fields={"pos", "normalized_form"}
            )
            self._local.tokenizer = tokenizer
        return list(tokenizer.tokenize(text))


@lru_cache(maxsize=1)
def _sudachi() -> _Sudachi:
    return _Sudachi()


_stem_guard = threading.Lock()


@lru_cache(maxsize=1)
def _english() -> object:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=32_768)
def stem(word: str) -> str:
    """The Snowball English stem of a case-folded word."""
    with _stem_guard:  # a snowball stemmer keeps state between calls
        result: str = _english().stemWord(word)  # type: ignore[attr-defined]
    return result


# --------------------------------------------------------------------------- masking


def normalize(text: str) -> str:
    """NFKC: full-width digits and Latin become ASCII, half-width katakana full-width."""
    return unicodedata.normalize("NFKC", text)


def _spaced(value: str) -> str:
    """A regex for ``value`` with separators tolerated between its characters."""
    return _SEPARATORS.join(re.escape(ch) for ch in value)


def _known_pattern(kind: str, value: str) -> list[str]:
    text = normalize(value).strip()
    if not text:
        return []
    if kind == "phone":
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) < 6:
            return []
        variants = {digits}
        if text.startswith("+81") or (digits.startswith("81") and len(digits) > 10):
            variants.add("0" + digits[2:])
        if digits.startswith("0"):
            variants.add("81" + digits[1:])
        return [r"\+?" + _spaced(v) for v in sorted(variants)]
    if kind == "email":
        return [re.escape(text)]
    if kind == "name":
        parts = [p for p in re.split(r"[\s・,]+", text) if len(p) >= 2]
        found = [_spaced("".join(parts))] if len(parts) > 1 else []
        return found + [re.escape(p) for p in parts] + ([re.escape(text)] if not parts else [])
    if kind == "address":
        pieces = [p for p in re.split(r"[\s,、]+", text) if len(p) >= 3]
        return [_spaced(text.replace(" ", ""))] + [re.escape(p) for p in pieces]
    compact = re.sub(r"[\s\-‐‑–—−ー]", "", text)
    return [_spaced(compact)] if len(compact) >= 3 else []


_KNOWN_MASK = {
    "name": NAME,
    "phone": PHONE,
    "email": EMAIL,
    "member_no": NUMBER,
    "contract_no": NUMBER,
    "address": ADDRESS,
}


def mask_known(text: str, known: Iterable[tuple[str, str]]) -> str:
    """Replace the customer's own values (``(kind, value)``, kinds of ``KNOWN_KINDS``)."""
    patterns: list[tuple[int, str, str]] = []
    for kind, value in known:
        if kind not in _KNOWN_MASK or not value:
            continue
        for pattern in _known_pattern(kind, value):
            patterns.append((len(pattern), pattern, _KNOWN_MASK[kind]))
    # Longest first, so a full name is one mask rather than two.
    for _length, pattern, mask in sorted(patterns, key=lambda item: (-item[0], item[1])):
        text = re.sub(pattern, mask, text, flags=re.IGNORECASE)
    return text


def _mask_person_names(text: str) -> str:
    """Words SudachiPy tags as personal names, in the Japanese runs of ``text``."""
    out: list[str] = []
    last = 0
    for run in re.finditer(rf"[{_JA_CHAR}ー]+", text):
        out.append(text[last : run.start()])
        previous_name = False
        for morpheme in _sudachi().tokenize(run.group()):
            pos = morpheme.part_of_speech()
            if pos[0] == "名詞" and pos[1] == "固有名詞" and pos[2] == "人名":
                if not previous_name:
                    out.append(NAME)
                previous_name = True
                continue
            previous_name = False
            out.append(morpheme.surface())
        last = run.end()
    out.append(text[last:])
    return "".join(out)


def mask_patterns(text: str) -> str:
    """Mask personal data found by its shape (see the module notes)."""
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _LABELLED_NUMBER_RE.sub(lambda m: f"{m['label']}{m['glue']}{NUMBER}", text)
    text = _PHONE_RE.sub(_phone_or_keep, text)
    text = _POSTAL_RE.sub(ADDRESS, text)
    for pattern in _ADDRESS_RES:
        text = pattern.sub(ADDRESS, text)
    text = _LONG_NUMBER_RE.sub(NUMBER, text)
    text = _EN_NAME_RE.sub(
        lambda m: f"{m['title'] or ''}{' ' if m['title'] else m['intro'] + ' '}{NAME}", text
    )
    text = _HONORIFIC_RE.sub(NAME, text)
    text = _mask_person_names(text)
    return re.sub(r"(?:\[NAME\]\s*){2,}", NAME, text)


def _phone_or_keep(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    return PHONE if 10 <= digits <= 15 else match.group()


def mask(text: str, known: Iterable[tuple[str, str]] = ()) -> str:
    """The text as it may leave the mining job: NFKC, known values, then patterns."""
    return mask_patterns(mask_known(normalize(text), known))


# ------------------------------------------------------------------------------ words

CONTENT_POS = {"名詞": "noun", "動詞": "verb", "形容詞": "adjective", "形状詞": "adjective"}
_SKIP_NOUNS = frozenset({"数詞", "助数詞"})
JA_STOP = frozenset(
    [
        "する",
        "為る",
        "ある",
        "有る",
        "いる",
        "居る",
        "なる",
        "成る",
        "できる",
        "出来る",
        "為さる",
        "思う",
        "言う",
        "云う",
        "頂く",
        "戴く",
        "下さる",
        "御座る",
        "申す",
        "おる",
        "居る",
        "致す",
        "貰う",
        "呉れる",
        "遣る",
        "見る",
        "来る",
        "行く",
        "行う",
        "こと",
        "事",
        "もの",
        "物",
        "ため",
        "為",
        "よう",
        "様",
        "方",
        "件",
        "際",
        "時",
        "所",
        "中",
        "等",
        "以上",
        "今回",
        "前回",
        "先日",
        "今日",
        "本日",
        "昨日",
        "自分",
        "皆様",
        "皆さん",
        "お客様",
        "確認",
        "連絡",
        "お願い",
        "願い",
        "願う",
        "つく",
        "問い合わせ",
        "問合せ",
        "御",
        "旨",
        "感じ",
        "形",
        "場合",
        "状態",
        "内容",
        "方法",
        "他",
        "程",
        "後",
        "前",
        "上",
        "下",
        "的",
        "さん",
        "様",
        "そう",
        "これ",
        "それ",
        "あれ",
    ]
)
EN_STOP = frozenset(
    [
        "a",
        "about",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don't",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "him",
        "his",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "into",
        "is",
        "it",
        "it's",
        "its",
        "just",
        "me",
        "more",
        "my",
        "no",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "please",
        "she",
        "so",
        "some",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yes",
        "hi",
        "hello",
        "dear",
        "regards",
    ]
)

_LATIN_RE = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:['’][a-z]+)?")
_SEGMENT_RE = re.compile(
    rf"(?P<mask>\[(?:NAME|PHONE|EMAIL|ADDRESS|NUMBER)\])|(?P<ja>[{_JA_CHAR}ー]+)"
    r"|(?P<latin>[0-9A-Za-z\u00c0-\u024f]+(?:['’][A-Za-z]+)?)|(?P<stop>[.!?。！？\n]+)"
)


@dataclass(frozen=True, slots=True)
class Word:
    key: str  # what is counted: a Japanese normalised form or an English stem
    display: str  # what is shown
    pos: str  # noun | verb | adjective


@dataclass(slots=True)
class Analysed:
    """One text's words (in order), phrases and tone cues."""

    words: list[Word] = field(default_factory=list)
    phrases: list[Word] = field(default_factory=list)
    praise: int = 0
    complaint: int = 0

    @property
    def tone(self) -> str | None:
        if self.praise > self.complaint:
            return "compliment"
        if self.complaint > self.praise:
            return "complaint"
        return None


_PRAISE_JA = frozenset(
    [
        "有り難う",
        "感謝",
        "助かる",
        "嬉しい",
        "美味しい",
        "丁寧",
        "親切",
        "良い",
        "満足",
        "素晴らしい",
        "便利",
        "安心",
        "喜ぶ",
        "好き",
        "分かり易い",
        "優しい",
        "感動",
        "気持ち良い",
        "最高",
    ]
)
_COMPLAINT_JA = frozenset(
    [
        "苦情",
        "不満",
        "遅い",
        "遅れる",
        "遅延",
        "困る",
        "酷い",
        "怒る",
        "残念",
        "不良",
        "破損",
        "壊れる",
        "汚れる",
        "間違い",
        "間違える",
        "誤配",
        "不便",
        "最悪",
        "不快",
        "失礼",
        "不親切",
        "不愉快",
        "腹立つ",
        "欠品",
        "返金",
        "分かり難い",
        "高い",
        "面倒",
        "不安",
        "傷む",
        "腐る",
    ]
)
# Neutral words that are complaints when negated: 届かない, 繋がらない, 使えない.
_NEGATED_COMPLAINT_JA = frozenset(
    ["届く", "来る", "繋がる", "分かる", "使える", "出来る", "入る", "直る", "出る"]
)
_NEGATION_JA = frozenset({"ない", "無い", "ず", "ぬ", "ん"})

_PRAISE_EN = frozenset(
    [
        "thank",
        "thanks",
        "appreciat",
        "great",
        "excel",
        "help",
        "kind",
        "friend",
        "love",
        "happi",
        "wonder",
        "perfect",
        "quick",
        "easi",
        "pleas",
    ]
)
_COMPLAINT_EN = frozenset(
    [
        "complain",
        "terribl",
        "aw",
        "angri",
        "late",
        "broken",
        "damag",
        "wrong",
        "worst",
        "disappoint",
        "rude",
        "slow",
        "refund",
        "problem",
        "issu",
        "fail",
        "poor",
        "hate",
        "annoy",
    ]
)
_NEGATION_EN = frozenset({"not", "never", "no", "don't", "didn't", "doesn't", "isn't", "wasn't"})


def _tone_ja(analysed: Analysed, morphemes: Sequence[_Morpheme]) -> None:
    for index, morpheme in enumerate(morphemes):
        form = morpheme.normalized_form()
        following = [m.normalized_form() for m in morphemes[index + 1 : index + 4]]
        negated = any(f in _NEGATION_JA for f in following) and morpheme.part_of_speech()[0] in (
            "動詞",
            "形容詞",
            "形状詞",
        )
        if form in _PRAISE_JA:
            if negated:
                analysed.complaint += 1
            else:
                analysed.praise += 1
        elif form in _COMPLAINT_JA or (negated and form in _NEGATED_COMPLAINT_JA):
            analysed.complaint += 1


def _japanese(analysed: Analysed, run: str, *, after_number: bool = False) -> None:
    morphemes = _sudachi().tokenize(run)
    _tone_ja(analysed, morphemes)
    compound: list[_Morpheme] = []

    def close_compound() -> None:
        if len(compound) > 1:
            text = "".join(m.surface() for m in compound)
            analysed.phrases.append(Word(text.casefold(), text, "noun"))
        compound.clear()

    for morpheme in morphemes:
        pos = morpheme.part_of_speech()
        counter, after_number = after_number, pos[1] == "数詞"  # 3個: 個 is a counter
        kind = CONTENT_POS.get(pos[0])
        form = normalize(morpheme.normalized_form()).casefold()
        keep = (
            kind is not None
            and pos[1] not in _SKIP_NOUNS
            and pos[2] != "人名"
            and not counter
            and form not in JA_STOP
            and not re.fullmatch(r"[\u3041-\u309f]|[\d\W_]+", form)
        )
        if kind == "noun" and pos[1] not in _SKIP_NOUNS and pos[2] != "人名":
            compound.append(morpheme)
        else:
            close_compound()
        if keep and kind is not None:
            analysed.words.append(Word(form, form, kind))
    close_compound()


def analyse(text: str) -> Analysed:
    """Words, phrases and tone of an already masked text (masks are skipped)."""
    analysed = Analysed()
    previous: Word | None = None  # the last English content word, for bigrams
    negated = False
    number_end = -1  # where the last run of digits ended: 3個 makes 個 a counter
    for match in _SEGMENT_RE.finditer(text):
        if match.group("ja") is not None:
            _japanese(analysed, match.group("ja"), after_number=match.start() == number_end)
            previous = None
            continue
        if (match.group("latin") or "").isdigit():
            number_end = match.end()
        latin = match.group("latin")
        if latin is None:  # a mask or the end of a sentence: phrases do not cross it
            previous, negated = None, False
            continue
        word = latin.casefold().replace("’", "'")
        if word in _NEGATION_EN or word.endswith("n't"):
            negated = True
        if word in EN_STOP or word.isdigit() or len(word) < 2:
            previous = None
            continue
        stemmed = stem(word.replace("'", ""))
        cue_praise = any(stemmed.startswith(c) for c in _PRAISE_EN)
        cue_complaint = any(stemmed.startswith(c) for c in _COMPLAINT_EN)
        if cue_praise:
            analysed.complaint += negated
            analysed.praise += not negated
        elif cue_complaint:
            analysed.complaint += 1
        current = Word(stemmed, word, "word")
        analysed.words.append(current)
        if previous is not None:
            analysed.phrases.append(
                Word(f"{previous.key} {current.key}", f"{previous.display} {word}", "phrase")
            )
        previous = current
    return analysed
