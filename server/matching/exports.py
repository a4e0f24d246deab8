"""What matching keeps about a person, for their data export (Services.personal_data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.storage.models import MentorProfile

from .intake import intake_view, load_intake
from .profiles import profile_view, seats_taken

if TYPE_CHECKING:
    from server.services import Services


async def own_matching_data(services: "Services", user_id: str) -> dict[str, Any]:
    """Their intake (opened) and their mentor profile, with the signals the ranking learned."""
    async with services.db.read() as s:
        intake = await load_intake(s, user_id)
        profile = await s.get(MentorProfile, user_id)
        mentor = None
        if profile is not None:
            mentor = {**profile_view(profile, await seats_taken(s, user_id)), "times_suggested": round(profile.exposure, 2),
                      "response_hours": profile.response_hours, "ratings": profile.rating_count}
    return {"intake": intake_view(intake), "mentor_profile": mentor}
