"""Socket.IO connection lifecycle: who may connect, and what happens when they come and go."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

import redis.asyncio as redis
import socketio
from sqlalchemy import select

from server.core.background import every
from server.core.errors import AppError
from server.core.redis_options import redis_options
from server.storage.models import RevokedToken, User

from . import wirejson
from .addressing import ROOM_PREFIX, USER_ROOM_PREFIX, token_room, user_room
from .cluster import END_SESSIONS, end_sessions
from .httpio import client_ip

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.core.config import Settings
    from server.services import Services

log = logging.getLogger("server.connections")


async def admit_connection(
    services: "Services", environ: dict[str, Any], auth: Any, *, refuse: Callable[["AuthUser"], AppError | None] | None = None
) -> dict[str, Any]:
    """The one connect gate of every namespace: per-address rate, a valid token, and the
    namespace's own rule (``refuse`` returns the error for a user it does not admit). Returns the
    session to save (enter its rooms with ``enter_session_rooms``); its epoch and token id let the
    periodic check and privileged events notice a sign-out, a ban or a role change since.
    Refusals carry {"message", "data": {"code", "message"}} to connect_error."""
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
    return {"user": user, "epoch": claims.epoch, "jti": claims.jti}


async def enter_session_rooms(sio: socketio.AsyncServer, sid: str, session: dict[str, Any], namespace: str = "/") -> None:
    """The rooms through which a session can be ended: its user's and its token's."""
    await sio.enter_room(sid, user_room(session["user"].id), namespace=namespace)
    await sio.enter_room(sid, token_room(session["jti"]), namespace=namespace)


def install_connection_handlers(services: "Services") -> None:
    sio = services.sio

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse, with a structured reason, any connection without a valid token."""
        session = await admit_connection(services, environ, auth)
        user = session["user"]
        await sio.save_session(sid, session)
        await enter_session_rooms(sio, sid, session)
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
            # Still in its rooms here: python-socketio leaves them after this handler.
            joined = {name[len(ROOM_PREFIX):] for name in sio.rooms(sid) if name.startswith(ROOM_PREFIX)}
            await services.presence.disconnected(user, joined)
            log.info("socket.disconnected", extra={"fields": {"user_id": user.id, "sid": sid, "reason": str(reason)}})

    @sio.on("*")
    async def unknown_event(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return {"ok": False, "error": {"code": "unknown_event", "message": f"There is no event called {str(event)[:64]!r}."}}


async def disconnect_user(services: "Services", user_id: str, reason: str = "signed_out") -> None:
    """Close every connection of a user, on every server process and namespace (after "log out
    everywhere"); ``reason`` is sent in ``session:ended`` just before."""
    await end_sessions(services, user_room(user_id), reason)


async def sign_out_token(services: "Services", token: Any) -> None:
    """Single-token sign-out: the token stops working and the connections opened with it close,
    on every process and namespace; the user's other devices stay signed in."""
    claims = await services.tokens.verify(token)
    await services.tokens.revoke(claims)
    await end_sessions(services, token_room(claims.jti), "signed_out")




def _local_user_connections(sio: socketio.AsyncServer) -> dict[str, list[tuple[str, str, str]]]:
    """user id -> [(namespace, sid, eio_sid)] for every connection this process holds."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for namespace, rooms in list(sio.manager.rooms.items()):
        for name, members in list(rooms.items()):
            if isinstance(name, str) and name.startswith(USER_ROOM_PREFIX):
                for sid, eio_sid in list(members.items()):
                    found.setdefault(name[len(USER_ROOM_PREFIX):], []).append((namespace, sid, eio_sid))
    return found


def _end_reason(session: dict[str, Any] | None, current: tuple[int, bool, str] | None, revoked: set[str]) -> str | None:
    """Why a live session is over, or None while it holds: the user is gone or banned, their
    epoch moved (sign-out everywhere, role change), their role changed, or its token was signed out."""
    if not session or current is None:
        return "signed_out"
    epoch, banned, role = current
    if banned:
        return "banned"
    user = session.get("user")
    if user is not None and user.role != role:
        return "role_changed"
    if session.get("epoch") != epoch or session.get("jti") in revoked:
        return "signed_out"
    return None


async def end_stale_connections(services: "Services") -> int:
    """Close this process's connections whose user was banned, deleted, re-roled or signed out
    (everywhere, or that connection's token) since they connected; returns how many were closed.

    The admin CLI runs in another process and may not reach us through Redis (there may be no
    Redis), so every process asks the database, the one shared truth, on a short period.
    """
    sio = services.sio
    local = _local_user_connections(sio)
    if not local:
        return 0
    sessions: list[tuple[str, str, str, str, dict[str, Any] | None]] = []
    for user_id, connections in local.items():
        for namespace, sid, eio_sid in connections:
            try:
                session = await sio.get_session(sid, namespace=namespace)
            except KeyError:
                continue
            sessions.append((user_id, namespace, sid, eio_sid, session))
    jtis = [session["jti"] for *_ids, session in sessions if session and session.get("jti")]
    async with services.db.transaction() as s:
        current = {
            uid: (epoch, banned, role)
            for uid, epoch, banned, role in await s.execute(
                select(User.id, User.token_epoch, User.banned, User.role).where(User.id.in_(list(local)))
            )
        }
        revoked = set(await s.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_(jtis)))) if jtis else set()
    closed = 0
    for user_id, namespace, sid, eio_sid, session in sessions:
        reason = _end_reason(session, current.get(user_id), revoked)
        if reason is None:
            continue
        with contextlib.suppress(Exception):
            await sio.emit("session:ended", {"reason": reason}, to=sid, namespace=namespace, ignore_queue=True)
        # Closing the Engine.IO socket ends every namespace the client opened on it.
        await sio.eio.disconnect(eio_sid)
        log.info("socket.session_ended", extra={"fields": {"user_id": user_id, "sid": sid, "reason": reason}})
        closed += 1
    return closed


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    """Re-check live connections against bans, role changes and sign-outs every ``session_check_seconds``."""
    async with every(services.settings.session_check_seconds, lambda: end_stale_connections(services), name="session-check"):
        yield


async def publish_disconnect_user(settings: "Settings", user_id: str, reason: str = "signed_out") -> bool:
    """From outside a server (the admin CLI): ask every running process, through Redis, to close
    the user's connections now. Returns False without Redis; the periodic check then does it."""
    if not settings.redis_url:
        return False
    client = redis.Redis.from_url(settings.redis_url, **redis_options())
    try:
        await client.publish(
            f"{settings.redis_prefix}:socketio",
            wirejson.dumps({"method": END_SESSIONS, "room": user_room(user_id), "reason": reason, "host_id": "admin-cli"}),
        )
    finally:
        await client.aclose()
    return True
