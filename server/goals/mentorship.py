"""Which conversation is a mentorship, and who its mentee and mentor are.

A mentorship made through matching (server/mentorship) names its room, mentee and mentor, and
stays one after it ends, so the two keep their goals' history. A direct room whose two members
(room role "member") are a mentee and a mentor by account role, opened before matching existed or
by typing a username, is a mentorship too; a crisis responder who joined the room is not part of
it. Goals are kept per mentorship room, and this module is the one place that says which rooms
those are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import Conflict, Forbidden
from server.core.i18n import N_
from server.core.roles import MEMBER, MENTEE, MENTOR_ROLES
from server.mentorship.requests import ACTIVE, ENDED
from server.storage.models import Membership, Room, User
from server.storage.models import Mentorship as MentorshipRecord

NOT_A_MENTORSHIP = N_("Goals are kept in a conversation between a mentee and their mentor.")
ONLY_THE_TWO = N_("Only the mentee and the mentor see their goals.")


@dataclass(frozen=True)
class Mentorship:
    room: Room
    mentee_id: str
    mentor_id: str

    def party(self, user_id: str) -> bool:
        return user_id in (self.mentee_id, self.mentor_id)

    def other(self, user_id: str) -> str:
        return self.mentor_id if user_id == self.mentee_id else self.mentee_id


async def mentorship_in(session: AsyncSession, room_id: str) -> Mentorship | None:
    """The mentorship this room holds, or None."""
    room = await session.get(Room, room_id) if len(room_id) <= 64 else None
    if room is None or room.kind != "direct" or room.wrapped_key is None:
        return None
    record = (await session.execute(
        select(MentorshipRecord.mentee_id, MentorshipRecord.mentor_id)
        .where(MentorshipRecord.room_id == room_id, MentorshipRecord.status.in_((ACTIVE, ENDED)))
        .order_by(MentorshipRecord.requested_at.desc()).limit(1)
    )).first()
    if record is not None:
        return Mentorship(room, record.mentee_id, record.mentor_id)
    members = list(await session.execute(
        select(Membership.user_id, User.role).join(User, User.id == Membership.user_id)
        .where(Membership.room_id == room_id, Membership.role == MEMBER)
    ))
    mentees = [uid for uid, role in members if role == MENTEE]
    mentors = [uid for uid, role in members if role in MENTOR_ROLES]
    if len(members) != 2 or len(mentees) != 1 or len(mentors) != 1:
        return None
    return Mentorship(room, mentees[0], mentors[0])


async def require_party(session: AsyncSession, room_id: str, user_id: str) -> Mentorship:
    """The mentorship, for its mentee or mentor; anyone else is refused without learning more."""
    membership = await session.get(Membership, (room_id, user_id)) if len(room_id) <= 64 else None
    if membership is None:
        raise Forbidden("That room does not exist or you are not a member.")
    mentorship = await mentorship_in(session, room_id)
    if mentorship is None:
        raise Conflict(NOT_A_MENTORSHIP, code="not_a_mentorship")
    if not mentorship.party(user_id):
        raise Forbidden(ONLY_THE_TWO)
    return mentorship


async def require_mentorship(session: AsyncSession, room_id: str) -> Mentorship:
    """The mentorship, for staff who are not in it (their reading is audited by the caller)."""
    mentorship = await mentorship_in(session, room_id)
    if mentorship is None:
        raise Conflict(NOT_A_MENTORSHIP, code="not_a_mentorship")
    return mentorship
