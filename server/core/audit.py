"""The audit log: every privileged or moderation action, written in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    actor_id: str | None,
    action: str,
    *,
    room_id: str | None = None,
    target_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(actor_id=actor_id, action=action, room_id=room_id, target_id=target_id, detail=detail or {})
    session.add(entry)
    return entry


async def audit_entries(session: AsyncSession, *, room_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if room_id is not None:
        query = query.where(AuditEntry.room_id == room_id)
    rows = await session.scalars(query)
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor_id": r.actor_id,
            "action": r.action,
            "room_id": r.room_id,
            "target_id": r.target_id,
            "detail": r.detail,
        }
        for r in rows
    ]
