"""Several server processes serving the same rooms, joined through Redis.

python-socketio's Redis manager carries every ``sio.emit`` to every process, but it is
fire-and-forget: an emit published while Redis restarts is lost, and a process whose listener
was cut off never learns what it missed. Messages themselves are durable (stored before the
ack, with gap-free seqs), so nothing is lost for good; what this module adds is that a member
is never left *silently* behind:

- when a process's Redis listener comes back after an outage, and when a peer process is found
  dead, the process tells each of its own connections the newest seq of every room they view
  (``room:head {room_id, last_seq}``); a client behind that seq fetches exactly the missing
  messages with ``message:history {after_seq}``;
- the end of a session (a ban, a role change, "log out everywhere", signing out one token)
  reaches the connections it concerns on every process and every namespace (``end_sessions``);
- per-process caches are told what another process changed (``publish_control`` / ``on_control``);
- while this is the only process on the channel, emits are not published at all (``alone``):
  Redis counts the channel's subscribers on every publish and on a probe every second, and a
  process that (re)subscribes says hello at once, so the others start publishing again;
- Redis connections use explicit timeouts and no hidden retries (redis-py >= 8 changed the
  defaults), so an outage surfaces as an error the listener recovers from, instead of a hang
  or a silent reconnect that would hide a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable

import socketio
from sqlalchemy import select

from server.core.background import every
from server.core.redis_options import redis_options
from server.storage.models import Room

from .addressing import ROOM_PREFIX, socket_room, user_room

if TYPE_CHECKING:
    from server.core.config import Settings
    from server.services import Services

log = logging.getLogger("server.cluster")

# Listener reconnect backoff: short, because every second offline is a second of missed fan-out.
LISTEN_RETRY_FIRST = 0.2  # seconds
LISTEN_RETRY_MAX = 2.0  # seconds
END_SESSIONS = "mv:end_sessions"
LEAVE_ROOM_FOR_USER = "mv:leave_room_for_user"
HELLO = "mv:hello"
PEER_PROBE_INTERVAL = 1.0  # seconds between counts of the channel's subscribers

ResubscribedHook = Callable[[], Awaitable[None]]
ControlHandler = Callable[[dict[str, Any]], None]


class ClusterManager(socketio.AsyncRedisManager):
    """The Redis client manager, plus gap announcements and cluster-wide user disconnects."""

    def __init__(self, settings: "Settings") -> None:
        super().__init__(settings.redis_url, channel=f"{settings.redis_prefix}:socketio", redis_options=redis_options())
        self.on_resubscribed: list[ResubscribedHook] = []
        self.outages = 0
        self._controls: dict[str, ControlHandler] = {}
        # True while Redis counts no other subscriber: then an emit reaches every connection there
        # is from here, and publishing it (encode, round trip, decode our own echo) is pure cost.
        self.alone = False
        self._subscribed = False
        # Run (synchronously) each time the listener has subscribed, first time included.
        self.on_subscribed: list[Callable[[], None]] = []

    async def emit(self, event: str, data: Any, namespace: str | None = None, room: Any = None, skip_sid: Any = None,
                   callback: Any = None, to: Any = None, **kwargs: Any) -> Any:
        if self.alone and callback is None:
            kwargs["ignore_queue"] = True
        return await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs)

    async def _publish(self, data: Any) -> Any:
        receivers = await super()._publish(data)
        if isinstance(receivers, int):
            self.alone = self._subscribed and receivers <= 1
        return receivers

    async def count_peers(self) -> None:
        """Ask Redis how many processes listen on the channel (run every PEER_PROBE_INTERVAL)."""
        try:
            if not self.connected:
                self._redis_connect()
            counts = await self.redis.pubsub_numsub(self.channel)
            self.alone = self._subscribed and bool(counts) and counts[0][1] <= 1
        except Exception:
            self.connected = self.alone = False  # publish as usual; its errors are handled there

    def on_control(self, method: str, handler: ControlHandler) -> None:
        """Run ``handler(message)`` when another process publishes ``method`` (see publish_control)."""
        self._controls[method] = handler

    async def publish_control(self, method: str, message: dict[str, Any]) -> None:
        """Tell every other process (their ``on_control`` handler for ``method``)."""
        if not self.alone:
            await self._publish({**message, "method": method, "host_id": self.host_id})

    async def end_sessions(self, room: str, reason: str) -> None:
        """End the connections in ``room`` here, and ask every other process to end its own."""
        await end_local_sessions(self.server, room, reason)
        await self._publish({"method": END_SESSIONS, "room": room, "reason": reason, "host_id": self.host_id})

    async def leave_room_for_user(self, user_id: str, room: str) -> None:
        """Take the user's connections out of a Socket.IO room here and on every other process."""
        await self._leave_room_local(user_id, room)
        await self._publish({"method": LEAVE_ROOM_FOR_USER, "user_id": user_id, "room": room, "host_id": self.host_id})

    async def _leave_room_local(self, user_id: str, room: str) -> None:
        for namespace in list(self.get_namespaces()):
            for sid, _eio_sid in list(self.get_participants(namespace, user_room(user_id))):
                self.basic_leave_room(sid, namespace, room)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """The base loop with its own connection (publishers reconnect theirs independently),
        a short backoff, and hooks that run after every re-subscribe that follows an outage."""
        module = self._get_redis_module()
        retry_sleep = LISTEN_RETRY_FIRST
        recovering = False
        while True:
            client = module.Redis.from_url(self.redis_url, **self.redis_options)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed = True
                for subscribed in self.on_subscribed:
                    subscribed()
                # Whoever was alone on the channel publishes again from now on.
                await self._publish({"method": HELLO, "host_id": self.host_id})
                if recovering:
                    recovering = False
                    log.warning("cluster.redis_listener_back", extra={"fields": {"outages": self.outages}})
                    for hook in self.on_resubscribed:
                        self.server.start_background_task(_run_hook, hook)
                retry_sleep = LISTEN_RETRY_FIRST
                async for message in pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed = self.alone = False
                if not recovering:
                    self.outages += 1
                    log.error("cluster.redis_listener_lost", extra={"fields": {"error": str(exc)[:200]}})
                recovering = True
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, LISTEN_RETRY_MAX)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _listen(self) -> AsyncIterator[Any]:
        """Decode once here; our own control messages are handled, the rest go to the base."""
        async for raw in super()._listen():
            try:
                data = self.json.loads(raw)
            except Exception:
                continue
            if isinstance(data, dict) and data.get("method") == END_SESSIONS:
                if data.get("host_id") != self.host_id and isinstance(data.get("room"), str) and isinstance(data.get("reason"), str):
                    await end_local_sessions(self.server, data["room"], data["reason"])
                continue
            if isinstance(data, dict) and data.get("method") == HELLO:
                if data.get("host_id") != self.host_id:
                    self.alone = False
                continue
            if isinstance(data, dict) and data.get("method") in self._controls:
                if data.get("host_id") != self.host_id:
                    try:
                        self._controls[data["method"]](data)
                    except Exception:
                        log.exception("cluster.control_failed")
                continue
            if isinstance(data, dict) and data.get("method") == LEAVE_ROOM_FOR_USER:
                if data.get("host_id") != self.host_id and isinstance(data.get("user_id"), str) and isinstance(data.get("room"), str):
                    await self._leave_room_local(data["user_id"], data["room"])
                continue
            yield data


async def _run_hook(hook: ResubscribedHook) -> None:
    try:
        await hook()
    except Exception:
        log.exception("cluster.hook_failed")


def local_chat_rooms(sio: socketio.AsyncServer) -> list[str]:
    """Ids of the chat rooms that at least one connection of this process is viewing."""
    rooms = sio.manager.rooms.get("/", {})
    return [name[len(ROOM_PREFIX):] for name, members in rooms.items() if isinstance(name, str) and name.startswith(ROOM_PREFIX) and members]


async def announce_room_heads(services: "Services") -> int:
    """Tell this process's connections the newest seq of each room they view; returns rooms told.

    Emitted locally only (``ignore_queue``): every process announces to its own connections,
    from the database, which is the truth whatever Redis dropped.
    """
    room_ids = local_chat_rooms(services.sio)
    if not room_ids:
        return 0
    async with services.db.transaction() as s:
        heads = list(await s.execute(select(Room.id, Room.last_seq).where(Room.id.in_(room_ids))))
    for room_id, last_seq in heads:
        await services.sio.emit("room:head", {"room_id": room_id, "last_seq": last_seq}, to=socket_room(room_id), ignore_queue=True)
    log.info("cluster.room_heads_announced", extra={"fields": {"rooms": len(heads)}})
    return len(heads)


def build_client_manager(settings: "Settings") -> socketio.AsyncManager | None:
    """Redis-backed when configured; None keeps python-socketio's in-process manager."""
    return ClusterManager(settings) if settings.redis_url else None


def setup(services: "Services") -> None:
    manager = services.sio.manager
    if isinstance(manager, ClusterManager):
        manager.on_resubscribed.append(lambda: announce_room_heads(services))


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    """Count the channel's subscribers every second, so a process left alone stops publishing."""
    manager = services.sio.manager
    if not isinstance(manager, ClusterManager):
        yield
        return
    async with every(PEER_PROBE_INTERVAL, manager.count_peers, name="cluster-peers"):
        yield


async def end_local_sessions(sio: socketio.AsyncServer, room: str, reason: str) -> int:
    """Tell each of this process's connections in ``room`` (on every namespace) why its session
    ended, then close it; returns how many were closed."""
    closed = 0
    for namespace in list(sio.manager.get_namespaces()):
        for sid, _eio_sid in list(sio.manager.get_participants(namespace, room)):
            with contextlib.suppress(Exception):
                await sio.emit("session:ended", {"reason": reason}, to=sid, namespace=namespace, ignore_queue=True)
            await sio.disconnect(sid, namespace=namespace, ignore_queue=True)
            closed += 1
    return closed


async def end_sessions(services: "Services", room: str, reason: str) -> None:
    """Close the connections in a Socket.IO room on every process (a user's, or one token's)."""
    manager = services.sio.manager
    if isinstance(manager, ClusterManager):
        await manager.end_sessions(room, reason)
    else:
        await end_local_sessions(services.sio, room, reason)


async def leave_room_for_user(services: "Services", user_id: str, room: str) -> None:
    """Stop a user's live events from one Socket.IO room on every process (e.g. after removal)."""
    manager = services.sio.manager
    if isinstance(manager, ClusterManager):
        await manager.leave_room_for_user(user_id, room)
        return
    for namespace in list(manager.get_namespaces()):
        for sid, _eio_sid in list(manager.get_participants(namespace, user_room(user_id))):
            await services.sio.leave_room(sid, room, namespace=namespace)
