"""A mentor's profile: what they offer (track, areas, languages from their account, hours from
their availability), a short public bio, how many mentees they take at once, and a pause switch.

Certification and a professional's verified credential are granted by staff only
(``set_credentials``, reached from the command line or the admin-only ``staff:certify``): the
profile update a mentor sends has no such fields, so a mentor cannot declare them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.audit import record_audit
from server.core.errors import InvalidPayload, NotFound
from server.core.i18n import N_
from server.core.roles import MENTOR_ROLES
from server.storage.models import MentorProfile, Mentorship, User

from .index import SEAT_HOLDING
from .vocabulary import AGE_RANGES, AREAS, CERTIFICATION_HOURS, CERTIFICATIONS, GENDERS, TRACKS

BIO_MAX_CHARS = 600
MAX_CAPACITY = 20


class MentorProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    track: str | None = None
    areas: Annotated[list[str], msgspec.Meta(max_length=len(AREAS))] | None = None
    lived_experience: Annotated[list[str], msgspec.Meta(max_length=len(AREAS))] | None = None
    bio: Annotated[str, msgspec.Meta(max_length=BIO_MAX_CHARS)] | None = None
    gender: str | None = None
    age_range: str | None = None
    capacity: int | None = None
    accepting: bool | None = None


PROFILE_MESSAGES: tuple[str, ...] = (
    N_("Unknown support area {code}."),
    N_("The track is one of peer, professional, specialized or group."),
    N_("A mentor takes 1 to {count} mentees at once."),
    N_("That choice is not one of the offered ones."),
    N_("Only mentors have a mentor profile."),
    N_("Unknown certification level; levels are {levels}."),
)


def _areas(codes: list[str]) -> list[str]:
    for code in codes:
        if code not in AREAS:
            raise InvalidPayload("Unknown support area {code}.", code="invalid_area", params={"code": code[:40]})
    return list(dict.fromkeys(codes))


def apply_update(row: MentorProfile, p: MentorProfileUpdate) -> None:
    if p.track is not None:
        if p.track not in TRACKS:
            raise InvalidPayload("The track is one of peer, professional, specialized or group.")
        row.track = p.track
    if p.areas is not None:
        row.areas = _areas(p.areas)
    if p.lived_experience is not None:
        row.lived_experience = _areas(p.lived_experience)
    if p.bio is not None:
        row.bio = p.bio.strip()
    if p.gender is not None:
        if p.gender not in ("", *GENDERS):
            raise InvalidPayload("That choice is not one of the offered ones.")
        row.gender = p.gender
    if p.age_range is not None:
        if p.age_range not in ("", *AGE_RANGES):
            raise InvalidPayload("That choice is not one of the offered ones.")
        row.age_range = p.age_range
    if p.capacity is not None:
        if not 1 <= p.capacity <= MAX_CAPACITY:
            raise InvalidPayload("A mentor takes 1 to {count} mentees at once.", params={"count": MAX_CAPACITY})
        row.capacity = p.capacity
    if p.accepting is not None:
        row.accepting = p.accepting


def new_profile(user_id: str, capacity: int) -> MentorProfile:
    now = datetime.now(timezone.utc)
    return MentorProfile(user_id=user_id, track="peer", areas=[], lived_experience=[], bio="", gender="", age_range="",
                         capacity=capacity, accepting=True, certification="", credential_verified=False, exposure=0.0,
                         exposure_at=now, response_hours=None, responses=0, rating_sum=0, rating_count=0,
                         created_at=now, updated_at=now)


async def save_profile(session: AsyncSession, user_id: str, role: str, p: MentorProfileUpdate, default_capacity: int) -> MentorProfile:
    """Create or change the caller's profile; the matching index sees it at the next request."""
    if role not in MENTOR_ROLES:
        raise InvalidPayload("Only mentors have a mentor profile.", code="not_a_mentor")
    row = await session.get(MentorProfile, user_id, with_for_update=True)
    if row is None:
        row = new_profile(user_id, default_capacity)
        session.add(row)
    apply_update(row, p)
    row.updated_at = datetime.now(timezone.utc)
    return row


async def seats_taken(session: AsyncSession, mentor_id: str) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(Mentorship).where(Mentorship.mentor_id == mentor_id, Mentorship.status.in_(SEAT_HOLDING))) or 0)


def profile_view(row: MentorProfile, seats: int) -> dict[str, Any]:
    """The mentor's own view of their profile (the mentees' view is a card, server/matching/cards.py)."""
    return {
        "user_id": row.user_id,
        "track": row.track,
        "areas": list(row.areas or []),
        "lived_experience": list(row.lived_experience or []),
        "bio": row.bio,
        "gender": row.gender,
        "age_range": row.age_range,
        "capacity": row.capacity,
        "seats_taken": seats,
        "accepting": row.accepting,
        "certification": row.certification,
        "certification_hours": CERTIFICATION_HOURS.get(row.certification, 0),
        "credential_verified": row.credential_verified,
    }


async def set_credentials(session: AsyncSession, actor_id: str | None, user_id: str, default_capacity: int, *,
                          certification: str | None = None, credential_verified: bool | None = None,
                          detail: dict[str, Any] | None = None) -> MentorProfile:
    """Staff grant (or withdraw: "") a certification level and confirm a professional credential; audited."""
    if certification is not None and certification not in ("", *CERTIFICATIONS):
        raise InvalidPayload("Unknown certification level; levels are {levels}.", code="invalid_certification",
                             params={"levels": ", ".join(CERTIFICATIONS)})
    user = await session.get(User, user_id) if isinstance(user_id, str) and len(user_id) <= 64 else None
    if user is None:
        raise NotFound("No such user.")
    if user.role not in MENTOR_ROLES:
        raise InvalidPayload("Only mentors have a mentor profile.", code="not_a_mentor")
    row = await session.get(MentorProfile, user_id, with_for_update=True)
    if row is None:
        row = new_profile(user_id, default_capacity)
        session.add(row)
    if certification is not None:
        row.certification = certification
    if credential_verified is not None:
        row.credential_verified = credential_verified
    row.updated_at = datetime.now(timezone.utc)
    await record_audit(session, actor_id, "mentor.credentials", target_id=user_id,
                       detail={**(detail or {}), "certification": row.certification, "credential_verified": row.credential_verified})
    return row
