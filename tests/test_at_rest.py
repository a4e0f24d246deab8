"""Data at rest: someone who copies the database (a backup, a stolen disk, a curious operator with
psql) learns nothing of what a person in crisis wrote, nor what a support group is about. Alert
findings, room titles and agendas are sealed with the room's key; members and responders still
read them in clear through the server. On SQLite the data dir and the database files are private
to the server's user.

Each check reads the database directly (the sqlite file bytes, or every row of every table through
asyncpg), never through the server's code.
"""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from pathlib import Path

import pytest
from alembic import command

from server.core.keyring import Keyring, decode_key
from server.storage.database import alembic_config
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register

RISKY = "I saved up my pills and I want to kill myself tonight"
# What the detector finds in RISKY and what a copy of the database must not give away.
RISK_PHRASES = ("saved up my pills", "want to kill myself", "tonight", "pills")
CONSOLE = ["/responders"]


async def stored_text(server: ServerProcess) -> str:
    """Everything the database holds, as text: the sqlite file and its WAL byte for byte, or on
    PostgreSQL every row of every table."""
    if server.database_url.startswith("sqlite"):
        path = Path(server.database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        return raw.decode("utf-8", errors="replace").lower()
    import asyncpg

    conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        dumps = [await conn.fetchval(f'SELECT string_agg(t::text, E\'\\n\') FROM "{t["tablename"]}" t') or "" for t in tables]
    finally:
        await conn.close()
    return "\n".join(dumps).lower()


async def assert_nowhere_in_clear(server: ServerProcess, secrets: tuple[str, ...]) -> None:
    text = await stored_text(server)
    found = [secret for secret in secrets if secret.lower() in text]
    assert not found, f"readable in the database: {found}"


async def assert_somewhere_in_clear(server: ServerProcess, secrets: tuple[str, ...]) -> None:
    text = await stored_text(server)
    missing = [secret for secret in secrets if secret.lower() not in text]
    assert not missing, f"expected in clear before the migration: {missing}"


async def risky_alert(server: ServerProcess) -> tuple[Person, Person, LiveClient, dict]:
    """A mentee writes RISKY to their mentor; returns (mentee, responder, console, alert)."""
    mentee, mentor = await register(server, country="US", locale="en"), await register(server, role="mentor")
    responder = await register(server, role="responder")
    console = await responder.connect(namespaces=CONSOLE)
    client = await mentee.connect()
    room = (await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
    sent = await client.call("message:send", {"room_id": room["id"], "client_id": uuid.uuid4().hex, "body": RISKY})
    assert sent["ok"], sent
    alert = await console.wait_for("crisis:alert", lambda d: d["room_id"] == room["id"])
    return mentee, responder, console, alert


async def group_with_agenda(server: ServerProcess, title: str, items: list[str]) -> tuple[Person, Person, LiveClient, str]:
    """A leader opens a group, a member accepts the invitation, the leader sets the agenda."""
    leader, member = await register(server, role="leader"), await register(server)
    lead = await leader.connect()
    created = await lead.call("group:create", {"title": title, "invite_ids": [member.id]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    joined = await member.connect()
    assert (await joined.call("group:accept", {"room_id": room_id}))["ok"]
    assert (await lead.call("agenda:set", {"room_id": room_id, "items": items}))["ok"]
    return leader, member, joined, room_id


async def assert_member_reads(client: LiveClient, room_id: str, title: str, items: list[str]) -> None:
    rooms = {r["id"]: r for r in (await client.call("room:list"))["rooms"]}
    assert rooms[room_id]["title"] == title
    assert rooms[room_id]["settings"]["group"]["agenda"]["items"] == items
    joined = await client.call("room:join", {"room_id": room_id})
    assert joined["room"]["title"] == title
    state = await client.call("group:state", {"room_id": room_id})
    assert state["group"]["agenda"]["items"] == items


async def test_a_risky_message_leaves_none_of_its_phrases_readable_in_the_database(server):
    mentee, responder, console, alert = await risky_alert(server)

    assert any("want to kill myself" in reason for reason in alert["reasons"]), alert
    listed = await console.call("crisis:list", {})
    assert next(a for a in listed["alerts"] if a["id"] == alert["id"])["reasons"] == alert["reasons"]
    await assert_nowhere_in_clear(server, RISK_PHRASES)
    await close_all(mentee, responder)


async def test_a_groups_title_and_agenda_are_sealed_and_its_members_still_read_them(server):
    marker = uuid.uuid4().hex[:8]
    title = f"Widowed by overdose {marker}"
    items = [f"Grief after suicide loss {marker}", f"Coping with relapse {marker}"]
    leader, member, client, room_id = await group_with_agenda(server, title, items)
    invitee = await register(server)
    lead = leader.clients[0]
    assert (await lead.call("group:invite", {"room_id": room_id, "user_id": invitee.id}))["ok"]
    pending = (await (await invitee.connect()).call("group:invitations"))["invitations"]

    assert [i["title"] for i in pending if i["room_id"] == room_id] == [title]
    await assert_member_reads(client, room_id, title, items)
    await assert_nowhere_in_clear(server, (title, *items))
    await close_all(leader, member, invitee)


async def test_an_export_shows_the_room_titles_the_database_does_not(server):
    marker = uuid.uuid4().hex[:8]
    title = f"Eating disorder circle {marker}"
    leader, member, _client, _room_id = await group_with_agenda(server, title, [f"Meal plans {marker}"])

    exported = await asyncio.to_thread(server.cli, "users", "export", member.username)
    assert title in exported.stdout
    await assert_nowhere_in_clear(server, (title,))
    await close_all(leader, member)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_data_dir_and_the_sqlite_files_are_private_to_the_server_user(fresh_server):
    mentee, responder, _console, _alert = await risky_alert(fresh_server)
    path = Path(fresh_server.database_url.split("///", 1)[1])
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]

    modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in files}
    assert stat.S_IMODE(os.stat(fresh_server.data_dir).st_mode) == 0o700
    assert modes == {p.name: 0o600 for p in files}
    await close_all(mentee, responder)


async def test_an_upgrade_seals_the_clear_values_an_existing_deployment_holds(fresh_server):
    """Rows written in clear before the at-rest revision are sealed by it, and still read."""
    marker = uuid.uuid4().hex[:8]
    title, items = f"Self-harm recovery {marker}", [f"Urges at night {marker}"]
    leader, member, _client, room_id = await group_with_agenda(fresh_server, title, items)
    mentee, responder, _console, alert = await risky_alert(fresh_server)
    await close_all(leader, member, mentee, responder)
    fresh_server.stop()
    cfg = alembic_config(fresh_server.database_url)
    cfg.attributes["keyring"] = Keyring(decode_key((fresh_server.data_dir / "master.key").read_text()))
    await asyncio.to_thread(command.downgrade, cfg, "0007_at_rest-1")
    await assert_somewhere_in_clear(fresh_server, (title, *items, "want to kill myself"))

    fresh_server.start()
    await assert_nowhere_in_clear(fresh_server, (title, *items, *RISK_PHRASES))
    console = await responder.connect(namespaces=CONSOLE)
    listed = await console.call("crisis:list", {})
    assert next(a for a in listed["alerts"] if a["id"] == alert["id"])["reasons"] == alert["reasons"]
    await assert_member_reads(await member.connect(), room_id, title, items)
    await close_all(member, responder)
