"""Chat throughput, latency and memory: our server against bare relays, same run.

    .venv/bin/python bench/load.py [--users 400] [--group 8] [--rates 1000,3000,6000]
                                   [--duration 12] [--targets ours,pysio,node] [--no-redis]
    .venv/bin/python bench/load.py --targets ours,ours2 --rates 6000,9000   # scale-out: 1 vs 2 processes
    .venv/bin/python bench/load.py --mode churn [--users 2000] [--rounds 3]

N users sit in rooms of G; Node socket.io-client processes (bench/load_client.js, several so the
generator is not the bottleneck) send at a rate chosen so the room fan-out delivers R messages
per second, each body carrying its send time; every receiving member measures the latency.
Ours runs the real path (PostgreSQL, the Redis manager, encryption, durable before ack), one
process (``ours2``: two processes behind the Redis manager, users split between them). The
reference peers relay only: ``pysio`` is bench/python_relay.py (python-socketio on the same
Python, aiohttp, uvloop and orjson, no storage, no auth), ``node`` is bench/node_relay.js. Printed per level: delivered/s,
delivery ratio, p50/p99/max latency, server CPU and RSS; then per-idle-connection memory and,
in churn mode, RSS after rounds of connect/disconnect. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_ADMIN_DSN = os.environ.get("MV_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
GENERATOR_PROCESSES = 2
STEP_TIMEOUT = 180.0  # seconds: no single generator step may take longer


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def wait_http(port: int, timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                if b" 200 " in conn.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


# --- the systems under test ---------------------------------------------------------------


@dataclass
class Target:
    name: str
    proc: subprocess.Popen
    port: int
    users: list[dict[str, Any]]
    extra: tuple[subprocess.Popen, ...] = ()  # further server processes (scale-out)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *(p.pid for p in self.extra)]

    def stop(self) -> None:
        for proc in (self.proc, *self.extra):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_ours(settings: Any, n: int, group: int) -> list[dict[str, Any]]:
    """Users, group rooms and tokens made through our own services (no password hashing:
    these users never sign in with a password; the bench measures chat, not sign-in)."""
    from server.app import build_services
    from server.chat.rooms import create_room
    from server.storage.models import User

    services = build_services(settings.replace(redis_url=""))
    await services.db.migrate()
    ids = [uuid.uuid4().hex for _ in range(n)]
    async with services.db.transaction() as s:
        for i, uid in enumerate(ids):
            s.add(User(id=uid, username=f"bench{i}_{uid[:6]}", password_hash="!", display_name=f"Bench {i}", role="leader"))
    users = []
    for start in range(0, n, group):
        members = ids[start:start + group]
        room = await create_room(services, members[0], "group", f"bench {start // group}", members[1:], creator_role="leader")
        for uid in members:
            token, _exp = await services.tokens.issue(uid, 0)
            users.append({"idx": len(users), "token": token, "room_id": room["id"]})
    await services.db.close()
    return users


def start_ours(n: int, group: int, workdir: Path, redis_url: str, env_extra: dict[str, str], processes: int = 1) -> Target:
    from server.core.config import Settings

    db_name = f"mv_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{db_name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    port = free_port()
    env = {
        "MV_HOST": "127.0.0.1",
        "MV_PORT": str(port),
        "MV_DATA_DIR": str(workdir / "ours"),
        "MV_DATABASE_URL": f"{base}/{db_name}",
        "MV_REDIS_URL": redis_url,
        "MV_REDIS_PREFIX": f"mvbench-{uuid.uuid4().hex[:6]}",
        "MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        # Measure throughput, not our abuse limits.
        "MV_MESSAGE_RATE": "100000/second",
        "MV_CONNECT_RATE_PER_IP": "1000000/minute",
        "MV_LOG_LEVEL": "WARNING",
        **env_extra,
    }
    settings = Settings.from_env(env)
    users = asyncio.run(prepare_ours(settings, n, group))
    log = open(workdir / "ours.log", "ab")
    procs, ports = [], [port] + [free_port() for _ in range(processes - 1)]
    for p in ports:
        procs.append(subprocess.Popen([sys.executable, "-m", "server"], cwd=REPO, env={**os.environ, **env, "MV_PORT": str(p)},
                                      stdout=log, stderr=subprocess.STDOUT))
    try:
        for p in ports:
            wait_http(p)
    except RuntimeError:
        for proc in procs:
            proc.kill()
        log.close()
        print((workdir / "ours.log").read_text()[-3000:], file=sys.stderr)
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        raise
    if processes > 1:
        # Alternate rooms between processes, and split each room's members too, so every send
        # crosses the Redis manager to reach half of its room.
        for u in users:
            u["url"] = f"http://127.0.0.1:{ports[u['idx'] % processes]}"
    target = Target("ours" if processes == 1 else f"ours{processes}", procs[0], port, users, tuple(procs[1:]))
    target.db_name = db_name  # type: ignore[attr-defined]
    return target


def start_pysio(n: int, group: int) -> Target:
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "python_relay.py"), "0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    port = json.loads(proc.stdout.readline())["port"]  # type: ignore[union-attr]
    wait_http(port)
    users = [{"idx": i, "token": f"user{i}", "room_id": f"r{i // group}"} for i in range(n)]
    return Target("pysio", proc, port, users)


def start_node(n: int, group: int) -> Target:
    proc = subprocess.Popen(["node", str(REPO / "bench" / "node_relay.js"), "0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    port = json.loads(proc.stdout.readline())["port"]  # type: ignore[union-attr]
    wait_http(port)
    users = [{"idx": i, "token": f"user{i}", "room_id": f"r{i // group}"} for i in range(n)]
    return Target("node", proc, port, users)


class OwnRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- the load generator ------------------------------------------------------------------


class Generator:
    """Several Node client processes, each holding a slice of the users."""

    def __init__(self, processes: int = GENERATOR_PROCESSES) -> None:
        self.procs = [
            subprocess.Popen(["node", str(REPO / "bench" / "load_client.js")], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]

    def _all(self, commands: list[dict[str, Any]], expect: str) -> list[dict[str, Any]]:
        for proc, cmd in zip(self.procs, commands):
            proc.stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        replies = []
        deadline = time.monotonic() + STEP_TIMEOUT
        for proc in self.procs:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line or time.monotonic() > deadline:
                raise RuntimeError("generator process died or timed out")
            reply = json.loads(line)
            if reply.get("op") != expect:
                raise RuntimeError(f"generator: {reply}")
            replies.append(reply)
        return replies

    def connect(self, url: str, users: list[dict[str, Any]]) -> None:
        k = len(self.procs)
        self._all([{"op": "connect", "url": url, "users": users[i::k]} for i in range(k)], "connected")

    def disconnect(self) -> None:
        self._all([{"op": "disconnect"}] * len(self.procs), "disconnected")

    def send(self, per_socket: float, duration: float, tag: str, drain: float = 3.0) -> dict[str, Any]:
        replies = self._all([{"op": "send", "per_socket": per_socket, "duration": duration, "tag": tag, "drain": drain}] * len(self.procs), "sent")
        sample = sorted(x for r in replies for x in r["sample"])
        pick = lambda q: sample[min(len(sample) - 1, int(q * len(sample)))] if sample else float("nan")  # noqa: E731
        return {
            "sent": sum(r["sent"] for r in replies),
            "acked": sum(r["acked"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "delivered": sum(r["delivered"] for r in replies),
            "p50": pick(0.50), "p99": pick(0.99), "max": max(r["max"] for r in replies),
        }

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write(json.dumps({"op": "exit"}) + "\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                proc.wait(5)
            except Exception:
                proc.kill()


def run_load(target: Target, group: int, rates: list[int], duration: float, profile_dir: str = "") -> dict[str, Any]:
    pids = target.pids
    gen = Generator()
    try:
        time.sleep(1.0)
        rss_before = sum(rss_mb(p) for p in pids)
        gen.connect(target.url, target.users)
        time.sleep(2.0)
        rss_idle = sum(rss_mb(p) for p in pids)
        result: dict[str, Any] = {
            "rss_start_mb": rss_before,
            "rss_idle_mb": rss_idle,
            "kb_per_idle_connection": (rss_idle - rss_before) * 1000 / len(target.users),
            "levels": [],
        }
        for rate in rates:
            sends_per_second = rate / group
            per_socket = sends_per_second / len(target.users)
            spy = None
            if profile_dir and target.name.startswith("ours"):
                # py-spy samples the first server process over the sending phase (raw collapsed stacks).
                spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--rate", "200", "--pid", str(pids[0]), "--duration", str(int(duration)),
                                        "--format", "raw", "--nonblocking", "-o", str(Path(profile_dir) / f"{target.name}-{rate}.txt")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.monotonic()
            stats = gen.send(per_socket, duration, tag=f"{target.name}{rate}{uuid.uuid4().hex[:4]}")
            if spy is not None:
                spy.wait(30)
            wall = time.monotonic() - t0
            cpu = sum(cpu_seconds(p) for p in pids) - cpu0
            expected = stats["acked"] * group
            level = {
                "target_deliveries_per_s": rate,
                "delivered_per_s": stats["delivered"] / duration,
                "delivery_ratio": stats["delivered"] / expected if expected else 0.0,
                "acked": stats["acked"], "failed": stats["failed"],
                "p50_ms": stats["p50"], "p99_ms": stats["p99"], "max_ms": stats["max"],
                "server_cpu_pct": 100 * cpu / wall,
                "server_us_per_delivery": 1e6 * cpu / stats["delivered"] if stats["delivered"] else float("nan"),
                "rss_mb": sum(rss_mb(p) for p in pids),
            }
            result["levels"].append(level)
            print(f"  {target.name:5} {rate:>6}/s target: {level['delivered_per_s']:8.0f} delivered/s  ratio {level['delivery_ratio']:.3f}  "
                  f"p50 {level['p50_ms']:7.1f} ms  p99 {level['p99_ms']:7.1f} ms  max {level['max_ms']:7.1f} ms  "
                  f"cpu {level['server_cpu_pct']:5.1f}%  {level['server_us_per_delivery']:5.1f} µs/delivery  rss {level['rss_mb']:.0f} MB", flush=True)
        gen.disconnect()
        return result
    finally:
        gen.close()


CHURN_SETTLE = 30.0  # seconds after the last disconnect of a round


def run_churn(target: Target, rounds: int) -> dict[str, Any]:
    pids = target.pids
    gen = Generator()
    try:
        time.sleep(1.0)
        before = sum(rss_mb(p) for p in pids)
        peaks, afters = [], []
        for _ in range(rounds):
            gen.connect(target.url, target.users)
            time.sleep(1.0)
            peaks.append(sum(rss_mb(p) for p in pids))
            gen.disconnect()
            # Engine.IO lets a closed socket go when its service task next passes it (up to the
            # 20 s ping timeout), then server.core.heap's 5 s check trims: measure after both.
            time.sleep(CHURN_SETTLE)
            afters.append(sum(rss_mb(p) for p in pids))
            print(f"  {target.name:5} connected {len(target.users)}: rss {peaks[-1]:.0f} MB; after disconnect: {afters[-1]:.0f} MB", flush=True)
        return {"rss_start_mb": before, "rss_connected_mb": peaks, "rss_after_mb": afters}
    finally:
        gen.close()


def print_ratios(results: dict[str, Any]) -> None:
    """ours / each reference, level by level; and what a second process adds (scale-out)."""
    for ref in ("pysio", "node"):
        if "ours" not in results or ref not in results:
            continue
        print(f"ours / {ref}:")
        for o, n in zip(results["ours"]["levels"], results[ref]["levels"]):
            print(f"  {o['target_deliveries_per_s']:>6}/s: delivered {o['delivered_per_s'] / n['delivered_per_s']:.2f}x, "
                  f"p50 {o['p50_ms'] / n['p50_ms']:.1f}x, p99 {o['p99_ms'] / n['p99_ms']:.1f}x, "
                  f"cpu per delivery {o['server_us_per_delivery'] / n['server_us_per_delivery']:.2f}x", flush=True)
        print(f"  idle memory per connection {results['ours']['kb_per_idle_connection'] / max(results[ref]['kb_per_idle_connection'], 0.1):.2f}x")
    if "ours" in results and "ours2" in results:
        print("scale-out, two processes / one (delivered/s at the same target; 2.00 is perfect):")
        for o, t in zip(results["ours"]["levels"], results["ours2"]["levels"]):
            print(f"  {o['target_deliveries_per_s']:>6}/s: {t['delivered_per_s']:.0f} vs {o['delivered_per_s']:.0f} delivered/s, "
                  f"efficiency {t['delivered_per_s'] / max(o['delivered_per_s'], 1):.2f}x; p99 {t['p99_ms']:.1f} vs {o['p99_ms']:.1f} ms")


def run_target(name: str, args: argparse.Namespace, rates: list[int], duration: float, workdir: Path,
               redis: "OwnRedis | None", extra: dict[str, str]) -> dict[str, Any]:
    """Start one target, run the load (or churn) against it, stop it."""
    if name.startswith("ours"):
        target = start_ours(args.users, args.group, workdir, redis.url if redis else "", extra, int(name[4:] or 1))
    else:
        target = start_pysio(args.users, args.group) if name == "pysio" else start_node(args.users, args.group)
    try:
        try:
            result = run_load(target, args.group, rates, duration, args.profile) if args.mode == "load" else run_churn(target, args.rounds)
        except RuntimeError:
            if name.startswith("ours"):  # the server's own account of what went wrong
                errors = [line for line in (workdir / "ours.log").read_text().splitlines() if '"error"' in line]
                print("\n".join(errors[-5:])[-4000:], file=sys.stderr)
            raise
        if args.mode == "load":
            print(f"  {name:5} idle: {result['kb_per_idle_connection']:.1f} KB per connection "
                  f"(rss {result['rss_start_mb']:.0f} -> {result['rss_idle_mb']:.0f} MB)", flush=True)
        return result
    finally:
        target.stop()
        if name.startswith("ours"):
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{target.db_name}" WITH (FORCE)'))  # type: ignore[attr-defined]


def print_median_ratios(runs: list[dict[str, Any]]) -> None:
    """The machine's speed moves between runs (shared VM): the median of each run's own ratio."""
    for ref in ("pysio", "node"):
        if not all("ours" in r and ref in r for r in runs):
            continue
        print(f"ours / {ref}, median over {len(runs)} runs (each run's ratios, then the median):")
        for i, level in enumerate(runs[0]["ours"]["levels"]):
            cpu = [r["ours"]["levels"][i]["server_us_per_delivery"] / r[ref]["levels"][i]["server_us_per_delivery"] for r in runs]
            p99 = [r["ours"]["levels"][i]["p99_ms"] for r in runs]
            print(f"  {level['target_deliveries_per_s']:>6}/s: cpu per delivery {statistics.median(cpu):.2f}x "
                  f"(runs: {', '.join(f'{x:.2f}' for x in cpu)}); ours p99 {statistics.median(p99):.1f} ms "
                  f"(runs: {', '.join(f'{x:.0f}' for x in p99)})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("load", "churn"), default="load")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--rates", default="1000,3000,6000", help="deliveries per second, comma-separated")
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="run every target this many times, alternating their order; prints median ratios")
    parser.add_argument("--targets", default="ours,pysio,node", help="ours, ours2 (two processes), pysio, node")
    parser.add_argument("--no-redis", action="store_true", help="run ours with the in-process manager")
    parser.add_argument("--ours-env", default="", help="extra env for ours, e.g. MALLOC_ARENA_MAX=2,MV_X=1")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--profile", default="", help="a directory: py-spy profiles of ours at each level (raw collapsed stacks)")
    args = parser.parse_args()
    if shutil.which("node") is None:
        print("node is required", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",") if r]
    duration = min(args.duration, 60.0)
    extra = dict(kv.split("=", 1) for kv in args.ours_env.split(",") if kv)
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.platform()}, python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; users {args.users}, rooms of {args.group}, mode {args.mode}", flush=True)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mvbench-") as tmp:
        workdir = Path(tmp)
        redis = None if args.no_redis else OwnRedis(workdir)
        try:
            for repeat in range(args.repeat):
                if args.repeat > 1:
                    print(f"run {repeat + 1} of {args.repeat} ({time.strftime('%H:%M')}, load average {os.getloadavg()[0]:.1f})", flush=True)
                results: dict[str, Any] = {}
                runs.append(results)
                # Every other run in the reverse order, so that a machine speeding up or slowing down
                # over the runs favours neither ours nor the references.
                names = args.targets.split(",")
                for name in (names if repeat % 2 == 0 else names[::-1]):
                    results[name] = run_target(name, args, rates, duration, workdir, redis, extra)
                if args.mode == "load":
                    print_ratios(results)
        finally:
            if redis:
                redis.stop()
    if args.mode == "load" and len(runs) > 1:
        print_median_ratios(runs)
    if args.mode == "churn":
        for name, r in runs[-1].items():
            print(f"  {name:5} churn: rss before {r['rss_start_mb']:.0f} MB, after the last round {r['rss_after_mb'][-1]:.0f} MB "
                  f"({100 * (r['rss_after_mb'][-1] / r['rss_start_mb'] - 1):+.0f} %)")
    if args.json:
        Path(args.json).write_text(json.dumps(runs if len(runs) > 1 else runs[0], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
