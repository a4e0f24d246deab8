"""Calls: ringing, answering, private offer/answer/ICE relay, glare, timeouts and clean-up."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import database_url_for
from tests.live_server import ServerProcess, close_all, register

FAKE_SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture(scope="module")
def call_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("calls")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         extra_env={"MV_RING_TIMEOUT_SECONDS": "2", "MV_TURN_URLS": "turn:turn.example.test:3478",
                                    "MV_TURN_SECRET": "s3cret", "MV_STUN_URLS": "stun:turn.example.test:3478"})
    proc.start()
    yield proc
    proc.stop()


async def call_record(client, room_id: str, call_id: str) -> dict:
    """The conversation's record of a call: the "call" message pushed live, also in history."""
    pushed = await client.wait_for(
        "message:new", lambda m: m["kind"] == "call" and json.loads(m["body"])["call_id"] == call_id)
    history = (await client.call("message:history", {"room_id": room_id, "after_seq": 0, "limit": 50}))["messages"]
    assert [m["id"] for m in history if m["kind"] == "call"] == [pushed["id"]], "one record per call, kept in history"
    return {**json.loads(pushed["body"]), "sender_id": pushed["sender_id"]}


async def pair_in_room(server):
    mentee, mentor = await register(server), await register(server, role="mentor")
    a = await mentee.connect()
    room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
    b = await mentor.connect()
    for side in (a, b):
        assert (await side.call("room:join", {"room_id": room["id"]}))["ok"]
    return mentee, mentor, a, b, room


async def test_a_one_to_one_call_rings_connects_relays_privately_and_ends(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    stranger = await register(call_server)
    s = await stranger.connect()

    started = await a.call("call:start", {"room_id": room["id"], "media": "video"})
    assert started["ok"] and started["call"]["mode"] == "p2p" and not started["joined_existing"]
    call_id = started["call"]["id"]
    ring = await b.wait_for("call:ring")
    assert ring["call"]["id"] == call_id and ring["from"]["id"] == mentee.id

    accepted = await b.call("call:accept", {"call_id": call_id})
    assert accepted["ok"]
    assert (await a.wait_for("call:accepted"))["user_id"] == mentor.id

    assert (await a.call("call:offer", {"call_id": call_id, "to": mentor.id, "sdp": FAKE_SDP}))["ok"]
    offer = await b.wait_for("call:offer")
    assert offer == {"call_id": call_id, "from": mentee.id, "sdp": FAKE_SDP, "type": "offer"}
    assert (await b.call("call:answer", {"call_id": call_id, "to": mentee.id, "sdp": FAKE_SDP}))["ok"]
    assert (await a.wait_for("call:answer"))["from"] == mentor.id
    cand = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
    assert (await b.call("call:ice", {"call_id": call_id, "to": mentee.id, "candidate": cand}))["ok"]
    assert (await a.wait_for("call:ice"))["candidate"] == cand

    for event, payload in (("call:offer", {"call_id": call_id, "to": mentee.id, "sdp": FAKE_SDP}),
                           ("call:accept", {"call_id": call_id}), ("call:end", {"call_id": call_id})):
        reply = await s.call(event, payload)
        assert reply["error"]["code"] == "forbidden", (event, reply)
    assert not s.received("call:ring") and not s.received("call:offer")

    assert (await a.call("call:end", {"call_id": call_id}))["ok"]
    ended = await b.wait_for("call:ended")
    assert ended["reason"] == "hangup" and ended["by"] == mentee.id
    for side in (a, b):
        record = await call_record(side, room["id"], call_id)
        assert record["outcome"] == "ended" and record["media"] == "video" and record["duration_s"] >= 0
        assert record["sender_id"] == mentee.id, "the caller's call, on both sides"
    assert not s.received("message:new"), "a stranger sees nothing of the call"
    late = await a.call("call:offer", {"call_id": call_id, "to": mentor.id, "sdp": FAKE_SDP})
    assert late["error"]["code"] == "call_ended"
    await close_all(mentee, mentor, stranger)


async def test_two_people_calling_each_other_at_once_end_up_in_one_call(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    first, second = await asyncio.gather(
        a.call("call:start", {"room_id": room["id"]}), b.call("call:start", {"room_id": room["id"]})
    )
    assert first["call"]["id"] == second["call"]["id"]
    assert sorted([first["joined_existing"], second["joined_existing"]]) == [False, True]
    polite = {p["user_id"]: p["polite"] for p in second["call"]["participants"]}
    assert sorted(polite.values()) == [False, True], "exactly one side is polite for perfect negotiation"
    await a.call("call:end", {"call_id": first["call"]["id"]})
    await close_all(mentee, mentor)


async def test_an_unanswered_call_stops_ringing_after_the_timeout(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    call_id = (await a.call("call:start", {"room_id": room["id"]}))["call"]["id"]
    ended = await a.wait_for("call:ended", lambda e: e["call_id"] == call_id, timeout=10)
    assert ended["reason"] == "no_answer"
    assert (await b.wait_for("call:ended"))["reason"] == "no_answer"
    record = await call_record(b, room["id"], call_id)
    assert record["outcome"] == "missed" and record["duration_s"] is None
    again = await a.call("call:start", {"room_id": room["id"]})
    assert again["call"]["id"] != call_id, "the room is free for a new call"
    await a.call("call:end", {"call_id": again["call"]["id"]})
    await close_all(mentee, mentor)


async def test_a_declined_call_ends_for_the_caller(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    call_id = (await a.call("call:start", {"room_id": room["id"]}))["call"]["id"]
    await b.wait_for("call:ring")
    assert (await b.call("call:decline", {"call_id": call_id}))["ok"]
    assert (await a.wait_for("call:ended"))["reason"] == "declined"
    assert (await call_record(a, room["id"], call_id))["outcome"] == "declined"
    await close_all(mentee, mentor)


async def test_a_call_in_a_private_room_leaves_its_record_while_plaintext_stays_refused(call_server):
    mentee, mentor = await register(call_server), await register(call_server, role="mentor")
    a = await mentee.connect()
    room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id], "private": True}))["room"]
    b = await mentor.connect()
    for side in (a, b):
        assert (await side.call("room:join", {"room_id": room["id"]}))["ok"]
    call_id = (await a.call("call:start", {"room_id": room["id"]}))["call"]["id"]
    await b.wait_for("call:ring")
    assert (await b.call("call:decline", {"call_id": call_id}))["ok"]
    record = await call_record(a, room["id"], call_id)
    assert (record["outcome"], record["sender_id"]) == ("declined", mentee.id)
    refused = await a.call("message:send", {"room_id": room["id"], "client_id": "c1", "body": "hello"})
    assert refused["error"]["code"] == "sealed_required"
    await close_all(mentee, mentor)


async def test_a_peer_whose_tab_dies_is_hung_up_for_the_other_side(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    call_id = (await a.call("call:start", {"room_id": room["id"]}))["call"]["id"]
    await b.call("call:accept", {"call_id": call_id})
    b.sio.eio.ws._response.connection.transport.abort()
    ended = await a.wait_for("call:ended", timeout=15)
    assert ended["reason"] == "disconnected" and ended["by"] == mentor.id
    assert (await call_record(a, room["id"], call_id))["outcome"] == "ended"
    await close_all(mentee)


async def test_ice_servers_carry_short_lived_turn_credentials(call_server):
    mentee = await register(call_server)
    a = await mentee.connect()
    servers = (await a.call("call:ice_servers"))["ice_servers"]
    turn = next(s for s in servers if any(u.startswith("turn:") for u in s["urls"]))
    expires, user = turn["username"].split(":")
    assert user == mentee.id and int(expires) > 0 and turn["credential"]
    await close_all(mentee)


async def test_oversized_or_malformed_signaling_is_refused_without_dropping_the_connection(call_server):
    mentee, mentor, a, b, room = await pair_in_room(call_server)
    call_id = (await a.call("call:start", {"room_id": room["id"]}))["call"]["id"]
    await b.call("call:accept", {"call_id": call_id})
    huge = await a.call("call:offer", {"call_id": call_id, "to": mentor.id, "sdp": "x" * 70_000})
    assert huge["error"]["code"] == "payload_too_large"
    wrong = await a.call("call:ice", {"call_id": call_id, "to": mentor.id, "candidate": "nope"})
    assert wrong["error"]["code"] == "invalid_payload"
    assert a.sio.connected
    await a.call("call:end", {"call_id": call_id})
    await close_all(mentee, mentor)
