"""Chat: mentee and mentor talk in real time; nothing they say is lost or readable by others."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import asyncpg

from tests.conftest import PG_ADMIN_DSN, new_pg_database
from tests.live_server import ServerProcess, close_all, register


async def direct_room(a, b):
    client = await a.connect()
    reply = await client.call("room:create", {"kind": "direct", "member_ids": [b.id]})
    assert reply["ok"], reply
    return client, reply["room"]


async def test_mentee_and_mentor_chat_both_ways_in_real_time(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    b = await mentor.connect()
    assert (await a.call("room:join", {"room_id": room["id"]}))["ok"]
    joined = await b.call("room:join", {"room_id": room["id"]})
    assert joined["ok"] and joined["last_seq"] == 0

    sent = await a.call("message:send", {"room_id": room["id"], "client_id": "c1", "body": "Hi, I had a hard week."})
    assert sent["ok"]
    message = sent["message"]
    assert {"id", "seq", "room_id", "sender_id", "body", "created_at"} <= set(message)
    assert message["seq"] == 1 and message["sender_id"] == mentee.id
    got = await b.wait_for("message:new", lambda m: m["id"] == message["id"])
    assert got["body"] == "Hi, I had a hard week."

    reply = await b.call("message:send", {"room_id": room["id"], "client_id": "c1", "body": "I'm here. Tell me more?"})
    assert reply["message"]["seq"] == 2
    assert (await a.wait_for("message:new", lambda m: m["seq"] == 2))["sender_id"] == mentor.id
    await close_all(mentee, mentor)


async def test_a_non_member_can_neither_join_nor_read_history_nor_send(server):
    mentee, mentor, stranger = await register(server), await register(server, role="mentor"), await register(server)
    a, room = await direct_room(mentee, mentor)
    await a.call("message:send", {"room_id": room["id"], "client_id": "x", "body": "private words"})
    s = await stranger.connect()
    for event, payload in (
        ("room:join", {"room_id": room["id"]}),
        ("message:history", {"room_id": room["id"], "limit": 50}),
        ("message:send", {"room_id": room["id"], "client_id": "y", "body": "let me in"}),
        ("typing:start", {"room_id": room["id"]}),
        ("receipt:read", {"room_id": room["id"], "seq": 1}),
    ):
        reply = await s.call(event, payload)
        assert reply["ok"] is False and reply["error"]["code"] == "forbidden", (event, reply)
    rooms = await s.call("room:list")
    assert rooms["rooms"] == []
    assert not any("private words" in str(data) for _, data in s.events)
    await close_all(mentee, mentor, stranger)


async def test_a_retried_client_id_stores_and_delivers_once_and_acks_the_same_message(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    b = await mentor.connect()
    await b.call("room:join", {"room_id": room["id"]})
    payload = {"room_id": room["id"], "client_id": "retry-1", "body": "sent twice after a lost ack"}
    first, second = await asyncio.gather(a.call("message:send", payload), a.call("message:send", payload))
    third = await a.call("message:send", payload)
    assert first["message"]["id"] == second["message"]["id"] == third["message"]["id"]
    history = await a.call("message:history", {"room_id": room["id"], "after_seq": 0, "limit": 50})
    assert [m["body"] for m in history["messages"]] == ["sent twice after a lost ack"]
    await asyncio.sleep(0.3)
    assert len(b.received("message:new")) == 1
    await close_all(mentee, mentor)


async def test_messages_arrive_gap_free_and_in_seq_order_even_when_sent_without_waiting(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    b = await mentor.connect()
    await b.call("room:join", {"room_id": room["id"]})
    replies = await asyncio.gather(*[
        a.call("message:send", {"room_id": room["id"], "client_id": f"burst-{i}", "body": f"line {i}"}) for i in range(8)
    ])
    assert [r["message"]["seq"] for r in replies] == list(range(1, 9)), "one client's sends keep their order"
    await b.wait_for("message:new", lambda m: m["seq"] == 8)
    assert [m["seq"] for m in b.received("message:new")] == list(range(1, 9))
    assert [m["body"] for m in b.received("message:new")] == [f"line {i}" for i in range(8)]
    await close_all(mentee, mentor)


async def test_reconnecting_after_missing_five_messages_gets_exactly_those_five(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    b = await mentor.connect()
    await b.call("room:join", {"room_id": room["id"]})
    await a.call("message:send", {"room_id": room["id"], "client_id": "before", "body": "before the gap"})
    last_seen = (await b.wait_for("message:new"))["seq"]
    await b.disconnect()
    for i in range(5):
        await a.call("message:send", {"room_id": room["id"], "client_id": f"gap-{i}", "body": f"missed {i}"})
    b2 = await mentor.connect()
    history = await b2.call("message:history", {"room_id": room["id"], "after_seq": last_seen, "limit": 50})
    assert [m["body"] for m in history["messages"]] == [f"missed {i}" for i in range(5)]
    rejoin = await b2.call("room:join", {"room_id": room["id"], "last_seq": last_seen})
    assert [m["seq"] for m in rejoin["messages"]] == [2, 3, 4, 5, 6] and rejoin["has_more"] is False
    await close_all(mentee, mentor)


async def test_history_pages_backwards_from_the_newest(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    for i in range(10):
        await a.call("message:send", {"room_id": room["id"], "client_id": f"h{i}", "body": f"m{i}"})
    newest = await a.call("message:history", {"room_id": room["id"], "limit": 4})
    assert [m["seq"] for m in newest["messages"]] == [7, 8, 9, 10] and newest["has_more"]
    older = await a.call("message:history", {"room_id": room["id"], "before_seq": 7, "limit": 4})
    assert [m["seq"] for m in older["messages"]] == [3, 4, 5, 6]
    await close_all(mentee, mentor)


async def test_edits_and_deletes_propagate_and_deleted_bodies_leave_storage(fresh_server, backend):
    mentee, mentor = await register(fresh_server), await register(fresh_server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    b = await mentor.connect()
    await b.call("room:join", {"room_id": room["id"]})
    sent = (await a.call("message:send", {"room_id": room["id"], "client_id": "e1", "body": "I feel bad"}))["message"]
    edited = await a.call("message:edit", {"room_id": room["id"], "message_id": sent["id"], "body": "I feel better now"})
    assert edited["ok"] and edited["message"]["edited_at"]
    assert (await b.wait_for("message:edited"))["body"] == "I feel better now"
    not_mine = await b.call("message:edit", {"room_id": room["id"], "message_id": sent["id"], "body": "hijack"})
    assert not_mine["error"]["code"] == "forbidden"
    deleted = await a.call("message:delete", {"room_id": room["id"], "message_id": sent["id"]})
    assert deleted["ok"]
    assert (await b.wait_for("message:deleted"))["message_id"] == sent["id"]
    history = await b.call("message:history", {"room_id": room["id"], "after_seq": 0, "limit": 10})
    assert history["messages"][0]["deleted"] is True and history["messages"][0]["body"] is None
    if backend == "sqlite":
        row = sqlite3.connect(fresh_server.database_url.split("///", 1)[1]).execute(
            "SELECT ciphertext, nonce FROM messages WHERE id = ?", (sent["id"],)).fetchone()
        assert row == (None, None)
    await close_all(mentee, mentor)


async def test_typing_receipts_and_presence_reach_the_other_member(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    await a.call("room:join", {"room_id": room["id"]})
    b = await mentor.connect()
    await b.call("room:join", {"room_id": room["id"]})
    assert (await a.wait_for("presence", lambda p: p["user_id"] == mentor.id))["online"] is True

    await b.call("typing:start", {"room_id": room["id"]})
    assert (await a.wait_for("typing"))["typing"] is True
    await a.call("message:send", {"room_id": room["id"], "client_id": "r1", "body": "read me"})
    read = await b.call("receipt:read", {"room_id": room["id"], "seq": 99})
    assert read["seq"] == 1, "a receipt never points past the newest message"
    assert (await a.wait_for("receipt:read"))["user_id"] == mentor.id
    await close_all(mentor)
    assert (await a.wait_for("presence", lambda p: p["user_id"] == mentor.id and not p["online"]))
    await close_all(mentee)


async def test_leaving_tells_offline_in_a_room_entered_after_coming_online(server):
    """Going offline reads no database: the rooms told are those known when she came online and
    those her connection joined since; a room opened with her while she was online is one of them."""
    mentee, mentor = await register(server), await register(server, role="mentor")
    b = await mentor.connect()
    a, room = await direct_room(mentee, mentor)
    await a.call("room:join", {"room_id": room["id"]})
    assert (await b.call("room:join", {"room_id": room["id"]}))["ok"]
    await close_all(mentor)
    offline = await a.wait_for("presence", lambda p: p["user_id"] == mentor.id and not p["online"])
    assert offline["room_id"] == room["id"]
    await close_all(mentee)


async def test_a_tab_closed_without_goodbye_goes_offline_after_the_heartbeat(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    await a.call("room:join", {"room_id": room["id"]})
    b = await mentor.connect()
    await a.wait_for("presence", lambda p: p["user_id"] == mentor.id and p["online"])
    # Cut the TCP connection under the client: no Socket.IO or Engine.IO goodbye reaches the server.
    b.sio.eio.ws._response.connection.transport.abort()
    offline = await a.wait_for("presence", lambda p: p["user_id"] == mentor.id and not p["online"], timeout=15)
    assert offline["online"] is False
    await close_all(mentee)


async def test_flood_control_answers_rate_limited_without_dropping_the_connection(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    replies = [await a.call("message:send", {"room_id": room["id"], "client_id": f"f{i}", "body": "spam"}) for i in range(15)]
    codes = [r["error"]["code"] for r in replies if not r["ok"]]
    assert codes and set(codes) == {"rate_limited"}
    assert a.sio.connected
    too_long = await a.call("message:send", {"room_id": room["id"], "client_id": "long", "body": "x" * 5000})
    assert too_long["error"]["code"] in ("body_too_long", "rate_limited")
    await close_all(mentee, mentor)


async def test_the_database_never_holds_a_body_in_plaintext(sqlite_server):
    mentee, mentor = await register(sqlite_server), await register(sqlite_server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    secret = f"my secret worry {uuid.uuid4().hex}"
    await a.call("message:send", {"room_id": room["id"], "client_id": "s1", "body": secret})
    await close_all(mentee, mentor)
    sqlite_server.stop()
    for path in sqlite_server.data_dir.glob("mentalverse.db*"):
        assert secret.encode() not in path.read_bytes(), path
        assert secret.encode("utf-16-le") not in path.read_bytes(), path


async def test_a_send_after_the_database_dropped_every_connection_is_stored_and_acked(tmp_path):
    """PostgreSQL restarted or an operator terminated the server's sessions: the pooled
    connections are dead, and the next message is still stored, acknowledged and in history."""
    server = ServerProcess(data_dir=tmp_path, database_url=new_pg_database()).start()
    try:
        mentee, mentor = await register(server), await register(server, role="mentor")
        a, room = await direct_room(mentee, mentor)
        await a.call("message:send", {"room_id": room["id"], "client_id": "before", "body": "before the drop"})
        database = server.database_url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            dropped = await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1) t", database)
        finally:
            await admin.close()
        assert dropped >= 1
        ack = await a.call("message:send", {"room_id": room["id"], "client_id": "after", "body": "after the drop"})
        assert ack["ok"] is True, ack
        history = await a.call("message:history", {"room_id": room["id"], "after_seq": 0, "limit": 10})
        assert [m["body"] for m in history["messages"]] == ["before the drop", "after the drop"]
        assert [m["seq"] for m in history["messages"]] == [1, 2]
        await close_all(mentee, mentor)
    finally:
        server.stop()


async def test_a_server_restart_loses_no_acknowledged_message(fresh_server):
    mentee, mentor = await register(fresh_server), await register(fresh_server, role="mentor")
    a, room = await direct_room(mentee, mentor)
    acked = []
    for i in range(10):
        acked.append((await a.call("message:send", {"room_id": room["id"], "client_id": f"d{i}", "body": f"durable {i}"}))["message"])
    await close_all(mentee)
    fresh_server.kill()  # no graceful flush at all
    fresh_server.start()
    a2 = await mentee.connect()
    history = await a2.call("message:history", {"room_id": room["id"], "after_seq": 0, "limit": 50})
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in acked]
    assert [m["body"] for m in history["messages"]] == [f"durable {i}" for i in range(10)]
    await close_all(mentee, mentor)
