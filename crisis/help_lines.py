"""``GET /api/help/lines``: the crisis lines behind the web client's always-visible "get help now".

No sign-in is required: a person in distress may be signed out or locked out, and the lines are
public information. The answer has the shape of the ``crisis:resources`` event (tier 0: no alert
was raised), so the client renders both with one view and the words come from the same reviewed
server catalogs.
"""

from __future__ import annotations

import re

from aiohttp import web

from crisis.resources import crisis_resources
from server.transport.httpio import json_response

routes = web.RouteTableDef()

_COUNTRY = re.compile(r"[A-Za-z]{2}")
_LOCALE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?")


@routes.get("/api/help/lines")
async def help_lines(request: web.Request) -> web.Response:
    """Lines for ``?country=US&locale=es``; unknown or malformed values fall back to the directory."""
    country = request.query.get("country", "")
    locale = request.query.get("locale", "")
    resources = crisis_resources(
        country=country.upper() if _COUNTRY.fullmatch(country) else "",
        locale=locale if _LOCALE.fullmatch(locale) else "en",
        tier=0,
        responders_alerted=False,
    )
    return json_response({"ok": True, **resources})
