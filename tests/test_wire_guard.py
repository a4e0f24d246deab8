"""Whatever arrives on the wire, the sender gets a clear answer and nobody else notices.

Regression tests for issue 16 items 3, 5 and 6: lone surrogates and NUL characters in any text
field, integers beyond the database's columns, deep nesting, events larger than the app limit,
malformed Socket.IO packets and a garbage first WebSocket frame. Each is refused with a structured
error naming the field (or, for a frame that is not Engine.IO at all, a documented close), the
connection stays up, nothing is written, and other people's rooms keep answering. Where the
python-socketio client cannot send the attack, a raw Engine.IO v4 WebSocket does.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from server.transport.wireguard import ENGINE_MAX_BYTES
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register

# The test servers run with the default app limit (Settings.max_payload_bytes).
APP_LIMIT_BYTES = 64 * 1024


class RawSocket:
    """An Engine.IO v4 WebSocket below python-socketio: frames go out exactly as written."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws

    @classmethod
    async def open(cls, server: ServerProcess, token: str | None = None) -> "RawSocket":
        """Open the transport; with ``token``, also join the main namespace as that user."""
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        raw = cls(http, ws)
        opened = await ws.receive_str(timeout=10)
        assert opened.startswith("0{"), opened
        if token is not None:
            await ws.send_str("40" + json.dumps({"token": token}))
            joined = await raw.next_packet()
            assert joined.startswith("0{"), joined  # Socket.IO CONNECT answered
        return raw

    async def next_packet(self, timeout: float = 15) -> str:
        """The next Socket.IO packet (pings answered on the way), or ``<TYPE code>`` when the socket ends."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return f"<CLOSE {msg.data}>"  # the code the server sent
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"<{msg.type.name} {self.ws.close_code}>"
            if msg.data == "2":
                await self.ws.send_str("3")
                continue
            return msg.data[1:]

    async def ack(self, packet_id: int) -> Any:
        """The acknowledgement of our packet ``packet_id``, decoded; events pushed meanwhile are skipped."""
        while True:
            packet = await self.next_packet()
            assert not packet.startswith("<"), f"the socket ended while waiting for ack {packet_id}: {packet}"
            if packet.startswith(f"3{packet_id}["):
                return json.loads(packet[len(f"3{packet_id}"):])[0]

    async def call(self, packet_id: int, frame: str | bytes) -> Any:
        await (self.ws.send_bytes(frame) if isinstance(frame, bytes) else self.ws.send_str(frame))
        return await self.ack(packet_id)

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


def refused(reply: dict[str, Any], code: str = "invalid_payload", field: str | None = None) -> bool:
    """The reply is the structured error ``code``, naming ``field`` when one is given."""
    assert reply["ok"] is False and reply["error"]["code"] == code, reply
    if field is not None:
        assert reply["error"].get("details", {}).get("field") == field, reply
        assert field in reply["error"]["message"], reply
    return True


async def pair_in_room(server: ServerProcess) -> tuple[Person, Person, LiveClient, str]:
    mentee, mentor = await register(server), await register(server, role="mentor")
    client = await mentee.connect()
    room = await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]})
    assert room["ok"], room
    return mentee, mentor, client, room["room"]["id"]


async def others_still_served(server: ServerProcess) -> None:
    """Someone unrelated connects, lists their rooms and chats as usual."""
    mentee, mentor, client, room_id = await pair_in_room(server)
    assert (await client.call("room:list"))["ok"]
    assert (await client.call("message:send", {"room_id": room_id, "client_id": "ok", "body": "still fine"}))["ok"]
    await close_all(mentee, mentor)


async def history(client: LiveClient, room_id: str) -> list[dict[str, Any]]:
    reply = await client.call("message:history", {"room_id": room_id})
    assert reply["ok"], reply
    return reply["messages"]


# --- item 3: lone surrogates -----------------------------------------------------------------------


async def test_a_lone_surrogate_in_an_agenda_item_is_refused_by_name_and_the_group_stays_usable(server):
    leader, member = await register(server, role="leader"), await register(server)
    lead = await leader.connect()
    created = await lead.call("room:create", {"kind": "group", "title": "Thursday circle", "member_ids": [member.id]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    audit_before = (await lead.call("group:audit", {"room_id": room_id}))["entries"]

    assert refused(await lead.call("agenda:set", {"room_id": room_id, "items": ["fine", "x \ud800"]}), field="items[1]")

    # Nothing was committed, and every member's room views still answer.
    assert (await lead.call("group:audit", {"room_id": room_id}))["entries"] == audit_before
    member_client = await member.connect()
    for client in (lead, member_client):
        assert (await client.call("room:list"))["ok"]
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
        state = await client.call("group:state", {"room_id": room_id})
        assert state["ok"] and not state["group"]["agenda"]["items"], state
    assert (await lead.call("agenda:set", {"room_id": room_id, "items": ["check-in"]}))["ok"]
    await others_still_served(server)
    await close_all(leader, member)


async def test_a_lone_surrogate_in_a_body_or_client_id_is_refused_by_name(server):
    mentee, mentor, client, room_id = await pair_in_room(server)
    assert refused(await client.call("message:send", {"room_id": room_id, "client_id": "c1", "body": "hi \udfff"}), field="body")
    assert refused(await client.call("message:send", {"room_id": room_id, "client_id": "\ud800", "body": "hi"}), field="client_id")
    assert await history(client, room_id) == []
    assert (await client.call("message:send", {"room_id": room_id, "client_id": "c2", "body": "a real 😀 message"}))["ok"]
    assert [m["body"] for m in await history(client, room_id)] == ["a real 😀 message"]
    await close_all(mentee, mentor)


# --- item 6: NUL characters and integers beyond the columns ------------------------------------------


async def test_nul_characters_in_names_titles_and_client_ids_are_refused_by_name(server):
    async with aiohttp.ClientSession() as http:
        body = {"username": "nul_person", "password": "a long enough test password", "display_name": "A\x00B"}
        async with http.post(f"{server.url}/api/auth/register", json=body) as resp:
            assert resp.status == 400
            assert refused(await resp.json(), field="display_name")
    leader, member = await register(server, role="leader"), await register(server)
    lead = await leader.connect()
    assert refused(await lead.call("room:create", {"kind": "group", "title": "Tea\x00time", "member_ids": [member.id]}), field="title")
    assert (await lead.call("room:list"))["rooms"] == []
    mentee, mentor, client, room_id = await pair_in_room(server)
    assert refused(await client.call("message:send", {"room_id": room_id, "client_id": "a\x00", "body": "hi"}), field="client_id")
    assert refused(await client.call("message:send", {"room_id": room_id, "client_id": "c", "body": "\x00"}), field="body")
    assert await history(client, room_id) == []
    await close_all(leader, member, mentee, mentor)


@pytest.mark.parametrize("seq", [2**31, 2**63, -(2**31) - 1])
async def test_history_beyond_the_integer_columns_is_refused_by_name(server, seq):
    mentee, mentor, client, room_id = await pair_in_room(server)
    assert (await client.call("message:send", {"room_id": room_id, "client_id": "c", "body": "one"}))["ok"]
    assert refused(await client.call("message:history", {"room_id": room_id, "after_seq": seq}), field="after_seq")
    assert refused(await client.call("room:join", {"room_id": room_id, "last_seq": seq}), field="last_seq")
    largest = await client.call("message:history", {"room_id": room_id, "after_seq": 2**31 - 1})
    assert largest["ok"] and largest["messages"] == [], largest
    await close_all(mentee, mentor)


# --- item 5: size, depth and malformed packets ---------------------------------------------------------


@pytest.mark.parametrize("body_bytes", [1_000_000, 10_000_000])
async def test_an_oversized_message_is_answered_with_payload_too_large_and_the_connection_stays(server, body_bytes):
    mentee, mentor, client, room_id = await pair_in_room(server)
    reply = await client.call("message:send", {"room_id": room_id, "client_id": "big", "body": "x" * body_bytes}, timeout=60)
    assert refused(reply, code="payload_too_large")
    assert str(APP_LIMIT_BYTES) in reply["error"]["message"]
    assert client.sio.connected
    assert (await client.call("room:list"))["ok"]
    assert await history(client, room_id) == []
    await close_all(mentee, mentor)


async def test_a_frame_beyond_the_engine_buffer_closes_only_that_socket_with_1009(server):
    mentee, mentor, client, room_id = await pair_in_room(server)
    raw = await RawSocket.open(server, mentee.token)
    try:
        await raw.ws.send_str('421["message:send",{"body":"' + "x" * (ENGINE_MAX_BYTES + 1) + '"}]')
    except ConnectionError:
        pass  # the server closed before the frame was all written; its close frame is already queued
    assert await raw.next_packet(timeout=60) == "<CLOSE 1009>"
    await raw.close()
    assert (await client.call("room:list"))["ok"]
    await close_all(mentee, mentor)


async def test_deep_nesting_is_refused_with_an_answer(server):
    mentee, mentor, client, room_id = await pair_in_room(server)
    deep: Any = "bottom"
    for _ in range(40):
        deep = {"n": [deep]}
    assert refused(await client.call("message:send", {"room_id": room_id, "client_id": "d", "body": deep}))
    raw = await RawSocket.open(server, mentee.token)
    for packet_id, depth in ((1, 3000), (2, 900)):
        frame = f'42{packet_id}["message:send",' + "[" * depth + "]" * depth + "]"
        assert refused(await raw.call(packet_id, frame))
    assert (await raw.call(3, '423["room:list"]'))["ok"]
    await raw.close()
    assert await history(client, room_id) == []
    await close_all(mentee, mentor)


MARKER = "do-not-log-this-payload"


async def test_malformed_packets_are_answered_where_they_carry_an_ack_id_and_logged_as_json(server):
    mentee, mentor, client, room_id = await pair_in_room(server)
    raw = await RawSocket.open(server, mentee.token)
    send = '["message:send",{"room_id":"%s","client_id":"%s","body":"%s"}]' % (room_id, "{}", MARKER)
    cases = {
        11: "4211[null]",
        12: "4212[123,{}]",
        13: "4213[]",
        14: '4214{"body":"%s"}' % MARKER,
        15: '4215["room:list",{"body":"%s"' % MARKER,
        16: "4216" + send.replace('"body":"', '"body":NaN,"x":"'),
    }
    for packet_id, frame in cases.items():
        assert refused(await raw.call(packet_id, frame)), frame
    # No ack id: nothing to answer, and the connection carries on.
    await raw.ws.send_str("42[null]")
    await raw.ws.send_bytes(b"\x00\xffa binary frame nobody announced")
    assert (await raw.call(17, '4217["room:list"]'))["ok"]

    # A binary event whose attachment never comes: the next text frame arrives in its place.
    await raw.ws.send_str('451-18["message:send",{"room_id":"%s","client_id":"b","body":{"_placeholder":true,"num":0}}]' % room_id)
    assert refused(await raw.call(18, '4219["room:list"]'))
    # One that points at an attachment it did not announce.
    await raw.ws.send_str('451-20["message:send",{"room_id":"%s","client_id":"b","body":{"_placeholder":true,"num":5}}]' % room_id)
    assert refused(await raw.call(20, b"\x01\x02"))
    assert (await raw.call(21, '4221["room:list"]'))["ok"]
    await raw.close()

    assert await history(client, room_id) == []
    log = server.log_text()
    assert "Traceback" not in log
    assert MARKER not in log
    rejected = [json.loads(line) for line in log.splitlines() if '"wire.rejected"' in line]
    assert {entry["user_id"] for entry in rejected} >= {mentee.id}
    assert all(entry["level"] == "warning" and entry["code"] for entry in rejected)
    await close_all(mentee, mentor)


@pytest.mark.parametrize("garbage", ["hello, server", "", "b!!not base64", "\x00"])
async def test_a_garbage_first_websocket_frame_closes_the_socket_cleanly(server, garbage):
    raw = await RawSocket.open(server)
    await raw.ws.send_str(garbage)
    msg = await raw.ws.receive(timeout=10)
    assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 1002, "not an Engine.IO packet"), msg
    await raw.close()
    await others_still_served(server)


async def test_a_garbage_frame_after_joining_closes_the_socket_cleanly(server):
    mentee, mentor, client, room_id = await pair_in_room(server)
    raw = await RawSocket.open(server, mentee.token)
    await raw.ws.send_str("GET / HTTP/1.1")
    assert await raw.next_packet() == "<CLOSE 1002>"
    await raw.close()
    assert (await client.call("room:list"))["ok"]
    await close_all(mentee, mentor)


async def test_a_client_offering_per_message_compression_is_served_plain_frames(server):
    """Compression would cost each idle connection its zlib windows (≈ 100 KB) and every chat frame a
    deflate call; the server declines the extension, and the connection works as usual."""
    mentee, mentor, client, room_id = await pair_in_room(server)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket", compress=15)
        assert ws.compress == 0, "the server accepted permessage-deflate"
        assert (await ws.receive_str(timeout=10)).startswith("0{")  # Engine.IO open
        await ws.send_str("40" + json.dumps({"token": mentee.token}))
        raw = RawSocket(http, ws)
        assert (await raw.next_packet()).startswith("0{")
        await ws.send_str("421" + json.dumps(["room:list", {}]))
        answer = await raw.next_packet()
        assert answer.startswith("31[") and room_id in answer, answer  # the ack, with the room
        await ws.close()
    await close_all(mentee, mentor)
