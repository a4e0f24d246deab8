"""Live reminders before a session, scheduled in the database so they survive restarts.

Each reminder is a row with ``due_at``. A background pass claims due rows by setting
``sent_at`` in one conditional UPDATE (``WHERE sent_at IS NULL``, and ``FOR UPDATE SKIP LOCKED``
on PostgreSQL) and emits only the rows it claimed: with several server processes on one
database, each reminder is sent by exactly one of them. A reminder due while every process
was down is sent at the next start, as long as the session has not ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.i18n import format_datetime_for
from server.storage.claims import claim_due
from server.storage.models import ScheduledSession, SessionReminder

from .sessions import OPEN_STATUSES, as_utc, notify, participant_ids, readers

if TYPE_CHECKING:
    from server.services import Services

BATCH_SIZE = 100
# Below this lead time the notice says "in N minutes"; above it, the local date and time.
MINUTES_NOTICE_BELOW = timedelta(hours=2)


def reminder_offsets(settings: Settings) -> list[int]:
    """Seconds before the start at which reminders go out (Settings.reminder_offsets_seconds)."""
    return sorted({int(value) for value in settings.reminder_offsets_seconds if int(value) > 0}, reverse=True)


def plan_reminders(session: AsyncSession, row: ScheduledSession, offsets: list[int], now: datetime) -> None:
    """Add the session's reminder rows; ones already in the past are not sent at all."""
    for offset in offsets:
        due = as_utc(row.starts_at) - timedelta(seconds=offset)
        if due > now:
            session.add(SessionReminder(session_id=row.id, offset_seconds=offset, due_at=due))


async def clear_reminders(session: AsyncSession, session_id: str) -> None:
    """Forget every reminder of the session (cancelled, or rescheduled and planned again)."""
    await session.execute(delete(SessionReminder).where(SessionReminder.session_id == session_id))


async def claim_due_reminders(services: "Services", now: datetime) -> list[tuple[str, int]]:
    """Mark due reminders sent and return (session_id, offset) for the ones this process won."""
    rows = await claim_due(
        services.db, SessionReminder.id, [SessionReminder.sent_at.is_(None), SessionReminder.due_at <= now],
        order_by=SessionReminder.due_at, limit=BATCH_SIZE, values={"sent_at": now},
        returning=[SessionReminder.session_id, SessionReminder.offset_seconds],
    )
    return [(session_id, offset) for session_id, offset in rows]


def _reminder_notice(title: str, starts: datetime, now: datetime) -> Callable[[Callable[..., str], str, str], str]:
    lead = starts - now

    def notice(translate: Callable[..., str], tz_name: str, locale: str) -> str:
        if timedelta(minutes=1) <= lead < MINUTES_NOTICE_BELOW:
            return translate('Your session "{title}" starts in {minutes} minutes.', title=title,
                             minutes=round(lead.total_seconds() / 60))
        return translate('Your session "{title}" starts {when}.', title=title,
                         when=format_datetime_for(starts, tz_name, locale, "short"))

    return notice


async def deliver_due_reminders(services: "Services") -> int:
    """One pass: claim what is due and emit ``session:reminder`` to every participant."""
    now = datetime.now(timezone.utc)
    sent = 0
    for session_id, offset in await claim_due_reminders(services, now):
        async with services.db.transaction() as s:
            row = await s.get(ScheduledSession, session_id)
            if row is None or row.status not in OPEN_STATUSES or as_utc(row.ends_at) <= now:
                continue
            people = await participant_ids(s, row)
            info = await readers(s, people)
        await notify(services, "session:reminder", row, people, info, {"offset_seconds": offset},
                     _reminder_notice(row.title, as_utc(row.starts_at), now))
        sent += 1
    return sent
