"""The mentors as the local ranking reads them: one row per mentor in numpy arrays, so ranking
10,000 mentors is a handful of vector operations instead of 10,000 Python loops.

Weekly hours are 336 half-hour bins of a UTC week (Monday 00:00 UTC first). Each person's
windows are laid on the bins in their own zone for the week being served, so an evening in
Madrid and a noon in Mexico City land on the same bins only when they truly meet (and a DST
change moves them). The week wraps: a Sunday-night window in Los Angeles that is Monday in UTC
lands on Monday's first bins.

The index is rebuilt from the database when a mentor profile changed (the newest
``mentor_profiles.updated_at``), when the week turns, and at least every
``matching_index_ttl_seconds`` (new hours, role changes, ratings). Between rebuilds the dynamic
facts that decide whether a suggestion may be shown at all (free seats, paused, banned, blocked)
are checked again in the database for the few mentors about to be shown (server/matching/local.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.roles import MENTOR_ROLES
from server.scheduling.availability import Window, weekly_utc_intervals
from server.storage.models import AvailabilityWindow, MentorProfile, Mentorship, User

from .vocabulary import AGE_RANGES, AREAS, CERTIFICATION_HOURS, GENDERS, TRACKS

BIN = timedelta(minutes=30)
BINS = 7 * 24 * 2  # half-hour bins in a week
HOUR_WORDS = 6  # 64-bit words that hold a week's bins
BIN_MINUTES = 30
AREA_COLUMN = {code: i for i, code in enumerate(AREAS)}
TRACK_CODE = {code: i for i, code in enumerate(TRACKS)}
GENDER_CODE = {code: i for i, code in enumerate(GENDERS)}
AGE_CODE = {code: i for i, code in enumerate(AGE_RANGES)}
MAX_CERTIFICATION_HOURS = max(CERTIFICATION_HOURS.values())
# A mentor nobody has rated yet counts as rated 4/5 by this many people (a Bayesian average), so
# one early 5 or 1 does not swing them to the top or the bottom.
RATING_PRIOR_MEAN, RATING_PRIOR_COUNT = 4.0, 5
# Open statuses hold a seat (server/mentorship/requests.py names them too).
SEAT_HOLDING = ("requested", "active")


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the week ``moment`` falls in."""
    day = moment.astimezone(timezone.utc).date()
    return day - timedelta(days=day.weekday())


def weekly_hours(windows: Sequence[Window], tz_name: str, monday: date) -> np.ndarray:
    """A person's weekly windows over the week's half-hour UTC bins, packed 64 bins to a word:
    two people's shared time is then a bitwise AND and a bit count, with no matrix product."""
    bins = np.zeros(HOUR_WORDS * 64, dtype=bool)
    origin = datetime.combine(monday, datetime.min.time(), timezone.utc)
    for start, end in weekly_utc_intervals(list(windows), tz_name, monday):
        first = math.floor((start - origin) / BIN)
        last = math.ceil((end - origin) / BIN)
        for b in range(first, last):
            bins[b % BINS] = True
    return np.packbits(bins).view(np.uint64)


def hour_bins(words: np.ndarray) -> list[int]:
    """The bins set in packed weekly hours, in week order."""
    return np.flatnonzero(np.unpackbits(np.ascontiguousarray(words).view(np.uint8))[:BINS]).tolist()


def bin_start(monday: date, b: int) -> datetime:
    return datetime.combine(monday, datetime.min.time(), timezone.utc) + b * BIN


@dataclass
class MentorRow:
    """One mentor as read from storage (or made up by the benchmark)."""

    user_id: str
    languages: list[str]
    areas: list[str]
    lived_experience: list[str] = field(default_factory=list)
    track: str = "peer"
    credential_verified: bool = False
    certification: str = ""
    response_hours: float | None = None
    rating_sum: int = 0
    rating_count: int = 0
    gender: str = ""
    age_range: str = ""
    capacity: int = 3
    seats_taken: int = 0
    accepting: bool = True
    exposure: float = 0.0
    exposure_at: datetime | None = None
    timezone: str = "UTC"
    windows: list[Window] = field(default_factory=list)


@dataclass
class MentorIndex:
    ids: list[str]
    position: dict[str, int]
    monday: date
    language_column: dict[str, int]
    speaks: np.ndarray  # (n, languages) 0/1
    areas: np.ndarray  # (n, AREAS) 0/1
    lived: np.ndarray  # (n, AREAS) 0/1
    hours: np.ndarray  # (n, HOUR_WORDS) packed weekly UTC bins (weekly_hours)
    track: np.ndarray  # (n,) index into TRACKS
    verified: np.ndarray  # (n,) bool
    certification: np.ndarray  # (n,) 0..1 (training hours / the highest level's)
    responsiveness: np.ndarray  # (n,) 0..1; 0.5 when unknown
    rating: np.ndarray  # (n,) 0..1 (Bayesian average of 1–5 stars)
    gender: np.ndarray  # (n,) index into GENDERS, −1 unstated
    age: np.ndarray  # (n,) index into AGE_RANGES, −1 unstated
    capacity: np.ndarray  # (n,)
    seats: np.ndarray  # (n,)
    accepting: np.ndarray  # (n,) bool
    exposure: np.ndarray  # (n,) float, as of exposure_at
    exposure_at: np.ndarray  # (n,) unix seconds
    zones: list[str]
    built_at: float = 0.0  # time.monotonic() of the build
    stamp: object = None  # what the database looked like (see LocalMatcher)

    @property
    def size(self) -> int:
        return len(self.ids)

    def exposure_now(self, now: float, half_life_hours: float) -> np.ndarray:
        """Each mentor's exposure decayed to ``now`` (unix seconds)."""
        if half_life_hours <= 0:
            return self.exposure.copy()
        age_hours = np.maximum(0.0, now - self.exposure_at) / 3600.0
        return self.exposure * np.power(0.5, age_hours / half_life_hours)

    def record_exposure(self, positions: Iterable[int], now: float, half_life_hours: float) -> list[tuple[str, float]]:
        """Count one more showing for each mentor; returns (user id, new exposure) to persist."""
        changed = []
        for pos in positions:
            current = decayed(float(self.exposure[pos]), float(self.exposure_at[pos]), now, half_life_hours)
            self.exposure[pos] = current + 1.0
            self.exposure_at[pos] = now
            changed.append((self.ids[pos], current + 1.0))
        return changed


def decayed(exposure: float, since: float, now: float, half_life_hours: float) -> float:
    """An exposure counted at ``since`` as it stands at ``now`` (unix seconds)."""
    if half_life_hours <= 0:
        return exposure
    return exposure * 0.5 ** (max(0.0, now - since) / 3600.0 / half_life_hours)


def build_index(rows: Sequence[MentorRow], monday: date) -> MentorIndex:
    """Lay the mentors out as arrays (pure: the benchmark and the fairness test call it too)."""
    n = len(rows)
    language_column: dict[str, int] = {}
    for row in rows:
        for code in row.languages:
            language_column.setdefault(code, len(language_column))
    speaks = np.zeros((n, max(1, len(language_column))), dtype=np.float32)
    areas = np.zeros((n, len(AREAS)), dtype=np.float32)
    lived = np.zeros((n, len(AREAS)), dtype=np.float32)
    hours = np.zeros((n, HOUR_WORDS), dtype=np.uint64)
    vector_cache: dict[tuple[str, tuple[Window, ...]], np.ndarray] = {}
    for i, row in enumerate(rows):
        for code in row.languages:
            speaks[i, language_column[code]] = 1.0
        for code in row.areas:
            if code in AREA_COLUMN:
                areas[i, AREA_COLUMN[code]] = 1.0
        for code in row.lived_experience:
            if code in AREA_COLUMN:
                lived[i, AREA_COLUMN[code]] = 1.0
        if row.windows:
            key = (row.timezone, tuple(row.windows))
            if key not in vector_cache:
                vector_cache[key] = weekly_hours(row.windows, row.timezone, monday)
            hours[i] = vector_cache[key]
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return MentorIndex(
        ids=[r.user_id for r in rows],
        position={r.user_id: i for i, r in enumerate(rows)},
        monday=monday,
        language_column=language_column,
        speaks=speaks, areas=areas, lived=lived, hours=hours,
        track=np.array([TRACKS.index(r.track) if r.track in TRACKS else 0 for r in rows], dtype=np.int8),
        verified=np.array([r.credential_verified for r in rows], dtype=bool),
        certification=np.array([CERTIFICATION_HOURS.get(r.certification, 0) / MAX_CERTIFICATION_HOURS for r in rows], dtype=np.float32),
        responsiveness=np.array([responsiveness(r.response_hours) for r in rows], dtype=np.float32),
        rating=np.array([rating_score(r.rating_sum, r.rating_count) for r in rows], dtype=np.float32),
        gender=np.array([GENDER_CODE.get(r.gender, -1) for r in rows], dtype=np.int8),
        age=np.array([AGE_CODE.get(r.age_range, -1) for r in rows], dtype=np.int8),
        capacity=np.array([r.capacity for r in rows], dtype=np.int32),
        seats=np.array([r.seats_taken for r in rows], dtype=np.int32),
        accepting=np.array([r.accepting for r in rows], dtype=bool),
        exposure=np.array([r.exposure for r in rows], dtype=np.float64),
        exposure_at=np.array([((r.exposure_at or epoch) - epoch).total_seconds() for r in rows], dtype=np.float64),
        zones=[r.timezone for r in rows],
    )


def responsiveness(response_hours: float | None) -> float:
    """0..1: an answer within the hour scores near 1, after a day about 0.33; unknown 0.5."""
    if response_hours is None:
        return 0.5
    return 1.0 / (1.0 + max(0.0, response_hours) / 12.0)


def rating_score(rating_sum: int, rating_count: int) -> float:
    """The Bayesian average of 1–5 stars, as 0..1."""
    mean = (rating_sum + RATING_PRIOR_MEAN * RATING_PRIOR_COUNT) / (rating_count + RATING_PRIOR_COUNT)
    return (mean - 1.0) / 4.0


async def change_stamp(session: AsyncSession) -> object:
    """What says the index is stale: the newest profile change and the number of profiles."""
    row = (await session.execute(select(func.max(MentorProfile.updated_at), func.count(MentorProfile.user_id)))).one()
    return tuple(row)


async def load_index(session: AsyncSession, now: datetime) -> MentorIndex:
    """Every mentor with a profile who may mentor (role) and is not banned."""
    profiles = (await session.execute(
        select(MentorProfile, User.languages, User.timezone)
        .join(User, User.id == MentorProfile.user_id)
        .where(User.role.in_(MENTOR_ROLES), User.banned.is_(False))
        .order_by(MentorProfile.created_at, MentorProfile.user_id)
    )).all()
    ids = [p.user_id for p, _l, _t in profiles]
    seats: dict[str, int] = {}
    windows: dict[str, tuple[str, list[Window]]] = {}
    if ids:
        seats = dict((await session.execute(
            select(Mentorship.mentor_id, func.count()).where(Mentorship.status.in_(SEAT_HOLDING))
            .group_by(Mentorship.mentor_id))).all())
        rows = await session.execute(
            select(AvailabilityWindow.user_id, AvailabilityWindow.weekday, AvailabilityWindow.start_minute,
                   AvailabilityWindow.end_minute, AvailabilityWindow.timezone)
            .join(MentorProfile, MentorProfile.user_id == AvailabilityWindow.user_id)
            .order_by(AvailabilityWindow.user_id, AvailabilityWindow.weekday, AvailabilityWindow.start_minute))
        for uid, weekday, start, end, tz_name in rows:
            windows.setdefault(uid, (tz_name, []))[1].append(Window(weekday, start, end))
    mentors = []
    for profile, languages, user_zone in profiles:
        tz_name, own = windows.get(profile.user_id, (user_zone or "UTC", []))
        mentors.append(MentorRow(
            user_id=profile.user_id, languages=list(languages or []), areas=list(profile.areas or []),
            lived_experience=list(profile.lived_experience or []), track=profile.track,
            credential_verified=profile.credential_verified, certification=profile.certification,
            response_hours=profile.response_hours, rating_sum=profile.rating_sum, rating_count=profile.rating_count,
            gender=profile.gender, age_range=profile.age_range, capacity=profile.capacity,
            seats_taken=seats.get(profile.user_id, 0), accepting=profile.accepting,
            exposure=profile.exposure, exposure_at=profile.exposure_at, timezone=tz_name, windows=own,
        ))
    return build_index(mentors, week_start(now))
