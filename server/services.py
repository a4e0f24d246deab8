"""The services of one server process, built once from Settings and reached through the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import socketio
from aiohttp import web

from .auth import TokenService
from .config import Settings
from .keyring import Keyring
from .ratelimit import RateLimiter
from .storage import Database
from .users import UserService

if TYPE_CHECKING:
    from crisis.responders import ResponderConsole
    from media.server import MediaServer
    from signaling.calls import CallService

    from .events import Dispatcher
    from .groups.rooms import GroupService
    from .matching.base import Matcher
    from .messages import MessageService
    from .presence import Presence
    from .rewards.outbox import OutboxDelivery
    from .translation.delivery import TranslationDelivery
    from .users import AuthUser

DisconnectHook = Callable[[str, "AuthUser"], Awaitable[None]]
HealthReport = Callable[[], Awaitable[Any]]
PersonalData = Callable[[str], Awaitable[Any]]


@dataclass
class Services:
    settings: Settings
    db: Database
    keyring: Keyring
    tokens: TokenService
    users: UserService
    limiter: RateLimiter
    sio: socketio.AsyncServer
    # Built right after, in server/app.py build_services (they take the Services they live in).
    messages: MessageService = field(init=False)
    presence: Presence = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    # Built by their feature's setup() in server/app.py FEATURES order; None until then, or when
    # the feature is not part of this deployment.
    translation: TranslationDelivery | None = None
    groups: GroupService | None = None
    matching: Matcher | None = None
    rewards: OutboxDelivery | None = None
    calls: CallService | None = None
    media: MediaServer | None = None
    crisis: ResponderConsole | None = None
    # Called with (sid, user) when a connection closes, for features that hold per-connection state.
    disconnect_hooks: list[DisconnectHook] = field(default_factory=list)
    # Named sections of GET /healthz (e.g. the languages safety monitoring reads).
    health: dict[str, HealthReport] = field(default_factory=dict)
    # Named sections of a person's data export kept by other features (e.g. their safety plan).
    personal_data: dict[str, PersonalData] = field(default_factory=dict)

SERVICES = web.AppKey("services", Services)
