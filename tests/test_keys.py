"""Encryption keys: the master key can be rotated without losing a word, and a wrong key reads nothing."""

from __future__ import annotations

import base64
import os
import sqlite3

import aiohttp

from tests.live_server import PASSWORD, close_all, register


async def test_rotating_the_master_key_rewraps_room_keys_and_history_still_reads(sqlite_server):
    mentee, mentor = await register(sqlite_server), await register(sqlite_server, role="mentor")
    a = await mentee.connect()
    room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
    await a.call("message:send", {"room_id": room["id"], "client_id": "k1", "body": "before rotation"})
    await close_all(mentee)
    db_path = sqlite_server.database_url.split("///", 1)[1]
    wrapped_before = sqlite3.connect(db_path).execute("SELECT wrapped_key FROM rooms WHERE id=?", (room["id"],)).fetchone()[0]

    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    sqlite_server.stop()
    result = sqlite_server.cli("keys", "rotate-master", new_key)
    assert "re-wrapped 1 room keys" in result.stdout
    assert (sqlite_server.data_dir / "master.key").read_text().strip() == new_key
    assert oct((sqlite_server.data_dir / "master.key").stat().st_mode & 0o777) == "0o600"
    wrapped_after = sqlite3.connect(db_path).execute("SELECT wrapped_key FROM rooms WHERE id=?", (room["id"],)).fetchone()[0]
    assert wrapped_after != wrapped_before

    sqlite_server.start()
    # Token-signing keys derive from the master key, so rotation also signs everyone out.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sqlite_server.url}/api/me", headers={"Authorization": f"Bearer {mentee.token}"}) as resp:
            assert resp.status == 401
        async with http.post(f"{sqlite_server.url}/api/auth/login", json={"username": mentee.username, "password": PASSWORD}) as resp:
            mentee.token = (await resp.json())["token"]
    a = await mentee.connect()
    history = await a.call("message:history", {"room_id": room["id"], "after_seq": 0, "limit": 10})
    assert [m["body"] for m in history["messages"]] == ["before rotation"]
    await close_all(mentee)


async def test_the_master_key_file_is_private_to_the_server_user(sqlite_server):
    key_file = sqlite_server.data_dir / "master.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o077 == 0
