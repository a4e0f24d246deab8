"""Private rooms on a live server: the server stores and relays what member devices sealed, and
refuses everything that would let it read a private conversation.

The devices here are python-socketio clients that send well-formed but opaque envelopes and key
shares (the browser's real WebCrypto is exercised in tests/test_web_private_rooms.py): what is
checked is what the server does with them — durable before ack, seq, idempotent retries,
history and resync, key shares only to current members' devices, and the device's crisis
finding taking the ordinary alert path with its excerpt and tier only.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import aiohttp

from tests.live_server import LiveClient, Person, ServerProcess, close_all, register


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def envelope(device_id: str, size: int = 40) -> dict[str, Any]:
    return {"v": 1, "device_id": device_id, "key_id": uuid.uuid4().hex, "iv": b64(12), "ciphertext": b64(size)}


def identity_key() -> str:
    """A stand-in for a P-256 SPKI public key: 91 bytes, as the browser exports one."""
    return b64(91)


def code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return reply["error"]["code"]


async def device(client: LiveClient) -> str:
    reply = await client.call("device:register", {"identity_key": identity_key()})
    assert reply["ok"], reply
    return reply["device"]["id"]


async def private_pair(server: ServerProcess, **writer: Any) -> tuple[Person, LiveClient, Person, LiveClient, str]:
    a, b = await register(server, **writer), await register(server, role="mentor")
    ca, cb = await a.connect(), await b.connect()
    reply = await ca.call("room:create", {"kind": "direct", "member_ids": [b.id], "private": True})
    assert reply["ok"], reply
    assert reply["room"]["private"] is True
    room_id = reply["room"]["id"]
    for client in (ca, cb):
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    return a, ca, b, cb, room_id


async def test_a_private_room_carries_only_sealed_messages_with_the_usual_guarantees(server):
    a, ca, b, cb, room_id = await private_pair(server)
    device_a = await device(ca)
    refused = await ca.call("message:send", {"room_id": room_id, "client_id": "plain", "body": "hello in the clear"})
    assert code(refused) == "sealed_required"

    sealed = envelope(device_a)
    sent = await ca.call("message:send", {"room_id": room_id, "client_id": "c1", "sealed": sealed})
    assert sent["ok"], sent
    message = sent["message"]
    assert message["body"] is None and message["sealed"] == sealed and message["seq"] == 1
    arrived = await cb.wait_for("message:new", lambda m: m["id"] == message["id"])
    assert arrived["sealed"] == sealed and arrived["body"] is None and arrived["sender_id"] == a.id

    retried = await ca.call("message:send", {"room_id": room_id, "client_id": "c1", "sealed": envelope(device_a)})
    assert retried["ok"] and retried["message"]["id"] == message["id"] and retried["message"]["sealed"] == sealed
    second = await ca.call("message:send", {"room_id": room_id, "client_id": "c2", "sealed": envelope(device_a)})
    assert second["message"]["seq"] == 2

    history = await cb.call("message:history", {"room_id": room_id, "translate_to": "es"})
    assert [m["seq"] for m in history["messages"]] == [1, 2]
    assert history["messages"][0]["sealed"] == sealed and history["messages"][0]["translation"] is None
    resync = await cb.call("room:join", {"room_id": room_id, "last_seq": 1})
    assert [m["seq"] for m in resync["messages"]] == [2]

    edit = await ca.call("message:edit", {"room_id": room_id, "message_id": message["id"], "body": "changed"})
    assert code(edit) == "private_room"
    deleted = await ca.call("message:delete", {"room_id": room_id, "message_id": message["id"]})
    assert deleted["ok"] and deleted["message"]["sealed"] is None and deleted["message"]["deleted"] is True
    await close_all(a, b)


async def test_envelopes_are_checked_and_only_private_rooms_take_them(server):
    a, ca, b, _cb, room_id = await private_pair(server)
    device_a = await device(ca)
    bad = [
        {**envelope(device_a), "iv": b64(8)},
        {**envelope(device_a), "ciphertext": "not base64!"},
        {**envelope(device_a), "v": 2},
        {**envelope(device_a), "ciphertext": b64(8)},
    ]
    for i, sealed in enumerate(bad):
        assert code(await ca.call("message:send", {"room_id": room_id, "client_id": f"bad{i}", "sealed": sealed})) == "sealed_invalid"
    both = await ca.call("message:send", {"room_id": room_id, "client_id": "both", "body": "x", "sealed": envelope(device_a)})
    assert code(both) == "sealed_invalid"
    huge = await ca.call("message:send", {"room_id": room_id, "client_id": "huge", "sealed": envelope(device_a, 4000 * 4 + 100)})
    assert code(huge) == "body_too_long"

    open_room = await ca.call("room:create", {"kind": "direct", "member_ids": [b.id]})
    assert open_room["room"]["private"] is False
    into_open = await ca.call("message:send", {"room_id": open_room["room"]["id"], "client_id": "s", "sealed": envelope(device_a)})
    assert code(into_open) == "not_private"

    outsider = await register(server)
    oc = await outsider.connect()
    for event, payload in (
        ("message:send", {"room_id": room_id, "client_id": "x", "sealed": envelope(device_a)}),
        ("message:send", {"room_id": room_id, "client_id": "y", "body": "let me in"}),
        ("room:devices", {"room_id": room_id}),
        ("message:history", {"room_id": room_id}),
    ):
        assert code(await oc.call(event, payload)) == "forbidden", event
    await close_all(a, b, outsider)


async def test_room_keys_go_only_to_member_devices_and_wait_until_acknowledged(server):
    a, ca, b, cb, room_id = await private_pair(server)
    key_a = identity_key()
    first = await ca.call("device:register", {"identity_key": key_a})
    again = await ca.call("device:register", {"identity_key": key_a})
    assert first["device"]["id"] == again["device"]["id"]
    device_a, device_b = first["device"]["id"], await device(cb)
    assert code(await ca.call("device:register", {"identity_key": "short"})) == "invalid_identity_key"

    listed = await ca.call("room:devices", {"room_id": room_id})
    assert {(d["id"], d["user_id"]) for d in listed["devices"]} == {(device_a, a.id), (device_b, b.id)}

    share = {"device_id": device_b, "key_id": "k1", "iv": b64(12), "ciphertext": b64(48)}
    reply = await ca.call("keys:share", {"room_id": room_id, "device_id": device_a, "shares": [share]})
    assert reply == {"ok": True, "shared": 1}
    pushed = await cb.wait_for("keys:incoming", lambda s: s["key_id"] == "k1")
    assert pushed["sender_id"] == a.id and pushed["sender_device_id"] == device_a and pushed["ciphertext"] == share["ciphertext"]

    pending = await cb.call("keys:fetch", {"device_id": device_b})
    assert [s["id"] for s in pending["shares"]] == [pushed["id"]]
    assert code(await ca.call("keys:fetch", {"device_id": device_b})) == "not_your_device"
    assert code(await ca.call("keys:share", {"room_id": room_id, "device_id": device_b, "shares": [share]})) == "not_your_device"
    assert (await cb.call("keys:ack", {"device_id": device_b, "share_ids": [pushed["id"]]}))["ok"]
    assert (await cb.call("keys:fetch", {"device_id": device_b}))["shares"] == []

    stranger = await register(server)
    stranger_device = await device(await stranger.connect())
    to_stranger = {**share, "device_id": stranger_device}
    assert code(await ca.call("keys:share", {"room_id": room_id, "device_id": device_a, "shares": [to_stranger]})) == "not_a_member_device"
    await close_all(a, b, stranger)


async def test_a_removed_group_member_is_no_longer_sent_the_new_key(server):
    leader = await register(server, role="leader")
    members = [await register(server) for _ in range(2)]
    lc = await leader.connect()
    clients = [await m.connect() for m in members]
    created = await lc.call("room:create", {"kind": "group", "member_ids": [m.id for m in members], "title": "Circle", "private": True})
    assert created["ok"] and created["room"]["private"], created
    room_id = created["room"]["id"]
    leader_device = await device(lc)
    devices = [await device(c) for c in clients]
    shares = [{"device_id": d, "key_id": "before", "iv": b64(12), "ciphertext": b64(48)} for d in devices]
    assert (await lc.call("keys:share", {"room_id": room_id, "device_id": leader_device, "shares": shares}))["ok"]

    assert (await lc.call("group:remove", {"room_id": room_id, "user_id": members[0].id}))["ok"]
    listed = await lc.call("room:devices", {"room_id": room_id})
    assert devices[0] not in [d["id"] for d in listed["devices"]] and devices[1] in [d["id"] for d in listed["devices"]]
    rotated = {"device_id": devices[0], "key_id": "after", "iv": b64(12), "ciphertext": b64(48)}
    refused = await lc.call("keys:share", {"room_id": room_id, "device_id": leader_device, "shares": [rotated]})
    assert code(refused) == "not_a_member_device"
    assert code(await clients[0].call("room:devices", {"room_id": room_id})) == "forbidden"
    await close_all(leader, *members)


async def responder_console(server: ServerProcess) -> tuple[Person, LiveClient]:
    responder = await register(server, role="responder")
    console = await responder.connect(namespaces=["/responders"])
    assert (await console.call("crisis:on_call", {"on": True}))["ok"]
    return responder, console


async def test_a_risky_message_found_on_the_device_alerts_responders_with_its_excerpt_and_tier_only(server):
    responder, console = await responder_console(server)
    a, ca, b, cb, room_id = await private_pair(server, country="US")
    device_a = await device(ca)
    sent = (await ca.call("message:send", {"room_id": room_id, "client_id": "r1", "sealed": envelope(device_a)}))["message"]
    excerpt = "I don't want to be alive anymore, I have pills saved up"
    reply = await ca.call("crisis:device_alert", {"room_id": room_id, "message_id": sent["id"], "tier": 3, "excerpt": excerpt, "language": "en"})
    assert reply == {"ok": True, "alerted": True}
    alert = await console.wait_for("crisis:alert", lambda x: x["room_id"] == room_id)
    assert alert["tier"] == 3 and alert["excerpt"] == excerpt and alert["status"] == "open"
    assert alert["reasons"] == ["found by the writer's own device in a private room"]
    resources = await ca.wait_for("crisis:resources", lambda r: r["room_id"] == room_id)
    assert resources["message_id"] == sent["id"] and resources["hotlines"] and resources["responders_alerted"], resources

    retried = await ca.call("crisis:device_alert", {"room_id": room_id, "message_id": sent["id"], "tier": 3, "excerpt": excerpt})
    assert retried == {"ok": True, "alerted": True}
    listed = await console.call("crisis:list", {})
    assert len([x for x in listed["alerts"] if x["room_id"] == room_id]) == 1
    assert (await console.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    context = await console.call("crisis:context", {"alert_id": alert["id"], "limit": 20})
    assert context["private"] is True and context["messages"] == [], "nothing of the conversation but the excerpt"

    assert code(await cb.call("crisis:device_alert", {"room_id": room_id, "message_id": sent["id"], "tier": 2, "excerpt": "x"})) == "not_found"
    assert code(await ca.call("crisis:device_alert", {"room_id": room_id, "message_id": sent["id"], "tier": 4, "excerpt": "x"})) == "invalid_finding"
    assert code(await ca.call("crisis:device_alert", {"room_id": room_id, "message_id": sent["id"], "tier": 2, "excerpt": "x" * 161})) == "invalid_finding"

    off = await cb.call("room:safety_monitoring", {"room_id": room_id, "on": False})
    assert off["ok"] and off["room"]["safety_monitoring"] is False, off
    later = (await ca.call("message:send", {"room_id": room_id, "client_id": "r2", "sealed": envelope(device_a)}))["message"]
    no_consent = await ca.call("crisis:device_alert", {"room_id": room_id, "message_id": later["id"], "tier": 2, "excerpt": "x"})
    assert code(no_consent) == "monitoring_off"
    await close_all(a, b, responder)


async def test_files_and_the_library_are_refused_in_a_private_room(server):
    a, ca, b, _cb, room_id = await private_pair(server, role="mentor")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/rooms/{room_id}/files", data=b"hello",
                             headers={"Authorization": f"Bearer {a.token}", "Content-Type": "application/octet-stream",
                                      "X-File-Name": "note.txt"}) as resp:
            status, body = resp.status, await resp.json()
    assert status == 409 and body["error"]["code"] == "private_room", body
    pin = await ca.call("resource:pin", {"room_id": room_id, "title": "A link", "url": "https://example.org"})
    assert code(pin) == "private_room"
    await close_all(a, b)
