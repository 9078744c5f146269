"""Text into search terms, the same way for articles and for queries.

Japanese has no spaces, and a 2-character word such as 配送 is shorter than a trigram, so
Japanese text becomes *character bigrams* plus the *normalised base forms* of its content
words from SudachiPy (来ない → 来る, 届きません → 届く, 引越し → 引っ越し). Bigrams find
words the analyser splits differently or does not know; base forms find inflected and
variantly spelt words that share no bigram. Latin-script words are case-folded and
stemmed with the Snowball English stemmer (deliveries → deliveri).

Normalisation first: NFKC (full-width Latin and half-width katakana become ordinary
forms), case folding, and katakana folded to hiragana in bigrams so スマホ and すまほ meet.

Bigrams made only of hiragana (ない, ます, して) are dropped: they are grammar, present in
nearly every article, and would make every query read most of the index; the base forms
keep the content words written in hiragana. Terms are plain strings; base forms and
Latin words carry the prefix ``w:`` so a word and a bigram that happen to be spelt alike
keep separate statistics.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Protocol

import snowballstemmer  # type: ignore[import-untyped]
from sudachipy import Dictionary, SplitMode  # type: ignore[import-untyped]

WORD_PREFIX = "w:"
MAX_TERM_LENGTH = 64

# Parts of speech whose words are content (everything else — particles, auxiliaries,
# symbols, blanks — is grammar and punctuation).
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "代名詞", "接頭辞", "連体詞"})
_DROP_WORDS = frozenset(
    {"する", "為る", "ある", "有る", "いる", "居る", "なる", "成る", "こと", "事"}
)
_EN_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)

# Runs of one script: Japanese (kanji, kana, iteration and prolonged-sound marks) or
# Latin letters and digits (words keep inner apostrophes, dots and hyphens: e.g., co-op).
_JAPANESE = r"[\u3041-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u3006\u30fc]"
_RUN = re.compile(
    rf"(?P<ja>{_JAPANESE}+)|(?P<latin>[0-9a-z\u00c0-\u024f]+(?:['.\-][0-9a-z\u00c0-\u024f]+)*)"
)
_HIRAGANA = re.compile(r"[\u3041-\u309f\u30fc]+")


class _Morpheme(Protocol):
    def normalized_form(self) -> str: ...
    def part_of_speech(self) -> tuple[str, ...]: ...


def normalize(text: str) -> str:
    """NFKC and case folding: the form every comparison uses."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_kana(text: str) -> str:
    """Katakana to hiragana (ア → あ); the prolonged-sound mark ー stays."""
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def bigrams(run: str) -> Iterator[str]:
    """Overlapping character bigrams of a Japanese run; a 1-character run is its own term.
    Pure-hiragana bigrams are left out (see the module notes)."""
    if len(run) == 1:
        yield fold_kana(run)
        return
    for start in range(len(run) - 1):
        pair = run[start : start + 2]
        if not _HIRAGANA.fullmatch(pair):
            yield fold_kana(pair)


class _Analyser:
    """SudachiPy with the core dictionary, loaded once per process and used per thread
    (a Sudachi tokenizer object is not meant to be shared between threads)."""

    def __init__(self) -> None:
        self._dictionary = Dictionary(dict="core")
        self._local = threading.local()

    def words(self, text: str) -> list[_Morpheme]:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._dictionary.tokenizer(
                mode=SplitMode.A, fields={"pos", "normalized_form"}
            )
            self._local.tokenizer = tokenizer
        return list(tokenizer.tokenize(text))


@lru_cache(maxsize=1)
def _analyser() -> _Analyser:
    return _Analyser()


@lru_cache(maxsize=1)
def _stemmer_factory() -> object:
    return snowballstemmer.stemmer("english")


_stem_lock = threading.Lock()


@lru_cache(maxsize=65_536)
def _stem(word: str) -> str:
    stemmer = _stemmer_factory()
    with _stem_lock:  # snowball stemmers keep state between calls
        stemmed: str = stemmer.stemWord(word)  # type: ignore[attr-defined]
    return stemmed


def base_forms(run: str) -> Iterator[str]:
    """Normalised base forms of the content words of a Japanese run."""
    for morpheme in _analyser().words(run):
        if morpheme.part_of_speech()[0] not in _CONTENT_POS:
            continue
        form = fold_kana(normalize(morpheme.normalized_form()))
        if form and form not in _DROP_WORDS and not (len(form) == 1 and _HIRAGANA.fullmatch(form)):
            yield WORD_PREFIX + form


def terms(text: str) -> list[str]:
    """Every term of ``text`` in order, repeats kept (their counts are term frequencies)."""
    found: list[str] = []
    for match in _RUN.finditer(normalize(text)):
        japanese = match.group("ja")
        if japanese is not None:
            found.extend(bigrams(japanese))
            found.extend(base_forms(japanese))
            continue
        word = match.group("latin")
        if word in _EN_STOP:
            continue
        stem = word if word[0].isdigit() else _stem(word.replace("'", ""))
        found.append(WORD_PREFIX + stem)
    return [term[:MAX_TERM_LENGTH] for term in found]


def term_counts(parts: Iterable[tuple[str, int]]) -> Counter[str]:
    """Weighted term frequencies of several fields: ``[(title, 2), (body, 1)]`` counts each
    title term twice, a simple field boost that BM25 reads as term frequency."""
    counts: Counter[str] = Counter()
    for text, weight in parts:
        for term in terms(text):
            counts[term] += weight
    return counts


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in order of first appearance."""
    return list(dict.fromkeys(terms(query)))
