"""Revocation reaches live connections: a role change, a ban or a sign-out (one token or
everywhere) ends what it should on every namespace and every server process, and privileged
events never trust the role a connection had when it opened.

Three kinds of server run here:
- a "gate" server whose periodic session check is an hour away, so a refusal it gives right after
  a demotion can only come from the event gate re-reading the role (the admin CLI cannot reach a
  server without Redis);
- a server with the ordinary 2 s session check, which must close a demoted user's sockets itself;
- two processes, on PostgreSQL + Redis and on SQLite without Redis, for the cross-process paths.

Also the two small hardening items found with them: the escalation log line keeps its severity,
and the Content-Security-Policy lets pages connect to their own origin only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
import socketio

from tests.conftest import database_url_for, new_pg_database
from tests.live_server import PASSWORD, LiveClient, Person, ServerProcess, close_all, register
from tests.test_scale_out import OwnRedis

CONSOLE = ["/responders"]
BOTH = ["/", "/responders"]
RISKY = "I can't do this anymore, I want to kill myself tonight"
# Long enough that nothing in a test can be explained by the periodic session check.
NO_PERIODIC_CHECK = {"MV_SESSION_CHECK_SECONDS": "3600"}
LADDER = {"MV_ESCALATION_STEP_SECONDS": "1.5", "MV_ESCALATION_POLL_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def gate_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"gate-{backend}")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir), extra_env={**NO_PERIODIC_CHECK, **LADDER})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def two_processes_on_redis(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one PostgreSQL and one Redis of the test's own; only Redis can make a
    change on one of them reach the other within the test (the periodic check is an hour away)."""
    redis = OwnRedis(tmp_path)
    redis.start()
    env = {"MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="), **NO_PERIODIC_CHECK}
    url, prefix = new_pg_database(), f"mvrevoke-{uuid.uuid4().hex[:8]}"
    procs = [ServerProcess(data_dir=tmp_path / "data", database_url=url, redis_url=redis.url, redis_prefix=prefix, extra_env=env)
             for _ in range(2)]
    try:
        for proc in procs:
            proc.start()
        yield procs[0], procs[1]
    finally:
        for proc in procs:
            proc.stop()
        redis.stop()


@pytest.fixture
def two_processes_without_redis(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one SQLite database (one data dir, so one master key), no Redis."""
    data_dir = tmp_path / "data"
    url = database_url_for("sqlite", data_dir)
    one = ServerProcess(data_dir=data_dir, database_url=url).start()
    two = ServerProcess(data_dir=data_dir, database_url=url).start()
    yield one, two
    one.stop()
    two.stop()


@pytest.fixture
def two_gate_processes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one SQLite database, no Redis, periodic check an hour away: neither can
    tell the other anything within a test."""
    data_dir = tmp_path / "data"
    url = database_url_for("sqlite", data_dir)
    one = ServerProcess(data_dir=data_dir, database_url=url, extra_env=dict(NO_PERIODIC_CHECK)).start()
    two = ServerProcess(data_dir=data_dir, database_url=url, extra_env=dict(NO_PERIODIC_CHECK)).start()
    yield one, two
    one.stop()
    two.stop()


async def console_refusal(person: Person) -> str | None:
    """The code the responder console refuses this person's token with, or None if it admits it."""
    refused: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("connect_error", lambda data: refused.append(data), namespace="/responders")
    try:
        await client.connect(person.server.url, auth={"token": person.token}, namespaces=CONSOLE, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        assert refused, "refused without a structured reason"
        return refused[0]["data"]["code"]
    await client.disconnect()
    return None


async def sign_in(server: ServerProcess, username: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
    return data["token"]


async def sign_out(server: ServerProcess, token: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()


def device(person: Person, token: str) -> Person:
    """The same user signed in on another device, with that device's own token."""
    return Person(person.server, person.username, token, person.user)


async def grant(server: ServerProcess, person: Person, role: str) -> None:
    await asyncio.to_thread(server.cli, "users", "grant", person.username, role)


async def wait_session_ended(client: LiveClient, reason: str, timeout: float = 10.0) -> None:
    """The server says why the session ended, then the connection closes."""
    await client.wait_for("session:ended", lambda data: data == {"reason": reason}, timeout=timeout)
    deadline = time.monotonic() + timeout
    while client.sio.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not client.sio.connected, f"still connected {timeout}s after session:ended"


async def risky_alert(server: ServerProcess, console_client: LiveClient) -> tuple[Person, Person, dict[str, Any]]:
    """A mentee writes a risky message to a mentor; returns them and the alert the console got."""
    mentee, mentor = await register(server, country="US", locale="en"), await register(server, role="mentor")
    client = await mentee.connect()
    created = await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    sent = await client.call("message:send", {"room_id": room_id, "client_id": uuid.uuid4().hex, "body": RISKY})
    assert sent["ok"], sent
    alert = await console_client.wait_for("crisis:alert", lambda d: d["room_id"] == room_id and not d.get("replayed"))
    return mentee, mentor, alert


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return reply["error"]["code"]


# --- Item 1: a role change applies to live connections ------------------------------------------


async def test_a_demoted_leader_cannot_create_a_group_from_a_socket_opened_as_leader(gate_server):
    leader = await register(gate_server, role="leader")
    client = await leader.connect()
    first = await client.call("group:create", {"title": "Monday circle"})
    assert first["ok"], first

    await grant(gate_server, leader, "mentee")

    assert error_code(await client.call("group:create", {"title": "Tuesday circle"})) == "unauthorized"
    await close_all(leader)


async def test_a_demoted_responder_can_neither_claim_an_alert_nor_read_its_conversation(gate_server):
    responder = await register(gate_server, role="responder")
    console = await responder.connect(namespaces=CONSOLE)
    mentee, mentor, alert = await risky_alert(gate_server, console)
    assert (await console.call("crisis:list", {"status": "open"}))["ok"], "the console works before the demotion"

    await grant(gate_server, responder, "mentee")

    assert error_code(await console.call("crisis:ack", {"alert_id": alert["id"]})) == "unauthorized"
    assert error_code(await console.call("crisis:context", {"alert_id": alert["id"]})) == "unauthorized"
    assert error_code(await console.call("crisis:list", {"status": "open"})) == "unauthorized"
    await close_all(responder, mentee, mentor)


async def test_a_demoted_responders_console_closes_within_seconds_and_stays_closed(server):
    """The ordinary server: no Redis, so its own 2 s session check must close the console."""
    responder = await register(server, role="responder")
    console = await responder.connect(namespaces=CONSOLE)
    chat = await responder.connect()
    mentee, mentor, _alert = await risky_alert(server, console)

    await grant(server, responder, "mentee")

    await wait_session_ended(console, "role_changed")
    await wait_session_ended(chat, "role_changed")
    assert await console_refusal(responder) == "unauthorized", "the token signed in under the old role is dead"
    again = device(responder, await sign_in(server, responder.username))
    assert await console_refusal(again) == "not_a_responder"
    await close_all(responder, mentee, mentor)


# --- Item 2: signing out one token closes that token's sockets ----------------------------------


async def test_signing_out_one_token_closes_its_sockets_on_both_namespaces_and_keeps_other_devices(gate_server):
    responder = await register(gate_server, role="responder")
    laptop = await responder.connect(namespaces=BOTH)
    phone_person = device(responder, await sign_in(gate_server, responder.username))
    phone = await phone_person.connect()
    phone_console = await phone_person.connect(namespaces=CONSOLE)

    await sign_out(gate_server, responder.token)

    await wait_session_ended(laptop, "signed_out")
    assert (await phone.call("room:list"))["ok"], "the other device's sockets stay open"
    assert (await phone_console.call("crisis:list", {"status": "open"}))["ok"]
    await close_all(responder, phone_person)


async def test_a_privileged_event_on_a_signed_out_tokens_socket_is_refused_on_a_process_that_was_not_told(two_gate_processes):
    """No Redis and no periodic check in reach: process B only learns of the sign-out on A
    through the event gate, which checks the token at every privileged event."""
    a, b = two_gate_processes
    responder = await register(a, role="responder")
    console_on_b = await responder.connect(url=b.url, namespaces=CONSOLE)
    assert (await console_on_b.call("crisis:list", {"status": "open"}))["ok"]

    await sign_out(a, responder.token)

    assert error_code(await console_on_b.call("crisis:list", {"status": "open"})) == "unauthorized"
    await close_all(responder)


async def test_signing_out_a_token_on_one_process_closes_its_sockets_on_another_through_redis(two_processes_on_redis):
    a, b = two_processes_on_redis
    responder = await register(a, role="responder")
    on_b = await responder.connect(url=b.url, namespaces=BOTH)
    other_device = device(responder, await sign_in(a, responder.username))
    other_on_b = await other_device.connect(url=b.url)

    await sign_out(a, responder.token)

    await wait_session_ended(on_b, "signed_out")
    assert (await other_on_b.call("room:list"))["ok"], "the other device's socket on that process stays open"
    await close_all(responder, other_device)


async def test_without_redis_each_process_closes_a_signed_out_tokens_sockets_itself(two_processes_without_redis):
    a, b = two_processes_without_redis
    mentee = await register(a)
    on_b = await mentee.connect(url=b.url)
    other_device = device(mentee, await sign_in(a, mentee.username))
    other_on_b = await other_device.connect(url=b.url)

    await sign_out(a, mentee.token)

    await wait_session_ended(on_b, "signed_out")
    assert (await other_on_b.call("room:list"))["ok"]
    await close_all(mentee, other_device)


async def test_a_role_change_closes_the_users_sockets_on_every_process_through_redis(two_processes_on_redis):
    a, b = two_processes_on_redis
    responder = await register(a, role="responder")
    console_on_b = await responder.connect(url=b.url, namespaces=CONSOLE)
    chat_on_a = await responder.connect(url=a.url)

    await grant(a, responder, "mentor")

    await wait_session_ended(console_on_b, "role_changed")
    await wait_session_ended(chat_on_a, "role_changed")
    await close_all(responder)


# --- Item 7: log severity and CSP ---------------------------------------------------------------


async def test_the_escalation_log_line_keeps_its_severity(gate_server):
    responder = await register(gate_server, role="responder")
    console = await responder.connect(namespaces=CONSOLE)
    mentee, mentor, alert = await risky_alert(gate_server, console)
    await console.wait_for("crisis:escalated", lambda d: d["id"] == alert["id"])

    def escalation_lines() -> list[dict[str, Any]]:
        lines = (json.loads(line) for line in gate_server.log_text().splitlines() if line.startswith("{"))
        return [entry for entry in lines if entry.get("event") == "crisis.escalated" and entry.get("alert_id") == alert["id"]]

    deadline = time.monotonic() + 10
    while not escalation_lines() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    first = escalation_lines()[0]
    assert first["level"] == "info"
    assert first["escalation_level"] == 1
    await close_all(responder, mentee, mentor)


async def test_pages_may_connect_to_their_own_origin_only(gate_server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gate_server.url}/") as resp:
            policy = resp.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["connect-src"] == "'self'"
