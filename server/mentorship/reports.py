"""Reporting a person to staff, with the messages that worry the reporter.

The report copies the reported messages as they are now (a later edit or deletion does not erase
the evidence), and only from a room the reporter is a member of: nobody reads a room through a
report. Its words and the copies are sealed with the report's own data key (record id
``report:<id>``). Staff (admins) are told at once (``report:new``, a summary without the text);
every reading and every resolution is audited before the report is opened.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.room_access import require_member
from server.core.audit import record_audit
from server.core.errors import Conflict, InvalidPayload, NotFound
from server.core.i18n import N_
from server.core.roles import ADMIN
from server.storage.models import Message, Room, User, UserReport, new_id
from server.transport.addressing import user_room

from .requests import people, public

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

REASONS = ("harassment", "hate", "sexual", "spam", "scam", "impersonation", "self_harm", "boundaries", "other")
TEXT_MAX_CHARS = 2000
MAX_MESSAGES = 20
REPORT_RECORD = "report"
OPEN, RESOLVED = "open", "resolved"

REPORT_MESSAGES: tuple[str, ...] = (
    N_("Choose one of the offered reasons."),
    N_("A report has at most {count} characters."),
    N_("Attach at most {count} messages."),
    N_("You cannot report yourself."),
    N_("No such report."),
    N_("This report was already resolved."),
)


def report_key(report_id: str) -> str:
    return f"report:{report_id}"


async def file_report(services: "Services", reporter: "AuthUser", reported_id: str, reason: str, text: str,
                      room_id: str, message_ids: list[str]) -> UserReport:
    """Store the report with copies of the messages (the given ones, or the reported person's
    last ones in the room), audited in the same transaction."""
    if reason not in REASONS:
        raise InvalidPayload("Choose one of the offered reasons.", code="invalid_reason")
    if len(text) > TEXT_MAX_CHARS:
        raise InvalidPayload("A report has at most {count} characters.", params={"count": TEXT_MAX_CHARS})
    if len(message_ids) > MAX_MESSAGES:
        raise InvalidPayload("Attach at most {count} messages.", params={"count": MAX_MESSAGES})
    if reported_id == reporter.id:
        raise InvalidPayload("You cannot report yourself.")
    async with services.db.transaction() as s:
        if not isinstance(reported_id, str) or len(reported_id) > 64 or await s.get(User, reported_id) is None:
            raise NotFound("No such user.")
        copies: list[dict[str, Any]] = []
        if room_id:
            room, _m = await require_member(s, room_id, reporter.id)
            copies = await _copies(services, room, reported_id, message_ids)
        report = UserReport(id=new_id(), reporter_id=reporter.id, reported_id=reported_id, room_id=room_id or None,
                            reason=reason, status=OPEN, created_at=datetime.now(timezone.utc))
        report.wrapped_key = services.keyring.new_room_key(report_key(report.id))
        report.nonce, report.ciphertext = services.keyring.seal_json(
            report_key(report.id), report.wrapped_key, REPORT_RECORD, {"text": text.strip(), "messages": copies})
        s.add(report)
        await record_audit(s, reporter.id, "report.file", room_id=room_id or None, target_id=report.id,
                           detail={"reported_id": reported_id, "reason": reason, "messages": len(copies)})
        admins = list(await s.scalars(select(User.id).where(User.role == ADMIN, User.banned.is_(False))))
    summary = {"id": report.id, "reason": reason, "reported_id": reported_id, "created_at": report.created_at.isoformat()}
    for admin_id in admins:
        await services.sio.emit("report:new", {"report": summary}, to=user_room(admin_id))
    return report


async def _copies(services: "Services", room: Room, reported_id: str, message_ids: list[str]) -> list[dict[str, Any]]:
    async with services.db.read() as s:
        query = select(Message).where(Message.room_id == room.id)
        if message_ids:
            query = query.where(Message.id.in_([m for m in message_ids if isinstance(m, str) and len(m) <= 64]))
        else:
            query = query.where(Message.sender_id == reported_id)
        rows = list(await s.scalars(query.order_by(Message.seq.desc()).limit(MAX_MESSAGES)))
    rows.reverse()
    return [{"id": m.id, "seq": m.seq, "sender_id": m.sender_id, "body": services.messages.decrypt(room, m),
             "created_at": m.created_at.isoformat(), "deleted": m.deleted_at is not None} for m in rows]


def _opened(services: "Services", report: UserReport, who: dict[str, dict[str, Any]]) -> dict[str, Any]:
    content = services.keyring.open_json(report_key(report.id), report.wrapped_key, REPORT_RECORD, report.nonce, report.ciphertext)
    return {
        "id": report.id, "reason": report.reason, "status": report.status, "room_id": report.room_id,
        "reporter": who.get(report.reporter_id), "reported": who.get(report.reported_id),
        "text": content.get("text", ""), "messages": content.get("messages", []),
        "created_at": report.created_at.isoformat(),
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
    }


async def reports_for_staff(services: "Services", staff_id: str | None, status: str,
                            detail: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Reports with the given status, newest first, opened for staff; the reading is audited."""
    async with services.db.transaction() as s:
        rows = list(await s.scalars(select(UserReport).where(UserReport.status == status)
                                    .order_by(UserReport.created_at.desc()).limit(200)))
        await record_audit(s, staff_id, "report.read", detail={**(detail or {}), "status": status, "reports": [r.id for r in rows]})
        who = await staff_identities(s, list({i for r in rows for i in (r.reporter_id, r.reported_id)}))
        return [_opened(services, r, who) for r in rows]


async def resolve_report(services: "Services", staff_id: str, report_id: str, outcome: str) -> None:
    async with services.db.transaction() as s:
        report = await s.get(UserReport, report_id, with_for_update=True) if len(report_id) <= 64 else None
        if report is None:
            raise NotFound("No such report.")
        if report.status != OPEN:
            raise Conflict("This report was already resolved.", code="report_resolved")
        report.status, report.resolved_by, report.resolved_at = RESOLVED, staff_id, datetime.now(timezone.utc)
        await record_audit(s, staff_id, "report.resolve", room_id=report.room_id, target_id=report.id,
                           detail={"outcome": outcome[:200]})


async def own_reports(services: "Services", user_id: str) -> list[dict[str, Any]]:
    """The reports the person filed (their own words), for their data export."""
    async with services.db.read() as s:
        rows = list(await s.scalars(select(UserReport).where(UserReport.reporter_id == user_id)))
        who = {uid: public(person) for uid, person in (await people(s, list({r.reported_id for r in rows}))).items()}
    return [{k: v for k, v in _opened(services, r, who).items() if k != "reporter"} for r in rows]


async def staff_identities(session: AsyncSession, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Who is who for staff acting on a report: the account names behind any pseudonym."""
    rows = await session.execute(select(User.id, User.username, User.display_name, User.pseudonym, User.role)
                                 .where(User.id.in_(user_ids)))
    return {uid: {"id": uid, "username": un, "display_name": dn, "pseudonym": pn, "role": role}
            for uid, un, dn, pn, role in rows}
