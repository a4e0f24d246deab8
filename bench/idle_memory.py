"""What an idle connection costs our server, by allocation site; and RSS across connection churn.

    .venv/bin/python bench/idle_memory.py [--users 400] [--top 25]          # tracemalloc by site
    .venv/bin/python bench/idle_memory.py --mode churn [--users 2000] [--rounds 3]

The server runs in this process (the real app from ``build_app``, PostgreSQL + its own Redis,
uvloop, as ``python -m server`` runs it); the clients are the Node generator processes of
bench/load.py, so nothing the clients hold is counted. ``idle``: N users connect and join their
room; tracemalloc's snapshot before and after (one frame per allocation) is diffed by line and
the largest sites are printed with their bytes per connection, beside the RSS growth per
connection (tracemalloc itself costs memory, so the RSS figure here is higher than load.py's).
``churn``: no tracemalloc; RSS before, with N connected, and after they leave, per round.
``churn-sites``: the churn under tracemalloc, and what is still allocated after the last round
that was not before, by site: what the process keeps (caches, leaks) as against what the
allocator keeps (freed memory it has not returned).
Loopback only; every step bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import platform
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load import PG_ADMIN_DSN, Generator, OwnRedis, _pg, free_port, prepare_ours, rss_mb  # noqa: E402

SETTLE = 2.0  # seconds after connecting before measuring
AFTER_DISCONNECT = 30.0  # seconds after the last disconnect: Engine.IO lets closed sockets go within its 20 s ping timeout, then the 5 s trim check


def settings_for(workdir: Path, redis_url: str, db_name: str, port: int) -> Any:
    from server.core.config import Settings

    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return Settings.from_env({
        "MV_HOST": "127.0.0.1", "MV_PORT": str(port), "MV_DATA_DIR": str(workdir / "ours"),
        "MV_DATABASE_URL": f"{base}/{db_name}", "MV_REDIS_URL": redis_url,
        "MV_REDIS_PREFIX": f"mvmem-{uuid.uuid4().hex[:6]}",
        "MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        "MV_CONNECT_RATE_PER_IP": "1000000/minute", "MV_LOG_LEVEL": "WARNING",
    })


def by_site(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, top: int) -> None:
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"  tracemalloc: {total / 1024 / n:.1f} KB per connection in Python objects; largest sites:")
    for s in stats[:top]:
        frame = s.traceback[0]
        name = frame.filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
        print(f"    {s.size_diff / n:9.0f} B/conn  {s.count_diff / n:6.1f} blocks/conn  {name}:{frame.lineno}")


def drive(mode: str, users: list[dict[str, Any]], url: str, rounds: int, top: int) -> None:
    """Runs in a worker thread: the generator's calls block."""
    pid = os.getpid()
    gen = Generator()
    try:
        time.sleep(1.0)
        gc.collect()
        rss0 = rss_mb(pid)
        if mode == "idle":
            snap0 = tracemalloc.take_snapshot()
            gen.connect(url, users)
            time.sleep(SETTLE)
            gc.collect()
            rss1 = rss_mb(pid)
            snap1 = tracemalloc.take_snapshot()
            print(f"  idle: {len(users)} connections, rss {rss0:.0f} -> {rss1:.0f} MB: {(rss1 - rss0) * 1000 / len(users):.1f} KB per connection (under tracemalloc)")
            by_site(snap0, snap1, len(users), top)
            gen.disconnect()
            return
        snap0 = tracemalloc.take_snapshot() if mode == "churn-sites" else None
        for r in range(rounds):
            gen.connect(url, users)
            time.sleep(SETTLE)
            peak = rss_mb(pid)
            gen.disconnect()
            time.sleep(AFTER_DISCONNECT)
            after = rss_mb(pid)
            print(f"  round {r + 1}: rss before {rss0:.0f} MB, {len(users)} connected {peak:.0f} MB, after disconnect {after:.0f} MB "
                  f"({100 * (after / rss0 - 1):+.0f} % of before)", flush=True)
        if snap0 is not None:
            gc.collect()
            by_site(snap0, tracemalloc.take_snapshot(), len(users), top)
    finally:
        gen.close()


async def serve_and_drive(settings: Any, mode: str, users: list[dict[str, Any]], rounds: int, top: int) -> None:
    from aiohttp import web

    from server.app import build_app

    runner = web.AppRunner(build_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.port, backlog=1024)
    await site.start()
    try:
        await asyncio.wait_for(asyncio.to_thread(drive, mode, users, f"http://127.0.0.1:{settings.port}", rounds, top), 600)
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("idle", "churn", "churn-sites"), default="idle")
    parser.add_argument("--users", type=int, default=0, help="default: 400 idle, 2000 churn")
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    n = args.users or (400 if args.mode == "idle" else 2000)
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}, python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; load {os.getloadavg()[0]:.2f}; users {n}, mode {args.mode}", flush=True)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="mvmem-") as tmp:
        workdir = Path(tmp)
        redis = OwnRedis(workdir)
        db_name = f"mv_mem_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(f'CREATE DATABASE "{db_name}"'))
        try:
            settings = settings_for(workdir, redis.url, db_name, free_port())
            users = asyncio.run(prepare_ours(settings, n, args.group))
            if args.mode != "churn":
                tracemalloc.start(1)
            uvloop.run(serve_and_drive(settings, args.mode, users, args.rounds, args.top))
        finally:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
