"""Per-message translation latency: model runs (cache misses) vs cache hits, direct vs pivot.

    .venv/bin/python -m bench.translate [--messages 200] [--package FILE.argosmodel ...]

Without ``--package`` it uses the constructed fixture packages from ``tests/argos_fixture.py``
(a one-layer model, so the model time is far below a real Transformer-base package, ~70 ms
per short sentence here per FACTS.md); pass real packages to measure those. Also reports
how late an event-loop ticker ran while 50 messages were translated concurrently.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from server.core.config import Settings
from server.translation.packages import install_package_file, installed_pairs
from server.translation.translator import Translator
from tests.argos_fixture import WORDS, build_packages


def chat_messages(language: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = WORDS[language].split()
    messages = []
    for _ in range(count):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 18)))
        messages.append(sentence + rng.choice([".", "?", "!", ""]))
    return messages


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (f"{label:34} n={len(ms):4}  mean {statistics.fmean(ms):8.3f} ms  "
            f"p50 {statistics.median(ms):8.3f} ms  p99 {p99:8.3f} ms")


async def timed(translator: Translator, messages: list[str], source: str, target: str,
                ) -> list[float]:
    latencies = []
    for text in messages:
        started = time.perf_counter()
        result = await translator.translate(text, source, target)
        latencies.append(time.perf_counter() - started)
        assert result.translated, result
    return latencies


async def loop_lateness(translator: Translator, messages: list[str], source: str,
                        target: str) -> tuple[float, float]:
    """Worst delay of a 1 ms ticker while ``messages`` are translated concurrently."""
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(translator.translate(m, source, target) for m in messages))
    elapsed = time.perf_counter() - started
    stop.set()
    await ticking
    return elapsed, worst


async def run(settings: Settings, count: int) -> None:
    pairs = installed_pairs(settings)
    translator = Translator(settings)
    print("installed pairs:", sorted(pairs), "| routes:", sorted(await translator.available_pairs()))
    direct = next(iter(sorted(pairs)))
    pivot = next(((s, t) for s, t in sorted(await translator.available_pairs())
                  if (s, t) not in pairs), None)
    for source, target in [direct, pivot] if pivot else [direct]:
        kind = "direct" if (source, target) in pairs else "pivot via en"
        messages = chat_messages(source, count, seed=len(kind))
        await translator.translate(messages[0] + " warm", source, target)  # load the model
        cold = await timed(translator, messages, source, target)
        warm = await timed(translator, messages, source, target)
        print(summary(f"{source}->{target} {kind}, model run", cold))
        print(summary(f"{source}->{target} {kind}, cache hit", warm))
    source, target = direct
    burst = chat_messages(source, 50, seed=99)
    elapsed, worst = await loop_lateness(translator, burst, source, target)
    print(f"50 concurrent {source}->{target} messages: {elapsed * 1000:.1f} ms total, "
          f"{50 / elapsed:.0f} msg/s; event loop worst lateness {worst * 1000:.2f} ms")
    print("cache:", translator.cache_stats())
    translator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--package", type=Path, action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=str(Path(scratch) / "data"))
        files = args.package or list(build_packages(Path(scratch) / "fixture").values())
        for file in files:
            install_package_file(file, settings)
        asyncio.run(run(settings, args.messages))


if __name__ == "__main__":
    main()
