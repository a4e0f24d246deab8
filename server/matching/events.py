"""The matching feature: picks the matcher from Settings, serves suggestions and topics,
and mounts the inbound webhook."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator

import msgspec

from server.core.errors import InvalidPayload
from server.storage.models import MatchingProfile
from server.transport.events import EventContext, EventRouter

from .base import Matcher
from .http import HttpMatcher
from .local import LocalMatcher
from .webhook import routes

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()
MAX_TOPICS = 20
MAX_TOPIC_CHARS = 40

__all__ = ["router", "routes", "lifespan", "build_matcher"]


class Suggestions(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 10


class SetTopics(msgspec.Struct, forbid_unknown_fields=True):
    topics: list[str]


def build_matcher(services: "Services") -> Matcher:
    """Configuration picks the implementation; nothing else knows which one runs."""
    settings = services.settings
    if settings.matching_backend == "local":
        return LocalMatcher(services.db)
    if settings.matching_backend == "http":
        return HttpMatcher(services.db, settings.matching_url, settings.matching_secret)
    raise ValueError(f"unknown matching_backend {settings.matching_backend!r} (use 'local' or 'http')")


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    try:
        yield
    finally:
        await services.matching.close()


@router.on("matching:suggestions", Suggestions)
async def on_matching_suggestions(ctx: EventContext, p: Suggestions) -> dict[str, Any]:
    matches = await ctx.services.matching.matches_for(ctx.user, p.limit)
    return {"matches": [m.to_wire() for m in matches]}


@router.on("matching:set_topics", SetTopics)
async def on_matching_set_topics(ctx: EventContext, p: SetTopics) -> dict[str, Any]:
    """Declare the topics one wants to talk about (mentee) or can help with (mentor)."""
    topics = sorted({t.strip().lower() for t in p.topics if t.strip()})
    if len(topics) > MAX_TOPICS or any(len(t) > MAX_TOPIC_CHARS for t in topics):
        raise InvalidPayload(f"At most {MAX_TOPICS} topics of {MAX_TOPIC_CHARS} characters.")
    async with ctx.services.db.transaction() as s:
        profile = await s.get(MatchingProfile, ctx.user.id)
        if profile is None:
            s.add(MatchingProfile(user_id=ctx.user.id, topics=topics))
        else:
            profile.topics = topics
            profile.updated_at = datetime.now(timezone.utc)
    return {"topics": topics}
