"""What the mentorship feature keeps about a person, for their data export (Services.personal_data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from server.accounts.blocks import blocked_by
from server.storage.models import Mentorship

from .feedback import own_feedback
from .reports import own_reports
from .requests import mentorship_view, people

if TYPE_CHECKING:
    from server.services import Services


async def own_mentorship_data(services: "Services", user_id: str) -> dict[str, Any]:
    """Every mentorship and request they took part in, the feedback they gave, the reports they
    filed and whom they blocked."""
    async with services.db.read() as s:
        rows = list(await s.scalars(select(Mentorship).where(or_(Mentorship.mentor_id == user_id, Mentorship.mentee_id == user_id))
                                    .order_by(Mentorship.requested_at)))
        who = await people(s, list({i for r in rows for i in (r.mentor_id, r.mentee_id)}))
        mentorships = [{**await mentorship_view(s, r, user_id, who), "end_reason": r.end_reason} for r in rows]
        blocked = await blocked_by(s, user_id)
    return {"mentorships": mentorships, "feedback_given": await own_feedback(services, user_id),
            "reports_filed": await own_reports(services, user_id), "blocked_user_ids": blocked}
