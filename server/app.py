"""Builds the whole application from one Settings object; tests build it the same way.

Resources are created and closed in one place, in order, through aiohttp's cleanup_ctx.
Features plug in through FEATURES: each module may expose ``setup(services)`` (build its
service objects, run once at build time), ``router`` (Socket.IO events), ``routes`` (HTTP) and
``lifespan(services)`` (an async context manager for its background work).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from pathlib import Path
from typing import AsyncIterator

import socketio
from aiohttp import web

from crisis import coverage as crisis_coverage
from crisis import device_alerts as crisis_device_alerts
from crisis import help_lines
from crisis import monitoring as crisis_monitoring
from crisis import responders as crisis_responders
from crisis import safety_plans as crisis_safety_plans
from server.accounts import blocks, http_api, profile
from server.accounts.auth import TokenService
from server.accounts.http_api import error_middleware
from server.accounts.users import UserService
from server.chat import messages, presence, presence_redis, previews, reactions, room_cache, rooms
from server.chat.messages import MessageService
from server.chat.presence import Presence
from server.chat.presence_redis import RedisPresence
from server.chat.room_cache import RoomCache
from server.core import heap
from server.core.config import Settings
from server.core.i18n import locale_middleware
from server.core.keyring import Keyring, load_or_create_master_key
from server.files import attachments, resources
from server.files import http as file_http
from server.files.attachments import FileService
from server.goals import events as goal_events
from server.goals.goals import Goals
from server.groups import agenda, leadership, moderation
from server.groups import rooms as groups
from server.groups.rooms import GroupService
from server.groups.state import GroupSizes
from server.matching import events as matching_events
from server.matching.events import build_matcher
from server.matching.exports import own_matching_data
from server.mentorship import events as mentorship_events
from server.mentorship.exports import own_mentorship_data
from server.private_rooms import devices as private_devices
from server.private_rooms import key_shares as private_key_shares
from server.rewards import events as rewards_events
from server.rewards.events import build_outbox
from server.scheduling import events as scheduling_events
from server.services import SERVICES, Services
from server.storage import Database
from server.storage.private_files import private_directory
from server.translation import delivery as translation_delivery
from server.translation.delivery import TranslationDelivery
from server.transport import cluster, connections, wireguard, wirejson
from server.transport.connections import install_connection_handlers
from server.transport.events import Dispatcher
from server.transport.ratelimit import RateLimiter
from server.transport.security import cors_and_csrf_middleware, install_security
from signaling import events as call_events
from signaling import media_state as call_media_state
from signaling.calls import CallService

log = logging.getLogger("server.app")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"

# Feature modules, in start order. Each may define `setup`, `router`, `routes` and `lifespan`.
FEATURES: tuple = (connections, rooms, messages, presence, cluster, presence_redis, call_events, crisis_responders, crisis_monitoring, profile, translation_delivery)
FEATURES += (groups, leadership, moderation, agenda)  # group rooms (issue 4)
FEATURES += (room_cache,)  # per-process room caches on the send path (issue 23)
FEATURES += (heap,)  # gives freed memory back to the OS after connection churn (issue 10)
FEATURES += (help_lines,)  # the web client's "get help now" (issue 9)
FEATURES += (crisis_safety_plans,)  # the writer's own safety plan (issue 15)
FEATURES += (rewards_events, scheduling_events, matching_events)  # sessions, matching, rewards (issue 5)
FEATURES += (mentorship_events,)  # requests, mentorships, feedback, block and report (issue 18)
FEATURES += (file_http, attachments, resources, goal_events)  # files, libraries, shared goals (issue 22)
FEATURES += (private_devices, private_key_shares, crisis_device_alerts)  # end-to-end encrypted rooms (issue 20)
FEATURES += (reactions, previews, call_media_state)  # reactions; who is muted or has the camera off in a call (issue 19)


def build_sio(settings: Settings) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=cluster.build_client_manager(settings),
        json=wirejson,
        # Every packet is decoded by the wire guard, which answers what it refuses (server/transport/wireguard.py).
        serializer=wireguard.guarded_packet_class(settings.max_payload_bytes),
        cors_allowed_origins=list(settings.cors_origins) or None,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        # Engine.IO closes the connection on a larger frame; the app limit (max_payload_bytes, far
        # smaller) is checked by the wire guard, which answers with payload_too_large instead.
        max_http_buffer_size=wireguard.ENGINE_MAX_BYTES,
        # Our loggers, not False: for False the libraries attach their own plain-text stderr handler,
        # which would print tracebacks outside the JSON log and its redaction.
        logger=logging.getLogger("socketio.server"),
        engineio_logger=logging.getLogger("engineio.server"),
    )


def build_services(settings: Settings) -> Services:
    private_directory(settings.data_path)
    keyring = Keyring(load_or_create_master_key(settings.master_key, settings.data_path))
    db = Database(settings.effective_database_url, keyring)
    tokens = TokenService(db, keyring, settings.token_ttl_seconds)
    services = Services(
        settings=settings,
        db=db,
        keyring=keyring,
        tokens=tokens,
        users=UserService(db, tokens),
        limiter=RateLimiter(settings.redis_url, settings.redis_prefix),
        sio=build_sio(settings),
    )
    services.messages = MessageService(services)
    services.room_cache = RoomCache()
    services.presence = RedisPresence(services) if settings.redis_url else Presence(services)
    services.dispatcher = Dispatcher(services)
    services.translation = TranslationDelivery(settings)
    services.groups = GroupService(GroupSizes.from_settings(settings))
    services.matching = build_matcher(services)
    services.rewards = build_outbox(services)
    services.calls = CallService(services)
    services.crisis = crisis_responders.build_console(services)
    services.personal_data["safety_plan"] = functools.partial(crisis_safety_plans.own_plan, services)
    services.personal_data["matching"] = functools.partial(own_matching_data, services)
    services.personal_data["mentorship"] = functools.partial(own_mentorship_data, services)
    services.files = FileService(services)
    services.goals = Goals(services)
    services.personal_data["files"] = services.files.own_files
    services.personal_data["resources"] = functools.partial(resources.pinned_by, services)
    services.personal_data["goals"] = services.goals.of_person
    services.personal_data_erasers["files"] = services.files.erase
    return services


def build_app(settings: Settings) -> web.Application:
    services = build_services(settings)
    app = web.Application(middlewares=[locale_middleware(profile.saved_locale), error_middleware, cors_and_csrf_middleware(settings)], client_max_size=settings.max_payload_bytes)
    install_security(app, settings)
    app[SERVICES] = services
    services.sio.attach(app)
    install_connection_handlers(services)
    app.router.add_routes(http_api.routes)
    for feature in FEATURES:
        if hasattr(feature, "setup"):
            feature.setup(services)
        if hasattr(feature, "router"):
            services.dispatcher.include(feature.router)
        if hasattr(feature, "routes"):
            app.router.add_routes(feature.routes)
    register_message_hooks(services)
    wireguard.install_wire_guard(services)
    _add_static(app)
    app.cleanup_ctx.append(_database_ctx)
    for feature in FEATURES:
        if hasattr(feature, "lifespan"):
            app.cleanup_ctx.append(_feature_ctx(feature.lifespan))
    # After every cleanup context has started (aiohttp runs those first), so the heap is loaded.
    app.on_startup.append(_freeze_startup_heap)
    app.on_shutdown.append(_close_sockets)
    return app


async def _freeze_startup_heap(_app: web.Application) -> None:
    """Take what startup loaded (lexicons, language models, mappers: ≈ 220,000 objects that live
    as long as the process) out of the cyclic garbage collector's view. A full collection over
    them paused the event loop ≈ 130 ms, landing on whichever messages were in flight (the p99
    of bench/load.py); frozen, a full collection only walks what the running server made."""
    gc.collect()
    gc.freeze()


def register_message_hooks(services: Services) -> None:
    """Everything that runs around a message, in the order it runs (see server/chat/message_hooks.py)."""
    hooks = services.messages.hooks
    hooks.language_of = translation_delivery.message_language
    hooks.pre_send.append(crisis_monitoring.SafetyScanner())
    hooks.pre_send_checks.append(moderation.enforce_slow_mode)
    hooks.pre_send_checks.append(blocks.refuse_blocked_direct_message)
    # In one task per message, in this order: a responder's first contact (a look-up) is not kept
    # waiting behind a translation.
    hooks.after_fanout.append(services.crisis.contacts)
    hooks.after_fanout.append(translation_delivery.deliver_translations)
    hooks.history.append(translation_delivery.attach_translations)
    hooks.pages.append(reactions.attach_reactions)
    services.health["safety_monitoring"] = functools.partial(crisis_coverage.coverage_report, services)


def _add_static(app: web.Application) -> None:
    if (STATIC_DIR / "index.html").exists():
        async def index(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(STATIC_DIR / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/static/", STATIC_DIR)
    client = NODE_MODULES / "socket.io-client" / "dist"
    if client.exists():
        app.router.add_static("/vendor/socket.io/", client)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    await services.db.migrate()
    log.info("database.ready", extra={"fields": {"dialect": "sqlite" if services.db.is_sqlite else "postgresql"}})
    yield
    await services.db.close()


def _feature_ctx(lifespan):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with lifespan(app[SERVICES]):
            yield

    return ctx


async def _close_sockets(app: web.Application) -> None:
    """Graceful shutdown: tell every client goodbye so it reconnects elsewhere at once."""
    sio = app[SERVICES].sio
    with contextlib.suppress(Exception):
        await sio.shutdown()
