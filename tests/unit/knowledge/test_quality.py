"""Search quality floors on the two evaluation sets (full figures: benchmarks/knowledge).

Japanese: the demo co-op FAQ set and the queries written from the seeds' FAQ examples.
English: StackFAQ (../shared/data/stackfaq_en), each paraphrase must find its thread.
The floors sit a little under the measured values so a regression fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsunagi.demo.knowledge import ARTICLES
from tsunagi.knowledge.ranking import MemoryIndex
from tsunagi.knowledge.text import query_terms, term_counts

ROOT = Path(__file__).resolve().parents[3]
JA_QUERIES = ROOT / "benchmarks" / "knowledge" / "ja_queries.json"
STACKFAQ = ROOT.parent / "shared" / "data" / "stackfaq_en" / "stackExchange-FAQ.json"


def _metrics(index: MemoryIndex[str], queries: list[tuple[str, str]]) -> tuple[float, float]:
    recall = reciprocal = 0.0
    for query, expected in queries:
        ranked = [key for key, _ in index.search(query_terms(query), 10)]
        if expected in ranked:
            rank = ranked.index(expected) + 1
            recall += rank <= 5
            reciprocal += 1 / rank
    return recall / len(queries), reciprocal / len(queries)


def test_japanese_set() -> None:
    index: MemoryIndex[str] = MemoryIndex()
    for article in ARTICLES:
        index.add(article.key, term_counts([(article.title, 2), (article.body, 1)]))
    queries = [(q, key) for q, key in json.loads(JA_QUERIES.read_text("utf-8"))["queries"]]
    assert {key for _, key in queries} <= {a.key for a in ARTICLES}
    recall, mrr = _metrics(index, queries)
    assert recall >= 0.95
    assert mrr >= 0.88


def test_english_stackfaq() -> None:
    if not STACKFAQ.exists():
        pytest.fail(f"{STACKFAQ} is missing: the shared data must be beside the repository")
    threads = json.loads(STACKFAQ.read_text("utf-8"))["root"]["qapair"]
    index: MemoryIndex[str] = MemoryIndex()
    queries: list[tuple[str, str]] = []
    for number, thread in enumerate(threads):
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        fields = [(thread["question"], 2)] + [(answer or "", 1) for answer in answers]
        index.add(str(number), term_counts(fields))
        paraphrases = thread["rephr"] if isinstance(thread["rephr"], list) else [thread["rephr"]]
        queries += [(p, str(number)) for p in paraphrases if p and p.strip() != "*"]
    recall, mrr = _metrics(index, queries)
    assert recall >= 0.9
    assert mrr >= 0.75
