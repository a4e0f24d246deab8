"""The HTTP matcher: asks an external matching service, signed with the shared secret.

Request: ``POST <matching_url>`` with ``{"user": <id, role, languages, locale, country, timezone>,
"intake": <what they look for, without their goals>, "filters", "exclude": [mentor ids never to suggest], "limit": n}``; answer:
``{"matches": [{"user_id", "score", "reasons"?, ...}]}``. Ids we do not know, excluded ids and
mentors not open to requests right now are dropped, so the service cannot override the guards.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import orjson

from server.core.errors import Unavailable
from server.storage import Database

from .base import MAX_MATCHES, Match, Matcher
from .seeker import Seeker, open_to_requests
from .signature import signed_headers

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_REASONS = 10


def _reasons(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    return [r for r in raw if isinstance(r, dict) and isinstance(r.get("kind"), str)][:MAX_REASONS]


def _strings(raw: Any) -> list[str]:
    return [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []


def _match(raw: dict[str, Any]) -> Match | None:
    """One answered match, or None when its numbers are not numbers."""
    try:
        return Match(raw["user_id"], float(raw.get("score", 0)), _reasons(raw.get("reasons")),
                     _strings(raw.get("shared_languages")), _strings(raw.get("shared_areas")), int(raw.get("overlap_minutes", 0)))
    except (TypeError, ValueError):
        return None


class HttpMatcher(Matcher):
    def __init__(self, db: Database, url: str, secret: str) -> None:
        if not url:
            raise ValueError("matching_backend=http needs matching_url")
        self.db = db
        self.url = url
        self.secret = secret
        self._http: aiohttp.ClientSession | None = None

    async def matches_for(self, seeker: Seeker, limit: int = 10) -> list[Match]:
        limit = max(1, min(limit, MAX_MATCHES))
        intake = msgspec.to_builtins(seeker.intake)
        intake.pop("goals", None)  # the mentee's own words stay with us
        user = seeker.user
        # What ranking needs, not who they are: no names leave for the external service.
        who = {"id": user.id, "role": user.role, "languages": list(user.languages), "locale": user.locale,
               "country": user.country, "timezone": user.timezone}
        body = orjson.dumps({"user": who, "intake": intake, "filters": msgspec.to_builtins(seeker.filters),
                             "exclude": sorted(seeker.exclude), "limit": limit})
        headers = {"Content-Type": "application/json", **(signed_headers(self.secret, body) if self.secret else {})}
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))
        try:
            async with self._http.post(self.url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise Unavailable("Matching is unavailable right now; please try again later.")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise Unavailable("Matching is unavailable right now; please try again later.") from None
        raw = [m for m in (data.get("matches") or []) if isinstance(m, dict) and isinstance(m.get("user_id"), str)
               and m["user_id"] not in seeker.exclude][:limit]
        async with self.db.read() as s:
            allowed = await open_to_requests(s, [m["user_id"] for m in raw])
        matches = (_match(m) for m in raw if m["user_id"] in allowed)
        return [m for m in matches if m is not None]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
