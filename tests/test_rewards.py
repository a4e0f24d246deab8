"""Rewards: earned in the same transaction as the session that earned them, never lost while
the token service is down, and never paid twice — even with two server processes sending."""

from __future__ import annotations

import asyncio
import collections
import time

import orjson
from aiohttp import web

from server.matching.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.live_server import close_all, free_port
from tests.test_scheduling import group_with, soon, start_server

SECRET = "a shared rewards secret for tests"


async def complete_group_session(lc, member_clients, room_id: str) -> str:
    """Schedule a session now, let everyone join, and have the leader end it: completed."""
    session = (await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": soon(2), "duration_minutes": 30}))["sessions"][0]
    for client in (*member_clients, lc):
        assert (await client.call("session:join", {"session_id": session["id"]}))["ok"]
    ended = await lc.call("session:end", {"session_id": session["id"]})
    assert ended["session"]["status"] == "completed", ended
    return session["id"]


async def test_the_local_ledger_pays_the_leader_and_every_member_who_came(server):
    leader, lc, members, room_id = await group_with(server, members=2)
    came = await members[0].connect()
    session_id = await complete_group_session(lc, [came], room_id)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        led = (await lc.call("rewards:list"))["rewards"]
        if led and all(r["delivered"] for r in led):
            break
        await asyncio.sleep(0.3)
    assert [(r["kind"], r["idempotency_key"], r["delivered"]) for r in led] == [
        ("group_session_led", f"group_session_led:{session_id}", True)]
    assert [r["kind"] for r in (await came.call("rewards:list"))["rewards"]] == ["session_completed"]
    absent = await members[1].connect()
    assert (await absent.call("rewards:list"))["rewards"] == []
    await close_all(leader, *members)


class TokenService:
    """A real HTTP endpoint on loopback: down at first, then failing, then paying.
    It counts every idempotency key it pays, so a double payment would show."""

    def __init__(self, port: int, failures: int) -> None:
        self.port = port
        self.failures_left = failures
        self.requests = 0
        self.paid: collections.Counter[str] = collections.Counter()
        self.runner: web.AppRunner | None = None

    async def pay(self, request: web.Request) -> web.Response:
        raw = await request.read()
        verify(SECRET, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), raw, 60)
        event = orjson.loads(raw)
        assert request.headers["Idempotency-Key"] == event["idempotency_key"]
        self.requests += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.json_response({"error": "try later"}, status=503)
        self.paid[event["idempotency_key"]] += 1
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/rewards", self.pay)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_rewards_wait_while_the_endpoint_is_down_and_are_paid_exactly_once_when_it_returns(backend, tmp_path):
    port = free_port()
    endpoint = TokenService(port, failures=3)
    env = dict(rewards_backend="http", rewards_url=f"http://127.0.0.1:{port}/rewards", rewards_secret=SECRET,
               rewards_retry_base_seconds="0.2", rewards_retry_max_seconds="1", rewards_tick_seconds="0.2")
    a = await start_server(backend, tmp_path / "data", **env)
    b = await start_server(backend, tmp_path / "data", a.database_url, **env)
    try:
        leader, lc, members, room_id = await group_with(a, members=2)
        clients = [await members[0].connect(), await members[1].connect(url=b.url)]
        sessions = [await complete_group_session(lc, clients, room_id) for _ in range(2)]
        expected = {f"{kind}:{s}{suffix}" for s in sessions for kind, suffix in
                    [("group_session_led", "")] + [("session_completed", f":{m.id}") for m in members]}

        await asyncio.sleep(2)  # the endpoint is not even listening yet
        queued = (await lc.call("rewards:list"))["rewards"]
        assert len(queued) == 2 and not any(r["delivered"] for r in queued)
        assert "reward.retry" in a.log_text() + b.log_text()

        await endpoint.start()
        deadline = time.monotonic() + 30
        while set(endpoint.paid) != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # time for any duplicate to show up
        print(f"\n{len(expected)} rewards; endpoint saw {endpoint.requests} requests once up "
              f"(3 answered 503); payments per key: {sorted(set(endpoint.paid.values()))}")
        assert set(endpoint.paid) == expected and all(n == 1 for n in endpoint.paid.values())
        assert all(r["delivered"] for r in (await lc.call("rewards:list"))["rewards"])

        # A restart finds nothing left to send.
        before = endpoint.requests
        await asyncio.gather(asyncio.to_thread(a.restart), asyncio.to_thread(b.restart))
        await asyncio.sleep(2)
        assert endpoint.requests == before
        await close_all(leader, *members)
    finally:
        await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))
        await endpoint.stop()
