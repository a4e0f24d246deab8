"""A real server process for tests: started on a free port with its own data dir and database,
driven over real sockets, and restartable or killable like production."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough test password"
_counter = itertools.count()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    data_dir: Path
    database_url: str
    redis_url: str = ""
    redis_prefix: str = "mv"
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MV_HOST=self.host,
            MV_PORT=str(self.port),
            MV_DATA_DIR=str(self.data_dir),
            MV_DATABASE_URL=self.database_url,
            MV_REDIS_URL=self.redis_url,
            MV_REDIS_PREFIX=self.redis_prefix,
            MV_LOG_LEVEL="INFO",
            MV_PING_INTERVAL="1",
            MV_PING_TIMEOUT="2",
            # Every test client comes from 127.0.0.1: per-IP limits sized for one person would
            # trip across a test module. Tests of those limits set their own values.
            MV_CONNECT_RATE_PER_IP="2000/minute",
            MV_LOGIN_RATE_PER_IP="2000/minute",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_path or self.data_dir / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "server"], cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as conn:
                    conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                    if b" 200 " in conn.recv(200):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.log_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> "ServerProcess":
        self.stop()
        return self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "server", *args], cwd=REPO, env=self.env(), capture_output=True, text=True, check=check, timeout=60)


@dataclass
class Person:
    """A signed-in user with zero or more live Socket.IO connections."""

    server: ServerProcess
    username: str
    token: str
    user: dict[str, Any]
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.user["id"]

    async def connect(self, *, auth: dict[str, Any] | None = None, url: str | None = None,
                      namespaces: list[str] | None = None, **kwargs: Any) -> "LiveClient":
        """``namespaces`` (default: the main one) are connected instead of "/"; ``call`` goes to the first."""
        client = LiveClient(reconnection=False, namespaces=namespaces, **kwargs)
        await client.sio.connect(url or self.server.url, auth={"token": self.token, **(auth or {})}, transports=["websocket"],
                                 wait_timeout=10, namespaces=namespaces)
        self.clients.append(client.sio)
        return client


class LiveClient:
    """A python-socketio AsyncClient that records every event it receives, for assertions."""

    def __init__(self, namespaces: list[str] | None = None, **kwargs: Any) -> None:
        self.sio = socketio.AsyncClient(**kwargs)
        self.namespace = (namespaces or ["/"])[0]
        self.events: list[tuple[str, Any]] = []
        # time.perf_counter() at each event's arrival, index for index with `events`.
        self.arrived_at: list[float] = []
        self._changed = asyncio.Event()

        async def record(event: str, *args: Any) -> None:
            self.events.append((event, args[0] if args else None))
            self.arrived_at.append(time.perf_counter())
            self._changed.set()

        for namespace in namespaces or ["/"]:
            self.sio.on("*", record, namespace=namespace)

    async def call(self, event: str, data: Any = None, timeout: float = 15.0) -> dict[str, Any]:
        return await self.sio.call(event, data, timeout=timeout, namespace=self.namespace)

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, predicate=lambda data: True, timeout: float = 10.0) -> Any:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            for name, data in self.events:
                if name == event and predicate(data):
                    return data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} event matching within {timeout}s; got {[n for n, _ in self.events][-20:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def disconnect(self) -> None:
        await self.sio.disconnect()


async def register(server: ServerProcess, *, role: str = "mentee", username: str | None = None, **profile: Any) -> Person:
    """Register through the public API, grant a privileged role through the admin CLI, sign in."""
    username = username or f"{role}{next(_counter)}_{uuid.uuid4().hex[:6]}"
    body = {"username": username, "password": PASSWORD, "display_name": username.title(), "role": role if role in ("mentee", "mentor") else "mentee", **profile}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/register", json=body) as resp:
            data = await resp.json()
            assert resp.status == 201, data
        if role not in ("mentee", "mentor"):
            await asyncio.to_thread(server.cli, "users", "grant", username, role)
    return await sign_in(server, username)


async def sign_in(server: ServerProcess, username: str) -> Person:
    """Another device of an existing person (e.g. one registered through the web client)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
    return Person(server, username, data["token"], data["user"])


async def close_all(*people: Person) -> None:
    for person in people:
        for client in person.clients:
            if client.connected:
                await client.disconnect()
