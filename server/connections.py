"""Socket.IO connection lifecycle: who may connect, and what happens when they come and go."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import socketio

from .errors import AppError
from .rooms import user_room

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger("server.connections")


def client_ip(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    if request is not None and request.remote:
        return request.remote
    return environ.get("REMOTE_ADDR", "unknown")


def install_connection_handlers(services: "Services") -> None:
    sio = services.sio

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse, with a structured reason, any connection without a valid token."""
        try:
            await services.limiter.check(
                services.settings.connect_rate_per_ip, "connect", client_ip(environ),
                message="Too many connection attempts from your network; please wait a minute.",
            )
            token = auth.get("token") if isinstance(auth, dict) else None
            user = await services.users.authenticate(token)
        except AppError as exc:
            # The client's connect_error carries {"message", "data": {"code", "message"}}.
            error = exc.to_wire()["error"]
            raise socketio.exceptions.ConnectionRefusedError(error["message"], error) from None
        await sio.save_session(sid, {"user": user})
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


