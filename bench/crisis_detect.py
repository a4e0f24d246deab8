"""Microseconds per message for crisis.detector.detect over a mixed chat corpus.

Corpus: the labelled chat sets (tests/data/crisis/*.jsonl) plus sentences from the shared Reddit
C-SSRS data (longer, forum-style). Two passes: with language identification (no hint, as for a
message from an unknown user) and without it (language trusted from the caller).

    .venv/bin/python bench/crisis_detect.py [--reddit-sentences 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import ast
import csv
import gc
import json
import re
import statistics
import time
from pathlib import Path

from crisis.detector import detect

REPO = Path(__file__).resolve().parents[1]
REDDIT = [REPO.parent / "shared" / "data" / "reddit-cssrs" / "500_Reddit_users_posts_labels.csv",
          Path("/work/shared/data/reddit-cssrs/500_Reddit_users_posts_labels.csv")]


def chat_messages() -> list[tuple[str, str]]:
    rows = []
    for path in sorted((REPO / "tests" / "data" / "crisis").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r["text"], r["language"]) for r in rows]


def reddit_sentences(limit: int) -> list[tuple[str, str]]:
    path = next((p for p in REDDIT if p.exists()), None)
    if path is None:
        return []
    sentences: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as data:
        for row in csv.DictReader(data):
            try:
                posts = ast.literal_eval(row["Post"])
            except (SyntaxError, ValueError):
                continue
            for post in posts:
                sentences += [(s, "en") for s in re.split(r"(?<=[.!?])\s+", post) if s.strip()]
                if len(sentences) >= limit:
                    return sentences[:limit]
    return sentences


def measure(corpus: list[tuple[str, str]], rounds: int, identify: bool) -> list[float]:
    """Per-message wall time in µs, best of `rounds` for each message (less scheduler noise)."""
    best = [float("inf")] * len(corpus)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        gc.disable()
        for index, (text, language) in enumerate(corpus):
            start = clock()
            if identify:
                detect(text)
            else:
                detect(text, language, trust_language=True)
            best[index] = min(best[index], (clock() - start) / 1000)
        gc.enable()
    return best


def summary(label: str, micros: list[float], chars: float) -> str:
    ordered = sorted(micros)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"{label:<44} mean {statistics.fmean(micros):6.1f} µs  p50 {statistics.median(micros):6.1f} µs  "
            f"p99 {p99:6.1f} µs  ({len(micros)} msgs, {chars:.0f} chars avg)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reddit-sentences", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    detect("warm up the automata and the language model")
    print(f"first call (builds automata, loads language model): {(time.perf_counter() - started) * 1000:.0f} ms")

    chat = chat_messages()
    reddit = reddit_sentences(args.reddit_sentences)
    mixed = chat + reddit
    for name, corpus in (("chat set", chat), ("reddit sentences", reddit), ("mixed", mixed)):
        if not corpus:
            print(f"{name}: no data")
            continue
        chars = statistics.fmean(len(t) for t, _ in corpus)
        measure(corpus, 1, True)  # fill the token cache as a running server would have it
        print(summary(f"{name}, with language identification", measure(corpus, args.rounds, True), chars))
        print(summary(f"{name}, language given", measure(corpus, args.rounds, False), chars))


if __name__ == "__main__":
    main()
