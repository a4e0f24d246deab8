"""Per-process caches of what every message reads about its room, kept true by invalidation.

A send and its fan-out read the same few facts about a room on every message (e.g. which members
read translations), and they change rarely. They are cached here per room and dropped when a
transaction that inserted, changed or deleted a room, a membership or a user commits: at once in
this process (``Database.on_commit``), and in every other process through the Socket.IO Redis
channel (``ClusterManager.publish_control``). A fill that began before an invalidation is not
stored (a generation counter), so the cache never keeps what a commit has made stale; a change of
a user (locale, languages, erasure) drops every room, as it is rare and may touch many.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable

from server.storage.models import Membership, Room, User
from server.transport.cluster import ClusterManager

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("server.room_cache")

INVALIDATE = "mv:room_cache"
MAX_ENTRIES = 10_000  # per kind; past it the kind starts over (rooms in use refill at once)


class RoomCache:
    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}
        self.generation = 0
        self.publish: Callable[[list[str] | None], Awaitable[None]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, kind: str, room_id: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of ``kind`` for the room, or ``load()``'s (stored unless invalidated meanwhile)."""
        values = self._values.setdefault(kind, {})
        if room_id in values:
            return values[room_id]
        generation = self.generation
        value = await load()
        if generation == self.generation:
            if len(values) >= MAX_ENTRIES:
                values.clear()
            values[room_id] = value
        return value

    def invalidate(self, room_ids: Iterable[str] | None) -> None:
        """Drop these rooms (None: every room) in this process."""
        self.generation += 1
        if room_ids is None:
            self._values.clear()
            return
        for values in self._values.values():
            for room_id in room_ids:
                values.pop(room_id, None)

    def committed(self, changed: list[object]) -> None:
        """A commit listener: drop what the committed objects touch, here and in the other processes."""
        rooms: set[str] | None = set()
        for obj in changed:
            if isinstance(obj, User):
                rooms = None
                break
            if isinstance(obj, Membership):
                rooms.add(obj.room_id)
            elif isinstance(obj, Room):
                rooms.add(obj.id)
        if rooms is not None and not rooms:
            return
        self.invalidate(rooms)
        if self.publish is not None:
            task = asyncio.get_running_loop().create_task(self.publish(None if rooms is None else sorted(rooms)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def told(self, message: dict[str, Any]) -> None:
        """Another process committed a change."""
        rooms = message.get("rooms")
        self.invalidate([r for r in rooms if isinstance(r, str)] if isinstance(rooms, list) else None)


def setup(services: "Services") -> None:
    cache = services.room_cache
    services.db.on_commit(cache.committed)
    manager = services.sio.manager
    if isinstance(manager, ClusterManager):
        manager.on_control(INVALIDATE, cache.told)
        # What was filled while this process was not listening (at start, during a Redis outage)
        # may have missed another process's invalidation.
        manager.on_subscribed.append(lambda: cache.invalidate(None))

        async def publish(rooms: list[str] | None) -> None:
            try:
                await manager.publish_control(INVALIDATE, {"rooms": rooms})
            except Exception:
                log.exception("room_cache.publish_failed")

        cache.publish = publish
