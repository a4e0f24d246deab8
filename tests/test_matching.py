"""Matching: mentees find mentors who share their language, the support they look for and their
hours, and the fairness guard spreads the showings; an external matcher can rank instead, or open a
room for a new pair, but only with a valid, fresh signature."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from datetime import datetime, timezone
from typing import Iterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from server.matching.index import MentorIndex, MentorRow, build_index, week_start, weekly_hours
from server.matching.ranking import Fairness, Query, Weights, rank
from server.matching.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers, verify
from server.matching.vocabulary import AREAS
from server.scheduling.availability import Window
from tests.conftest import database_url_for
from tests.live_server import ServerProcess, close_all, free_port, register
from tests.test_scheduling import start_server

SECRET = "a shared matching secret for tests"


@pytest.fixture(scope="module")
def matching_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"matching-{backend}")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir),
                         extra_env={"MV_MATCHING_SECRET": SECRET})
    proc.start()
    yield proc
    proc.stop()


async def post_match(server: ServerProcess, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/matching/matches", data=body,
                             headers={"Content-Type": "application/json", **headers}) as resp:
            return resp.status, await resp.json()


async def test_the_local_matcher_ranks_mentors_by_language_area_and_the_hours_both_are_free(matching_server):
    server = matching_server
    mentee = await register(server, languages=["es"], timezone="Europe/Madrid")
    best = await register(server, role="mentor", languages=["es", "en"], timezone="America/New_York")
    plain = await register(server, role="mentor", languages=["es"], timezone="Asia/Tokyo")
    stranger = await register(server, role="mentor", languages=["de"], timezone="Europe/Berlin")
    unlisted = await register(server, role="mentor", languages=["es"], timezone="Europe/Madrid")
    m, b, p, s = await mentee.connect(), await best.connect(), await plain.connect(), await stranger.connect()
    weekdays = range(5)
    await m.call("availability:set", {"windows": [{"weekday": d, "start": "15:00", "end": "18:00"} for d in weekdays]})
    for client in (b, p):
        await client.call("availability:set", {"windows": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in weekdays]})
    assert (await b.call("mentor_profile:set", {"areas": ["anxiety", "sleep"]}))["ok"]
    for client in (p, s):
        assert (await client.call("mentor_profile:set", {"areas": ["grief"]}))["ok"]
    assert (await m.call("intake:set", {"intake": {"support": ["anxiety", "grief"]}}))["intake"]["support"] == ["anxiety", "grief"]

    matches = (await m.call("matching:suggestions", {"limit": 50}))["matches"]
    ours = [x for x in matches if x["user_id"] in {best.id, plain.id, stranger.id, unlisted.id}]
    print(f"\nsuggestions: {[(x['user_id'] == best.id and 'best' or 'plain', x['score'], x['overlap_minutes']) for x in ours]}")
    # No shared language: never suggested; no mentor profile: not taking mentees through matching.
    assert [x["user_id"] for x in ours] == [best.id, plain.id]
    assert ours[0]["shared_areas"] == ["anxiety"] and ours[0]["shared_languages"] == ["es"]
    # 09:00–12:00 New York meets 15:00–18:00 Madrid (2–3 h a day, by the season); Tokyo's morning never does.
    assert ours[0]["overlap_minutes"] >= 5 * 120 and ours[1]["overlap_minutes"] == 0
    assert ours[0]["mentor"]["timezone"] == "America/New_York" and ours[0]["mentor"]["languages"] == ["es", "en"]
    await close_all(mentee, best, plain, stranger)


async def test_a_signed_match_opens_one_direct_room_and_a_bad_or_stale_signature_opens_none(matching_server):
    server = matching_server
    mentor, mentee = await register(server, role="mentor"), await register(server)
    watch = await mentee.connect()
    body = orjson.dumps({"mentor_id": mentor.id, "mentee_id": mentee.id, "match_id": "ext-1"})

    refused = [
        await post_match(server, body, signed_headers("the wrong secret", body)),
        await post_match(server, body, signed_headers(SECRET, body, now=time.time() - 3600)),
        await post_match(server, body.replace(b"ext-1", b"ext-2"), signed_headers(SECRET, body)),
        await post_match(server, body, {}),
    ]
    print(f"\nrefused webhook calls: {[(status, data['error']['code']) for status, data in refused]}")
    assert [(s, d["error"]["code"]) for s, d in refused] == [
        (401, "bad_signature"), (401, "stale_request"), (401, "bad_signature"), (401, "bad_signature")]
    await asyncio.sleep(0.3)
    assert (await watch.call("room:list"))["rooms"] == [] and not watch.received("room:added")

    status, created = await post_match(server, body, signed_headers(SECRET, body))
    assert status == 201 and created["created"] is True
    added = await watch.wait_for("room:added")
    assert added["room"]["id"] == created["room_id"] and added["room"]["kind"] == "direct"
    assert {m["id"] for m in added["room"]["members"]} == {mentor.id, mentee.id}
    assert (await watch.wait_for("matching:matched"))["user_id"] == mentor.id

    status, again = await post_match(server, body, signed_headers(SECRET, body))
    assert status == 200 and again == {"ok": True, "room_id": created["room_id"], "created": False}
    assert len((await watch.call("room:list"))["rooms"]) == 1
    await close_all(mentee)


async def test_the_http_matcher_asks_the_configured_service_with_a_signed_request(tmp_path):
    port = free_port()
    known: dict[str, str] = {}
    seen: list[dict] = []

    async def match(request: web.Request) -> web.Response:
        raw = await request.read()
        verify(SECRET, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), raw, 60)
        seen.append(orjson.loads(raw))
        return web.json_response({"matches": [{"user_id": known["mentor"], "score": 9.5, "shared_areas": ["sleep"],
                                               "reasons": [{"kind": "area", "code": "sleep"}]},
                                              {"user_id": known["paused"], "score": 9.7},
                                              {"user_id": "not-one-of-ours", "score": 9.9}]})

    app = web.Application()
    app.router.add_post("/match", match)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = await start_server("sqlite", tmp_path / "data", matching_backend="http",
                                matching_url=f"http://127.0.0.1:{port}/match", matching_secret=SECRET)
    try:
        mentee, mentor, paused = await register(server), await register(server, role="mentor"), await register(server, role="mentor")
        known.update(mentor=mentor.id, paused=paused.id)
        assert (await (await mentor.connect()).call("mentor_profile:set", {"areas": ["sleep"]}))["ok"]
        assert (await (await paused.connect()).call("mentor_profile:set", {"accepting": False}))["ok"]
        m = await mentee.connect()
        assert (await m.call("intake:set", {"intake": {"support": ["sleep"], "goals": "my own words"}}))["ok"]
        matches = (await m.call("matching:suggestions", {"limit": 5}))["matches"]
        # Unknown ids and a paused mentor are dropped whatever the service says.
        assert [(x["user_id"], x["score"], x["shared_areas"]) for x in matches] == [(mentor.id, 9.5, ["sleep"])]
        assert matches[0]["reasons"] == [{"kind": "area", "code": "sleep"}] and matches[0]["mentor"]["areas"] == ["sleep"]
        assert seen[0]["user"]["id"] == mentee.id and seen[0]["limit"] == 5 and seen[0]["intake"]["support"] == ["sleep"]
        assert "goals" not in seen[0]["intake"] and mentee.id in seen[0]["exclude"], "the mentee's own words stay with us"
        await close_all(mentee, mentor, paused)
    finally:
        await asyncio.to_thread(server.stop)
        await runner.cleanup()


def test_a_signature_covers_the_timestamp_so_a_new_timestamp_cannot_be_pasted_on():
    body = b'{"mentor_id":"a","mentee_id":"b"}'
    old = sign(SECRET, 1000, body)
    with pytest.raises(Exception) as refused:
        verify(SECRET, str(int(time.time())), old, body, 300)
    assert refused.value.code == "bad_signature"


def seeded_population(count: int, seed: int) -> list[MentorRow]:
    """Spanish-speaking mentors (some also speak English or French) with random areas, hours,
    capacities, ratings and answer times: every one could help every query below."""
    rng = random.Random(seed)
    languages = (["es"], ["es", "en"], ["es", "fr"])
    rows = []
    for i in range(count):
        day, start = rng.randrange(7), rng.randrange(6, 20) * 60
        ratings = rng.randint(0, 15)
        rows.append(MentorRow(user_id=f"m{i}", languages=list(rng.choice(languages)), areas=rng.sample(AREAS, rng.randint(1, 3)),
                              response_hours=rng.choice((None, 0.5, 4.0, 30.0)), rating_count=ratings,
                              rating_sum=sum(rng.randint(2, 5) for _ in range(ratings)), capacity=rng.randint(2, 5),
                              timezone=rng.choice(("Europe/Madrid", "America/Mexico_City", "UTC")),
                              windows=[Window(day, start, start + 120)]))
    return rows


def seeded_queries(count: int, seed: int, monday) -> list[Query]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return [Query(languages=("es",), areas=frozenset(rng.sample(AREAS, 2)),
                  hours=weekly_hours([Window(d, 18 * 60, 24 * 60) for d in range(7)], "Europe/Madrid", monday))
            for _ in range(count)]


def serve(population: list[MentorRow], queries: list[Query], fairness: Fairness) -> tuple[list[int], MentorIndex]:
    """Showings per mentor after every query got 10 suggestions, a minute apart."""
    monday = week_start(datetime.now(timezone.utc))
    index = build_index(population, monday)
    shown, now = [0] * index.size, time.time()
    for q in queries:
        picked = [r.position for r in rank(index, q, Weights(), fairness, now, 10)]
        for p in picked:
            shown[p] += 1
        index.record_exposure(picked, now, fairness.half_life_hours)
        now += 60
    return shown, index


def test_the_fairness_guard_shows_every_mentor_and_floods_nobody_in_a_seeded_population_of_200():
    population = seeded_population(200, seed=18)
    queries = seeded_queries(1500, seed=5, monday=week_start(datetime.now(timezone.utc)))
    guarded, _ = serve(population, queries, Fairness())
    unguarded, _ = serve(population, queries, Fairness(share=0.0, exploration_every=0))
    for label, shown in (("guard on", guarded), ("guard off", unguarded)):
        mean = statistics.fmean(shown)
        print(f"\n{label}: never shown {shown.count(0)}/200, min {min(shown)}, median {statistics.median(shown)}, "
              f"max {max(shown)} ({max(shown) / mean:.1f}× the mean)")
    assert min(guarded) > 0, "nobody who could help is starved"
    assert max(guarded) <= 3 * statistics.fmean(guarded), "nobody is flooded"
    assert unguarded.count(0) > 0 and max(unguarded) > 2 * max(guarded), "without the guard the same few take everything"


def test_a_new_mentor_is_shown_soon_after_joining_a_population_that_has_been_served_for_a_while():
    population = seeded_population(200, seed=18)
    monday = week_start(datetime.now(timezone.utc))
    queries = seeded_queries(600, seed=6, monday=monday)
    _, served = serve(population, queries, Fairness())
    newcomer = MentorRow(user_id="new", languages=["es"], areas=["grief"], windows=[Window(2, 9 * 60, 11 * 60)])
    index = build_index([*population, newcomer], monday)
    index.exposure[:-1] = served.exposure  # everyone else keeps what they were shown
    index.exposure_at[:-1] = served.exposure_at
    spanish = seeded_queries(5, seed=7, monday=monday)
    now = float(served.exposure_at.max())
    shown_in = [any(index.ids[r.position] == "new" for r in rank(index, q, Weights(), Fairness(), now, 10)) for q in spanish]
    print(f"\nthe newcomer is among the 10 suggestions of the next Spanish-speaking mentees: {shown_in}")
    assert all(shown_in)
