"""The mentee a matcher serves: their intake, their hours, whom never to suggest, and the last
look in the database before a mentor is shown."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.blocks import everyone_blocked_with
from server.accounts.users import AuthUser
from server.core.errors import InvalidPayload
from server.core.roles import MENTOR_ROLES
from server.scheduling.availability import Window, availability_of
from server.storage.models import MentorProfile, Mentorship, User

from .index import SEAT_HOLDING
from .intake import LANGUAGE_RE, Intake, load_intake
from .vocabulary import AREAS, PARTS_OF_DAY, TRACKS

# A mentorship with these outcomes keeps its mentor out of the mentee's suggestions: one they have
# or asked, one who declined them, one they left or asked to change (server/mentorship/requests.py).
NOT_SUGGESTED_AGAIN = ("requested", "active", "declined", "ended")


class Filters(msgspec.Struct, forbid_unknown_fields=True):
    area: str = ""
    language: str = ""
    track: str = ""


@dataclass(frozen=True)
class Seeker:
    user: AuthUser
    intake: Intake
    zone: str
    windows: list[Window]
    exclude: frozenset[str] = frozenset()
    filters: Filters = field(default_factory=Filters)

    @property
    def languages(self) -> tuple[str, ...]:
        """Preferred languages for support, else the languages on their account."""
        return tuple(self.intake.languages or self.user.languages)

    def times_as_windows(self) -> list[Window]:
        """Their own availability, else the parts of the day their intake names (every day)."""
        if self.windows:
            return self.windows
        return [Window(day, PARTS_OF_DAY[part][0] * 60, PARTS_OF_DAY[part][1] * 60)
                for day in range(7) for part in self.intake.times]


def checked_filters(filters: Filters) -> Filters:
    if filters.area and filters.area not in AREAS:
        raise InvalidPayload("Unknown support area {code}.", code="invalid_area", params={"code": filters.area[:40]})
    if filters.language and not LANGUAGE_RE.match(filters.language):
        raise InvalidPayload("Languages are ISO 639 codes such as 'en' or 'es'.", code="invalid_languages")
    if filters.track and filters.track not in TRACKS:
        raise InvalidPayload("The track is one of peer, professional, specialized or group.")
    return filters


async def seeker_for(session: AsyncSession, user: AuthUser, filters: Filters | None = None,
                     also_exclude: frozenset[str] = frozenset()) -> Seeker:
    intake = await load_intake(session, user.id) or Intake()
    zone, windows = await availability_of(session, user.id)
    before = set(await session.scalars(
        select(Mentorship.mentor_id).where(Mentorship.mentee_id == user.id, Mentorship.status.in_(NOT_SUGGESTED_AGAIN))))
    blocked = await everyone_blocked_with(session, user.id)
    return Seeker(user=user, intake=intake, zone=zone, windows=windows,
                  exclude=frozenset(before | blocked | also_exclude | {user.id}), filters=checked_filters(filters or Filters()))


async def open_to_requests(session: AsyncSession, mentor_ids: list[str]) -> set[str]:
    """Of these mentors, those who may be shown right now: a mentor role, not banned, accepting,
    with a free seat (counted in the database, whatever the index last saw)."""
    if not mentor_ids:
        return set()
    taken = dict((await session.execute(
        select(Mentorship.mentor_id, func.count()).where(Mentorship.mentor_id.in_(mentor_ids), Mentorship.status.in_(SEAT_HOLDING))
        .group_by(Mentorship.mentor_id))).all())
    rows = await session.execute(
        select(MentorProfile.user_id, MentorProfile.capacity).join(User, User.id == MentorProfile.user_id)
        .where(MentorProfile.user_id.in_(mentor_ids), MentorProfile.accepting.is_(True), User.banned.is_(False),
               User.role.in_(MENTOR_ROLES)))
    return {uid for uid, capacity in rows if taken.get(uid, 0) < capacity}
