"""Files shared in a conversation, a room's library, and the goals a mentee and mentor share, on
SQLite and PostgreSQL, over real HTTP and Socket.IO clients.

What a person relies on: only the people in a conversation can fetch what was shared in it (anyone
else, whatever they guess, hears "no such file"); a photo leaves its location behind; what is stored
is ciphertext; a refused or cancelled upload leaves nothing; goals are the mentee's and mentor's
alone, and staff look only with a reason that is recorded; export and erasure cover all of it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.conftest import database_url_for
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register
from tests.photos import gps_of, pdf_with, photo_with_location
from tests.test_at_rest import stored_text

MB = 1024 * 1024


@pytest.fixture(scope="module")
def files_server(backend: str, tmp_path_factory: pytest.TempPathFactory):
    """One server per backend; removed files are swept every 0.3 s so the tests can watch it."""
    data_dir = tmp_path_factory.mktemp(f"files-{backend}")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir), extra_env={
        "MV_FILES_SWEEP_SECONDS": "0.3", "MV_FILE_UPLOAD_RATE": "1000/minute", "MV_EVENT_RATE": "1000/10 seconds"}).start()
    yield proc
    proc.stop()


async def upload(server: ServerProcess, person: Person, room_id: str, data: Any, name: str = "photo.jpg",
                 content_type: str = "application/octet-stream") -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {person.token}", "Content-Type": content_type, "X-File-Name": name}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/rooms/{room_id}/files", data=data, headers=headers) as resp:
            return resp.status, await resp.json()


async def fetch(server: ServerProcess, token: str | None, path: str) -> tuple[int, bytes, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}{path}", headers=headers) as resp:
            return resp.status, await resp.read(), dict(resp.headers)


def blobs(server: ServerProcess) -> set[Path]:
    root = server.data_dir / "files"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def db_rows(server: ServerProcess, sql: str, *params: Any) -> list[tuple]:
    """Read the database directly (``?`` placeholders), never through the server's code."""
    if server.database_url.startswith("sqlite"):
        with sqlite3.connect(server.data_dir / "mentalverse.db") as conn:
            return conn.execute(sql, params).fetchall()
    import asyncpg

    for n in range(1, len(params) + 1):
        sql = sql.replace("?", f"${n}", 1)
    conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
    try:
        return [tuple(r) for r in await conn.fetch(sql, *params)]
    finally:
        await conn.close()


async def mentorship(server: ServerProcess) -> tuple[Person, Person, LiveClient, LiveClient, str]:
    """A mentee and a mentor in their direct room, both connected and watching it."""
    mentee, mentor = await register(server), await register(server, role="mentor")
    a, b = await mentee.connect(), await mentor.connect()
    room_id = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
    for client in (a, b):
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    return mentee, mentor, a, b, room_id


async def test_a_photo_reaches_the_other_member_without_its_location_and_nobody_else_can_fetch_it(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    outsider = await register(files_server)
    photo = photo_with_location()
    assert gps_of(photo), "the photo as sent carries a GPS position"

    status, shared = await upload(files_server, mentee, room_id, photo, name="beach%20walk.jpg")
    assert status == 201, shared
    file = shared["file"]
    assert (file["name"], file["type"], file["image"]) == ("beach walk.jpg", "image/jpeg", {"width": 1200, "height": 900})
    arrived = await b.wait_for("message:new", lambda m: m["kind"] == "file")
    assert json.loads(arrived["body"]) == file and arrived["sender_id"] == mentee.id

    status, data, headers = await fetch(files_server, mentor.token, f"/api/files/{file['file_id']}")
    assert status == 200 and len(data) == file["size"]
    assert gps_of(data) == {} and dict(Image.open(io.BytesIO(data)).getexif()) == {}, "no EXIF at all is kept"
    assert Image.open(io.BytesIO(data)).size == (1200, 900)
    assert headers["Cache-Control"] == "private, no-store" and "sandbox" in headers["Content-Security-Policy"]
    status, thumb, headers = await fetch(files_server, mentor.token, f"/api/files/{file['file_id']}/thumbnail")
    assert status == 200 and headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb)).size == (320, 240)

    for path in (f"/api/files/{file['file_id']}", f"/api/files/{file['file_id']}/thumbnail"):
        as_outsider = await fetch(files_server, outsider.token, path)
        made_up = await fetch(files_server, outsider.token, f"/api/files/{uuid.uuid4().hex}")
        assert as_outsider[0] == 404 and json.loads(as_outsider[1]) == json.loads(made_up[1]), "a guess and a real id look alike"
        assert (await fetch(files_server, None, path))[0] == 401
    status, refused = await upload(files_server, outsider, room_id, photo)
    assert (status, refused["error"]["code"]) == (404, "not_found")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{files_server.url}/api/rooms/{room_id}/files", data=photo,
                             headers={"Content-Type": "application/octet-stream"}) as resp:
            assert resp.status == 401

    history = await b.call("message:history", {"room_id": room_id, "after_seq": 0})
    assert [m["kind"] for m in history["messages"]] == ["file"], "the file is in history like a message"
    edit = await a.call("message:edit", {"room_id": room_id, "message_id": arrived["id"], "body": '{"file_id": "other"}'})
    assert edit["error"]["code"] == "not_editable"
    await close_all(mentee, mentor, outsider)


async def test_what_is_stored_of_a_shared_file_is_ciphertext_on_disk_and_in_the_database(files_server):
    mentee, mentor, a, _b, room_id = await mentorship(files_server)
    marker = f"discharge letter {uuid.uuid4().hex[:8]}"
    name = f"{marker}.pdf"
    document = pdf_with(marker, size=300_000)
    before = blobs(files_server)

    status, shared = await upload(files_server, mentee, room_id, document, name=name)
    assert status == 201, shared
    [blob] = blobs(files_server) - before
    stored = blob.read_bytes()
    assert marker.encode() not in stored and b"%PDF" not in stored
    chunks = -(-len(document) // (64 * 1024))
    assert len(stored) == len(document) + chunks * (12 + 16), "nonce and tag per 64 KiB chunk, nothing else"
    assert oct(blob.stat().st_mode & 0o777) == "0o600" and oct(blob.parent.stat().st_mode & 0o777) == "0o700"
    text = await stored_text(files_server)
    assert marker.lower() not in text, "neither the file's name nor its words are readable in the database"

    status, data, headers = await fetch(files_server, mentor.token, f"/api/files/{shared['file']['file_id']}")
    assert status == 200 and data == document
    assert headers["Content-Type"] == "application/pdf" and headers["Content-Disposition"].startswith("attachment;")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; sandbox")
    print(f"stored {len(document)} bytes as {len(stored)} bytes of ciphertext in {chunks} sealed chunks")
    await close_all(mentee, mentor)


async def test_a_refused_or_cancelled_upload_leaves_nothing_behind(files_server):
    mentee, mentor, a, _b, room_id = await mentorship(files_server)
    before = blobs(files_server)

    status, body = await upload(files_server, mentee, room_id, b"%PDF-1.4\n" + b"0" * (20 * MB))
    assert (status, body["error"]["code"]) == (413, "file_too_large")
    assert body["error"]["message"] == "The file is larger than 10 MB, the most a conversation accepts."

    async def endless_pdf():  # no Content-Length: the limit is found while reading
        yield b"%PDF-1.4\n"
        for _ in range(12):
            yield b"0" * MB
    status, body = await upload(files_server, mentee, room_id, endless_pdf())
    assert (status, body["error"]["code"]) == (413, "file_too_large")
    status, body = await upload(files_server, mentee, room_id, b"<html><script>alert(1)</script></html>", name="page.html")
    assert (status, body["error"]["code"], body["error"]["details"]["type"]) == (415, "unsupported_file_type", "text/html")
    status, body = await upload(files_server, mentee, room_id, b"", name="nothing.txt")
    assert (status, body["error"]["code"]) == (400, "empty_file")
    status, body = await upload(files_server, mentee, room_id, b'{"a": 1}', content_type="application/json")
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")

    stalled = asyncio.Event()

    async def stalls_half_way():
        yield b"%PDF-1.4\n" + b"0" * MB
        await stalled.wait()
        yield b"never sent"
    upload_task = asyncio.create_task(upload(files_server, mentee, room_id, stalls_half_way()))
    await until(lambda: any(p.suffix == ".part" for p in blobs(files_server)))
    upload_task.cancel()
    await until(lambda: not any(p.suffix == ".part" for p in blobs(files_server)))

    assert blobs(files_server) == before
    sent = await a.call("message:send", {"room_id": room_id, "client_id": "after", "body": "still just words"})
    history = await a.call("message:history", {"room_id": room_id, "after_seq": 0})
    assert [m["id"] for m in history["messages"]] == [sent["message"]["id"]], "no file message was left either"
    assert await db_rows(files_server, "select count(*) from room_files where room_id = ?", room_id) == [(0,)]
    await close_all(mentee, mentor)


async def test_a_deleted_file_message_is_not_served_any_more_and_its_blob_is_removed(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    before = blobs(files_server)
    status, shared = await upload(files_server, mentee, room_id, pdf_with("to be deleted"), name="notes.pdf")
    file_id = shared["file"]["file_id"]
    [blob] = blobs(files_server) - before
    assert (await a.call("message:delete", {"room_id": room_id, "message_id": shared["message"]["id"]}))["ok"]

    assert (await fetch(files_server, mentor.token, f"/api/files/{file_id}"))[0] == 404
    await until(lambda: not blob.exists())
    assert await db_rows(files_server, "select count(*) from room_files where id = ?", file_id) == [(0,)]
    await close_all(mentee, mentor)


async def test_a_mentor_keeps_a_library_of_links_and_files_that_the_room_reads(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    outsider = await register(files_server)
    o = await outsider.connect()

    link = await b.call("resource:pin", {"room_id": room_id, "title": "Grounding exercise", "url": "https://example.org/grounding"})
    assert link["ok"], link
    pushed = await a.wait_for("resource:pinned", lambda r: r["id"] == link["resource"]["id"])
    assert (pushed["title"], pushed["url"], pushed["file"]) == ("Grounding exercise", "https://example.org/grounding", None)
    bad = await b.call("resource:pin", {"room_id": room_id, "title": "x", "url": "javascript:alert(1)"})
    assert bad["error"]["code"] == "invalid_link"
    by_mentee = await a.call("resource:pin", {"room_id": room_id, "title": "mine", "url": "https://example.org"})
    assert by_mentee["error"]["code"] == "forbidden"

    _status, shared = await upload(files_server, mentee, room_id, pdf_with("worksheet"), name="worksheet.pdf")
    pinned = await b.call("resource:pin", {"room_id": room_id, "title": "Weekly worksheet", "file_id": shared["file"]["file_id"]})
    assert pinned["resource"]["file"]["name"] == "worksheet.pdf"
    library = (await a.call("resource:list", {"room_id": room_id}))["resources"]
    assert [r["title"] for r in library] == ["Grounding exercise", "Weekly worksheet"]
    assert (await o.call("resource:list", {"room_id": room_id}))["error"]["code"] == "forbidden"
    assert (await a.call("resource:unpin", {"room_id": room_id, "resource_id": link["resource"]["id"]}))["error"]["code"] == "forbidden"

    assert (await b.call("resource:unpin", {"room_id": room_id, "resource_id": link["resource"]["id"]}))["ok"]
    await a.wait_for("resource:unpinned", lambda e: e["resource_id"] == link["resource"]["id"])
    assert (await a.call("message:delete", {"room_id": room_id, "message_id": shared["message"]["id"]}))["ok"]
    assert (await a.call("resource:list", {"room_id": room_id}))["resources"] == [], "a deleted file leaves the library"
    await close_all(mentee, mentor, outsider)


def milestones(rewards: list[dict]) -> list[str]:
    return sorted(r["detail"]["milestone"] for r in rewards if r["kind"] == "goal_milestone")


async def test_mentee_and_mentor_agree_on_a_goal_check_in_once_a_day_and_earn_each_milestone_once(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    outsider = await register(files_server)
    o = await outsider.connect()
    target = (date.today() + timedelta(days=14)).isoformat()
    terms = {"room_id": room_id, "title": "Walk every morning", "why": "I sleep better", "target_date": target,
             "steps": [{"text": "Buy shoes"}, {"text": "Walk 10 minutes"}]}

    past = await a.call("goal:create", {**terms, "target_date": "2020-01-01"})
    assert past["error"]["code"] == "invalid_target_date"
    proposed = (await a.call("goal:create", terms))["goal"]
    assert (proposed["status"], proposed["proposed_by"]) == ("proposed", mentee.id)
    assert proposed["steps"][1] == {"text": "Walk 10 minutes", "done": False}
    assert (await b.wait_for("goal:changed", lambda e: e["goal"]["id"] == proposed["id"]))["goal"]["title"] == "Walk every morning"
    ref = {"room_id": room_id, "goal_id": proposed["id"]}
    assert (await a.call("goal:agree", ref))["error"]["code"] == "agree_other"
    assert (await a.call("goal:check_in", {**ref, "rating": 5}))["error"]["code"] == "goal_not_active"
    assert (await b.call("goal:agree", ref))["goal"]["status"] == "active"

    assert (await b.call("goal:check_in", {**ref, "rating": 9}))["error"]["code"] == "mentee_only"
    checked = (await a.call("goal:check_in", {**ref, "rating": 6, "note": "Two walks this week"}))["goal"]
    assert [(c["rating"], c["note"]) for c in checked["check_ins"]] == [(6, "Two walks this week")] and checked["checked_in_today"]
    assert (await a.call("goal:check_in", {**ref, "rating": 7}))["error"]["code"] == "already_checked_in"
    assert (await a.call("goal:check_in", {**ref, "rating": 11}))["error"]["code"] == "invalid_payload"

    for index in (0, 1):
        assert (await b.call("goal:step", {**ref, "index": index, "done": True}))["ok"]
    await a.call("goal:step", {**ref, "index": 1, "done": False})
    assert all(s["done"] for s in (await a.call("goal:step", {**ref, "index": 1, "done": True}))["goal"]["steps"])
    assert (await a.call("goal:close", {**ref, "outcome": "achieved"}))["goal"]["status"] == "achieved"
    assert (await b.call("goal:check_in", {**ref, "rating": 1}))["error"]["code"] == "mentee_only"

    assert milestones((await a.call("rewards:list"))["rewards"]) == ["achieved", "agreed", "all_steps_done", "first_check_in"]
    assert milestones((await b.call("rewards:list"))["rewards"]) == ["achieved"]
    as_outsider = {
        "goal:list": {"room_id": room_id}, "goal:agree": ref, "goal:check_in": {**ref, "rating": 5},
        "goal:close": {**ref, "outcome": "dropped"}, "goal:step": {**ref, "index": 0, "done": True},
        "goal:update": {**ref, "title": "x", "target_date": target},
        "goal:create": {"room_id": room_id, "title": "x", "target_date": target},
    }
    for event, payload in as_outsider.items():
        assert (await o.call(event, payload))["error"]["code"] == "forbidden", event
    listed = await o.call("goal:list", {"room_id": room_id})
    assert listed["error"]["code"] == "forbidden" and "Walk every morning" not in json.dumps(listed)
    await close_all(mentee, mentor, outsider)


async def test_changing_an_agreed_goal_asks_the_other_one_to_agree_again(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    target = (date.today() + timedelta(days=30)).isoformat()
    goal = (await b.call("goal:create", {"room_id": room_id, "title": "Call a friend weekly", "target_date": target}))["goal"]
    ref = {"room_id": room_id, "goal_id": goal["id"]}
    assert (await a.call("goal:agree", ref))["goal"]["status"] == "active"
    changed = (await a.call("goal:update", {**ref, "title": "Call a friend twice a week", "target_date": target}))["goal"]
    assert (changed["status"], changed["proposed_by"], changed["title"]) == ("proposed", mentee.id, "Call a friend twice a week")
    assert (await b.call("goal:agree", ref))["goal"]["status"] == "active"
    await close_all(mentee, mentor)


async def test_goals_live_only_in_a_mentorship_and_staff_read_them_only_with_a_recorded_reason(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    target = (date.today() + timedelta(days=10)).isoformat()
    goal = (await a.call("goal:create", {"room_id": room_id, "title": "Eat breakfast", "target_date": target}))["goal"]
    peer = await register(files_server)
    peers_room = (await a.call("room:create", {"kind": "direct", "member_ids": [peer.id]}))["room"]["id"]
    assert (await a.call("goal:list", {"room_id": peers_room}))["error"]["code"] == "not_a_mentorship"

    admin = await register(files_server, role="admin")
    staff = await admin.connect()
    assert (await staff.call("goal:list", {"room_id": room_id}))["error"]["code"] == "forbidden"
    assert (await staff.call("goal:review", {"room_id": room_id, "reason": "why"}))["error"]["code"] == "reason_required"
    reason = "Safeguarding review requested by the mentee's clinician"
    reviewed = await staff.call("goal:review", {"room_id": room_id, "reason": reason})
    assert [g["title"] for g in reviewed["goals"]] == ["Eat breakfast"] and reviewed["goals"][0]["id"] == goal["id"]
    assert (await b.call("goal:review", {"room_id": room_id, "reason": reason}))["error"]["code"] == "forbidden"
    audit = await db_rows(files_server, "select actor_id, detail from audit_log where action = 'goals.review' and room_id = ?", room_id)
    recorded = [(actor, json.loads(detail) if isinstance(detail, str) else detail) for actor, detail in audit]
    assert recorded == [(admin.id, {"reason": reason})]
    await close_all(mentee, mentor, peer, admin)


async def test_the_export_holds_the_persons_files_and_goals_and_erasure_shreds_them(files_server):
    mentee, mentor, a, b, room_id = await mentorship(files_server)
    before = blobs(files_server)
    _status, shared = await upload(files_server, mentee, room_id, photo_with_location(), name="me.jpg")
    file_id = shared["file"]["file_id"]
    target = (date.today() + timedelta(days=10)).isoformat()
    goal = (await a.call("goal:create", {"room_id": room_id, "title": "Journal nightly", "target_date": target}))["goal"]
    await b.call("goal:agree", {"room_id": room_id, "goal_id": goal["id"]})
    await a.call("goal:check_in", {"room_id": room_id, "goal_id": goal["id"], "rating": 4, "note": "hard week"})
    await b.call("resource:pin", {"room_id": room_id, "title": "Journal prompts", "url": "https://example.org/prompts"})

    exported = json.loads((await asyncio.to_thread(files_server.cli, "users", "export", mentee.username)).stdout)
    [file] = exported["files"]
    assert file["name"] == "me.jpg" and gps_of(base64.b64decode(file["content_base64"])) == {}
    [mine] = exported["goals"]
    assert mine["title"] == "Journal nightly" and [(c["rating"], c["note"]) for c in mine["check_ins"]] == [(4, "hard week")]
    mentors = json.loads((await asyncio.to_thread(files_server.cli, "users", "export", mentor.username)).stdout)
    assert [g["title"] for g in mentors["goals"]] == ["Journal nightly"] and "check_ins" not in mentors["goals"][0]
    assert [r["title"] for r in mentors["resources"]] == ["Journal prompts"]

    [blob] = blobs(files_server) - before
    await close_all(mentee)
    erased = await asyncio.to_thread(files_server.cli, "users", "delete", mentee.username)
    print(erased.stdout.strip())
    assert not blob.exists(), "the person's files are erased with them"
    assert (await fetch(files_server, mentor.token, f"/api/files/{file_id}"))[0] == 404
    assert await db_rows(files_server, "select count(*) from room_files where id = ?", file_id) == [(0,)]
    assert await db_rows(files_server, "select count(*) from goals where room_id = ?", room_id) == [(0,)]
    assert await db_rows(files_server, "select count(*) from goal_check_ins where goal_id = ?", goal["id"]) == [(0,)]
    await close_all(mentor)
