"""A flood of bad logins and half-open connections does not stop people who are talking.

Loopback only, bounded in count and time: 1,000 Socket.IO connection attempts with bad tokens
(raw Engine.IO websockets, 50 at a time, from 127.0.0.2) and 200 slowloris sockets that trickle
header lines and never finish a request, while a mentee and a mentor keep chatting and a new
person connects. Figures are printed; only correctness is asserted.
"""

from __future__ import annotations

import asyncio
import collections
import json
import statistics
import time
from pathlib import Path

import aiohttp

from tests.conftest import database_url_for
from tests.live_server import LiveClient, ServerProcess, close_all, register

BAD_ATTEMPTS = 1000
ATTEMPT_CONCURRENCY = 50
SLOW_SOCKETS = 200
SLOW_LINE_EVERY = 1.0  # seconds between trickled header lines
KEEPALIVE_TIMEOUT = 3.0  # seconds the server gives a connection to finish its request
FLOOD_SOURCE = "127.0.0.2"
NEWCOMER_SOURCE = "127.0.0.9"
MAX_FLOOD_SECONDS = 60.0


async def bad_token_attempt(http: aiohttp.ClientSession, url: str, n: int) -> str:
    """One Engine.IO websocket that offers a forged token; returns how it was refused."""
    try:
        async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            await ws.receive_str(timeout=10)  # the Engine.IO open packet
            await ws.send_str('40{"token":"eyJhbGciOiJIUzI1NiJ9.forged-%d.sig"}' % n)
            reply = await ws.receive_str(timeout=10)
            if reply.startswith("44"):
                return json.loads(reply[2:]).get("data", {}).get("code", "refused")
            return "accepted?!"
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"transport:{exc.__class__.__name__}"


async def slowloris(host: str, port: int, stop: asyncio.Event) -> float | None:
    """Trickle header lines until told to stop; returns when the server closed it, else None."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(FLOOD_SOURCE, 0))
    opened = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        i = 0
        while not stop.is_set():
            i += 1
            writer.write(b"X-Slow-%d: still typing\r\n" % i)
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(100), SLOW_LINE_EVERY)
            except asyncio.TimeoutError:
                continue
            if not data:
                return time.monotonic() - opened
            # Anything the server says (e.g. 400) also ends it on its side.
            return time.monotonic() - opened
        return None
    except (ConnectionError, OSError):
        return time.monotonic() - opened
    finally:
        writer.close()


async def test_a_bad_token_flood_and_a_slowloris_flood_do_not_stop_legitimate_chat(tmp_path: Path):
    data_dir = tmp_path / "flood"
    server = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                           # The production per-address connection limit: the flood comes from its
                           # own address, legitimate users from others.
                           extra_env={"MV_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT),
                                      "MV_CONNECT_RATE_PER_IP": "60/minute"}).start()
    try:
        mentee, mentor = await register(server), await register(server, role="mentor")
        a, b = await mentee.connect(), await mentor.connect()
        room = (await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
        await b.call("room:join", {"room_id": room["id"]})

        stop = asyncio.Event()
        slow = [asyncio.create_task(slowloris(server.host, server.port, stop)) for _ in range(SLOW_SOCKETS)]
        outcomes: collections.Counter[str] = collections.Counter()
        started = time.monotonic()

        async def attack() -> float:
            gate = asyncio.Semaphore(ATTEMPT_CONCURRENCY)
            connector = aiohttp.TCPConnector(local_addr=(FLOOD_SOURCE, 0), limit=ATTEMPT_CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as http:
                async def one(n: int) -> None:
                    async with gate:
                        outcomes[await bad_token_attempt(http, server.url, n)] += 1
                await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(BAD_ATTEMPTS))), MAX_FLOOD_SECONDS)
            return time.monotonic() - started

        attack_task = asyncio.create_task(attack())
        round_trips: list[float] = []
        i = 0
        while not attack_task.done() and time.monotonic() - started < MAX_FLOOD_SECONDS:
            i += 1
            sent_at = time.perf_counter()
            reply = await a.call("message:send", {"room_id": room["id"], "client_id": f"f{i}", "body": f"still talking {i}"})
            assert reply["ok"], reply
            await b.wait_for("message:new", lambda m, i=i: m["client_id"] == f"f{i}", timeout=20)
            round_trips.append((time.perf_counter() - sent_at) * 1000)
            await asyncio.sleep(0.25)  # 4 messages/s, inside the per-user message rate
        attack_seconds = await attack_task

        newcomer = await register(server)
        connector = aiohttp.TCPConnector(local_addr=(NEWCOMER_SOURCE, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            fresh = LiveClient(reconnection=False, http_session=http)
            await fresh.sio.connect(server.url, auth={"token": newcomer.token}, transports=["websocket"], wait_timeout=10)
            assert (await fresh.call("room:list"))["ok"], "a new person can still sign in and connect during the flood"
            await fresh.sio.disconnect()

        # Give the server its keepalive timeout to close every half-open socket, then stop the rest.
        await asyncio.sleep(max(0.0, KEEPALIVE_TIMEOUT + 2 - (time.monotonic() - started)))
        stop.set()
        closed_after = [t for t in await asyncio.gather(*slow) if t is not None]

        print(f"bad-token flood: {BAD_ATTEMPTS} attempts in {attack_seconds:.1f}s = {BAD_ATTEMPTS / attack_seconds:.0f} attempts/s; "
              f"outcomes {dict(outcomes)}")
        print(f"slowloris: {SLOW_SOCKETS} half-open sockets; server closed {len(closed_after)} of them, after "
              f"{min(closed_after):.1f}–{max(closed_after):.1f}s (keepalive timeout {KEEPALIVE_TIMEOUT}s)" if closed_after else
              f"slowloris: {SLOW_SOCKETS} half-open sockets; server closed none")
        print(f"legitimate chat during the flood: {len(round_trips)} messages, round trip median "
              f"{statistics.median(round_trips):.1f} ms, max {max(round_trips):.1f} ms; a newcomer connected from {NEWCOMER_SOURCE}")
        assert sum(outcomes.values()) == BAD_ATTEMPTS
        assert outcomes["accepted?!"] == 0
        assert set(outcomes) <= {"unauthorized", "rate_limited"}, outcomes
        assert outcomes["rate_limited"] >= BAD_ATTEMPTS - 60, "past 60 a minute, the address is refused before any token check"
        assert round_trips, "messages flowed during the flood"
        assert len(closed_after) == SLOW_SOCKETS, "the server, not the attacker, ends half-open connections"
        await close_all(mentee, mentor)
    finally:
        server.stop()


def test_per_process_budgets_count_a_window_then_forget_it():
    """The in-process message and event budgets: a window counts hits until it ends, then starts
    again; the windows of people who stopped sending are dropped, so a long-running process does
    not keep one counter per person it ever saw."""
    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from server.transport.ratelimit import ProcessCounters

    counters = ProcessCounters(sweep_every_s=0.05)
    budget = FixedWindowRateLimiter(counters)
    three_a_second = parse("3/second")
    assert [budget.hit(three_a_second, "alice") for _ in range(4)] == [True, True, True, False]
    assert budget.hit(three_a_second, "bob") is True
    for person in range(1_000):
        counters.incr(f"visitor-{person}", expiry=0.01)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and budget.hit(three_a_second, "alice") is False:
        time.sleep(0.05)
    assert budget.hit(three_a_second, "alice") is True
    time.sleep(0.06)
    counters.incr("carol", expiry=60)
    assert counters.reset() == 2  # alice's new window and carol's: bob's and the visitors' ended
