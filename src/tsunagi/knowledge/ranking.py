"""Okapi BM25: the ranking used by every search, in memory and in both databases.

    score(D, Q) = Σ_{t ∈ Q} idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + norm(D))
    norm(D)     = k1 · (1 − b + b · |D| / avgdl)
    idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))

with N the number of searchable articles, df(t) how many contain t, |D| the article's
length in terms and avgdl the mean length (Robertson & Zaragoza, "The Probabilistic
Relevance Framework: BM25 and Beyond", 2009; the ``1 +`` inside the log keeps idf
positive, as Lucene does). Queries are disjunctive: an article matching any term is a
candidate, and more matched rare terms rank it higher.

The databases hold postings ``(term, article, tf, |D|)``; :func:`term_weights` turns
the document frequencies they count into the per-term weights the SQL sums, so the SQL
and :class:`MemoryIndex` (used by the quality tests and the benchmarks) rank the same.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K1 = 1.2
B = 0.75
# Bounding the work of a query in a large index (≥ PRUNE_FROM_DOCUMENTS articles):
# a term in more than COMMON_TERM_SHARE of the articles says little (idf ≤ ln 5 ≈ 1.6,
# against ≈ 9 for a rare term among 10,000) and is left out when a rarer one exists; then
# terms are taken from the rarest up while their postings fit in POSTINGS_BUDGET (the
# rarest always counts). Measured with 10,000 distractor articles
# (benchmarks/knowledge/RESULTS.md): no loss of recall@5 or MRR on either evaluation
# set, and at most ~6,000 postings read per query instead of ~13,000.
COMMON_TERM_SHARE = 0.2
PRUNE_FROM_DOCUMENTS = 1_000
POSTINGS_BUDGET = 6_000

K = TypeVar("K", bound=Hashable)


def idf(document_frequency: int, document_count: int) -> float:
    return math.log(1.0 + (document_count - document_frequency + 0.5) / (document_frequency + 0.5))


def term_score(tf: float, length: float, avg_length: float, weight: float) -> float:
    """One term's contribution for one article (``weight`` is its idf)."""
    norm = K1 * (1.0 - B + B * length / avg_length) if avg_length > 0 else K1
    return weight * tf * (K1 + 1.0) / (tf + norm)


def term_weights(document_frequencies: Mapping[str, int], document_count: int) -> dict[str, float]:
    """idf of each query term that occurs at all; in a large index, common terms are
    dropped as the constants above describe."""
    present = {term: df for term, df in document_frequencies.items() if df > 0}
    chosen = present
    if document_count >= PRUNE_FROM_DOCUMENTS:
        limit = COMMON_TERM_SHARE * document_count
        chosen = {term: df for term, df in present.items() if df <= limit} or present
        kept: dict[str, int] = {}
        for term, df in sorted(chosen.items(), key=lambda item: (item[1], item[0])):
            if kept and sum(kept.values()) + df > POSTINGS_BUDGET:
                break
            kept[term] = df
        chosen = kept
    return {term: idf(df, document_count) for term, df in chosen.items()}


@dataclass
class MemoryIndex(Generic[K]):
    """An in-memory BM25 index: the reference the database search is checked against,
    and the engine of the quality benchmarks."""

    postings: dict[str, dict[K, int]] = field(default_factory=dict)
    lengths: dict[K, int] = field(default_factory=dict)

    def add(self, key: K, counts: Counter[str]) -> None:
        if key in self.lengths:
            self.remove(key)
        self.lengths[key] = sum(counts.values())
        for term, tf in counts.items():
            self.postings.setdefault(term, {})[key] = tf

    def remove(self, key: K) -> None:
        self.lengths.pop(key, None)
        for docs in self.postings.values():
            docs.pop(key, None)

    def search(self, query: Iterable[str], limit: int = 10) -> list[tuple[K, float]]:
        count = len(self.lengths)
        if count == 0:
            return []
        avg = sum(self.lengths.values()) / count
        frequencies = {term: len(self.postings.get(term, {})) for term in set(query)}
        scores: dict[K, float] = {}
        for term, weight in term_weights(frequencies, count).items():
            for key, tf in self.postings[term].items():
                scores[key] = scores.get(key, 0.0) + term_score(tf, self.lengths[key], avg, weight)
        return heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], str(item[0])))
