"""The matching adapter's contract: given a mentee (their intake, hours and whom not to suggest),
which mentors would be good for them, best first, and why.

Implementations only rank. A request, its answer and the conversation that follows are the
mentorship feature's (server/mentorship); the webhook (an external matcher) may also open a room.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

from .seeker import Seeker

MAX_MATCHES = 50


@dataclass(frozen=True)
class Match:
    user_id: str
    score: float
    # Why, as codes the client words in the reader's language (server/matching/ranking.py reasons).
    reasons: list[dict[str, Any]] = field(default_factory=list)
    shared_languages: list[str] = field(default_factory=list)
    shared_areas: list[str] = field(default_factory=list)
    # Minutes per week during which both are available, each in their own zone.
    overlap_minutes: int = 0

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


class Matcher(abc.ABC):
    @abc.abstractmethod
    async def matches_for(self, seeker: Seeker, limit: int = 10) -> list[Match]:
        """The best mentors for ``seeker``, best first, at most ``limit``; never one in
        ``seeker.exclude`` and only mentors open to requests right now."""

    async def close(self) -> None:
        """Release connections; called at shutdown."""
