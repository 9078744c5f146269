"""Category suggestion accuracy on BANKING77 (77 intents), with a held-out split.

Run: ``python benchmarks/knowledge/bench_suggest.py``

``../shared/data/banking77_en/train.csv`` (10,003 labelled queries) is split 80/20,
stratified by category, for three seeds; the suggester
(:class:`tsunagi.knowledge.suggest.CategorySuggester`) trains on the 80 % and suggests
three categories for each held-out query. Top-1: the first suggestion is the label;
top-3: the label is among the three. Also: training time and suggestion time per query.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path

from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from tsunagi.knowledge.suggest import CategorySuggester, hit_rate

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "banking77_en" / "train.csv"


def run(seed: int, texts: list[str], labels: list[str]) -> dict[str, float]:
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=0.2, random_state=seed, stratify=labels
    )
    started = time.perf_counter()
    model = CategorySuggester.train(train_x, train_y)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    suggested = model.suggest_many(test_x, 3)
    per_query_ms = (time.perf_counter() - started) * 1000 / len(test_x)
    rate = hit_rate(
        ([s.code for s in row], label) for row, label in zip(suggested, test_y, strict=True)
    )
    return {
        "seed": seed,
        "train": len(train_x),
        "held_out": len(test_x),
        "top1": round(rate.top1_rate, 4),
        "top3": round(rate.top3_rate, 4),
        "train_s": round(trained, 1),
        "suggest_ms_per_query": round(per_query_ms, 3),
    }


def main() -> None:
    with DATA.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["text"] for row in rows]
    labels = [row["category"] for row in rows]
    runs = [run(seed, texts, labels) for seed in (1, 2, 3)]
    summary = {
        "categories": len(set(labels)),
        "top1_mean": round(statistics.mean(r["top1"] for r in runs), 4),
        "top3_mean": round(statistics.mean(r["top3"] for r in runs), 4),
    }
    print(json.dumps({"runs": runs, **summary}, indent=1))


if __name__ == "__main__":
    main()
