"""Presence shared by several server processes, kept in Redis so that it survives their deaths.

Each process writes its own hash ``<prefix>:presence:proc:<id>`` (user id -> number of that
user's connections on this process) and a heartbeat score in the sorted set
``<prefix>:presence:procs``. A user is online while the live processes' counts add up to more
than zero. The counts written are absolute, taken from this process's own tally, and every
heartbeat rewrites the whole hash: a Redis restart (which loses the keys) or a reordered write
heals within one heartbeat. A process that stops heart-beating is reaped by the first peer to
notice: its users who are not connected elsewhere are announced offline, and the peers tell
their connections the newest seq of each room (the dead process may have stored a message
whose fan-out never left it).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.core.background import every
from server.core.redis_options import redis_options
from server.transport.cluster import announce_room_heads

from .presence import Presence

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

log = logging.getLogger("server.presence")

HEARTBEAT_INTERVAL = 3.0  # seconds
# A process whose heartbeat is older than this is dead (its connections have moved elsewhere).
STALE_AFTER = 10.0  # seconds
# The hash outlives STALE_AFTER so that the reaper can still read whom the dead process held.
HASH_TTL = 120  # seconds

# Set this process's count for one user (absolute), then add the counts of all live processes.
_SET_AND_TOTAL = """
local own = ARGV[1] .. ARGV[2]
if tonumber(ARGV[4]) > 0 then
  redis.call('HSET', own, ARGV[3], ARGV[4])
else
  redis.call('HDEL', own, ARGV[3])
end
redis.call('EXPIRE', own, ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
local total = 0
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], tonumber(ARGV[5]) - tonumber(ARGV[6]), '+inf')) do
  total = total + (tonumber(redis.call('HGET', ARGV[1] .. p, ARGV[3])) or 0)
end
return total
"""


class RedisPresence(Presence):
    """Presence whose answer is the same on every process."""

    def __init__(self, services: "Services") -> None:
        super().__init__(services)
        settings = services.settings
        self.process_id = uuid.uuid4().hex[:12]
        self._hash_prefix = f"{settings.redis_prefix}:presence:proc:"
        self._procs_key = f"{settings.redis_prefix}:presence:procs"
        self.redis = aioredis.Redis.from_url(settings.redis_url, **redis_options())
        self._set_and_total = self.redis.register_script(_SET_AND_TOTAL)

    @property
    def _own_key(self) -> str:
        return self._hash_prefix + self.process_id

    async def _publish_count(self, user_id: str) -> int | None:
        """This process's count for the user goes to Redis; returns the cluster-wide total."""
        try:
            return int(await self._set_and_total(
                keys=[self._procs_key],
                args=[self._hash_prefix, self.process_id, user_id, self._connections.get(user_id, 0),
                      time.time(), STALE_AFTER, HASH_TTL],
            ))
        except (RedisError, OSError) as exc:
            log.warning("presence.redis_unavailable", extra={"fields": {"error": str(exc)[:200]}})
            return None

    async def connected(self, user: "AuthUser") -> None:
        self._connections[user.id] += 1
        total = await self._publish_count(user.id)
        # Without Redis, fall back to this process's view rather than say nothing.
        if (total if total is not None else self._connections[user.id]) == 1:
            await self._broadcast(user.id, True)

    async def disconnected(self, user: "AuthUser", joined: set[str] | None = None) -> None:
        self._connections[user.id] -= 1
        if self._connections[user.id] <= 0:
            del self._connections[user.id]
        total = await self._publish_count(user.id)
        if (total if total is not None else self._connections.get(user.id, 0)) == 0:
            await self._broadcast(user.id, False, self._offline_rooms(user.id, joined))
        elif user.id not in self._connections:
            # Still online elsewhere: whoever tells them offline later reads the rooms then.
            self._announced.pop(user.id, None)

    async def online_among(self, user_ids: list[str]) -> set[str]:
        if not user_ids:
            return set()
        try:
            procs = await self.redis.zrangebyscore(self._procs_key, time.time() - STALE_AFTER, "+inf")
            async with self.redis.pipeline(transaction=False) as pipe:
                for proc in procs:
                    pipe.hmget(self._hash_prefix + proc.decode(), user_ids)
                rows = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence.redis_unavailable", extra={"fields": {"error": str(exc)[:200]}})
            return await super().online_among(user_ids)
        online = {i for i in user_ids if self.is_online(i)}
        for counts in rows:
            online.update(uid for uid, count in zip(user_ids, counts) if count and int(count) > 0)
        return online

    async def heartbeat(self) -> None:
        """Rewrite this process's whole tally (heals a Redis restart) and renew its liveness."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._own_key)
            if self._connections:
                pipe.hset(self._own_key, mapping=dict(self._connections))
            pipe.expire(self._own_key, HASH_TTL)
            pipe.zadd(self._procs_key, {self.process_id: time.time()})
            await pipe.execute()

    async def reap_dead_processes(self) -> int:
        """Claim each stale process (exactly one peer wins the ZREM), announce its users offline
        unless they are connected elsewhere, and tell local connections the room heads."""
        stale = await self.redis.zrangebyscore(self._procs_key, "-inf", time.time() - STALE_AFTER)
        reaped = 0
        for raw in stale:
            proc = raw.decode()
            if proc == self.process_id or not await self.redis.zrem(self._procs_key, proc):
                continue
            reaped += 1
            held = await self.redis.hgetall(self._hash_prefix + proc)
            await self.redis.delete(self._hash_prefix + proc)
            user_ids = [k.decode() for k in held]
            online = await self.online_among(user_ids)
            for user_id in user_ids:
                if user_id not in online:
                    await self._broadcast(user_id, False)
            log.warning("presence.process_reaped", extra={"fields": {"process": proc, "users": len(user_ids)}})
        if reaped:
            await announce_room_heads(self.services)
        return reaped

    async def leave_cluster(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(self._procs_key, self.process_id)
            await self.redis.delete(self._own_key)
        with contextlib.suppress(Exception):
            await self.redis.aclose()


@contextlib.asynccontextmanager
async def heartbeat_running(presence: RedisPresence) -> AsyncIterator[None]:
    """Keep this process visibly alive and reap dead peers, for as long as the server runs."""

    async def beat() -> None:
        try:
            await presence.heartbeat()
            await presence.reap_dead_processes()
        except (RedisError, OSError) as exc:
            # Expected while Redis restarts: a warning, not a stack trace every second.
            log.warning("presence.heartbeat_failed", extra={"fields": {"error": str(exc)[:200]}})

    try:
        async with every(HEARTBEAT_INTERVAL, beat, name="presence-heartbeat", first_now=True):
            yield
    finally:
        await presence.leave_cluster()


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    """Run the presence heartbeat (and dead-peer reaping) when presence lives in Redis."""
    if isinstance(services.presence, RedisPresence):
        async with heartbeat_running(services.presence):
            yield
    else:
        yield
