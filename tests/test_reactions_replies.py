"""Reactions and replies: people on different server processes answer and react to each other.

Two processes share one PostgreSQL database and one Redis, as in production. A mentee on one and a
mentor on the other reply to a message and react to it; each sees the other's within the live
stream, the same tallies and replies come back in history, and the emoji is stored sealed.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Iterator

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_DSN, REDIS_URL, new_pg_database, redis_available
from tests.live_server import ServerProcess, close_all, register


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    redis_available()
    database_url = new_pg_database()
    env = {"MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")}
    prefix = f"mvreact-{uuid.uuid4().hex[:8]}"
    data_dir: Path = tmp_path_factory.mktemp("reactions")
    procs = [ServerProcess(data_dir=data_dir, database_url=database_url, redis_url=REDIS_URL,
                           redis_prefix=prefix, extra_env=env) for _ in range(2)]
    procs[0].start()
    procs[1].start()  # after the first has migrated the database
    yield procs[0], procs[1]
    for proc in procs:
        proc.stop()


async def _pair(one: ServerProcess, two: ServerProcess):  # type: ignore[no-untyped-def]
    mentee, mentor = await register(one), await register(one, role="mentor")
    a = await mentee.connect()
    reply = await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]})
    assert reply["ok"], reply
    room_id = reply["room"]["id"]
    b = await mentor.connect(url=two.url)
    assert (await a.call("room:join", {"room_id": room_id}))["ok"]
    assert (await b.call("room:join", {"room_id": room_id}))["ok"]
    return mentee, mentor, a, b, room_id


async def test_a_reply_on_one_process_reaches_the_other_and_names_what_it_answers(two_processes) -> None:
    one, two = two_processes
    mentee, mentor, a, b, room_id = await _pair(one, two)
    first = await a.call("message:send", {"room_id": room_id, "client_id": "q1", "body": "Can we talk about sleep?"})
    answer = await b.call("message:send", {"room_id": room_id, "client_id": "r1", "body": "Yes, tell me more",
                                           "reply_to": first["message"]["id"]})
    assert answer["ok"], answer
    live = await a.wait_for("message:new", lambda m: m["client_id"] == "r1")
    assert live["reply_to"] == first["message"]["id"]
    history = await a.call("message:history", {"room_id": room_id})
    assert [m["reply_to"] for m in history["messages"]] == [None, first["message"]["id"]]
    await close_all(mentee, mentor)


async def test_a_reply_to_a_message_of_another_room_is_refused(two_processes) -> None:
    one, two = two_processes
    mentee, mentor, a, _b, room_id = await _pair(one, two)
    elsewhere = await register(one, role="mentor")
    other = await a.call("room:create", {"kind": "direct", "member_ids": [elsewhere.id]})
    foreign = await a.call("message:send", {"room_id": other["room"]["id"], "client_id": "f1", "body": "other room"})
    refused = await a.call("message:send", {"room_id": room_id, "client_id": "x1", "body": "hm", "reply_to": foreign["message"]["id"]})
    assert refused == {"ok": False, "error": {"code": "invalid_reply", "message": "You can only reply to a message of this conversation."}}
    history = await a.call("message:history", {"room_id": room_id})
    assert history["messages"] == []
    await close_all(mentee, mentor, elsewhere)


async def test_reactions_fan_out_across_processes_come_back_in_history_and_are_sealed(two_processes) -> None:
    one, two = two_processes
    mentee, mentor, a, b, room_id = await _pair(one, two)
    sent = await a.call("message:send", {"room_id": room_id, "client_id": "m1", "body": "I slept 7 hours!"})
    message_id = sent["message"]["id"]

    added = await b.call("reaction:toggle", {"room_id": room_id, "message_id": message_id, "emoji": "💪"})
    assert added["ok"] and added["reaction"]["reactions"] == {"💪": [mentor.id]}, added
    seen = await a.wait_for("message:reactions", lambda r: r["message_id"] == message_id)
    assert seen["reactions"] == {"💪": [mentor.id]}

    await a.call("reaction:toggle", {"room_id": room_id, "message_id": message_id, "emoji": "💪"})
    await b.wait_for("message:reactions", lambda r: r["reactions"] == {"💪": [mentor.id, mentee.id]})
    # Tapping again takes one's own reaction back, for everyone.
    await b.call("reaction:toggle", {"room_id": room_id, "message_id": message_id, "emoji": "💪"})
    await a.wait_for("message:reactions", lambda r: r["reactions"] == {"💪": [mentee.id]})

    for client in (a, b):
        history = await client.call("message:history", {"room_id": room_id})
        assert history["messages"][0]["reactions"] == {"💪": [mentee.id]}
    rejoined = await b.call("room:join", {"room_id": room_id, "last_seq": 0})
    assert rejoined["messages"][0]["reactions"] == {"💪": [mentee.id]}

    conn = await asyncpg.connect(PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + one.database_url.rsplit("/", 1)[1], timeout=5)
    try:
        rows = await conn.fetch("SELECT tag, nonce, ciphertext FROM message_reactions WHERE message_id = $1", message_id)
    finally:
        await conn.close()
    assert len(rows) == 1
    stored = b"".join(bytes(r["ciphertext"]) + bytes(r["nonce"]) + r["tag"].encode() for r in rows)
    assert "💪".encode() not in stored
    await close_all(mentee, mentor)


async def test_only_members_react_and_only_with_the_offered_emoji(two_processes) -> None:
    one, two = two_processes
    mentee, mentor, a, b, room_id = await _pair(one, two)
    sent = await a.call("message:send", {"room_id": room_id, "client_id": "m1", "body": "hello"})
    outsider = await register(two)
    c = await outsider.connect()
    refused = await c.call("reaction:toggle", {"room_id": room_id, "message_id": sent["message"]["id"], "emoji": "👍"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    odd = await b.call("reaction:toggle", {"room_id": room_id, "message_id": sent["message"]["id"], "emoji": "<b>"})
    assert odd["error"]["code"] == "invalid_reaction", odd
    await close_all(mentee, mentor, outsider)


async def test_the_room_list_previews_the_newest_message_and_counts_what_is_unread(two_processes) -> None:
    one, two = two_processes
    mentee, mentor, a, b, room_id = await _pair(one, two)
    for i, body in enumerate(["First", "Second", "How was your week? " + "x" * 100]):
        await b.call("message:send", {"room_id": room_id, "client_id": f"p{i}", "body": body})
    previews = {p["room_id"]: p for p in (await a.call("room:previews"))["previews"]}
    preview = previews[room_id]
    assert preview["unread"] == 3
    assert preview["last"]["sender_id"] == mentor.id
    assert preview["last"]["excerpt"] == ("How was your week? " + "x" * 100)[:80]
    await a.call("receipt:read", {"room_id": room_id, "seq": 2})
    await a.call("message:send", {"room_id": room_id, "client_id": "mine", "body": "Good"})
    preview = {p["room_id"]: p for p in (await a.call("room:previews"))["previews"]}[room_id]
    assert preview["unread"] == 1, "the reader's own messages are never unread"
    assert preview["last"]["excerpt"] == "Good"
    outsider = await register(one)
    c = await outsider.connect()
    assert room_id not in {p["room_id"] for p in (await c.call("room:previews"))["previews"]}
    await close_all(mentee, mentor, outsider)
