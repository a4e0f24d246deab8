"""The services of one server process, built once from Settings and reached through the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import socketio

from .auth import TokenService
from .config import Settings
from .keyring import Keyring
from .ratelimit import RateLimiter
from .storage import Database
from .users import UserService


@dataclass
class Services:
    settings: Settings
    db: Database
    keyring: Keyring
    tokens: TokenService
    users: UserService
    limiter: RateLimiter
    sio: socketio.AsyncServer
    # Filled in by the features when the app is built (see server/app.py FEATURES).
    messages: Any = None
    presence: Any = None
    dispatcher: Any = None
    translation: Any = None
    groups: Any = None
    matching: Any = None
    rewards: Any = None
    # Called with (sid, user) when a connection closes, for features that hold per-connection state.
    disconnect_hooks: list[Any] = field(default_factory=list)
    calls: Any = None
    media: Any = None
    crisis: Any = None
