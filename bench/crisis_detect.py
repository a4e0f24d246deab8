"""Microseconds per message for the crisis check: lexicon, classifier, and both (the server's path).

Corpus: chat-length texts — GoEmotions test comments (everyday English), the authored sets of
every language (crisis/training/data/authored) and the lexicons' chat sets — plus, reported apart,
sentences of Reddit C-SSRS posts (longer, forum style). Each message is timed alone, best of
``--rounds`` runs (less scheduler noise). Modes:

- lexicon: tokenising, every native automaton, the C-SSRS grade and the classifier's features;
- classifier: the linear model's probability, given the features;
- both, profile language: ``detect(text, profile_language)`` as the server calls it (the hint is
  trusted unless the text's function words disagree);
- both, no hint: ``detect(text)`` with language identification.

Also prints the model file's size and load time.

    .venv/bin/python bench/crisis_detect.py [--rounds 3] [--limit 4000]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import time
from collections.abc import Callable

from crisis.classifier import MODEL_FILE, RiskClassifier, load_classifier
from crisis.detector import Analysis, analyse, detect
from crisis.training.datasets import DATA, authored, cssrs, goemotions

MAX_CHAT_WORDS = 60


def chat_corpus(limit: int) -> list[tuple[str, str]]:
    """Chat-length texts of every language, authored ones first, then everyday comments."""
    texts = [(e.text, e.language) for e in authored()]
    texts += [(e.text, "en") for e in goemotions() if e.split == "test"][: max(limit - len(texts), 0)]
    return [(t, lang) for t, lang in texts if len(t.split()) <= MAX_CHAT_WORDS]


def forum_sentences(limit: int) -> list[tuple[str, str]]:
    """Sentences of C-SSRS posts."""
    out: list[tuple[str, str]] = []
    for example in cssrs():
        out += [(s, "en") for s in re.split(r"(?<=[.!?])\s+", example.text) if s.strip()]
        if len(out) >= limit:
            break
    return out[:limit]


def measure(corpus: list[tuple[str, str]], rounds: int, check: Callable[[str, str], object]) -> list[float]:
    """Per-message wall time in µs, best of ``rounds``."""
    best = [float("inf")] * len(corpus)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        gc.disable()
        for index, (text, language) in enumerate(corpus):
            start = clock()
            check(text, language)
            best[index] = min(best[index], (clock() - start) / 1000)
        gc.enable()
    return best


def summary(label: str, micros: list[float], chars: float) -> str:
    """One printed line: mean, p50, p99."""
    ordered = sorted(micros)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"{label:<46} mean {statistics.fmean(micros):6.1f} µs  p50 {statistics.median(micros):6.1f} µs  "
            f"p99 {p99:6.1f} µs  ({len(micros)} msgs, {chars:.0f} chars avg)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=4000, help="chat texts (and forum sentences) to time")
    args = parser.parse_args()

    started = time.perf_counter()
    detect("warm up the automata and the language model")
    print(f"first call (builds automata, loads language model and classifier): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    model_path = DATA.parent.parent / MODEL_FILE
    started = time.perf_counter()
    model = RiskClassifier.from_json(json.loads(model_path.read_text("utf-8")))
    print(f"classifier model: {model_path.stat().st_size / 1e6:.2f} MB, {len(model.weights)} weights, "
          f"loaded in {(time.perf_counter() - started) * 1000:.0f} ms")
    classifier = load_classifier()

    for name, corpus in (("chat-length", chat_corpus(args.limit)), ("forum sentences", forum_sentences(args.limit))):
        chars = statistics.fmean(len(t) for t, _ in corpus)
        features = {text: a.features for text, lang in corpus
                    if isinstance(a := analyse(text, lang, trust_language=True), Analysis)}
        measure(corpus, 1, lambda t, lang: detect(t, lang))  # fill the token cache as a running server has it
        print(summary(f"{name}: lexicon (+ features)", measure(corpus, args.rounds,
                                                               lambda t, lang: analyse(t, lang, trust_language=True)), chars))
        print(summary(f"{name}: classifier", measure(corpus, args.rounds,
                                                     lambda t, lang: classifier.probability(features.get(t, []))), chars))
        print(summary(f"{name}: both, profile language", measure(corpus, args.rounds, lambda t, lang: detect(t, lang)),
                      chars))
        print(summary(f"{name}: both, no hint (identification)", measure(corpus, args.rounds, lambda t, lang: detect(t)),
                      chars))


if __name__ == "__main__":
    main()
