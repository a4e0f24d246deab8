"""The local matcher (default): the ranking of server/matching/ranking.py over the in-memory
mentor index of server/matching/index.py.

Per request: one look at whether the index is stale (and a rebuild if so), the ranking in numpy,
one query that re-checks the few mentors about to be shown (seats, pause, ban), and one write that
counts their exposure. Exposure is counted per process and written through; two processes showing
the same mentor at the same instant may count one showing instead of two, which the fairness
guard tolerates (it compares mentors, it does not bill them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from server.storage import Database
from server.storage.models import MentorProfile

from .base import MAX_MATCHES, Match, Matcher
from .index import AREA_COLUMN, MentorIndex, change_stamp, load_index, week_start, weekly_hours
from .ranking import Fairness, Query, Weights, rank, reasons
from .seeker import Seeker, open_to_requests

log = logging.getLogger("server.matching")
# Ranked beyond the limit, so mentors that turn out full or paused can be skipped.
SPARE = 5


def query_for(seeker: Seeker, index: MentorIndex) -> Query:
    windows = seeker.times_as_windows()
    intake = seeker.intake
    return Query(
        languages=seeker.languages,
        areas=frozenset(intake.support),
        hours=weekly_hours(windows, seeker.zone, index.monday) if windows else None,
        relationship=intake.relationship,
        format=intake.format,
        gender=intake.preferences.gender,
        age_range=intake.preferences.age_range,
        shared_experience=intake.preferences.shared_experience,
        exclude=seeker.exclude,
        only_area=seeker.filters.area,
        only_language=seeker.filters.language,
        only_track=seeker.filters.track,
    )


class LocalMatcher(Matcher):
    def __init__(self, db: Database, weights: Weights, fairness: Fairness, index_ttl_seconds: float) -> None:
        self.db = db
        self.weights = weights
        self.fairness = fairness
        self.index_ttl_seconds = index_ttl_seconds
        self._index: MentorIndex | None = None
        self._building = asyncio.Lock()

    async def index(self) -> MentorIndex:
        """The mentor index, rebuilt when a profile changed, the week turned or it grew old."""
        now = datetime.now(timezone.utc)
        async with self.db.read() as s:
            stamp = await change_stamp(s)
        if self._fresh(stamp, now):
            return self._index  # type: ignore[return-value]
        async with self._building:
            if not self._fresh(stamp, now):
                async with self.db.read() as s:
                    index = await load_index(s, now)
                index.stamp, index.built_at = stamp, time.monotonic()
                self._index = index
        return self._index  # type: ignore[return-value]

    def _fresh(self, stamp: object, now: datetime) -> bool:
        index = self._index
        return (index is not None and index.stamp == stamp and index.monday == week_start(now)
                and time.monotonic() - index.built_at < self.index_ttl_seconds)

    async def matches_for(self, seeker: Seeker, limit: int = 10) -> list[Match]:
        limit = max(1, min(limit, MAX_MATCHES))
        index = await self.index()
        query = query_for(seeker, index)
        now = time.time()
        ranked = rank(index, query, self.weights, self.fairness, now, limit + SPARE)
        async with self.db.read() as s:
            still_open = await open_to_requests(s, [index.ids[r.position] for r in ranked])
        shown = [r for r in ranked if index.ids[r.position] in still_open][:limit]
        for r in ranked:
            if index.ids[r.position] not in still_open:
                # Seen full or paused in the database: the index learns it until its next rebuild.
                index.seats[r.position] = index.capacity[r.position]
        exposure_before = index.exposure_now(now, self.fairness.half_life_hours)
        await self._count_exposure(index.record_exposure([r.position for r in shown], now, self.fairness.half_life_hours), now)
        areas = sorted(query.areas, key=lambda a: AREA_COLUMN.get(a, 99))
        return [
            Match(
                user_id=index.ids[r.position],
                score=round(r.score, 4),
                reasons=reasons(index, r.position, query, seeker.zone, float(exposure_before[r.position])),
                shared_languages=[c for c in query.languages if c in index.language_column
                                  and index.speaks[r.position, index.language_column[c]]],
                shared_areas=[a for a in areas if index.areas[r.position, AREA_COLUMN[a]] > 0],
                overlap_minutes=r.overlap_minutes,
            )
            for r in shown
        ]

    async def _count_exposure(self, changed: list[tuple[str, float]], now: float) -> None:
        """Write the showings through. Rows are updated in id order, so two requests showing the
        same mentors lock them in the same order; a failed write costs a count, not the answer."""
        if not changed:
            return
        at = datetime.fromtimestamp(now, timezone.utc)
        table = MentorProfile.__table__
        try:
            async with self.db.transaction() as s:
                await s.execute(
                    update(table).where(table.c.user_id == bindparam("mentor")).values(exposure=bindparam("shown"), exposure_at=at),
                    [{"mentor": uid, "shown": float(np.round(value, 6))} for uid, value in sorted(changed)],
                )
        except SQLAlchemyError:
            log.warning("matching.exposure_not_saved", extra={"fields": {"mentors": len(changed)}})
