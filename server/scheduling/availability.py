"""Weekly availability in the owner's own zone, and the bookable slots it yields in UTC.

Windows are stored as local wall-clock times with their IANA zone, never as UTC: "Mondays
09:00–12:00 in New York" is 14:00 UTC in winter and 13:00 UTC in summer, and only the zone
rules (zoneinfo) know which applies on a given date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import InvalidPayload
from server.core.i18n import is_iana_zone
from server.storage.models import AvailabilityWindow, User

MAX_WINDOWS = 50
MINUTES_PER_DAY = 24 * 60
HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class WindowIn(msgspec.Struct, forbid_unknown_fields=True):
    weekday: int  # 0 = Monday
    start: str  # "HH:MM", local
    end: str  # "HH:MM", local; "24:00" = midnight at the end of the day


@dataclass(frozen=True, order=True)
class Window:
    weekday: int
    start_minute: int
    end_minute: int

    def view(self) -> dict[str, Any]:
        return {"weekday": self.weekday, "start": _hhmm(self.start_minute), "end": _hhmm(self.end_minute)}


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute(text: str) -> int:
    match = HHMM.match(text)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidPayload("Times look like '09:00' (24-hour clock).", code="invalid_time")
    return int(match.group(1)) * 60 + int(match.group(2))


def zone(tz_name: str) -> ZoneInfo:
    """The IANA zone, or a structured error for a name that is not one."""
    if not is_iana_zone(tz_name):
        raise InvalidPayload("The time zone must be an IANA name such as 'Europe/Madrid'.", code="invalid_timezone")
    try:
        return ZoneInfo(tz_name)
    except ZoneInfoNotFoundError:
        raise InvalidPayload("The time zone must be an IANA name such as 'Europe/Madrid'.", code="invalid_timezone") from None


def parse_windows(raw: list[WindowIn]) -> list[Window]:
    """Validated, sorted windows; overlapping windows on one weekday are refused, not merged."""
    if len(raw) > MAX_WINDOWS:
        raise InvalidPayload(f"At most {MAX_WINDOWS} availability windows.")
    windows = sorted(Window(w.weekday, _minute(w.start), _minute(w.end)) for w in raw
                     if isinstance(w.weekday, int)) if raw else []
    for w in windows:
        if not 0 <= w.weekday <= 6:
            raise InvalidPayload("weekday is 0 (Monday) to 6 (Sunday).")
        if w.start_minute >= w.end_minute:
            raise InvalidPayload("A window ends after it starts.", code="invalid_time")
    for a, b in zip(windows, windows[1:]):
        if a.weekday == b.weekday and b.start_minute < a.end_minute:
            raise InvalidPayload("Two availability windows overlap.", code="overlapping_windows")
    return windows


def local_to_utc(day: date, minute: int, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time, or None when that time does not exist
    (skipped by a spring-forward change). An ambiguous time (fall back) takes its first instance."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    instant = naive.replace(tzinfo=tz).astimezone(timezone.utc)
    if instant.astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return instant


async def set_availability(session: AsyncSession, user_id: str, tz_name: str, windows: list[Window]) -> None:
    """Replace the user's weekly windows (all in ``tz_name``)."""
    zone(tz_name)
    await session.execute(delete(AvailabilityWindow).where(AvailabilityWindow.user_id == user_id))
    for w in windows:
        session.add(AvailabilityWindow(user_id=user_id, weekday=w.weekday, start_minute=w.start_minute,
                                       end_minute=w.end_minute, timezone=tz_name))


async def availability_of(session: AsyncSession, user_id: str) -> tuple[str, list[Window]]:
    """The user's zone (their windows' zone, else their profile zone) and weekly windows."""
    rows = list(await session.scalars(
        select(AvailabilityWindow).where(AvailabilityWindow.user_id == user_id)
        .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
    ))
    if rows:
        return rows[0].timezone, [Window(r.weekday, r.start_minute, r.end_minute) for r in rows]
    profile_zone = await session.scalar(select(User.timezone).where(User.id == user_id))
    return profile_zone or "UTC", []


def slot_starts(windows: list[Window], tz_name: str, first_day: date, days: int, slot_minutes: int) -> list[datetime]:
    """Every slot start (UTC) on the local days ``first_day`` … ``first_day + days − 1``."""
    tz = ZoneInfo(tz_name)
    starts: list[datetime] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for w in windows:
            if w.weekday != day.weekday():
                continue
            minute = w.start_minute
            while minute + slot_minutes <= w.end_minute:
                instant = local_to_utc(day, minute, tz)
                if instant is not None:
                    starts.append(instant)
                minute += slot_minutes
    return sorted(starts)


def is_slot_start(windows: list[Window], tz_name: str, starts_at: datetime, slot_minutes: int) -> bool:
    """Whether ``starts_at`` (UTC) is the start of one of the host's weekly slots on its date."""
    local_day = starts_at.astimezone(ZoneInfo(tz_name)).date()
    return starts_at in slot_starts(windows, tz_name, local_day, 1, slot_minutes)


def weekly_utc_intervals(windows: list[Window], tz_name: str, week_monday: date) -> list[tuple[datetime, datetime]]:
    """The windows as UTC intervals in the week starting ``week_monday`` (for overlap checks)."""
    tz = ZoneInfo(tz_name)
    intervals = []
    for w in windows:
        day = week_monday + timedelta(days=w.weekday)
        start = datetime.combine(day, time(), tz) + timedelta(minutes=w.start_minute)
        end = datetime.combine(day, time(), tz) + timedelta(minutes=w.end_minute)
        intervals.append((start.astimezone(timezone.utc), end.astimezone(timezone.utc)))
    return intervals
