"""Search quality: recall@5 and MRR (over the top 10) on two sets.

Run: ``python benchmarks/knowledge/bench_quality.py``

* Japanese: the demo co-op FAQ (``src/tsunagi/demo/knowledge.py``, 33 articles) with the
  queries of ``ja_queries.json``, written from the seeds' FAQ examples; each query has
  one answering article.
* English: StackFAQ (``../shared/data/stackfaq_en``): 125 threads (question weighted
  twice + answers), every annotator paraphrase is a query for its own thread.

Ranking is :class:`tsunagi.knowledge.ranking.MemoryIndex`, which the integration test
``test_database_ranking_matches_the_in_memory_reference`` shows equal (ids and scores)
to the database search on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsunagi.demo.knowledge import ARTICLES
from tsunagi.knowledge.ranking import MemoryIndex
from tsunagi.knowledge.text import query_terms, term_counts

HERE = Path(__file__).resolve().parent
STACKFAQ = HERE.parents[2] / "shared" / "data" / "stackfaq_en" / "stackExchange-FAQ.json"


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


def japanese() -> dict[str, float]:
    index: MemoryIndex[str] = MemoryIndex()
    for article in ARTICLES:
        index.add(article.key, term_counts([(article.title, 2), (article.body, 1)]))
    queries = json.loads((HERE / "ja_queries.json").read_text("utf-8"))["queries"]
    return {"documents": len(ARTICLES), **evaluate(index, [(q, k) for q, k in queries])}


def english() -> dict[str, float]:
    threads = json.loads(STACKFAQ.read_text("utf-8"))["root"]["qapair"]
    index: MemoryIndex[str] = MemoryIndex()
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
    print(json.dumps({"japanese": japanese(), "stackfaq_en": english()}, indent=1))
