"""Scale-out: several server processes on one PostgreSQL and one Redis serve the same rooms.

People connected to different processes chat, see each other's presence and typing, and are
logged out everywhere at once. When Redis restarts or a process is killed, nobody loses an
acknowledged message: a member who missed a fan-out notices by seq and fetches exactly what
is missing. The Redis server here is this test's own (never the machine's shared one).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from tests.conftest import new_pg_database, unavailable
from tests.live_server import LiveClient, Person, ServerProcess, close_all, free_port, register


class OwnRedis:
    """A redis-server of this test's own, on a free port, that the test stops and starts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def two_processes(tmp_path: Path, own_redis: OwnRedis) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes on separate ports sharing one PostgreSQL database and one Redis."""
    database_url = new_pg_database()
    env = {
        "MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        "MV_MESSAGE_RATE": "1000/second",
    }
    prefix = f"mvscale-{uuid.uuid4().hex[:8]}"
    procs = [
        ServerProcess(data_dir=tmp_path / "data", database_url=database_url, redis_url=own_redis.url, redis_prefix=prefix, extra_env=env)
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    yield procs[0], procs[1]
    for proc in procs:
        proc.stop()


class Member:
    """A client that keeps its rooms gap-free the way a real app must: by seq.

    A ``message:new`` whose seq skips ahead, or a ``room:head`` beyond what it holds, makes it
    fetch exactly the missing messages with ``message:history {after_seq}``; after a lost
    connection it reconnects to the next server and re-joins with ``last_seq``.
    """

    def __init__(self, person: Person, urls: list[str]) -> None:
        self.person = person
        self.urls = urls
        self.url_index = 0
        self.client: LiveClient | None = None
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.how: dict[str, str] = {}  # message id -> "live" | "resync" | "rejoin"
        self.rooms: list[str] = []
        self._events: asyncio.Queue = asyncio.Queue()
        self._worker: asyncio.Task | None = None

    def last_seq(self, room_id: str) -> int:
        held = self.messages.get(room_id, [])
        return held[-1]["seq"] if held else 0

    def bodies(self, room_id: str) -> list[str]:
        return [m["body"] for m in self.messages.get(room_id, [])]

    async def connect(self, url_index: int | None = None) -> LiveClient:
        if url_index is not None:
            self.url_index = url_index
        self.client = await self.person.connect(url=self.urls[self.url_index])
        self.client.sio.on("message:new", lambda m: self._events.put_nowait(("message:new", m)))
        self.client.sio.on("room:head", lambda h: self._events.put_nowait(("room:head", h)))
        if self._worker is None:
            self._worker = asyncio.create_task(self._apply_events())
        for room_id in self.rooms:
            await self._join(room_id, rejoin=True)
        return self.client

    async def fail_over(self) -> None:
        """The server went away: connect to the next one and catch up."""
        self.url_index = (self.url_index + 1) % len(self.urls)
        await self.connect()

    async def join(self, room_id: str) -> dict[str, Any]:
        self.rooms.append(room_id)
        return await self._join(room_id, rejoin=False)

    async def _join(self, room_id: str, rejoin: bool) -> dict[str, Any]:
        assert self.client is not None
        payload: dict[str, Any] = {"room_id": room_id}
        if room_id in self.messages:
            payload["last_seq"] = self.last_seq(room_id)
        reply = await self.client.call("room:join", payload)
        assert reply["ok"], reply
        self.messages.setdefault(room_id, [])
        self._take(room_id, reply.get("messages", []), "rejoin")
        return reply

    def _take(self, room_id: str, messages: list[dict[str, Any]], how: str) -> None:
        held = self.messages.setdefault(room_id, [])
        for m in messages:
            if m["seq"] == self.last_seq(room_id) + 1:
                held.append(m)
                self.how[m["id"]] = how

    async def _catch_up(self, room_id: str) -> None:
        assert self.client is not None
        while True:
            page = await self.client.call("message:history", {"room_id": room_id, "after_seq": self.last_seq(room_id), "limit": 500})
            assert page["ok"], page
            self._take(room_id, page["messages"], "resync")
            if not page["has_more"]:
                return

    async def _apply_events(self) -> None:
        while True:
            event, data = await self._events.get()
            room_id = data["room_id"]
            if room_id not in self.messages:
                continue
            try:
                if event == "message:new":
                    if data["seq"] == self.last_seq(room_id) + 1:
                        self._take(room_id, [data], "live")
                    elif data["seq"] > self.last_seq(room_id) + 1:
                        await self._catch_up(room_id)
                elif event == "room:head" and data["last_seq"] > self.last_seq(room_id):
                    await self._catch_up(room_id)
            except Exception:
                # Connection lost mid-fetch: the re-join after fail-over replays the gap.
                continue

    async def wait_for_bodies(self, room_id: str, expected: list[str], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.bodies(room_id) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {expected}, hold {self.bodies(room_id)}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        await close_all(self.person)


async def direct_room_across(a: Member, b: Member) -> str:
    """A creates a direct room with B; B hears of it on its own process."""
    assert a.client is not None and b.client is not None
    reply = await a.client.call("room:create", {"kind": "direct", "member_ids": [b.person.id]})
    assert reply["ok"], reply
    room_id = reply["room"]["id"]
    await b.client.wait_for("room:added", lambda d: d["room"]["id"] == room_id)
    return room_id


async def mentee_and_mentor_across(a: ServerProcess, b: ServerProcess) -> tuple[Member, Member, str]:
    """A mentee on process A and a mentor on process B, both joined to their direct room."""
    mentee = Member(await register(a), [a.url, b.url])
    mentor = Member(await register(b, role="mentor"), [b.url, a.url])
    await mentee.connect()
    await mentor.connect()
    room_id = await direct_room_across(mentee, mentor)
    await mentee.join(room_id)
    await mentor.join(room_id)
    return mentee, mentor, room_id


async def send(member: Member, room_id: str, body: str, client_id: str | None = None) -> dict[str, Any]:
    assert member.client is not None
    reply = await member.client.call("message:send", {"room_id": room_id, "client_id": client_id or body, "body": body}, timeout=5)
    assert reply["ok"], reply
    return reply["message"]


async def test_people_on_different_processes_chat_see_presence_and_typing(two_processes):
    a, b = two_processes
    mentee, mentor, room_id = await mentee_and_mentor_across(a, b)
    # The mentor, on process B, sees the mentee (connected to A) online.
    state = await mentor.client.wait_for("presence:state", lambda d: d["room_id"] == room_id)
    assert mentee.person.id in state["online"] and mentor.person.id in state["online"]

    await send(mentee, room_id, "Hello from process A")
    await mentor.wait_for_bodies(room_id, ["Hello from process A"])
    await send(mentor, room_id, "Hello back from process B")
    await mentee.wait_for_bodies(room_id, ["Hello from process A", "Hello back from process B"])
    assert all(how == "live" for how in mentor.how.values())

    assert (await mentor.client.call("typing:start", {"room_id": room_id}))["ok"]
    typing = await mentee.client.wait_for("typing", lambda d: d["user_id"] == mentor.person.id)
    assert typing["typing"] is True

    # A second tab on B keeps the mentee online when the tab on A closes; closing both does not.
    second_tab = await mentee.person.connect(url=b.url)
    await mentee.client.disconnect()
    await asyncio.sleep(0.5)
    assert not any(p["user_id"] == mentee.person.id and not p["online"] for p in mentor.client.received("presence"))
    await second_tab.disconnect()
    offline = await mentor.client.wait_for("presence", lambda d: d["user_id"] == mentee.person.id and not d["online"])
    assert offline["room_id"] == room_id
    await mentee.close()
    await mentor.close()


async def test_log_out_everywhere_closes_the_users_connections_on_every_process(two_processes):
    a, b = two_processes
    person = await register(a)
    on_a = await person.connect(url=a.url)
    on_b = await person.connect(url=b.url)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{a.url}/api/auth/logout-all", headers={"Authorization": f"Bearer {person.token}"}) as resp:
            assert resp.status == 200, await resp.text()
    deadline = time.monotonic() + 10
    while (on_a.sio.connected or on_b.sio.connected) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not on_a.sio.connected and not on_b.sio.connected


async def test_a_killed_process_loses_no_acknowledged_message(two_processes):
    a, b = two_processes
    sender = Member(await register(a), [a.url, b.url])
    reader = Member(await register(b, role="mentor"), [b.url, a.url])
    await sender.connect()
    await reader.connect()
    room_id = await direct_room_across(sender, reader)
    await sender.join(room_id)
    await reader.join(room_id)

    acked: list[str] = []
    failovers = 0
    for i in range(30):
        body = f"message {i}"
        if i == 12:
            a.kill()  # SIGKILL: no goodbye, no flush, in the middle of the conversation
        for _attempt in range(3):
            try:
                message = await send(sender, room_id, body)
                acked.append(message["body"])
                break
            except Exception:
                # No ack: reconnect elsewhere and retry with the same client_id (idempotent).
                failovers += 1
                await sender.fail_over()
        else:
            raise AssertionError(f"{body!r} was never acknowledged")
    assert failovers >= 1 and sender.client is not None
    assert acked == [f"message {i}" for i in range(30)]

    history = await sender.client.call("message:history", {"room_id": room_id, "after_seq": 0, "limit": 500})
    assert [m["body"] for m in history["messages"]] == acked
    assert [m["seq"] for m in history["messages"]] == list(range(1, 31))
    await reader.wait_for_bodies(room_id, acked)
    await sender.wait_for_bodies(room_id, acked)
    print(f"\nfail-overs: {failovers}; reader got {sum(1 for h in reader.how.values() if h != 'live')} of 30 by resync")
    await sender.close()
    await reader.close()


async def test_after_a_redis_restart_members_resync_what_they_missed_and_live_delivery_resumes(two_processes, own_redis):
    a, b = two_processes
    mentee, mentor, room_id = await mentee_and_mentor_across(a, b)
    first = await send(mentee, room_id, "before the outage")
    await mentor.wait_for_bodies(room_id, ["before the outage"])

    own_redis.stop()
    # Redis is gone: the message is still stored and acknowledged; only its fan-out to B is lost.
    during = [await send(mentee, room_id, f"during the outage {i}") for i in range(2)]
    assert [m["seq"] for m in during] == [first["seq"] + 1, first["seq"] + 2]
    await asyncio.sleep(0.5)
    assert mentor.bodies(room_id) == ["before the outage"]

    own_redis.start()
    # B's listener comes back and announces the room heads; the mentor fetches exactly the gap.
    await mentor.wait_for_bodies(room_id, ["before the outage", "during the outage 0", "during the outage 1"])
    assert [mentor.how[m["id"]] for m in during] == ["resync", "resync"]
    assert "cluster.redis_listener_back" in b.log_text()

    after = await send(mentee, room_id, "after the outage")
    await mentor.wait_for_bodies(room_id, ["before the outage", "during the outage 0", "during the outage 1", "after the outage"])
    assert mentor.how[after["id"]] == "live"
    reply = await mentor.client.call("message:send", {"room_id": room_id, "client_id": "back", "body": "I see all of it"})
    assert reply["ok"], reply
    await mentee.wait_for_bodies(room_id, ["before the outage", "during the outage 0", "during the outage 1", "after the outage", "I see all of it"])
    await mentee.close()
    await mentor.close()


async def test_a_member_who_missed_a_fan_out_notices_the_gap_from_the_next_message(two_processes, own_redis):
    """A later message whose seq skips ahead is enough to trigger the resync of the gap."""
    a, b = two_processes
    mentee, mentor, room_id = await mentee_and_mentor_across(a, b)
    await send(mentee, room_id, "one")
    await mentor.wait_for_bodies(room_id, ["one"])
    # Lose exactly one fan-out: the mentor's process drops the live event, as if Redis had.
    mentor.client.sio.handlers["/"]["message:new"] = lambda m: None
    await send(mentee, room_id, "two")
    await asyncio.sleep(0.3)
    mentor.client.sio.on("message:new", lambda m: mentor._events.put_nowait(("message:new", m)))
    three = await send(mentee, room_id, "three")
    await mentor.wait_for_bodies(room_id, ["one", "two", "three"])
    assert [mentor.how[m["id"]] for m in mentor.messages[room_id]] == ["live", "resync", "resync"]
    assert three["seq"] == 3
    await mentee.close()
    await mentor.close()


async def test_a_member_removed_on_one_process_stops_receiving_the_group_on_the_other(two_processes):
    a, b = two_processes
    leader = await register(a, role="leader")
    kept, removed, third = await register(b), await register(b), await register(a)
    lc = await leader.connect(url=a.url)
    reply = await lc.call("room:create", {"kind": "group", "title": "circle", "member_ids": [kept.id, removed.id, third.id]})
    assert reply["ok"], reply
    room_id = reply["room"]["id"]
    kc, rc = await kept.connect(url=b.url), await removed.connect(url=b.url)
    for client in (lc, kc, rc):
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    assert (await lc.call("group:remove", {"room_id": room_id, "user_id": removed.id}))["ok"]
    await lc.call("message:send", {"room_id": room_id, "client_id": "after-removal", "body": "only for members now"})
    await kc.wait_for("message:new", lambda m: m["client_id"] == "after-removal")
    await asyncio.sleep(0.5)
    assert not [m for m in rc.received("message:new") if m["client_id"] == "after-removal"]
    refused = await rc.call("message:history", {"room_id": room_id, "after_seq": 0, "limit": 10})
    assert refused["error"]["code"] == "forbidden"
    await close_all(leader, kept, removed, third)
