"""A scheduled session as its participants see it: who takes part, its view in each reader's
zone and locale, and the live notices sent to them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.room_access import member_ids
from server.core.errors import Forbidden, InvalidPayload
from server.core.i18n import format_datetime_for, gettext_for
from server.storage.models import ScheduledSession, User
from server.transport.addressing import user_room

if TYPE_CHECKING:
    from server.services import Services

# Status values; see docs/protocol.md "Sessions" for the transitions.
SCHEDULED, LIVE, COMPLETED, NO_SHOW, CANCELLED = "scheduled", "live", "completed", "no_show", "cancelled"
OPEN_STATUSES = (SCHEDULED, LIVE)

Notice = Callable[[Callable[..., str], str, str], str]


def as_utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite returns them naive."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` or ``+02:00``), as UTC. Naive times are refused:
    they would silently mean different instants in different zones."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidPayload("Times are ISO 8601 with an offset, e.g. 2027-03-08T14:00:00Z.", code="invalid_time") from None
    if moment.tzinfo is None:
        raise InvalidPayload("Times need an offset (e.g. 'Z' or '+01:00').", code="invalid_time")
    return moment.astimezone(timezone.utc)


def session_view(row: ScheduledSession, tz_name: str, locale: str) -> dict[str, Any]:
    """The wire shape: UTC instants, plus the same instants formatted for the reader."""
    starts, ends = as_utc(row.starts_at), as_utc(row.ends_at)
    return {
        "id": row.id,
        "kind": row.kind,
        "room_id": row.room_id,
        "host_id": row.host_id,
        "mentee_id": row.mentee_id,
        "series_id": row.series_id,
        "title": row.title,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "status": row.status,
        "sequence": row.sequence,
        "absent_ids": list(row.absent_ids or []),
        "local": local_times(starts, ends, tz_name, locale),
    }


def local_times(starts: datetime, ends: datetime, tz_name: str, locale: str) -> dict[str, str]:
    tz = ZoneInfo(tz_name)
    return {
        "timezone": tz_name,
        "starts": format_datetime_for(starts, tz_name, locale, "medium"),
        "ends": format_datetime_for(ends, tz_name, locale, "medium"),
        "starts_iso": starts.astimezone(tz).isoformat(),
        "ends_iso": ends.astimezone(tz).isoformat(),
    }


async def participant_ids(session: AsyncSession, row: ScheduledSession) -> list[str]:
    """1:1: the mentor and the mentee; group: every member of the group room."""
    if row.kind == "group":
        ids = await member_ids(session, row.room_id)
        return [row.host_id, *[i for i in ids if i != row.host_id]]
    return [row.host_id, row.mentee_id] if row.mentee_id else [row.host_id]


async def load_for_participant(session: AsyncSession, session_id: str, user_id: str) -> ScheduledSession:
    """The session if the user takes part in it; one error otherwise, so ids cannot be probed."""
    row = await session.get(ScheduledSession, session_id) if isinstance(session_id, str) and len(session_id) <= 64 else None
    if row is None or user_id not in await participant_ids(session, row):
        raise Forbidden("That session does not exist or you do not take part in it.")
    return row


async def readers(session: AsyncSession, user_ids: list[str]) -> dict[str, tuple[str, str]]:
    """user id → (time zone, locale), for formatting what each of them is sent."""
    rows = await session.execute(select(User.id, User.timezone, User.locale).where(User.id.in_(user_ids)))
    return {uid: (tz or "UTC", loc or "en") for uid, tz, loc in rows}


async def notify(services: "Services", event: str, row: ScheduledSession, user_ids: list[str],
                 reader_info: dict[str, tuple[str, str]], extra: dict[str, Any] | None = None,
                 notice: Notice | None = None) -> None:
    """Send ``event`` to every connection of each user, formatted for that user.

    ``notice(translate, tz, locale)`` builds the human sentence in the reader's language."""
    for uid in dict.fromkeys(user_ids):
        tz_name, locale = reader_info.get(uid, ("UTC", "en"))
        payload: dict[str, Any] = {"session": session_view(row, tz_name, locale), **(extra or {})}
        if notice is not None:
            payload["notice"] = notice(gettext_for(locale), tz_name, locale)
        await services.sio.emit(event, payload, to=user_room(uid))
