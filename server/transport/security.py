"""HTTP hardening: security headers on every response, CORS for configured origins, CSRF-safe bodies.

Why each piece:
- Headers are added in ``on_response_prepare`` rather than a middleware, so they are on *every*
  response: static files, error pages, Engine.IO polling and the WebSocket upgrade alike.
- The Content-Security-Policy is the strictest one the web client (static/) runs under: one
  module script, one stylesheet, no inline code, sockets to ourselves; media from blob: URLs.
  ``connect-src 'self'`` covers same-origin ws:/wss: in current browsers (CSP Level 3); the bare
  ``ws:``/``wss:`` schemes would let a page open a socket to any host.
- Strict-Transport-Security is only sent when this process serves TLS itself; sent over plain
  HTTP it would be ignored by browsers and would mislead whoever reads the headers.
- CSRF: authentication is a bearer token in the Authorization header, never a cookie, so a
  foreign page cannot ride a signed-in browser. As a second wall, state-changing requests must
  carry JSON (the form encodings a cross-site <form> can send are refused with 415) and a
  foreign ``Origin`` on them is refused with 403 unless that origin is configured. Routes marked
  ``accepts_binary_body`` (file uploads) take ``application/octet-stream`` instead: no form can
  send that type, and a foreign page's fetch of it needs a preflight, which foreign origins fail.
- CORS for HTTP uses the same ``Settings.cors_origins`` list that python-socketio enforces on
  the Socket.IO handshake, so one setting governs both; Engine.IO paths are left to it.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from server.core.config import Settings
from server.core.errors import AppError, Forbidden

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Calls need the camera and microphone of our own origin; nothing else is delegated to anyone.
PERMISSIONS_POLICY = "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()"
HSTS = "max-age=31536000; includeSubDomains"
PREFLIGHT_MAX_AGE = "600"  # seconds a browser may cache a preflight answer
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What an HTML <form> on any site can submit without a CORS preflight.
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
ENGINEIO_PATH = "/socket.io/"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Accept-Language"


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status = 415


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every response carries under these settings."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if settings.tls_cert:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _origin_allowed(request: web.Request, origin: str, allowed: frozenset[str]) -> bool:
    return origin == _own_origin(request) or origin in allowed or "*" in allowed


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _require_json_body(request: web.Request) -> None:
    """Refuse what a cross-site HTML form can send (urlencoded, multipart, text/plain; even
    empty) and any other non-JSON body on a state-changing request. A bodiless POST passes."""
    declared = request.content_type if "Content-Type" in request.headers else ""
    if declared == "application/json":
        return
    has_body = bool(request.content_length) or (request.content_length is None and request.body_exists)
    if declared in FORM_CONTENT_TYPES or has_body:
        raise UnsupportedMediaType("Send the request body as application/json.")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BINARY_BODY_TYPE = "application/octet-stream"


def accepts_binary_body(handler: Handler) -> Handler:
    """Mark a route that takes raw bytes (``application/octet-stream``) rather than JSON."""
    handler.accepts_binary_body = True  # type: ignore[attr-defined]
    return handler


def _takes_binary_body(request: web.Request) -> bool:
    return request.content_type == BINARY_BODY_TYPE and getattr(request.match_info.handler, "accepts_binary_body", False)


def cors_and_csrf_middleware(settings: Settings) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """CORS preflights and headers for HTTP routes, and the JSON-only rule for state changes."""
    allowed = frozenset(settings.cors_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ENGINEIO_PATH):
            # python-socketio checks the Origin of the handshake against the same list.
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin and "Access-Control-Request-Method" in request.headers:
            if not _origin_allowed(request, origin, allowed):
                raise Forbidden("This origin may not call the API.", code="origin_not_allowed")
            return web.Response(status=204, headers={
                **_cors_headers(origin),
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            })
        if request.method in STATE_CHANGING_METHODS:
            if origin and not _origin_allowed(request, origin, allowed):
                raise Forbidden("This origin may not call the API.", code="origin_not_allowed")
            if not _takes_binary_body(request):
                _require_json_body(request)
        response = await handler(request)
        if origin and origin != _own_origin(request) and _origin_allowed(request, origin, allowed):
            response.headers.update(_cors_headers(origin))
        return response

    return middleware


def install_security(app: web.Application, settings: Settings) -> None:
    """Add the headers hook; the middleware is placed by build_app inside the error middleware."""
    headers = security_headers(settings)

    async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    app.on_response_prepare.append(add_headers)
