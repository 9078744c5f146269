"""VOC mining: what customers talk about, by category and month (issue 6).

Input: masked texts (wrap-up notes, chat, email and SMS messages of customers; see
:mod:`tsunagi.figures.voc_text` for masking and words), each with its tenant-local month
and its contact's category. Everything here is a pure function of those texts, so the
same texts give the same report, word for word.

* **Counts are per text**: a term's ``texts`` is how many texts mention it (a customer
  who writes 配送 five times is one voice); ``count`` is every occurrence. Top lists are
  ordered by texts, then count, then the term.
* **Rising topics** compare the share of texts that mention a term this month with the
  previous months: Dunning's log-likelihood ratio G² on the 2×2 table (mentions / not,
  this month / before), kept when the share went up, the term has at least
  ``min_texts`` texts this month and G² ≥ ``min_g2`` (3.84: the 5 % point of χ² with one
  degree of freedom, so a rise is unlikely to be chance), ordered by G². ``ratio`` is
  the smoothed rate ratio ((a+½)/(n+1)) ÷ ((b+½)/(m+1)), shown beside it.
* **Co-occurrence**: pointwise mutual information of two terms over texts,
  log₂(n·both ÷ (a·b)), for pairs in at least ``min_texts`` texts among the most frequent
  terms; ordered by PMI, then texts.
* **Verbatims**: for each top topic the text mentioning it whose terms are the most
  typical of the month (the mean share of texts of its terms), customers' own words
  before notes, each text used once, cut to ``max_chars``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import TypeVar

from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.voc_text import Analysed, analyse

SOURCES = ("note", "chat", "email", "sms", "survey")
T = TypeVar("T")
UNCATEGORISED = ""


def parse_month(text: str | None) -> str:
    """``YYYY-MM`` checked; anything else is an input error naming the field."""
    try:
        if text is None or len(text) != 7 or text[4] != "-":
            raise ValueError(text)
        date(int(text[:4]), int(text[5:]), 1)
    except ValueError as error:
        raise InvalidInputError("month must be a month written YYYY-MM") from error
    return text


def shift_month(month: str, delta: int) -> str:
    """``month`` moved by ``delta`` months (negative: earlier)."""
    index = int(month[:4]) * 12 + int(month[5:]) - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:]), 1)


def even_sample(items: Sequence[T], cap: int) -> list[T]:
    """At most ``cap`` of ``items``, evenly spaced (all of them when there are few)."""
    if len(items) <= cap:
        return list(items)
    return [items[index * len(items) // cap] for index in range(cap)]


@dataclass(frozen=True, slots=True)
class VocText:
    """One masked text of one month."""

    key: str  # stable id (message or contact id): ties are broken by it
    month: str  # YYYY-MM, tenant-local
    category: str  # the contact's wrap-up category code, "" when none
    source: str  # note | chat | email | sms | survey
    text: str  # already masked


@dataclass(slots=True)
class Doc:
    text: VocText
    analysed: Analysed
    terms: frozenset[str]
    phrases: frozenset[str]

    @property
    def tone(self) -> str | None:
        return self.analysed.tone


def documents(texts: Iterable[VocText]) -> list[Doc]:
    """Analyse each text once (the expensive step)."""
    found: list[Doc] = []
    for text in texts:
        analysed = analyse(text.text)
        found.append(
            Doc(
                text,
                analysed,
                frozenset(w.key for w in analysed.words),
                frozenset(p.key for p in analysed.phrases),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class TermCount:
    key: str
    display: str
    texts: int
    count: int


def _displays(docs: Sequence[Doc], phrases: bool) -> dict[str, str]:
    """Each key's most frequent spelling (ties: the first in code-point order)."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for doc in docs:
        for word in doc.analysed.phrases if phrases else doc.analysed.words:
            seen[word.key][word.display] += 1
    return {key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in seen.items()}


def term_counts(docs: Sequence[Doc], *, phrases: bool = False) -> list[TermCount]:
    """Every term (or phrase) with its texts and occurrences, most mentioned first."""
    texts: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for doc in docs:
        texts.update(doc.phrases if phrases else doc.terms)
        count.update(w.key for w in (doc.analysed.phrases if phrases else doc.analysed.words))
    display = _displays(docs, phrases)
    ranked = sorted(texts, key=lambda key: (-texts[key], -count[key], key))
    return [TermCount(key, display[key], texts[key], count[key]) for key in ranked]


def top_terms(docs: Sequence[Doc], n: int = 20, *, phrases: bool = False) -> list[TermCount]:
    return term_counts(docs, phrases=phrases)[:n]


def by_category(docs: Sequence[Doc], n: int = 10) -> dict[str, list[TermCount]]:
    """Top terms per category (categories in code order, uncategorised first)."""
    groups: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        groups[doc.text.category].append(doc)
    return {category: top_terms(groups[category], n) for category in sorted(groups)}


def volumes(docs: Sequence[Doc]) -> dict[str, dict[str, int]]:
    """Texts per category and month: ``{category: {month: texts}}``."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for doc in docs:
        slot = found[doc.text.category]
        slot[doc.text.month] = slot.get(doc.text.month, 0) + 1
    return {category: dict(sorted(found[category].items())) for category in sorted(found)}


@dataclass(frozen=True, slots=True)
class Rising:
    key: str
    display: str
    texts: int  # this month
    total: int  # texts this month
    texts_before: int
    total_before: int
    ratio: float
    g2: float


def _xlogx(observed: float, expected: float) -> float:
    return observed * math.log(observed / expected) if observed > 0 else 0.0


def log_likelihood(a: int, n: int, b: int, m: int) -> float:
    """Dunning's G² for ``a`` of ``n`` texts against ``b`` of ``m`` texts."""
    total = n + m
    with_term = a + b
    if total == 0 or with_term in (0, total):
        return 0.0
    cells = (
        (a, n, with_term),
        (n - a, n, total - with_term),
        (b, m, with_term),
        (m - b, m, total - with_term),
    )
    return 2 * sum(_xlogx(obs, row * col / total) for obs, row, col in cells if row)


MIN_G2 = 3.84


def rising(
    current: Sequence[Doc],
    before: Sequence[Doc],
    *,
    min_texts: int = 3,
    min_g2: float = MIN_G2,
    n: int = 10,
) -> list[Rising]:
    """Terms whose share of texts went up this month (see the module notes)."""
    total, total_before = len(current), len(before)
    if total == 0 or total_before == 0:
        return []
    past: Counter[str] = Counter()
    for doc in before:
        past.update(doc.terms)
    found: list[Rising] = []
    for term in term_counts(current):
        a, b = term.texts, past[term.key]
        if a < min_texts or a / total <= b / total_before:
            continue
        ratio = ((a + 0.5) / (total + 1)) / ((b + 0.5) / (total_before + 1))
        g2 = log_likelihood(a, total, b, total_before)
        if g2 < min_g2:
            continue
        found.append(Rising(term.key, term.display, a, total, b, total_before, ratio, g2))
    found.sort(key=lambda r: (-r.g2, -r.texts, r.key))
    return found[:n]


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    texts: int
    pmi: float


def cooccurrence(
    docs: Sequence[Doc], *, min_texts: int = 2, n: int = 15, vocabulary: int = 60
) -> list[Pair]:
    """Pairs of the ``vocabulary`` most mentioned terms that appear in the same texts."""
    ranked = term_counts(docs)[:vocabulary]
    allowed = {t.key: t for t in ranked}
    together: Counter[tuple[str, str]] = Counter()
    for doc in docs:
        present = sorted(doc.terms & allowed.keys())
        together.update(combinations(present, 2))
    total = len(docs)
    found = [
        Pair(
            allowed[x].display,
            allowed[y].display,
            both,
            math.log2(total * both / (allowed[x].texts * allowed[y].texts)),
        )
        for (x, y), both in together.items()
        if both >= min_texts
    ]
    found.sort(key=lambda p: (-round(p.pmi, 9), -p.texts, p.a, p.b))
    return found[:n]


@dataclass(frozen=True, slots=True)
class Verbatim:
    topic: str
    text: str
    category: str
    source: str
    tone: str | None


def _cut(text: str, max_chars: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1] + "…"


def _typicality(doc: Doc, share: dict[str, float]) -> float:
    if not doc.terms:
        return 0.0
    return sum(share.get(t, 0.0) for t in doc.terms) / len(doc.terms)


def verbatims(
    docs: Sequence[Doc], topics: Sequence[TermCount], *, max_chars: int = 160
) -> list[Verbatim]:
    """One representative text per topic (see the module notes)."""
    total = max(1, len(docs))
    share = {t.key: t.texts / total for t in term_counts(docs)}
    used: set[str] = set()
    found: list[Verbatim] = []
    for topic in topics:
        candidates = [d for d in docs if topic.key in d.terms and d.text.key not in used]
        if not candidates:
            continue
        best = min(
            candidates,
            key=lambda d: (
                d.text.source == "note",
                -round(_typicality(d, share), 9),
                len(d.text.text),
                d.text.key,
            ),
        )
        used.add(best.text.key)
        found.append(
            Verbatim(
                topic.display,
                _cut(best.text.text, max_chars),
                best.text.category,
                best.text.source,
                best.tone,
            )
        )
    return found


def notable(docs: Sequence[Doc], tone: str, n: int = 5, *, max_chars: int = 160) -> list[Verbatim]:
    """The clearest compliments or complaints: most cues of that tone net of the other."""
    sign = 1 if tone == "compliment" else -1

    def strength(doc: Doc) -> int:
        return sign * (doc.analysed.praise - doc.analysed.complaint)

    chosen = sorted(
        (d for d in docs if d.tone == tone),
        key=lambda d: (d.text.source == "note", -strength(d), len(d.text.text), d.text.key),
    )[:n]
    return [
        Verbatim("", _cut(d.text.text, max_chars), d.text.category, d.text.source, tone)
        for d in chosen
    ]


@dataclass(frozen=True, slots=True)
class TopicChange:
    key: str
    display: str
    texts: int
    rank: int
    previous_rank: int | None  # None: not in the previous month's list
    previous_texts: int


@dataclass
class MonthSummary:
    """Everything the VOC page and the monthly report show for one month."""

    month: str
    texts: int
    texts_before: int
    months: list[str]  # this month and the previous ones analysed, oldest first
    volumes: dict[str, dict[str, int]]
    tones: dict[str, int]
    top: list[TopicChange]
    phrases: list[TermCount]
    categories: dict[str, list[TermCount]]
    rising: list[Rising]
    pairs: list[Pair]
    verbatims: list[Verbatim]
    compliments: list[Verbatim]
    complaints: list[Verbatim]
    sources: dict[str, int] = field(default_factory=dict)


def _changes(now: Sequence[TermCount], previous: Sequence[TermCount]) -> list[TopicChange]:
    rank_before = {t.key: (index + 1, t.texts) for index, t in enumerate(previous)}
    return [
        TopicChange(
            t.key,
            t.display,
            t.texts,
            index + 1,
            rank_before[t.key][0] if t.key in rank_before else None,
            rank_before.get(t.key, (0, 0))[1],
        )
        for index, t in enumerate(now)
    ]


def summarise(
    docs: Sequence[Doc],
    month: str,
    *,
    category: str | None = None,
    top: int = 15,
    min_texts: int = 3,
    min_g2: float = MIN_G2,
) -> MonthSummary:
    """The month's summary from its texts and the previous months' (``docs`` may hold
    any months; those after ``month`` are ignored). ``category`` narrows the texts."""
    chosen = [d for d in docs if d.text.month <= month]
    if category is not None:
        chosen = [d for d in chosen if d.text.category == category]
    current = [d for d in chosen if d.text.month == month]
    before = [d for d in chosen if d.text.month < month]
    previous_month = max((d.text.month for d in before), default=None)
    previous = [d for d in before if d.text.month == previous_month]
    now_top = top_terms(current, top)
    tones = Counter(d.tone or "neutral" for d in current)
    return MonthSummary(
        month=month,
        texts=len(current),
        texts_before=len(before),
        months=sorted({d.text.month for d in chosen}),
        volumes=volumes(chosen),
        tones={name: tones.get(name, 0) for name in ("compliment", "complaint", "neutral")},
        top=_changes(now_top, top_terms(previous, 100)),
        phrases=top_terms(current, top, phrases=True),
        categories=by_category(current, 8),
        rising=rising(current, before, min_texts=min_texts, min_g2=min_g2),
        pairs=cooccurrence(current),
        verbatims=verbatims(current, now_top[:6]),
        compliments=notable(current, "compliment"),
        complaints=notable(current, "complaint"),
        sources=dict(sorted(Counter(d.text.source for d in current).items())),
    )
