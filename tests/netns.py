"""A throw-away network namespace joined to this host by a veth pair, for WebRTC tests.

Why: aioice never offers 127.0.0.1 as a host candidate, so two WebRTC peers on loopback never
connect. Peers therefore talk over a veth pair: the server side keeps ``host_address`` in the
root namespace, the clients live in the namespace and only have ``peer_address`` and ``lo``.

Why this keeps all traffic local: the namespace has no default route, so a client that learns
one of the server's other host candidates (the LAN address, say) gets "network unreachable"
and sends nothing; the server only ever learns the clients' ``peer_address`` (no STUN server is
configured, and Chromium runs with mDNS hiding off), which routes over the veth. IPv6 is off on
both veth ends so nothing is offered or solicited there either.

Two ways to run things inside: ``command(argv)`` prefixes ``ip netns exec`` for a process (used
for Chromium), and ``inside_loop()`` runs an asyncio loop on a thread that has entered the
namespace with setns(2), so aiortc client peers can live in the test process.

In CI (``CI=true``) missing root or iproute2 fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

CLONE_NEWNET = 0x40000000  # from <sched.h>
SUBNET_PREFIX = "10.99"
SUBNET_COUNT = 250  # third octet values we may use
COMMAND_TIMEOUT = 10.0  # seconds for one `ip` invocation

T = TypeVar("T")


def require_netns_support() -> None:
    """Skip locally, fail in CI, when this machine cannot make namespaces."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root privileges")
    if shutil.which("ip") is None:
        missing.append("iproute2 (`ip`)")
    if not missing:
        return
    reason = "network namespace tests need " + " and ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _ip(*args: str, namespace: str | None = None) -> None:
    argv = ["ip", *args] if namespace is None else ["ip", "-n", namespace, *args]
    subprocess.run(argv, check=True, capture_output=True, timeout=COMMAND_TIMEOUT)


def _used_third_octets() -> set[int]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], check=True, capture_output=True,
                         text=True, timeout=COMMAND_TIMEOUT).stdout
    used = set()
    for word in out.split():
        if word.startswith(SUBNET_PREFIX + "."):
            used.add(int(word.split(".")[2]))
    return used


class InsideLoop:
    """An asyncio loop on a thread that entered the namespace; sockets it opens live there.

    setns(2) with CLONE_NEWNET changes only the calling thread, so the rest of the test process
    (the server peer, the HTTP server) stays in the root namespace.
    """

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"netns-{namespace}", daemon=True)

    def _run(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/var/run/netns/{self._namespace}", "rb") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            return
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(COMMAND_TIMEOUT)
        if self._error is not None:
            raise self._error

    async def run(self, coroutine: Awaitable[T], timeout: float = 60.0) -> T:
        """Run a coroutine on the inside loop and await its result from the caller's loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def cancel_everything() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_everything(), self.loop).result(COMMAND_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(COMMAND_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class NetworkNamespace:
    name: str
    host_address: str  # root-namespace end of the veth pair (the server binds here)
    peer_address: str  # namespace end (clients)
    host_link: str
    peer_link: str

    def command(self, argv: list[str]) -> list[str]:
        """The argv that runs `argv` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    @contextlib.contextmanager
    def inside_loop(self) -> Iterator[InsideLoop]:
        """An asyncio loop whose sockets are opened inside the namespace, stopped on exit."""
        inside = InsideLoop(self.name)
        inside.start()
        try:
            yield inside
        finally:
            inside.stop()

    def kill_processes(self) -> None:
        """End the processes our test started inside the namespace (by pid)."""
        result = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                                text=True, timeout=COMMAND_TIMEOUT)
        for pid in result.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


@contextlib.contextmanager
def network_namespace() -> Iterator[NetworkNamespace]:
    """Create a namespace + veth pair with 10.99.N.1/24 ↔ 10.99.N.2/24, remove it on exit."""
    require_netns_support()
    used = _used_third_octets()
    start = os.getpid() % SUBNET_COUNT
    octet = next((start + i) % SUBNET_COUNT + 1 for i in range(SUBNET_COUNT)
                 if (start + i) % SUBNET_COUNT + 1 not in used)
    tag = f"{os.getpid() % 100000}x{octet}"
    ns = NetworkNamespace(
        name=f"mvl-{tag}",
        host_address=f"{SUBNET_PREFIX}.{octet}.1",
        peer_address=f"{SUBNET_PREFIX}.{octet}.2",
        host_link=f"mvh{tag}"[:15],
        peer_link=f"mvp{tag}"[:15],
    )
    try:
        _ip("netns", "add", ns.name)
        _ip("link", "add", ns.host_link, "type", "veth", "peer", "name", ns.peer_link)
        _ip("link", "set", ns.peer_link, "netns", ns.name)
        subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{ns.host_link}.disable_ipv6=1"],
                       check=False, capture_output=True, timeout=COMMAND_TIMEOUT)
        subprocess.run(ns.command(["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]),
                       check=False, capture_output=True, timeout=COMMAND_TIMEOUT)
        _ip("addr", "add", f"{ns.host_address}/24", "dev", ns.host_link)
        _ip("link", "set", ns.host_link, "up")
        _ip("addr", "add", f"{ns.peer_address}/24", "dev", ns.peer_link, namespace=ns.name)
        _ip("link", "set", ns.peer_link, "up", namespace=ns.name)
        _ip("link", "set", "lo", "up", namespace=ns.name)
        yield ns
    finally:
        with contextlib.suppress(Exception):
            ns.kill_processes()
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=COMMAND_TIMEOUT)
        # Deleting the namespace destroys the pair; this only matters if we failed half-way.
        subprocess.run(["ip", "link", "del", ns.host_link], capture_output=True,
                       timeout=COMMAND_TIMEOUT)


@pytest.fixture(scope="module")
def netns() -> Iterator[NetworkNamespace]:
    """One namespace for a test module (creating one costs ~50 ms, peers reuse it)."""
    with network_namespace() as ns:
        yield ns
