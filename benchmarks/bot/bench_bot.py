"""Offline evaluation of the FAQ bot: answer rate, precision of answered questions and
hand-over rate at a confidence threshold chosen on a held-out split.

Run: ``python benchmarks/bot/bench_bot.py`` (``--seeds 1 2 3``, ``--min-precision 0.9``)

Each question is replayed as a visitor's first message through the bot's own rules
(``tsunagi.channels.bot.decide`` on the public articles in the conversation's language,
ranked by ``knowledge.ranking.MemoryIndex``, which the knowledge integration tests show
equal to the database search) in two conditions:

* **answerable** — the whole knowledge base: the bot should quote the article that
  answers the question; if that article is *internal*, it must hand over instead;
* **unanswerable** — the answering article removed (leave-one-out): the bot should hand
  over; quoting any other article is a wrong answer.

Sets: Japanese — the demo co-op knowledge base (``src/tsunagi/demo/knowledge.py``, 33
articles, 4 internal) with the 67 queries of ``benchmarks/knowledge/ja_queries.json``;
English — StackFAQ (``../shared/data/stackfaq_en``, read at run time, never copied:
125 threads, question ×2 + answers, every annotator paraphrase a query).

Articles (with their questions) are split in half at random per seed: the threshold is
chosen on the *calibration* half — the lowest threshold whose precision of answered
questions is ≥ ``--min-precision`` (which gives the highest answer rate at that
precision) — and reported on the *test* half. The same is done for other confidence
measures to justify the one the bot uses (``confidence`` of ``channels/bot.py``; the
others: ``coverage_only`` = score / Σ idf, ``raw_score`` = BM25, ``margin`` = the lead
over the next public article).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tsunagi.channels.bot import (
    DEFAULT_MIN_CONFIDENCE,
    BotSettings,
    Candidate,
    confidence,
    decide,
    query_idfs,
    text_lang,
)
from tsunagi.demo.knowledge import ARTICLES
from tsunagi.knowledge import text
from tsunagi.knowledge.ranking import MemoryIndex
from tsunagi.knowledge.text import term_counts

FEATURES = ("confidence", "coverage_only", "raw_score", "margin")
HITS = 10  # as actions.bot: the best public article in the language among the top 10
# Each question is replayed twice (and tokenising Japanese is the slow part).
query_terms = lru_cache(maxsize=None)(text.query_terms)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
STACKFAQ = ROOT.parent / "shared" / "data" / "stackfaq_en" / "stackExchange-FAQ.json"
JA_QUERIES = ROOT / "benchmarks" / "knowledge" / "ja_queries.json"


@dataclass(frozen=True)
class Doc:
    key: str
    title: str
    body: str
    public: bool
    counts: object  # Counter[str]


@dataclass(frozen=True)
class Trial:
    query: str
    expected: str | None  # the public article to quote, or None: the bot must hand over
    group: str  # the answering article (the unit of the split)
    answerable: bool  # condition: the whole knowledge base (else leave-one-out)


@dataclass(frozen=True)
class Outcome:
    trial: Trial
    article: str | None  # best public article in the language (None: no hit)
    features: dict[str, float]


# ------------------------------------------------------------------------------ sets


def japanese() -> tuple[list[Doc], list[tuple[str, str]]]:
    docs = [
        Doc(a.key, a.title, a.body, a.visibility == "public",
            term_counts([(a.title, 2), (a.body, 1)]))
        for a in ARTICLES
    ]  # fmt: skip
    queries = json.loads(JA_QUERIES.read_text("utf-8"))["queries"]
    return docs, [(q, k) for q, k in queries]


def english() -> tuple[list[Doc], list[tuple[str, str]]]:
    threads = json.loads(STACKFAQ.read_text("utf-8"))["root"]["qapair"]
    docs, queries = [], []
    for number, thread in enumerate(threads):
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        body = "\n".join(a or "" for a in answers)
        counts = term_counts([(thread["question"], 2)] + [(a or "", 1) for a in answers])
        docs.append(Doc(str(number), thread["question"], body, True, counts))
        paraphrases = thread["rephr"] if isinstance(thread["rephr"], list) else [thread["rephr"]]
        queries += [(p, str(number)) for p in paraphrases if p and p.strip() != "*"]
    return docs, queries


# --------------------------------------------------------------------------- replay


def _index(docs: Sequence[Doc], leave_out: str | None = None) -> MemoryIndex[str]:
    index: MemoryIndex[str] = MemoryIndex()
    for doc in docs:
        if doc.key != leave_out:
            index.add(doc.key, doc.counts)  # type: ignore[arg-type]
    return index


def _best(
    index: MemoryIndex[str], docs: dict[str, Doc], query: str, lang: str
) -> tuple[str | None, dict[str, float]]:
    """What ``actions.bot.find_candidate`` does: the best *public* article in ``lang``
    among the top 10, and the confidence measures of its score."""
    terms = query_terms(query)
    hits = [(k, s) for k, s in index.search(terms, HITS) if docs[k].public]
    best = next(((k, s) for k, s in hits if text_lang(docs[k].title) == lang), None)
    if best is None:
        return None, {}
    key, score = best
    count = len(index.lengths)
    frequencies = {t: len(index.postings.get(t, {})) for t in set(terms)}
    all_idfs = query_idfs(frequencies, terms, count)
    others = [s for k, s in hits if k != key]
    return key, {
        "confidence": confidence(score, others[0] if others else None, all_idfs),
        "coverage_only": confidence(score, None, all_idfs),
        "raw_score": score,
        "margin": (score - others[0]) / score if others else 1.0,
    }


def replay(docs: list[Doc], queries: list[tuple[str, str]], lang: str) -> list[Outcome]:
    by_key = {d.key: d for d in docs}
    full = _index(docs)
    outcomes = []
    for query, key in queries:
        expected = key if by_key[key].public else None
        found, features = _best(full, by_key, query, lang)
        outcomes.append(Outcome(Trial(query, expected, key, True), found, features))
    for key in sorted({k for _, k in queries}):
        partial = _index(docs, leave_out=key)
        for query, _ in (q for q in queries if q[1] == key):
            found, features = _best(partial, by_key, query, lang)
            outcomes.append(Outcome(Trial(query, None, key, False), found, features))
    return outcomes


# -------------------------------------------------------------------------- scoring


def decision(outcome: Outcome, feature: str, threshold: float) -> str | None:
    """The article the bot quotes at ``threshold`` (None: it hands over), through the
    bot's own ``decide``."""
    if outcome.article is None:
        candidate = None
    else:
        candidate = Candidate(uuid.UUID(int=0), "", "", outcome.features[feature])
    made = decide(outcome.trial.query, candidate, settings=BotSettings(True, threshold, 3))
    return outcome.article if made.action == "answer" else None


def measure(outcomes: Sequence[Outcome], feature: str, threshold: float) -> dict[str, float]:
    answered = correct = answerable = answerable_answered = 0
    for outcome in outcomes:
        quoted = decision(outcome, feature, threshold)
        if outcome.trial.expected is not None:
            answerable += 1
            answerable_answered += quoted is not None
        if quoted is not None:
            answered += 1
            correct += quoted == outcome.trial.expected
    n = len(outcomes)
    return {
        "trials": n,
        "answer_rate": answered / n,
        "precision": correct / answered if answered else 1.0,
        "handover_rate": 1 - answered / n,
        "coverage": correct / answerable if answerable else 0.0,
        "answered_when_answerable": answerable_answered / answerable if answerable else 0.0,
    }


def choose(outcomes: Sequence[Outcome], feature: str, min_precision: float) -> float:
    """The lowest threshold (highest answer rate) with precision ≥ ``min_precision``."""
    values = sorted({o.features[feature] for o in outcomes if o.features})
    for threshold in [0.0, *values]:
        if measure(outcomes, feature, threshold)["precision"] >= min_precision:
            return threshold
    return float("inf")


def split(outcomes: list[Outcome], seed: int) -> tuple[list[Outcome], list[Outcome]]:
    groups = sorted({o.trial.group for o in outcomes})
    random.Random(seed).shuffle(groups)
    calibration = set(groups[: len(groups) // 2])
    first = [o for o in outcomes if o.trial.group in calibration]
    return first, [o for o in outcomes if o.trial.group not in calibration]


def evaluate(
    name: str, outcomes: list[Outcome], seeds: Sequence[int], min_precision: float
) -> dict[str, object]:
    result: dict[str, object] = {
        "trials": len(outcomes),
        "answerable_public": sum(o.trial.expected is not None for o in outcomes),
    }
    for feature in FEATURES:
        runs = []
        for seed in seeds:
            calibration, test = split(outcomes, seed)
            threshold = choose(calibration, feature, min_precision)
            measured = measure(test, feature, threshold)
            runs.append(
                {"seed": seed, "threshold": round(threshold, 3)}
                | {k: round(v, 3) for k, v in measured.items()}
            )
        mean = {
            key: round(statistics.fmean(float(r[key]) for r in runs), 3)  # type: ignore[arg-type]
            for key in ("threshold", "answer_rate", "precision", "handover_rate", "coverage")
        }
        result[feature] = {"runs": runs, "mean": mean}
    at_default = [
        measure(split(outcomes, seed)[1], "confidence", DEFAULT_MIN_CONFIDENCE) for seed in seeds
    ]
    result["test_half_at_default"] = {
        key: round(statistics.fmean(run[key] for run in at_default), 3)
        for key in ("answer_rate", "precision", "handover_rate", "coverage")
    } | {"threshold": DEFAULT_MIN_CONFIDENCE}
    return {name: result}


def sweep(outcomes: list[Outcome], thresholds: Sequence[float]) -> list[dict[str, float]]:
    rows = []
    for threshold in thresholds:
        measured = measure(outcomes, "confidence", threshold)
        rows.append({"threshold": threshold} | {k: round(v, 3) for k, v in measured.items()})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--min-precision", type=float, default=0.9)
    parser.add_argument("--sweep", type=float, nargs="*", default=[])
    args = parser.parse_args(argv)
    sets: dict[str, Callable[[], tuple[list[Doc], list[tuple[str, str]]]]] = {
        "ja": japanese, "en": english,
    }  # fmt: skip
    report: dict[str, object] = {"min_precision": args.min_precision, "seeds": args.seeds}
    everything: list[Outcome] = []
    for lang, load in sets.items():
        docs, queries = load()
        outcomes = replay(docs, queries, lang)
        for o in outcomes:
            trial = Trial(
                o.trial.query, o.trial.expected, f"{lang}:{o.trial.group}", o.trial.answerable
            )
            everything.append(Outcome(trial, o.article, o.features))
        report.update(evaluate(lang, outcomes, args.seeds, args.min_precision))
        if args.sweep:
            report[f"{lang}_sweep"] = sweep(outcomes, args.sweep)
    report.update(evaluate("ja+en", everything, args.seeds, args.min_precision))
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
