"""The services of one server process, built once from Settings and reached through the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.auth import TokenService
from server.accounts.users import UserService
from server.core.config import Settings
from server.core.keyring import Keyring
from server.storage import Database
from server.transport.ratelimit import RateLimiter

if TYPE_CHECKING:
    from crisis.responders import ResponderConsole
    from media.server import MediaServer
    from server.accounts.users import AuthUser
    from server.chat.messages import MessageService
    from server.chat.presence import Presence
    from server.chat.room_cache import RoomCache
    from server.files.attachments import FileService
    from server.goals.goals import Goals
    from server.groups.rooms import GroupService
    from server.matching.base import Matcher
    from server.rewards.outbox import OutboxDelivery
    from server.translation.delivery import TranslationDelivery
    from server.transport.events import Dispatcher
    from signaling.calls import CallService

DisconnectHook = Callable[[str, "AuthUser"], Awaitable[None]]
HealthReport = Callable[[], Awaitable[Any]]
PersonalData = Callable[[str], Awaitable[Any]]
# Part of erasing a person, inside its transaction: (session, user id, ids of the rooms shredded with
# them) → how many things were erased. For a feature that keeps more than rows the person owns
# (which go without help), e.g. file blobs.
PersonalDataEraser = Callable[[AsyncSession, str, list[str]], Awaitable[int]]


@dataclass
class Services:
    settings: Settings
    db: Database
    keyring: Keyring
    tokens: TokenService
    users: UserService
    limiter: RateLimiter
    sio: socketio.AsyncServer
    # Built right after, all in server/app.py build_services (they take the Services they live in).
    messages: MessageService = field(init=False)
    presence: Presence = field(init=False)
    room_cache: RoomCache = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    translation: TranslationDelivery = field(init=False)
    groups: GroupService = field(init=False)
    matching: Matcher = field(init=False)
    rewards: OutboxDelivery = field(init=False)
    calls: CallService = field(init=False)
    crisis: ResponderConsole = field(init=False)
    files: FileService = field(init=False)
    goals: Goals = field(init=False)
    # Built on the first relayed call (signaling/events.py): a process that never relays media
    # never loads aiortc's codecs.
    media: MediaServer | None = None
    # Called with (sid, user) when a connection closes, for features that hold per-connection state.
    disconnect_hooks: list[DisconnectHook] = field(default_factory=list)
    # Named sections of GET /healthz (e.g. the languages safety monitoring reads).
    health: dict[str, HealthReport] = field(default_factory=dict)
    # Named sections of a person's data export kept by other features (e.g. their safety plan).
    personal_data: dict[str, PersonalData] = field(default_factory=dict)
    # Named steps of erasing a person kept by other features (e.g. the files they shared).
    personal_data_erasers: dict[str, PersonalDataEraser] = field(default_factory=dict)

SERVICES = web.AppKey("services", Services)
