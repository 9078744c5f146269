"""Category suggestion for wrap-up: a linear classifier on character and word n-grams.

Model: TF-IDF of character n-grams (1–4, within word boundaries; they work for Japanese
without a tokeniser and survive typos) joined with TF-IDF of our search terms (bigrams,
base forms, stems — :mod:`tsunagi.knowledge.text`), fed to a one-vs-rest linear SVM
(scikit-learn ``LinearSVC``). Suggestions are the categories with the highest decision
values. It is trained on the tenant's past contacts (text typed at wrap-up → the category
chosen); the measured accuracy is in ``benchmarks/knowledge/RESULTS.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.pipeline import FeatureUnion, make_pipeline  # type: ignore[import-untyped]
from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

from tsunagi.domain.errors import InvalidInputError
from tsunagi.knowledge.text import normalize, terms

MIN_EXAMPLES = 2
MIN_CATEGORIES = 2


@dataclass(frozen=True, slots=True)
class CategorySuggestion:
    code: str
    score: float


def _terms(text: str) -> list[str]:
    return terms(text)


class CategorySuggester:
    """Train once on ``(text, category)`` examples; then :meth:`suggest` ranks categories."""

    def __init__(self, pipeline: Any, categories: Sequence[str]) -> None:
        self._pipeline = pipeline
        self.categories = tuple(categories)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str]) -> CategorySuggester:
        if len(texts) != len(labels):
            raise InvalidInputError("texts and labels must have the same length")
        if len(texts) < MIN_EXAMPLES or len(set(labels)) < MIN_CATEGORIES:
            raise InvalidInputError(
                f"need at least {MIN_EXAMPLES} examples of {MIN_CATEGORIES} categories"
            )
        features = FeatureUnion(
            [
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(1, 4),
                        preprocessor=normalize,
                        sublinear_tf=True,
                        min_df=1,
                    ),
                ),
                (
                    "terms",
                    TfidfVectorizer(
                        analyzer=_terms, sublinear_tf=True, min_df=1, token_pattern=None
                    ),
                ),
            ]
        )
        pipeline = make_pipeline(features, LinearSVC(C=0.5))
        with warnings.catch_warnings():
            # A cold start (one article per category) has as many classes as examples;
            # scikit-learn then wonders whether this is regression. It is not.
            warnings.filterwarnings("ignore", message="The number of unique classes")
            pipeline.fit(list(texts), list(labels))
        return cls(pipeline, [str(code) for code in pipeline.classes_])

    def suggest(self, text: str, limit: int = 3) -> list[CategorySuggestion]:
        return self.suggest_many([text], limit)[0]

    def suggest_many(self, texts: Sequence[str], limit: int = 3) -> list[list[CategorySuggestion]]:
        if not texts:
            return []
        scores = np.asarray(self._pipeline.decision_function(list(texts)), dtype=float)
        if scores.ndim == 1:  # two categories: one column, positive means the second
            scores = np.column_stack([-scores, scores])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :limit]
        return [
            [CategorySuggestion(self.categories[i], float(row[i])) for i in ranked]
            for row, ranked in zip(scores, order, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class HitRate:
    """How often the category finally chosen was the first suggestion, or among the top 3."""

    total: int
    top1: int
    top3: int

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.total if self.total else 0.0

    @property
    def top3_rate(self) -> float:
        return self.top3 / self.total if self.total else 0.0


def hit_rate(pairs: Iterable[tuple[Sequence[str], str]]) -> HitRate:
    """``pairs`` are (suggested codes, best first; the code finally chosen)."""
    total = top1 = top3 = 0
    for suggested, chosen in pairs:
        total += 1
        top1 += bool(suggested[:1]) and suggested[0] == chosen
        top3 += chosen in suggested[:3]
    return HitRate(total=total, top1=top1, top3=top3)
