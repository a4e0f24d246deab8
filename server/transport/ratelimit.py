"""Rate limits on top of the `limits` library: in memory for one process, in Redis when several
processes must share counters (so a user cannot multiply their quota by reconnecting elsewhere).

Not every count must be shared. The per-user budgets checked on every event and every message
(``shared=False``) protect the process that runs the handler: they are counted in this process's
memory, so the hot path makes no Redis round trip and runs no Lua script (≈ 2 per message before,
bench/README.md, issue 23). A person connected to two processes gets each one's budget, which
bounds what each process takes. What guards accounts and the network (sign-in and connection
attempts per address, uploads, room creation, crisis events) stays shared.

The in-process budgets use a fixed window (it starts at a key's first hit), not the moving window:
the library's in-memory moving window re-scans every key through a worker thread after each hit,
9 % of the send path's profile at 1,000 deliveries/s (bench/README.md, issue 23). A fixed window
may let up to twice the budget through across a window's edge, which a flood control can bear.
They are counted by ``ProcessCounters``, a storage for the library's own fixed-window strategy:
both memory storages it ships expire keys in the background, after every hit (the asyncio one
starts a task each time, 5 % of the profile at 3,000/s; the synchronous one starts a new timer
thread every 10 ms, 4 % of the profile at 3,000/s and a GIL hand-off each time). Here an expired
window is dropped when it is next read, and the whole table is swept at most every 10 s.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import Storage as SyncStorage
from limits.strategies import FixedWindowRateLimiter

from server.core.errors import RateLimited

log = logging.getLogger("server.ratelimit")


_SWEEP_EVERY_S = 10.0


class ProcessCounters(SyncStorage):
    """Fixed-window counters in this process's memory, for ``FixedWindowRateLimiter``: a hit is
    two dictionary look-ups, with no thread, task or lock (the event loop is the only caller)."""

    STORAGE_SCHEME = ["mv-process"]

    def __init__(self, sweep_every_s: float = _SWEEP_EVERY_S) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._sweep_every_s = sweep_every_s
        self._next_sweep = time.time() + sweep_every_s

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        if self._expires.get(key, 0.0) <= now:
            self._expires[key] = now + expiry
            self._counts[key] = amount
            return amount
        count = self._counts[key] = self._counts[key] + amount
        return count

    def get(self, key: str) -> int:
        return self._counts.get(key, 0) if self._expires.get(key, 0.0) > time.time() else 0

    def get_expiry(self, key: str) -> float:
        return self._expires.get(key, time.time())

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        cleared = len(self._counts)
        self._counts.clear()
        self._expires.clear()
        return cleared

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)
        self._expires.pop(key, None)

    def _sweep(self, now: float) -> None:
        """People who stopped sending leave their windows behind: drop the ended ones."""
        self._next_sweep = now + self._sweep_every_s
        for key in [k for k, expires in self._expires.items() if expires <= now]:
            del self._expires[key], self._counts[key]


class RateLimiter:
    def __init__(self, redis_url: str = "", prefix: str = "mv") -> None:
        storage: Storage
        if redis_url:
            storage = RedisStorage(
                redis_url.replace("redis://", "async+redis://", 1) if redis_url.startswith("redis://") else redis_url,
                implementation="redispy",
                key_prefix=f"{prefix}:limits",
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._local = FixedWindowRateLimiter(ProcessCounters())
        self._fallback = MovingWindowRateLimiter(MemoryStorage()) if redis_url else None
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, rule: str) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = self._items[rule] = parse(rule)
        return item

    async def hit(self, rule: str, *identifiers: str, shared: bool = True) -> bool:
        if not shared:
            return self._local.hit(self._item(rule), *identifiers)
        try:
            return await self._strategy.hit(self._item(rule), *identifiers)
        except Exception as exc:
            if self._fallback is None:
                raise
            # Redis is down: count in this process rather than refuse every event until it is back.
            log.warning("ratelimit.redis_unavailable", extra={"fields": {"error": str(exc)[:200]}})
            return await self._fallback.hit(self._item(rule), *identifiers)

    async def check(self, rule: str, *identifiers: str, message: str, shared: bool = True) -> None:
        """Count one hit; raise RateLimited (with the retry hint) when the rule is exceeded.
        ``shared=False`` counts in this process only (see the module docstring)."""
        if not await self.hit(rule, *identifiers, shared=shared):
            raise RateLimited(message, details={"limit": rule})
