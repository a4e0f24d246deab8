"""HTTP in and out, the same for every route: JSON bodies read under the wire's rules and the
payload limit, JSON answers, who is calling (bearer token, client address)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from server.core.errors import PayloadTooLarge, Unauthorized
from server.services import SERVICES

from .validation import decode_json, parse


def json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def read_json(request: web.Request, schema: type) -> Any:
    max_bytes = request.app[SERVICES].settings.max_payload_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    raw = await request.read()
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    return parse(schema, decode_json(raw) if raw else {})


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized("You are not signed in.")
    return header[7:].strip()


async def current_user(request: web.Request) -> Any:
    return await request.app[SERVICES].users.authenticate(bearer_token(request))


def client_ip(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    if request is not None and request.remote:
        return request.remote
    return environ.get("REMOTE_ADDR", "unknown")
