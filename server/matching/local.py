"""The local matcher (default): shared languages are required; topics and availability rank.

Score = 2 per shared topic + 1 per shared language + hours per week both are available.
Availability overlap is measured in UTC over the current week, so a mentor in New York and a
mentee in Madrid overlap only where their local windows truly meet.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from server.accounts.users import AuthUser
from server.scheduling.availability import availability_of, weekly_utc_intervals
from server.storage import Database
from server.storage.models import MatchingProfile, User

from .base import MAX_MATCHES, Match, Matcher, counterpart_roles

CANDIDATE_POOL = 500


def overlap_minutes(a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]) -> int:
    total = timedelta()
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if end > start:
                total += end - start
    return int(total.total_seconds() // 60)


class LocalMatcher(Matcher):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def matches_for(self, user: AuthUser, limit: int = 10) -> list[Match]:
        limit = max(1, min(limit, MAX_MATCHES))
        today = datetime.now(timezone.utc).date()
        monday = today - timedelta(days=today.weekday())
        languages = set(user.languages)
        async with self.db.transaction() as s:
            my_topics = set(await s.scalar(select(MatchingProfile.topics).where(MatchingProfile.user_id == user.id)) or [])
            my_zone, my_windows = await availability_of(s, user.id)
            mine = weekly_utc_intervals(my_windows, my_zone, monday)
            rows = (await s.execute(
                select(User.id, User.languages, MatchingProfile.topics)
                .outerjoin(MatchingProfile, MatchingProfile.user_id == User.id)
                .where(User.role.in_(counterpart_roles(user.role)), User.banned.is_(False), User.id != user.id)
                .order_by(User.created_at).limit(CANDIDATE_POOL)
            )).all()
            matches = []
            for uid, their_languages, their_topics in rows:
                shared_languages = sorted(languages & set(their_languages or []))
                if not shared_languages:
                    continue
                shared_topics = sorted(my_topics & set(their_topics or []))
                zone, windows = await availability_of(s, uid)
                overlap = overlap_minutes(mine, weekly_utc_intervals(windows, zone, monday))
                score = 2 * len(shared_topics) + len(shared_languages) + overlap / 60
                matches.append(Match(uid, round(score, 2), shared_languages, shared_topics, overlap))
        matches.sort(key=lambda m: (-m.score, m.user_id))
        return matches[:limit]
