"""The matching feature: picks the matcher from Settings, serves suggestions with their reasons
and the browse list, keeps mentor profiles and mentee intakes, and mounts the inbound webhook.

Handlers parse, authorize and call the functions beside them; they decide nothing themselves.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, AsyncIterator

import msgspec

from server.accounts.blocks import everyone_blocked_with
from server.core.errors import InvalidPayload, NotFound
from server.core.roles import ADMIN, MENTEE, MENTOR_ROLES
from server.storage.models import MentorProfile
from server.transport.events import EventContext, EventRouter

from .base import MAX_MATCHES, Matcher
from .cards import MAX_PAGE, browse, mentor_cards
from .http import HttpMatcher
from .intake import Intake, delete_intake, intake_view, load_intake, save_intake
from .local import LocalMatcher
from .profiles import MentorProfileUpdate, profile_view, save_profile, seats_taken, set_credentials
from .ranking import Fairness, Weights
from .seeker import Filters, Seeker, seeker_for
from .webhook import routes

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

router = EventRouter()

__all__ = ["router", "routes", "lifespan", "build_matcher", "suggestions_for"]


class Suggestions(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 10
    filters: Filters = msgspec.field(default_factory=Filters)


class Browse(msgspec.Struct, forbid_unknown_fields=True):
    filters: Filters = msgspec.field(default_factory=Filters)
    offset: int = 0
    limit: int = 20


class ProfileRef(msgspec.Struct, forbid_unknown_fields=True):
    user_id: str = ""  # empty: my own profile


class SetIntake(msgspec.Struct, forbid_unknown_fields=True):
    intake: Intake


class Certify(msgspec.Struct, forbid_unknown_fields=True):
    user_id: str
    certification: str | None = None  # a level, or "" to withdraw it
    credential_verified: bool | None = None


def build_matcher(services: "Services") -> Matcher:
    """Configuration picks the implementation; nothing else knows which one runs."""
    settings = services.settings
    if settings.matching_backend == "local":
        fairness = Fairness(settings.matching_fairness_share, settings.matching_exploration_every,
                            settings.matching_exposure_half_life_hours)
        if not 0 <= fairness.share <= 1 or fairness.exploration_every < 0:
            raise ValueError("matching_fairness_share is 0 to 1 and matching_exploration_every 0 or more")
        return LocalMatcher(services.db, Weights.parse(settings.matching_weights), fairness, settings.matching_index_ttl_seconds)
    if settings.matching_backend == "http":
        return HttpMatcher(services.db, settings.matching_url, settings.matching_secret)
    raise ValueError(f"unknown matching_backend {settings.matching_backend!r} (use 'local' or 'http')")


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    try:
        yield
    finally:
        await services.matching.close()


async def suggestions_for(services: "Services", user: "AuthUser", limit: int, filters: Filters | None = None,
                          also_exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Ranked mentors for a mentee, each with the reasons and the mentor's card."""
    if not 1 <= limit <= MAX_MATCHES:
        raise InvalidPayload(f"limit is 1 to {MAX_MATCHES}.")
    async with services.db.read() as s:
        seeker: Seeker = await seeker_for(s, user, filters, also_exclude)
    matches = await services.matching.matches_for(seeker, limit)
    async with services.db.read() as s:
        cards = await mentor_cards(s, [m.user_id for m in matches], seeker.zone)
    return [{**m.to_wire(), "mentor": cards[m.user_id]} for m in matches if m.user_id in cards]


@router.on("matching:suggestions", Suggestions, roles=(MENTEE,))
async def on_matching_suggestions(ctx: EventContext, p: Suggestions) -> dict[str, Any]:
    return {"matches": await suggestions_for(ctx.services, ctx.user, p.limit, p.filters)}


@router.on("matching:browse", Browse, roles=(MENTEE,))
async def on_matching_browse(ctx: EventContext, p: Browse) -> dict[str, Any]:
    if not 1 <= p.limit <= MAX_PAGE or p.offset < 0:
        raise InvalidPayload(f"limit is 1 to {MAX_PAGE} and offset 0 or more.")
    async with ctx.services.db.read() as s:
        seeker = await seeker_for(s, ctx.user, p.filters)
        ids, total = await browse(s, seeker, await everyone_blocked_with(s, ctx.user.id), p.offset, p.limit)
        cards = await mentor_cards(s, ids, seeker.zone)
    return {"mentors": [cards[i] for i in ids if i in cards], "total": total}


@router.on("mentor_profile:get", ProfileRef)
async def on_mentor_profile_get(ctx: EventContext, p: ProfileRef) -> dict[str, Any]:
    """My own profile (``profile``: null before I made one), or another mentor's card."""
    async with ctx.services.db.read() as s:
        if p.user_id and p.user_id != ctx.user.id:
            cards = await mentor_cards(s, [p.user_id] if len(p.user_id) <= 64 else [], ctx.user.timezone)
            if p.user_id not in cards or p.user_id in await everyone_blocked_with(s, ctx.user.id):
                raise NotFound("No mentor with that id.")
            return {"mentor": cards[p.user_id]}
        row = await s.get(MentorProfile, ctx.user.id)
        return {"profile": profile_view(row, await seats_taken(s, ctx.user.id)) if row else None}


@router.on("mentor_profile:set", MentorProfileUpdate, roles=MENTOR_ROLES)
async def on_mentor_profile_set(ctx: EventContext, p: MentorProfileUpdate) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        row = await save_profile(s, ctx.user.id, ctx.user.role, p, ctx.services.settings.mentor_default_capacity)
        await s.flush()
        return {"profile": profile_view(row, await seats_taken(s, ctx.user.id))}


@router.on("intake:get")
async def on_intake_get(ctx: EventContext, _p: Any) -> dict[str, Any]:
    async with ctx.services.db.read() as s:
        return {"intake": intake_view(await load_intake(s, ctx.user.id))}


@router.on("intake:set", SetIntake)
async def on_intake_set(ctx: EventContext, p: SetIntake) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        return {"intake": intake_view(await save_intake(s, ctx.user.id, p.intake))}


@router.on("intake:delete")
async def on_intake_delete(ctx: EventContext, _p: Any) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        return {"deleted": await delete_intake(s, ctx.user.id)}


@router.on("staff:certify", Certify, roles=(ADMIN,))
async def on_staff_certify(ctx: EventContext, p: Certify) -> dict[str, Any]:
    """Staff grant a certification level or confirm a professional's credential (audited)."""
    async with ctx.services.db.transaction() as s:
        row = await set_credentials(s, ctx.user.id, p.user_id, ctx.services.settings.mentor_default_capacity,
                                    certification=p.certification, credential_verified=p.credential_verified,
                                    detail={"via": "event"})
        await s.flush()
        return {"profile": profile_view(row, await seats_taken(s, p.user_id))}
