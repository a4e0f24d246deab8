"""What people tell us stays theirs: nothing secret in the logs, a full copy on request, and
real forgetting (tombstones where others still talk, crypto-shredding where nobody is left)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import aiohttp
import pytest

from server.core.keyring import decode_key, unwrap_key
from tests.conftest import database_url_for
from tests.live_server import PASSWORD, ServerProcess, close_all, register


@pytest.fixture
def debug_server(tmp_path: Path):
    data_dir = tmp_path / "debug"
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir), extra_env={"MV_LOG_LEVEL": "DEBUG"})
    proc.start()
    yield proc
    proc.stop()


def db(server: ServerProcess) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "mentalverse.db")


async def test_no_message_body_token_password_or_key_reaches_the_log_even_at_debug_level(debug_server):
    marker = f"zq{uuid.uuid4().hex[:10]}"
    mentee = await register(debug_server, display_name=f"Secret {marker} Name")
    mentor = await register(debug_server, role="mentor")
    responder = await register(debug_server, role="responder")
    console = await responder.connect(namespaces=["/responders"])
    a = await mentee.connect()
    room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id], "title": f"title {marker}"}))["room"]
    await a.call("room:join", {"room_id": room["id"]})
    bodies = [
        f"first secret {marker}-body-1",
        f"some filler words {marker}-far-away " + "and more ordinary talk about the week " * 6
        + "I have saved up my pills and I will take them all tonight",
        f"edited {marker}-body-3",
    ]
    sent = []
    for i, body in enumerate(bodies):
        reply = await a.call("message:send", {"room_id": room["id"], "client_id": f"s{i}", "body": body})
        assert reply["ok"], reply
        sent.append(reply["message"])
    await a.call("message:edit", {"room_id": room["id"], "message_id": sent[2]["id"], "body": f"now {marker}-edit"})
    bad = await a.call("message:send", {"room_id": room["id"], "client_id": 7, "body": f"{marker}-invalid"})
    assert bad["error"]["code"] == "invalid_payload"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{debug_server.url}/api/auth/login", json={"username": mentee.username, "password": f"wrong {marker}"}) as resp:
            assert resp.status == 401
        async with http.get(f"{debug_server.url}/api/me", headers={"Authorization": f"Bearer {mentee.token}x"}) as resp:
            assert resp.status == 401
    alert = None
    try:
        alert = await console.wait_for("crisis:alert", timeout=10)
    except AssertionError:
        pass
    await close_all(mentee, mentor, responder)
    await asyncio.sleep(0.5)

    log = debug_server.log_text()
    master_key = (debug_server.data_dir / "master.key").read_text().strip()
    with db(debug_server) as conn:
        password_hash, = conn.execute("select password_hash from users where id=?", (mentee.id,)).fetchone()
    secrets = {"marker": marker, "token": mentee.token, "token signature": mentee.token.rsplit(".", 1)[-1],
               "password": PASSWORD, "password hash": password_hash.rsplit("$", 1)[-1], "master key": master_key}
    leaks = {name: log.count(value) for name, value in secrets.items() if value in log}
    print(f"server log at DEBUG: {len(log.splitlines())} lines, {len(log)} bytes; searched for {sorted(secrets)}; leaks: {leaks or 'none'}")
    assert not leaks
    assert '"level":"debug"' in log or "debug" in log.lower(), "the server really ran at DEBUG"
    if alert is not None:
        print(f"crisis alert carried an excerpt of {len(alert['excerpt'])} chars")
        assert "saved up my pills" in alert["excerpt"]
        assert f"{marker}-far-away" not in json.dumps(alert), "an alert carries the excerpt, never the whole message"


async def cli_json(server: ServerProcess, *args: str) -> dict:
    done = await asyncio.to_thread(server.cli, *args)
    return json.loads(done.stdout)


async def test_an_export_returns_the_persons_profile_rooms_messages_and_safety_plan_readable(sqlite_server):
    mentee, mentor = await register(sqlite_server, country="ES"), await register(sqlite_server, role="mentor")
    a = await mentee.connect()
    room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
    await a.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "mine, in plain words"})
    plan = {"warning_signs": ["I stop answering friends"], "coping": ["a walk by the river"], "people_places": [],
            "professionals": [], "environment": [], "emergency_contact": {"name": "Sis", "phone": "+34 600 000 000"}}
    assert (await a.call("safety_plan:set", {"plan": plan}))["ok"]
    b = await mentor.connect()
    await b.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "the mentor's words are not in it"})
    data = await cli_json(sqlite_server, "users", "export", mentee.username)
    assert data["safety_plan"]["coping"] == ["a walk by the river"]
    assert data["safety_plan"]["emergency_contact"]["name"] == "Sis"
    assert data["profile"]["username"] == mentee.username and data["profile"]["country"] == "ES"
    assert "password_hash" not in json.dumps(data)
    assert [m["room_id"] for m in data["memberships"]] == [room["id"]]
    assert [m["body"] for m in data["messages"]] == ["mine, in plain words"]
    with db(sqlite_server) as conn:
        audit = conn.execute("select detail from audit_log where action='privacy.export' and target_id=?", (mentee.id,)).fetchall()
    assert len(audit) == 1 and json.loads(audit[0][0])["via"] == "cli"
    await close_all(mentee, mentor)


async def test_deleting_a_person_tombstones_their_words_in_shared_rooms_and_shreds_rooms_only_they_held(sqlite_server):
    alice, bob, carol = await register(sqlite_server), await register(sqlite_server, role="mentor"), await register(sqlite_server, role="mentor")
    a = await alice.connect()
    shared = (await a.call("room:create", {"kind": "direct", "member_ids": [bob.id]}))["room"]
    lonely = (await a.call("room:create", {"kind": "direct", "member_ids": [carol.id]}))["room"]
    await a.call("message:send", {"room_id": shared["id"], "client_id": "1", "body": "alice to bob"})
    await a.call("message:send", {"room_id": lonely["id"], "client_id": "1", "body": "alice to carol"})
    b = await bob.connect()
    await b.call("message:send", {"room_id": shared["id"], "client_id": "1", "body": "bob to alice"})
    c = await carol.connect()
    await c.call("message:send", {"room_id": lonely["id"], "client_id": "1", "body": "carol to alice"})
    await close_all(carol)
    await asyncio.to_thread(sqlite_server.cli, "users", "delete", carol.username)

    with db(sqlite_server) as conn:
        backup = conn.execute("select id, nonce, ciphertext from messages where room_id=? and ciphertext is not null", (lonely["id"],)).fetchall()
    assert len(backup) == 1, "before Alice goes, her own line to Carol is still stored (Carol's is a tombstone)"

    deleted = await asyncio.to_thread(sqlite_server.cli, "users", "delete", alice.username)
    print(deleted.stdout.strip())
    gone = await b.call("message:history", {"room_id": shared["id"], "after_seq": 0, "limit": 50})
    assert [(m["body"], m["deleted"]) for m in gone["messages"]] == [(None, True), ("bob to alice", False)]
    members = (await b.call("room:join", {"room_id": shared["id"]}))["room"]["members"]
    assert [m["id"] for m in members] == [bob.id], "the deleted person is no longer a member"

    with db(sqlite_server) as conn:
        wrapped, = conn.execute("select wrapped_key from rooms where id=?", (lonely["id"],)).fetchone()
        profile = conn.execute("select username, display_name, password_hash, banned from users where id=?", (alice.id,)).fetchone()
        actions = [r[0] for r in conn.execute("select action from audit_log where target_id in (?, ?)", (alice.id, carol.id))]
    assert wrapped is None, "the room only Alice still held lost its key"
    master = decode_key((sqlite_server.data_dir / "master.key").read_text())
    with pytest.raises(Exception):
        unwrap_key(master, lonely["id"], wrapped)
    print(f"crypto-shredded room: {len(backup)} ciphertext(s) kept from a message-table copy are now unreadable (no key)")
    assert profile[0].startswith("deleted-") and profile[1] == "Deleted user" and alice.username not in profile
    assert profile[3] == 1
    assert actions.count("privacy.delete") == 2

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sqlite_server.url}/api/auth/login", json={"username": alice.username, "password": PASSWORD}) as resp:
            assert resp.status == 401
    deadline = asyncio.get_running_loop().time() + 10
    while a.sio.connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert not a.sio.connected, "a deleted person's live connections close"
    await close_all(bob)


async def test_every_privileged_action_is_in_the_audit_log(sqlite_server):
    person = await register(sqlite_server)
    await asyncio.to_thread(sqlite_server.cli, "users", "grant", person.username, "leader")
    await asyncio.to_thread(sqlite_server.cli, "users", "export", person.username)
    await asyncio.to_thread(sqlite_server.cli, "users", "ban", person.username)
    await asyncio.to_thread(sqlite_server.cli, "users", "delete", person.username)
    with db(sqlite_server) as conn:
        actions = [r[0] for r in conn.execute("select action from audit_log where target_id=? order by id", (person.id,))]
    print(f"audit trail of one person: {actions}")
    assert actions == ["user.grant_role", "privacy.export", "user.ban", "privacy.delete"]
