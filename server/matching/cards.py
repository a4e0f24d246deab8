"""Mentors as mentees see them (a card: name, track, areas, languages, bio, certification, when
they are free in the reader's own time), and browsing them with filters.

Browsing is not ranking: it lists every mentor who is accepting and fits the filters, in an order
of its own for each mentee (a stable shuffle keyed by the two ids), so no name or sign-up date
puts anyone first for everyone.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.users import public_identity
from server.core.roles import MENTOR_ROLES
from server.scheduling.availability import Window
from server.storage.models import AvailabilityWindow, MentorProfile, Mentorship, User

from .index import SEAT_HOLDING, bin_start, hour_bins, week_start, weekly_hours
from .seeker import Seeker
from .vocabulary import CERTIFICATION_HOURS, PARTS_OF_DAY, part_of_day

MAX_PAGE = 50


def times_in_zone(windows: list[Window], tz_name: str, viewer_zone: str, monday: date) -> list[dict[str, Any]]:
    """The weekdays and parts of the day (in the viewer's zone) the windows cover, in week order."""
    zone = ZoneInfo(viewer_zone)
    seen: set[tuple[int, str]] = set()
    for b in hour_bins(weekly_hours(windows, tz_name, monday)):
        local = bin_start(monday, b).astimezone(zone)
        seen.add((local.weekday(), part_of_day(local.hour)))
    order = list(PARTS_OF_DAY)
    return [{"weekday": d, "part": p} for d, p in sorted(seen, key=lambda x: (x[0], order.index(x[1])))]


async def mentor_cards(session: AsyncSession, mentor_ids: list[str], viewer_zone: str) -> dict[str, dict[str, Any]]:
    """Cards for these mentors (those who have a profile), keyed by user id."""
    if not mentor_ids:
        return {}
    rows = (await session.execute(
        select(MentorProfile, User.username, User.display_name, User.role, User.pseudonym, User.languages, User.timezone)
        .join(User, User.id == MentorProfile.user_id).where(MentorProfile.user_id.in_(mentor_ids)))).all()
    taken = dict((await session.execute(
        select(Mentorship.mentor_id, func.count()).where(Mentorship.mentor_id.in_(mentor_ids), Mentorship.status.in_(SEAT_HOLDING))
        .group_by(Mentorship.mentor_id))).all())
    windows: dict[str, tuple[str, list[Window]]] = {}
    for uid, weekday, start, end, tz_name in await session.execute(
            select(AvailabilityWindow.user_id, AvailabilityWindow.weekday, AvailabilityWindow.start_minute,
                   AvailabilityWindow.end_minute, AvailabilityWindow.timezone)
            .where(AvailabilityWindow.user_id.in_(mentor_ids))):
        windows.setdefault(uid, (tz_name, []))[1].append(Window(weekday, start, end))
    monday = week_start(datetime.now(timezone.utc))
    cards = {}
    for profile, username, display_name, role, pseudonym, languages, user_zone in rows:
        tz_name, own = windows.get(profile.user_id, (user_zone or "UTC", []))
        cards[profile.user_id] = {
            **public_identity(profile.user_id, username, display_name, role, pseudonym),
            "track": profile.track,
            "areas": list(profile.areas or []),
            "lived_experience": list(profile.lived_experience or []),
            "languages": list(languages or []),
            "bio": profile.bio,
            "gender": profile.gender,
            "age_range": profile.age_range,
            "certification": profile.certification,
            "certification_hours": CERTIFICATION_HOURS.get(profile.certification, 0),
            "credential_verified": profile.credential_verified,
            "accepting": profile.accepting,
            "full": taken.get(profile.user_id, 0) >= profile.capacity,
            "timezone": tz_name,
            "times": times_in_zone(own, tz_name, viewer_zone, monday),
        }
    return cards


def _shuffle_key(seeker_id: str, mentor_id: str) -> bytes:
    return hashlib.sha256(f"{seeker_id}:{mentor_id}".encode()).digest()


async def browse(session: AsyncSession, seeker: Seeker, hidden: set[str], offset: int, limit: int) -> tuple[list[str], int]:
    """Accepting mentors who fit the seeker's filters, minus ``hidden`` (blocked either way):
    one page of ids in the seeker's own order, and how many there are in all."""
    rows = await session.execute(
        select(MentorProfile.user_id, MentorProfile.areas, MentorProfile.track, User.languages)
        .join(User, User.id == MentorProfile.user_id)
        .where(MentorProfile.accepting.is_(True), User.banned.is_(False), User.role.in_(MENTOR_ROLES)))
    f = seeker.filters
    fitting = [uid for uid, areas, track, languages in rows
               if uid not in hidden and uid != seeker.user.id
               and (not f.area or f.area in (areas or [])) and (not f.track or f.track == track)
               and (not f.language or f.language in (languages or []))]
    fitting.sort(key=lambda uid: _shuffle_key(seeker.user.id, uid))
    return fitting[offset:offset + limit], len(fitting)
