"""Foundation: the server runs, people sign up and in, and bad input never breaks a connection."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest
import socketio

from tests.live_server import PASSWORD, register


async def test_health_reports_ok_and_version_once_the_database_is_reachable(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["status"] == "ok" and body["version"]


async def test_a_mentee_registers_signs_in_and_connects_with_the_token(server):
    person = await register(server)
    client = await person.connect()
    assert client.sio.connected
    reply = await client.call("room:list")
    assert reply == {"ok": True, "rooms": []}
    await client.disconnect()


async def test_a_connection_without_a_valid_token_is_refused_with_a_reason(server):
    for auth in (None, {}, {"token": "not-a-token"}, {"token": 12345}):
        client = socketio.AsyncClient(reconnection=False)
        reasons = []
        client.on("connect_error", lambda data: reasons.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=5)
        assert reasons and reasons[0]["data"]["code"] == "unauthorized", reasons


async def test_self_registration_cannot_claim_a_privileged_role(server):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/register", json={
            "username": "wannabe_admin", "password": PASSWORD, "display_name": "X", "role": "admin"}) as resp:
            body = await resp.json()
    assert resp.status == 403
    assert body == {"ok": False, "error": {"code": "forbidden", "message": body["error"]["message"]}}


async def test_wrong_password_and_unknown_user_get_the_same_answer(server):
    person = await register(server)
    async with aiohttp.ClientSession() as http:
        answers = []
        for username, password in ((person.username, "wrong password!"), ("nobody_here", "wrong password!")):
            async with http.post(f"{server.url}/api/auth/login", json={"username": username, "password": password}) as resp:
                answers.append((resp.status, (await resp.json())["error"]["code"]))
    assert answers == [(401, "bad_credentials"), (401, "bad_credentials")]


async def test_http_bad_bodies_get_structured_errors(server):
    async with aiohttp.ClientSession() as http:
        cases = [
            (b"not json", "invalid_payload"),
            (b'{"username": 3, "password": "x"}', "invalid_payload"),
            (b"[]", "invalid_payload"),
            (b'{"username": "' + b"a" * 200_000 + b'", "password": "x"}', "payload_too_large"),
        ]
        for raw, code in cases:
            async with http.post(f"{server.url}/api/auth/login", data=raw, headers={"Content-Type": "application/json"}) as resp:
                body = await resp.json()
                assert body["ok"] is False and body["error"]["code"] == code, body


async def test_bad_event_payloads_get_structured_errors_and_the_connection_stays_up(server):
    person = await register(server)
    client = await person.connect()
    bad = [
        ("message:send", "just a string"),
        ("message:send", {"room_id": 1}),
        ("message:send", {"room_id": "r", "client_id": "c", "body": "hi", "extra": True}),
        ("room:create", {"kind": "party", "member_ids": []}),
        ("message:history", {"room_id": "r", "limit": "ten"}),
        ("room:join", {"room_id": {"nested": {"deep": [1, 2, 3]}}}),
        ("message:send", {"room_id": "r", "client_id": "c", "body": "x" * 100_000}),
        ("no:such:event", {}),
    ]
    for event, payload in bad:
        reply = await client.call(event, payload)
        assert reply["ok"] is False, (event, reply)
        assert set(reply["error"]) >= {"code", "message"}
        assert client.sio.connected
    assert (await client.call("room:list"))["ok"] is True
    await client.disconnect()


async def test_a_revoked_token_no_longer_connects(server):
    person = await register(server)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/logout", headers={"Authorization": f"Bearer {person.token}"}) as resp:
            assert resp.status == 200
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"token": person.token}, transports=["websocket"], wait_timeout=5)


async def test_sigterm_says_goodbye_to_clients_and_exits_cleanly(sqlite_server):
    person = await register(sqlite_server)
    client = await person.connect()
    disconnected = asyncio.Event()
    client.sio.on("disconnect", lambda *args: disconnected.set())
    code = await asyncio.to_thread(sqlite_server.stop, signal.SIGTERM)
    assert code == 0, sqlite_server.log_text()[-2000:]
    await asyncio.wait_for(disconnected.wait(), 5)
    assert '"level":"error"' not in sqlite_server.log_text()
