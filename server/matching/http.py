"""The HTTP matcher: asks an external matching service, signed with the shared secret.

Request: ``POST <matching_url>`` with ``{"user": <profile>, "limit": n}``; answer:
``{"matches": [{"user_id", "score", ...}]}``. Ids we do not know are dropped.
"""

from __future__ import annotations

import aiohttp
import orjson
from sqlalchemy import select

from server.accounts.users import AuthUser
from server.core.errors import Unavailable
from server.storage import Database
from server.storage.models import MatchingProfile, User

from .base import MAX_MATCHES, Match, Matcher
from .signature import signed_headers

REQUEST_TIMEOUT_SECONDS = 10.0


class HttpMatcher(Matcher):
    def __init__(self, db: Database, url: str, secret: str) -> None:
        if not url:
            raise ValueError("matching_backend=http needs matching_url")
        self.db = db
        self.url = url
        self.secret = secret
        self._http: aiohttp.ClientSession | None = None

    async def matches_for(self, user: AuthUser, limit: int = 10) -> list[Match]:
        limit = max(1, min(limit, MAX_MATCHES))
        async with self.db.transaction() as s:
            topics = await s.scalar(select(MatchingProfile.topics).where(MatchingProfile.user_id == user.id)) or []
        body = orjson.dumps({"user": {**user.profile(), "topics": topics}, "limit": limit})
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
        raw = [m for m in (data.get("matches") or []) if isinstance(m, dict) and isinstance(m.get("user_id"), str)][:limit]
        async with self.db.transaction() as s:
            known = set(await s.scalars(select(User.id).where(User.id.in_([m["user_id"] for m in raw])))) if raw else set()
        return [
            Match(m["user_id"], float(m.get("score", 0)), list(m.get("shared_languages", [])), list(m.get("shared_topics", [])),
                  int(m.get("overlap_minutes", 0)))
            for m in raw if m["user_id"] in known
        ]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
