"""The local ranking: how evenly it spreads exposure, and how long one request takes.

Two parts, on a seeded population (the same numbers every run):

- exposure spread: 200 mentors, 2,000 mentee requests of 10 suggestions each, with the fairness
  guard as configured by default and with it off (``share=0``, no exploration). Printed: how many
  mentors were never shown, the spread of showings (min / p10 / median / p90 / max), max ÷ mean and
  the Gini coefficient (0 = everyone shown equally often);
- time per request with 10,000 mentors: the ranking alone (numpy, plus the reasons of the 10 shown)
  and, with ``--live``, a whole ``LocalMatcher.matches_for`` against a SQLite database seeded with
  10,000 mentor accounts (index staleness check, ranking, the re-check of the shown mentors and the
  exposure write), and the time to build the index from that database.

    .venv/bin/python bench/matching.py [--mentors 10000] [--requests 300] [--live]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.matching.index import MentorIndex, MentorRow, build_index, week_start, weekly_hours  # noqa: E402
from server.matching.ranking import Fairness, Query, Weights, eligible, rank, reasons  # noqa: E402
from server.matching.vocabulary import AGE_RANGES, AREAS, CERTIFICATIONS, GENDERS, PARTS_OF_DAY, TRACKS  # noqa: E402
from server.scheduling.availability import Window  # noqa: E402

ZONES = ("Europe/Madrid", "America/Mexico_City", "America/New_York", "America/Bogota", "Europe/Paris", "UTC")
LANGUAGE_SETS = (["es"], ["es", "en"], ["en"], ["en", "fr"], ["fr"], ["es", "fr", "en"])
LANGUAGE_WEIGHTS = (30, 25, 25, 10, 5, 5)


def seeded_mentors(count: int, seed: int) -> list[MentorRow]:
    rng = random.Random(seed)
    mentors = []
    for i in range(count):
        windows = []
        for day in rng.sample(range(7), rng.randint(1, 4)):
            start = rng.choice(range(6, 20)) * 60
            windows.append(Window(day, start, min(24 * 60, start + rng.choice((60, 120, 180)))))
        ratings = rng.randint(0, 20)
        mentors.append(MentorRow(
            user_id=f"m{i:05d}", languages=list(rng.choices(LANGUAGE_SETS, LANGUAGE_WEIGHTS)[0]),
            areas=rng.sample(AREAS, rng.randint(1, 4)), lived_experience=rng.sample(AREAS, rng.randint(0, 2)),
            track=rng.choices(TRACKS, (70, 10, 15, 5))[0], credential_verified=rng.random() < 0.5,
            certification=rng.choice(("",) + CERTIFICATIONS), response_hours=rng.choice((None, 0.5, 2.0, 8.0, 30.0)),
            rating_sum=sum(rng.randint(3, 5) for _ in range(ratings)), rating_count=ratings,
            gender=rng.choice(("",) + GENDERS), age_range=rng.choice(("",) + AGE_RANGES), capacity=rng.randint(2, 6),
            timezone=rng.choice(ZONES), windows=sorted(windows)))
    return mentors


def seeded_queries(count: int, seed: int, monday) -> list[Query]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        parts = rng.sample(list(PARTS_OF_DAY), rng.randint(1, 2))
        zone = rng.choice(ZONES)
        windows = [Window(d, PARTS_OF_DAY[p][0] * 60, PARTS_OF_DAY[p][1] * 60) for d in range(7) for p in parts]
        queries.append(Query(
            languages=tuple(rng.choice((["es"], ["en"], ["es", "en"], ["fr"]))), areas=frozenset(rng.sample(AREAS, rng.randint(1, 2))),
            hours=weekly_hours(windows, zone, monday), relationship=rng.choice(("", "peer")),
            gender=rng.choice(("", "", "woman")), shared_experience=rng.random() < 0.2))
    return queries


def gini(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    total = sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    return sum((2 * (i + 1) - n - 1) * v for i, v in enumerate(ordered)) / (n * total)


def serve(index: MentorIndex, queries: list[Query], fairness: Fairness, weights: Weights) -> list[int]:
    """Showings per mentor after serving every query (10 suggestions each), one minute apart."""
    shown = [0] * index.size
    now = time.time()
    for q in queries:
        picked = [r.position for r in rank(index, q, weights, fairness, now, 10)]
        for p in picked:
            shown[p] += 1
        index.record_exposure(picked, now, fairness.half_life_hours)
        now += 60
    return shown


def eligible_for_someone(index: MentorIndex, queries: list[Query]) -> int:
    ok = np.zeros(index.size, dtype=bool)
    for q in queries:
        ok |= eligible(index, q)
    return int(ok.sum())


def spread_report(label: str, shown: list[int], reachable: int) -> None:
    values = sorted(shown)
    q = statistics.quantiles(values, n=10)
    mean = statistics.fmean(values)
    never = sum(1 for v in values if v == 0)
    print(f"  {label:13} never shown {never:3}/{len(values)} (eligible for someone: {reachable})  "
          f"min {values[0]}  p10 {q[0]:.0f}  median {statistics.median(values):.0f}  p90 {q[-1]:.0f}  max {values[-1]}  "
          f"max/mean {values[-1] / mean:.1f}  Gini {gini(values):.2f}")


def timing(mentors: int, requests: int, weights: Weights, fairness: Fairness) -> None:
    monday = week_start(datetime.now(timezone.utc))
    started = time.perf_counter()
    index = build_index(seeded_mentors(mentors, 7), monday)
    print(f"index of {mentors:,} mentors built from rows in {(time.perf_counter() - started) * 1000:.0f} ms")
    queries = seeded_queries(requests, 11, monday)
    rank_ms, full_ms = [], []
    now = time.time()
    for q in queries:
        t0 = time.perf_counter()
        ranked = rank(index, q, weights, fairness, now, 15)
        t1 = time.perf_counter()
        exposure = index.exposure_now(now, fairness.half_life_hours)
        for r in ranked[:10]:
            reasons(index, r.position, q, "Europe/Madrid", float(exposure[r.position]))
        index.record_exposure([r.position for r in ranked[:10]], now, fairness.half_life_hours)
        t2 = time.perf_counter()
        rank_ms.append((t1 - t0) * 1000)
        full_ms.append((t2 - t0) * 1000)
        now += 1
    for label, values in (("ranking", rank_ms), ("ranking + reasons + exposure", full_ms)):
        q = statistics.quantiles(values, n=100)
        print(f"  {label:30} per request: p50 {statistics.median(values):.2f} ms  p95 {q[94]:.2f} ms  max {max(values):.2f} ms")


async def live(mentors: int, requests: int) -> None:
    """matches_for through a real Database (SQLite) seeded with ``mentors`` mentor accounts."""
    from sqlalchemy import insert  # noqa: PLC0415 - only the live mode needs these

    from server.accounts.users import AuthUser  # noqa: PLC0415
    from server.app import build_services  # noqa: PLC0415
    from server.core.config import Settings  # noqa: PLC0415
    from server.matching.intake import Intake  # noqa: PLC0415
    from server.matching.seeker import Seeker  # noqa: PLC0415
    from server.storage.models import AvailabilityWindow, MentorProfile, User  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        services = build_services(Settings(data_dir=data_dir))
        await services.db.migrate()
        rows = seeded_mentors(mentors, 7)
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        async with services.db.transaction() as s:
            await s.execute(insert(User), [
                {"id": m.user_id, "username": m.user_id, "password_hash": "!", "display_name": m.user_id, "role": "mentor",
                 "languages": m.languages, "locale": "en", "country": "", "timezone": m.timezone, "translate_messages": False,
                 "token_epoch": 0, "banned": False, "created_at": now} for m in rows])
            await s.execute(insert(MentorProfile), [
                {"user_id": m.user_id, "track": m.track, "areas": m.areas, "lived_experience": m.lived_experience, "bio": "",
                 "gender": m.gender, "age_range": m.age_range, "capacity": m.capacity, "accepting": True,
                 "certification": m.certification, "credential_verified": m.credential_verified, "exposure": 0.0,
                 "exposure_at": now, "response_hours": m.response_hours, "responses": 0, "rating_sum": m.rating_sum,
                 "rating_count": m.rating_count, "created_at": now, "updated_at": now} for m in rows])
            await s.execute(insert(AvailabilityWindow), [
                {"user_id": m.user_id, "weekday": w.weekday, "start_minute": w.start_minute, "end_minute": w.end_minute,
                 "timezone": m.timezone} for m in rows for w in m.windows])
        print(f"live: seeded {mentors:,} mentors in SQLite in {time.perf_counter() - started:.1f} s")
        matcher = services.matching
        started = time.perf_counter()
        await matcher.index()
        print(f"  index built from the database in {(time.perf_counter() - started) * 1000:.0f} ms")
        rng = random.Random(3)
        user = AuthUser(id="bench-mentee", username="bench", display_name="Bench", role="mentee", timezone="Europe/Madrid",
                        languages=("es",))
        times = []
        for _ in range(requests):
            intake = Intake(support=rng.sample(AREAS, 2), languages=[rng.choice(("es", "en"))], times=["evening"])
            seeker = Seeker(user=user, intake=intake, zone="Europe/Madrid", windows=[], exclude=frozenset({user.id}))
            t0 = time.perf_counter()
            found = await matcher.matches_for(seeker, 10)
            times.append((time.perf_counter() - t0) * 1000)
            assert found
        q = statistics.quantiles(times, n=100)
        print(f"  matches_for (SQLite, 10 shown) per request: p50 {statistics.median(times):.2f} ms  p95 {q[94]:.2f} ms  "
              f"max {max(times):.2f} ms")
        await services.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentors", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--live", action="store_true")
    args = parser.parse_args()
    weights, fairness = Weights(), Fairness()
    monday = week_start(datetime.now(timezone.utc))
    population = seeded_mentors(200, 1)
    queries = seeded_queries(2000, 2, monday)
    print("exposure spread: 200 mentors, 2,000 requests × 10 suggestions")
    reachable = eligible_for_someone(build_index(population, monday), queries)
    for label, f in (("guard on", fairness), ("guard off", replace(fairness, share=0.0, exploration_every=0))):
        spread_report(label, serve(build_index(population, monday), queries, f, weights), reachable)
    print(f"time per request, {args.mentors:,} mentors:")
    timing(args.mentors, args.requests, weights, fairness)
    if args.live:
        asyncio.run(live(args.mentors, args.requests))


if __name__ == "__main__":
    main()
