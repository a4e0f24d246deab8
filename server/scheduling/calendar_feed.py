"""Each user's sessions as an iCalendar feed at a secret URL that the user can revoke.

Calendar apps cannot sign in, so the URL itself is the credential: 256 random bits, rotated
by ``calendar:revoke_feed`` (the old URL then answers 404, like one that never existed).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from icalendar import Calendar, Event
from sqlalchemy import or_, select

from server.storage.models import CalendarFeed, Membership, Room, ScheduledSession, User

from .sessions import CANCELLED, as_utc

if TYPE_CHECKING:
    from server.services import Services

# Past sessions stay in the feed this long so calendars keep recent history.
FEED_PAST = timedelta(days=30)
FEED_LIMIT = 1000
UID_DOMAIN = "mentalverse-live"


def feed_url(services: "Services", secret: str) -> str:
    return f"{services.settings.public_url}/api/calendar/{secret}.ics"


async def feed_secret(services: "Services", user_id: str, *, rotate: bool = False) -> str:
    """The user's feed secret, created on first use; ``rotate`` replaces it (revoking the old URL)."""
    async with services.db.transaction() as s:
        feed = await s.get(CalendarFeed, user_id)
        if feed is None:
            feed = CalendarFeed(user_id=user_id, secret=secrets.token_urlsafe(32))
            s.add(feed)
        elif rotate:
            feed.secret = secrets.token_urlsafe(32)
            feed.created_at = datetime.now(timezone.utc)
        return feed.secret


async def render_feed(services: "Services", secret: str) -> bytes | None:
    """The iCalendar document for the owner of ``secret``, or None if no feed has that secret."""
    if not secret or len(secret) > 64:
        return None
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        owner = await s.scalar(select(User).join(CalendarFeed, CalendarFeed.user_id == User.id).where(CalendarFeed.secret == secret))
        if owner is None:
            return None
        group_rooms = select(Membership.room_id).join(Room, Room.id == Membership.room_id).where(
            Membership.user_id == owner.id, Room.kind == "group")
        rows = list(await s.scalars(
            select(ScheduledSession).where(
                ScheduledSession.starts_at >= now - FEED_PAST,
                or_(ScheduledSession.host_id == owner.id, ScheduledSession.mentee_id == owner.id,
                    (ScheduledSession.kind == "group") & ScheduledSession.room_id.in_(group_rooms)),
            ).order_by(ScheduledSession.starts_at).limit(FEED_LIMIT)
        ))
    calendar = Calendar()
    calendar.add("prodid", "-//MentalVerse Live//Sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "MentalVerse sessions")
    calendar.add("x-wr-timezone", owner.timezone or "UTC")
    for row in rows:
        event = Event()
        event.add("uid", f"{row.id}@{UID_DOMAIN}")
        event.add("dtstamp", now)
        event.add("dtstart", as_utc(row.starts_at))
        event.add("dtend", as_utc(row.ends_at))
        event.add("summary", row.title or ("Group session" if row.kind == "group" else "Mentoring session"))
        event.add("status", "CANCELLED" if row.status == CANCELLED else "CONFIRMED")
        event.add("sequence", row.sequence)
        event.add("url", f"{services.settings.public_url}/?session={row.id}")
        calendar.add_component(event)
    return calendar.to_ical()
