"""Search quality: recall@5 and MRR (over the top 10) on two sets.

Run: ``python benchmarks/knowledge/bench_quality.py``

* Japanese: the demo co-op FAQ (``src/tsunagi/demo/knowledge.py``, 33 articles) with the
  queries of ``ja_queries.json``, written from the seeds' FAQ examples; each query has
  one answering article.
* English: StackFAQ (``../shared/data/stackfaq_en``): 125 threads (question weighted
  twice + answers), every annotator paraphrase is a query for its own thread.

``--distractors N`` adds N distractor articles to both sets (the needle-in-a-haystack
version, which also exercises the large-index query pruning of ``ranking.py``): 80 %
Japanese, 4–8 sentences drawn from the seed articles only; 20 % English, five BANKING77
queries each. None of them contains the evaluation content.

Ranking is :class:`tsunagi.knowledge.ranking.MemoryIndex`, which the integration test
``test_database_ranking_matches_the_in_memory_reference`` shows equal (ids and scores)
to the database search on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter
from pathlib import Path

from tsunagi.demo.knowledge import ARTICLES
from tsunagi.knowledge.ranking import MemoryIndex
from tsunagi.knowledge.text import query_terms, term_counts

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
STACKFAQ = SHARED / "data" / "stackfaq_en" / "stackExchange-FAQ.json"


def distractors(count: int, seed: int = 3) -> list[Counter[str]]:
    text = "\n".join(p.read_text("utf-8") for p in sorted((SHARED / "seeds").glob("*.txt")))
    sentences = [s.strip() for s in re.split(r"(?<=[。!?])|\n", text)]
    sentences = [s for s in sentences if 8 <= len(s) <= 160]
    with (SHARED / "data" / "banking77_en" / "train.csv").open(encoding="utf-8") as handle:
        queries = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    made = []
    for number in range(count):
        if number % 5 == 4:
            chosen = rng.sample(queries, 5)
            made.append(term_counts([(chosen[0], 2), (" ".join(chosen), 1)]))
        else:
            chosen = rng.sample(sentences, rng.randint(4, 8))
            made.append(term_counts([(chosen[0][:60], 2), ("".join(chosen), 1)]))
    return made


def with_distractors(index: MemoryIndex[str], extra: list[Counter[str]]) -> MemoryIndex[str]:
    for number, counts in enumerate(extra):
        index.add(f"distractor-{number}", counts)
    return index


def evaluate(index: MemoryIndex[str], queries: list[tuple[str, str]]) -> dict[str, float]:
    recall1 = recall5 = reciprocal = 0.0
    for query, expected in queries:
        ranked = [key for key, _ in index.search(query_terms(query), 10)]
        if expected in ranked:
            rank = ranked.index(expected) + 1
            recall1 += rank == 1
            recall5 += rank <= 5
            reciprocal += 1 / rank
    n = len(queries)
    return {
        "queries": n,
        "recall@1": round(recall1 / n, 3),
        "recall@5": round(recall5 / n, 3),
        "mrr@10": round(reciprocal / n, 3),
    }


def japanese(extra: list[Counter[str]]) -> dict[str, float]:
    index: MemoryIndex[str] = with_distractors(MemoryIndex(), extra)
    for article in ARTICLES:
        index.add(article.key, term_counts([(article.title, 2), (article.body, 1)]))
    queries = json.loads((HERE / "ja_queries.json").read_text("utf-8"))["queries"]
    return {"documents": len(ARTICLES), **evaluate(index, [(q, k) for q, k in queries])}


def english(extra: list[Counter[str]]) -> dict[str, float]:
    threads = json.loads(STACKFAQ.read_text("utf-8"))["root"]["qapair"]
    index: MemoryIndex[str] = with_distractors(MemoryIndex(), extra)
    queries: list[tuple[str, str]] = []
    for number, thread in enumerate(threads):
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        index.add(
            str(number), term_counts([(thread["question"], 2)] + [(a or "", 1) for a in answers])
        )
        paraphrases = thread["rephr"] if isinstance(thread["rephr"], list) else [thread["rephr"]]
        queries += [(p, str(number)) for p in paraphrases if p and p.strip() != "*"]
    return {"documents": len(threads), **evaluate(index, queries)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--distractors", type=int, default=0)
    count = parser.parse_args().distractors
    extra = distractors(count) if count else []
    result = {"distractors": count, "japanese": japanese(extra), "stackfaq_en": english(extra)}
    print(json.dumps(result, indent=1))
