"""Matching: mentees find mentors who share their language, topics and hours; an external
matcher can open a room for a new pair, but only with a valid, fresh signature."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from server.matching.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers, verify
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


async def test_the_local_matcher_ranks_mentors_by_shared_topics_languages_and_hours(matching_server):
    server = matching_server
    mentee = await register(server, languages=["es"], timezone="Europe/Madrid")
    best = await register(server, role="mentor", languages=["es", "en"], timezone="America/New_York")
    plain = await register(server, role="mentor", languages=["es"], timezone="Asia/Tokyo")
    stranger = await register(server, role="mentor", languages=["de"], timezone="Europe/Berlin")
    m, b, p = await mentee.connect(), await best.connect(), await plain.connect()
    assert (await m.call("matching:set_topics", {"topics": ["Anxiety", "grief"]}))["topics"] == ["anxiety", "grief"]
    assert (await b.call("matching:set_topics", {"topics": ["anxiety", "sleep"]}))["ok"]
    weekdays = range(5)
    await m.call("availability:set", {"windows": [{"weekday": d, "start": "15:00", "end": "18:00"} for d in weekdays]})
    await b.call("availability:set", {"windows": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in weekdays]})
    await p.call("availability:set", {"windows": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in weekdays]})

    matches = (await m.call("matching:suggestions", {"limit": 50}))["matches"]
    ours = [x for x in matches if x["user_id"] in {best.id, plain.id, stranger.id}]
    print(f"\nsuggestions: {[(x['user_id'] == best.id and 'best' or 'plain', x['score'], x['overlap_minutes']) for x in ours]}")
    assert [x["user_id"] for x in ours] == [best.id, plain.id]  # no shared language: never suggested
    assert ours[0]["shared_topics"] == ["anxiety"] and ours[0]["shared_languages"] == ["es"]
    # 09:00–12:00 New York meets 15:00–18:00 Madrid (2–3 h a day, by the season); Tokyo's morning never does.
    assert ours[0]["overlap_minutes"] >= 5 * 120 and ours[1]["overlap_minutes"] == 0
    await close_all(mentee, best, plain)


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
        return web.json_response({"matches": [{"user_id": known["mentor"], "score": 9.5, "shared_topics": ["sleep"]},
                                              {"user_id": "not-one-of-ours", "score": 9.9}]})

    app = web.Application()
    app.router.add_post("/match", match)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = await start_server("sqlite", tmp_path / "data", matching_backend="http",
                                matching_url=f"http://127.0.0.1:{port}/match", matching_secret=SECRET)
    try:
        mentee, mentor = await register(server), await register(server, role="mentor")
        known["mentor"] = mentor.id
        m = await mentee.connect()
        matches = (await m.call("matching:suggestions", {"limit": 5}))["matches"]
        assert [(x["user_id"], x["score"], x["shared_topics"]) for x in matches] == [(mentor.id, 9.5, ["sleep"])]
        assert seen[0]["user"]["id"] == mentee.id and seen[0]["limit"] == 5
        await close_all(mentee)
    finally:
        await asyncio.to_thread(server.stop)
        await runner.cleanup()


def test_a_signature_covers_the_timestamp_so_a_new_timestamp_cannot_be_pasted_on():
    body = b'{"mentor_id":"a","mentee_id":"b"}'
    old = sign(SECRET, 1000, body)
    with pytest.raises(Exception) as refused:
        verify(SECRET, str(int(time.time())), old, body, 300)
    assert refused.value.code == "bad_signature"
