"""Socket.IO event routing: one decorator declares an event's payload schema and who may call it.

Every handler runs behind the same gate: the caller must be signed in, hold an allowed role
(read from the database for events that name roles, so a role change applies at the next event),
stay within the event rate, and send a payload that validates. Whatever happens, the caller
gets a structured ack, in the caller's language; the connection is never dropped for bad input. The registry also feeds
the authorization-matrix test, so a new event without a declared policy is noticed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from server.core.errors import AppError, Forbidden, Unauthorized, internal_error
from server.core.i18n import DEFAULT_LOCALE, locale_scope, negotiate_locale

from .validation import parse

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

log = logging.getLogger("server.events")

Handler = Callable[["EventContext", Any], Awaitable[dict[str, Any] | None]]
ANY_ROLE = None


@dataclass
class EventContext:
    services: "Services"
    sid: str
    namespace: str
    user: "AuthUser"

    async def emit_to_caller(self, event: str, data: Any) -> None:
        await self.services.sio.emit(event, data, to=self.sid, namespace=self.namespace)


@dataclass(frozen=True)
class EventSpec:
    name: str
    namespace: str
    schema: type | None
    handler: Handler
    roles: frozenset[str] | None
    # Events whose effects must follow the order the client sent them (e.g. message:send).
    ordered: bool = False


@dataclass
class EventRouter:
    specs: list[EventSpec] = field(default_factory=list)

    def on(
        self,
        name: str,
        schema: type | None = None,
        *,
        namespace: str = "/",
        roles: tuple[str, ...] | None = ANY_ROLE,
        ordered: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(EventSpec(name, namespace, schema, handler, frozenset(roles) if roles else None, ordered))
            return handler

        return register


class Dispatcher:
    """Binds EventSpecs to a socketio.AsyncServer behind the common gate."""

    def __init__(self, services: "Services") -> None:
        self.services = services
        self.specs: dict[tuple[str, str], EventSpec] = {}
        self._order_locks: dict[str, asyncio.Lock] = {}

    def include(self, router: EventRouter) -> None:
        for spec in router.specs:
            key = (spec.namespace, spec.name)
            if key in self.specs:
                raise RuntimeError(f"event {spec.name} registered twice in {spec.namespace}")
            self.specs[key] = spec
            self.services.sio.on(spec.name, self._bind(spec), namespace=spec.namespace)

    def forget_sid(self, sid: str) -> None:
        self._order_locks.pop(sid, None)

    def _bind(self, spec: EventSpec) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def handle(sid: str, data: Any = None, *extra: Any) -> dict[str, Any]:
            if spec.ordered:
                # Acquired before any other await: asyncio starts handler tasks in arrival order
                # and Lock is FIFO, so one client's ordered events run in the order they were sent.
                lock = self._order_locks.setdefault(sid, asyncio.Lock())
                async with lock:
                    return await self.run(spec, sid, data)
            return await self.run(spec, sid, data)

        return handle

    async def run(self, spec: EventSpec, sid: str, data: Any) -> dict[str, Any]:
        services = self.services
        locale = DEFAULT_LOCALE
        try:
            session = await services.sio.get_session(sid, namespace=spec.namespace)
            user = session.get("user") if session else None
            if user is None:
                raise Unauthorized("You are not signed in.")
            locale = ui_locale(user.locale)
            if spec.roles is not None:
                # The role cached at connect may be stale (a demotion, a ban, a sign-out on another
                # process): events that need a role read the current one.
                user = await services.users.confirm_session(user.id, session.get("epoch"), session.get("jti"))
                if user.role not in spec.roles:
                    raise Forbidden("You are not allowed to do that.")
            # Shared per-user budget over all events; per-feature limits (messages, rooms) sit on top.
            await services.limiter.check(
                services.settings.event_rate, "events", user.id, message="You are sending messages too fast. Please wait a moment.",
                shared=False,
            )
            payload = parse(spec.schema, data) if spec.schema else data
            with locale_scope(locale):
                result = await spec.handler(EventContext(services, sid, spec.namespace, user), payload)
            return {"ok": True, **(result or {})}
        except AppError as exc:
            return exc.to_wire(locale)
        except Exception:
            log.exception("event.failed", extra={"fields": {"event_name": spec.name}})
            return internal_error(locale)


@lru_cache(maxsize=256)
def ui_locale(user_locale: str) -> str:
    """The catalog locale for a saved setting ("es_MX" reads Spanish); cached, it runs per event."""
    return negotiate_locale(user_locale, None)
