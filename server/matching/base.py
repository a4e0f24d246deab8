"""The matching adapter's contract: given a user, who would be a good counterpart.

A mentee is matched with mentors and a mentor with mentees. Implementations only rank; opening
a room for a pair is done by the webhook (external matcher) or by booking (a mentee's choice).
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

from server.accounts.users import AuthUser
from server.core.roles import MENTEE, MENTOR_ROLES

MAX_MATCHES = 50


@dataclass(frozen=True)
class Match:
    user_id: str
    score: float
    shared_languages: list[str] = field(default_factory=list)
    shared_topics: list[str] = field(default_factory=list)
    # Minutes per week during which both people are available.
    overlap_minutes: int = 0

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


def counterpart_roles(role: str) -> tuple[str, ...]:
    """Mentees are matched with mentors (and leaders, who also mentor); everyone else with mentees."""
    return MENTOR_ROLES if role == MENTEE else (MENTEE,)


class Matcher(abc.ABC):
    @abc.abstractmethod
    async def matches_for(self, user: AuthUser, limit: int = 10) -> list[Match]:
        """The best counterparts for ``user``, best first, at most ``limit``."""

    async def close(self) -> None:
        """Release connections; called at shutdown."""
