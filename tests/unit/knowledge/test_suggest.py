"""Category suggestion: a small Japanese training set, ranking, hit rate."""

from __future__ import annotations

import pytest

from tsunagi.domain.errors import InvalidInputError
from tsunagi.knowledge.suggest import CategorySuggester, hit_rate

EXAMPLES = [
    ("今日の配送がまだ来ない", "delivery"),
    ("配達の時間が遅れている", "delivery"),
    ("留守なので荷物を置いてほしい", "delivery"),
    ("口座の引き落とし日を知りたい", "payment"),
    ("残高不足で引き落とせなかった", "payment"),
    ("請求額が違う気がする", "payment"),
    ("ガス臭いので心配", "gas"),
    ("都市ガスの切り替え", "gas"),
    ("ガス料金について", "gas"),
]


def test_suggestions_rank_the_right_category_first() -> None:
    model = CategorySuggester.train([t for t, _ in EXAMPLES], [c for _, c in EXAMPLES])
    assert set(model.categories) == {"delivery", "payment", "gas"}
    assert model.suggest("配送が来ないのですが")[0].code == "delivery"
    assert model.suggest("引き落としの日")[0].code == "payment"
    ranked = model.suggest("ガスの臭い", limit=3)
    assert ranked[0].code == "gas"
    assert len(ranked) == 3
    assert ranked[0].score >= ranked[1].score >= ranked[2].score


def test_two_categories_work_too() -> None:
    two = [e for e in EXAMPLES if e[1] != "gas"]
    model = CategorySuggester.train([t for t, _ in two], [c for _, c in two])
    assert model.suggest("引き落とし")[0].code == "payment"
    assert model.suggest("配送")[0].code == "delivery"


def test_training_needs_two_categories() -> None:
    with pytest.raises(InvalidInputError):
        CategorySuggester.train(["a", "b"], ["x", "x"])
    with pytest.raises(InvalidInputError):
        CategorySuggester.train(["a"], ["x", "y"])


def test_hit_rate() -> None:
    rate = hit_rate([(["a", "b", "c"], "a"), (["b", "a", "c"], "a"), (["b", "c", "d"], "a")])
    assert (rate.total, rate.top1, rate.top3) == (3, 1, 2)
    assert rate.top1_rate == pytest.approx(1 / 3)
    assert hit_rate([]).top3_rate == 0.0
