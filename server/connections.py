"""Socket.IO connection lifecycle: who may connect, and what happens when they come and go."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import socketio
from sqlalchemy import select

from .errors import AppError
from .rooms import user_room
from .storage.models import User
from .background import every

if TYPE_CHECKING:
    from .config import Settings
    from .services import Services
    from .users import AuthUser

log = logging.getLogger("server.connections")


def client_ip(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    if request is not None and request.remote:
        return request.remote
    return environ.get("REMOTE_ADDR", "unknown")


async def admit_connection(
    services: "Services", environ: dict[str, Any], auth: Any, *, refuse: Callable[["AuthUser"], AppError | None] | None = None
) -> dict[str, Any]:
    """The one connect gate of every namespace: per-address rate, a valid token, and the
    namespace's own rule (``refuse`` returns the error for a user it does not admit). Returns the
    session to save; the epoch in it lets the periodic check end the connection after a sign-out
    everywhere or a ban. Refusals carry {"message", "data": {"code", "message"}} to connect_error."""
    try:
        await services.limiter.check(
            services.settings.connect_rate_per_ip, "connect", client_ip(environ),
            message="Too many connection attempts from your network; please wait a minute.",
        )
        token = auth.get("token") if isinstance(auth, dict) else None
        user, claims = await services.users.authenticate_with_claims(token)
        refusal = refuse(user) if refuse is not None else None
        if refusal is not None:
            raise refusal
    except AppError as exc:
        error = exc.to_wire()["error"]
        raise socketio.exceptions.ConnectionRefusedError(error["message"], error) from None
    return {"user": user, "epoch": claims.epoch}


def install_connection_handlers(services: "Services") -> None:
    sio = services.sio

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse, with a structured reason, any connection without a valid token."""
        session = await admit_connection(services, environ, auth)
        user = session["user"]
        await sio.save_session(sid, session)
        await sio.enter_room(sid, user_room(user.id))
        await services.presence.connected(user)
        log.info("socket.connected", extra={"fields": {"user_id": user.id, "sid": sid}})

    @sio.on("disconnect")
    async def disconnect(sid: str, reason: Any = None) -> None:
        services.dispatcher.forget_sid(sid)
        try:
            session = await sio.get_session(sid)
        except KeyError:
            return
        user = session.get("user") if session else None
        if user is not None:
            for hook in services.disconnect_hooks:
                try:
                    await hook(sid, user)
                except Exception:
                    log.exception("disconnect.hook_failed", extra={"fields": {"user_id": user.id}})
            await services.presence.disconnected(user)
            log.info("socket.disconnected", extra={"fields": {"user_id": user.id, "sid": sid, "reason": str(reason)}})

    @sio.on("*")
    async def unknown_event(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return {"ok": False, "error": {"code": "unknown_event", "message": f"There is no event called {str(event)[:64]!r}."}}


async def disconnect_user(services: "Services", user_id: str) -> None:
    """Close every connection of a user, on every server process (after a ban or "log out everywhere")."""
    from .cluster import disconnect_user as disconnect_everywhere

    await disconnect_everywhere(services, user_id)


USER_ROOM_PREFIX = user_room("")


def _local_user_connections(sio: socketio.AsyncServer) -> dict[str, list[tuple[str, str, str]]]:
    """user id -> [(namespace, sid, eio_sid)] for every connection this process holds."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for namespace, rooms in list(sio.manager.rooms.items()):
        for name, members in list(rooms.items()):
            if isinstance(name, str) and name.startswith(USER_ROOM_PREFIX):
                for sid, eio_sid in list(members.items()):
                    found.setdefault(name[len(USER_ROOM_PREFIX):], []).append((namespace, sid, eio_sid))
    return found


async def end_stale_connections(services: "Services") -> int:
    """Close this process's connections whose user was banned, deleted or logged out everywhere
    since they connected; returns how many were closed.

    The admin CLI runs in another process and may not reach us through Redis (there may be no
    Redis), so every process asks the database, the one shared truth, on a short period.
    """
    sio = services.sio
    local = _local_user_connections(sio)
    if not local:
        return 0
    async with services.db.transaction() as s:
        current = {
            uid: (epoch, banned)
            for uid, epoch, banned in await s.execute(
                select(User.id, User.token_epoch, User.banned).where(User.id.in_(list(local)))
            )
        }
    closed = 0
    for user_id, connections in local.items():
        state = current.get(user_id)
        for namespace, sid, eio_sid in connections:
            try:
                session = await sio.get_session(sid, namespace=namespace)
            except KeyError:
                continue
            epoch = session.get("epoch") if session else None
            stale = state is None or state[1] or (epoch is not None and epoch != state[0])
            if not stale:
                continue
            reason = "banned" if state is not None and state[1] else "signed_out"
            with contextlib.suppress(Exception):
                await sio.emit("session:ended", {"reason": reason}, to=sid, namespace=namespace, ignore_queue=True)
            # Closing the Engine.IO socket ends every namespace the client opened on it.
            await sio.eio.disconnect(eio_sid)
            log.info("socket.session_ended", extra={"fields": {"user_id": user_id, "sid": sid, "reason": reason}})
            closed += 1
    return closed


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    """Re-check live connections against bans and sign-outs every ``session_check_seconds``."""
    async with every(services.settings.session_check_seconds, lambda: end_stale_connections(services), name="session-check"):
        yield


async def publish_disconnect_user(settings: "Settings", user_id: str) -> bool:
    """From outside a server (the admin CLI): ask every running process, through Redis, to close
    the user's connections now. Returns False without Redis; the periodic check then does it."""
    if not settings.redis_url:
        return False
    import redis.asyncio as redis

    from . import wirejson
    from .cluster import DISCONNECT_USER, redis_options

    client = redis.Redis.from_url(settings.redis_url, **redis_options())
    try:
        await client.publish(
            f"{settings.redis_prefix}:socketio",
            wirejson.dumps({"method": DISCONNECT_USER, "user_id": user_id, "host_id": "admin-cli"}),
        )
    finally:
        await client.aclose()
    return True

