"""HTTP routes: health, sign-up and sign-in. Routes parse and call services; services decide."""

from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

import prometheus_client
from aiohttp import web

from server import __version__
from server.core.errors import AppError, NotFound, PayloadTooLarge, internal_error
from server.services import SERVICES
from server.transport.connections import disconnect_user, sign_out_token
from server.transport.httpio import bearer_token, client_ip, current_user, json_response, read_json

from .users import Login, Registration

log = logging.getLogger("server.http")
routes = web.RouteTableDef()


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every HTTP failure has the same JSON shape as a Socket.IO error ack."""
    try:
        return await handler(request)
    except AppError as exc:
        return json_response(exc.to_wire(), exc.status)
    except web.HTTPRequestEntityTooLarge:
        return json_response(PayloadTooLarge("The request body is too large.").to_wire(), 413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return json_response({"ok": False, "error": {"code": code, "message": exc.reason}}, exc.status)
    except Exception:
        log.exception("http.failed", extra={"fields": {"path": request.path}})
        return json_response(internal_error(), 500)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not await services.db.ping():
        return json_response({"status": "unavailable", "version": __version__}, 503)
    # Each feature's own health report (e.g. which languages safety monitoring reads).
    reports = {name: await report() for name, report in services.health.items()}
    return json_response({"status": "ok", "version": __version__, **reports})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, for a scraper holding ``metrics_token`` (absent without one)."""
    expected = request.app[SERVICES].settings.metrics_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise web.HTTPNotFound()  # the same answer as a route that does not exist
    return web.Response(body=prometheus_client.generate_latest(), headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    reg = await read_json(request, Registration)
    user = await request.app[SERVICES].users.register(reg)
    return json_response({"ok": True, "user": user.profile()}, 201)


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    creds = await read_json(request, Login)
    services = request.app[SERVICES]
    await services.limiter.check(services.settings.login_rate_per_ip, "login", client_ip({"aiohttp.request": request}), message="Too many sign-in attempts; please wait a minute.")
    token, user = await services.users.login(creds)
    return json_response({"ok": True, "token": token, "user": user.profile()})


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    await sign_out_token(request.app[SERVICES], bearer_token(request))
    return json_response({"ok": True})


@routes.post("/api/auth/logout-all")
async def logout_all(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    user = await current_user(request)
    await services.users.end_all_sessions(user.id)
    await disconnect_user(services, user.id)
    return json_response({"ok": True})


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    return json_response({"ok": True, "user": user.profile()})


__all__ = ["routes", "SERVICES", "json_response", "read_json", "current_user", "error_middleware", "NotFound"]
