"""BM25: the formula's properties and the in-memory reference index."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from tsunagi.knowledge.ranking import MemoryIndex, idf, term_score, term_weights


@given(st.integers(1, 10_000), st.integers(0, 10_000))
def test_idf_is_positive_and_falls_as_a_term_gets_common(count: int, df: int) -> None:
    df = min(df, count)
    assert idf(df, count) > 0
    if df < count:
        assert idf(df, count) > idf(df + 1, count)


@given(st.integers(1, 50), st.integers(1, 500), st.floats(1, 500))
def test_term_score_grows_with_tf_but_saturates(tf: int, length: int, avg: float) -> None:
    low = term_score(tf, length, avg, 1.0)
    high = term_score(tf + 1, length, avg, 1.0)
    assert low < high < 2.2 + 1e-9  # bounded by k1 + 1 for weight 1


def test_shorter_documents_win_at_equal_tf() -> None:
    assert term_score(1, 10, 50, 1.0) > term_score(1, 100, 50, 1.0)


def test_very_common_terms_are_dropped_only_when_rarer_ones_exist() -> None:
    assert set(term_weights({"rare": 2, "common": 900}, 1000)) == {"rare"}
    assert set(term_weights({"rare": 2, "c1": 150, "c2": 190}, 1000)) == {"rare", "c1", "c2"}
    # The budget: postings are taken from the rarest term up while they fit.
    budget = {"a": 10, "b": 3000, "c": 2900, "d": 1000}
    assert set(term_weights(budget, 100_000)) == {"a", "d", "c"}
    assert set(term_weights({"x": 9000, "y": 9500}, 100_000)) == {"x"}
    assert set(term_weights({"common": 900}, 1000)) == {"common"}
    assert set(term_weights({"rare": 2, "common": 90}, 100)) == {"rare", "common"}
    assert term_weights({"absent": 0}, 100) == {}


def test_memory_index_ranks_the_matching_document_first() -> None:
    index: MemoryIndex[str] = MemoryIndex()
    index.add("a", Counter({"配送": 2, "来な": 1}))
    index.add("b", Counter({"料金": 3}))
    index.add("c", Counter({"配送": 1, "料金": 1, "店舗": 5}))
    results = index.search(["配送", "来な"])
    assert [key for key, _ in results] == ["a", "c"]
    index.remove("a")
    assert [key for key, _ in index.search(["配送", "来な"])] == ["c"]
    index.add("c", Counter({"料金": 1}))  # re-adding replaces
    assert index.search(["配送"]) == []
