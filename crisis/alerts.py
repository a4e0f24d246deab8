"""Crisis alerts: raised from a risky chat message, claimed by one responder, resolved with a note.

The policy and storage of alerts live here; who hears of them is ``crisis/escalation.py`` and the
wire is ``crisis/responders.py``. An alert carries the quote around the risky phrase and nothing
else of the conversation (never the history, never the writer's other rooms). The room's recent
messages are read only through ``open_context``, which writes the audit entry before it reads.
The quote, the detection (the matched phrases and the reasons that quote them) and the
resolution note are encrypted with the room's key, like the messages, so a copy of the database
does not say who wrote about which means and when, and crypto-shredding a room erases them too.
The room key rather than a key of the alerts' own: an alert is about one message of that room,
and it must not outlive the room's shredding (the writer's right to be forgotten) as readable text.
Only the tier stays clear: escalation and the console's order need it, and it quotes nobody.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crisis.detector import Detection
from crisis.metrics import ALERTS, TIME_TO_CLAIM
from crisis.outreach import after_access_ended, end_responder_access
from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.roles import ADMIN, PROFESSIONAL, RESPONDER
from server.storage.models import AuditEntry, CrisisAlert, Membership, ResponderOnCall, Room, SafetyPlan, User, new_id

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.chat.message_hooks import SentMessage
    from server.services import Services

RESPONDER_ROLES = (RESPONDER,)
# Supervisors see every alert, may resolve alerts others claimed, and read who opened what.
SUPERVISOR_ROLES = (PROFESSIONAL, ADMIN)
CONSOLE_ROLES = RESPONDER_ROLES + SUPERVISOR_ROLES
STATUSES = ("open", "claimed", "resolved")
# How an alert ended, for the responder report and the detector's labelled evaluation export.
OUTCOMES = ("reached_safe", "referred", "emergency_services", "could_not_reach", "not_a_risk")
EXCERPT_MAX_CHARS = 160
NOTE_MAX_CHARS = 2000
CONTEXT_MAX_MESSAGES = 100
LIST_MAX_ALERTS = 200


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _excerpt_aad_id(alert_id: str) -> str:
    return f"alert:{alert_id}"


def _note_aad_id(alert_id: str) -> str:
    return f"alert-note:{alert_id}"


def _detection_aad_id(alert_id: str) -> str:
    return f"alert-detection:{alert_id}"


def _local_time(zone: str, now: datetime) -> str:
    try:
        return now.astimezone(ZoneInfo(zone)).isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return now.isoformat()


async def _writers(session: AsyncSession, author_ids: set[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Who wrote: enough to greet them in their language at their hour, nothing of their profile else."""
    if not author_ids:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(author_ids)))
    return {
        u.id: {
            "id": u.id,
            "display_name": u.display_name,
            "language": (u.languages or [u.locale.replace("-", "_").split("_")[0]])[0],
            "timezone": u.timezone,
            "local_time": _local_time(u.timezone, now),
        }
        for u in rows
    }


async def _participant_roles(session: AsyncSession, rows: list[CrisisAlert]) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(room, writer) → the roles of everyone else in the room: who is around them, never who."""
    room_ids = {r.room_id for r in rows}
    if not room_ids:
        return {}
    members = (await session.execute(
        select(Membership.room_id, Membership.user_id, User.role, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(Membership.room_id.in_(room_ids))
        .order_by(Membership.joined_at)
    )).all()
    return {
        (r.room_id, r.author_id): [
            {"role": role, "room_role": room_role} for room_id, uid, role, room_role in members
            if room_id == r.room_id and uid != r.author_id
        ]
        for r in rows
    }


async def alert_views(services: "Services", session: AsyncSession, rows: Iterable[CrisisAlert]) -> list[dict[str, Any]]:
    """The wire form of alerts: what a responder console needs to triage, and no more."""
    rows = list(rows)
    people_ids = {uid for r in rows for uid in (r.claimed_by, r.resolved_by) if uid}
    people = {
        uid: {"id": uid, "display_name": name}
        for uid, name in (await session.execute(select(User.id, User.display_name).where(User.id.in_(people_ids)))).all()
    } if people_ids else {}
    author_ids = {r.author_id for r in rows}
    now = datetime.now(timezone.utc)
    writers = await _writers(session, author_ids, now)
    participants = await _participant_roles(session, rows)
    with_plans = set(await session.scalars(select(SafetyPlan.user_id).where(SafetyPlan.user_id.in_(author_ids)))) if author_ids else set()
    ladder = services.crisis.ladder
    views = []
    for row in rows:
        room = await session.get(Room, row.room_id)
        detection = _open_detection(services, room, row)
        views.append({
            "id": row.id,
            "room_id": row.room_id,
            "tier": row.tier,
            "excerpt": _decrypt(services, room, _excerpt_aad_id(row.id), row.excerpt_nonce, row.excerpt_ciphertext),
            "reasons": list(detection.get("reasons", ())),
            "language": detection.get("language", ""),
            "created_at": _iso(row.created_at),
            "age_seconds": round((now - row.created_at).total_seconds(), 1),
            "level": row.level,
            "step": ladder.step_name(row.level),
            "status": row.status,
            "escalate_at": _iso(row.escalate_at),
            "claimed_by": people.get(row.claimed_by) if row.claimed_by else None,
            "claimed_at": _iso(row.claimed_at),
            "resolved_by": people.get(row.resolved_by) if row.resolved_by else None,
            "resolved_at": _iso(row.resolved_at),
            "writer": writers.get(row.author_id),
            "room": {"id": row.room_id, "kind": room.kind if room else None,
                     "participants": participants.get((row.room_id, row.author_id), [])},
            "has_safety_plan": row.author_id in with_plans,
            "outcome": row.outcome,
            "contact_at": _iso(row.contact_at),
            "crisis_room_id": row.crisis_room_id,
        })
    return views


def _decrypt(services: "Services", room: Room | None, aad_id: str, nonce: bytes | None, ciphertext: bytes | None) -> str | None:
    if room is None or room.wrapped_key is None or nonce is None or ciphertext is None:
        return None
    return services.keyring.open(room.id, room.wrapped_key, aad_id, nonce, ciphertext)


def _open_detection(services: "Services", room: Room | None, row: CrisisAlert) -> dict[str, Any]:
    """The stored Detection.to_dict(); empty once the room is shredded."""
    if room is None or room.wrapped_key is None or row.detection_nonce is None or row.detection_ciphertext is None:
        return {}
    return services.keyring.open_json(room.id, room.wrapped_key, _detection_aad_id(row.id), row.detection_nonce, row.detection_ciphertext)


def opened_finding(services: "Services", room: Room | None, row: CrisisAlert) -> tuple[str | None, dict[str, Any]]:
    """The alert's excerpt and stored detection, opened with the room key (None and {} once shredded)."""
    excerpt = _decrypt(services, room, _excerpt_aad_id(row.id), row.excerpt_nonce, row.excerpt_ciphertext)
    return excerpt, _open_detection(services, room, row)


async def raise_alert(services: "Services", sent: "SentMessage", detection: Detection) -> dict[str, Any]:
    """Store (and commit) an alert for a risky message and return its view, ready to be pushed."""
    room = sent.room
    alert_id = new_id()
    nonce, ciphertext = services.keyring.seal(
        room.id, room.wrapped_key, _excerpt_aad_id(alert_id), detection.excerpt(EXCERPT_MAX_CHARS)
    )
    detection_nonce, detection_ciphertext = services.keyring.seal_json(
        room.id, room.wrapped_key, _detection_aad_id(alert_id), detection.to_dict()
    )
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        row = CrisisAlert(
            id=alert_id, room_id=room.id, message_id=sent.view["id"], message_seq=sent.view["seq"],
            author_id=sent.sender.id, tier=detection.tier, excerpt_nonce=nonce, excerpt_ciphertext=ciphertext,
            detection_nonce=detection_nonce, detection_ciphertext=detection_ciphertext, status="open", level=0,
            escalate_at=services.crisis.ladder.next_escalation(now), created_at=now,
        )
        s.add(row)
        await record_audit(s, None, "crisis.alert", room_id=room.id, target_id=alert_id, detail={"tier": detection.tier})
        await s.flush()
        view = (await alert_views(services, s, [row]))[0]
    ALERTS.labels(str(detection.tier)).inc()
    return view


def _check_alert_id(alert_id: str) -> None:
    if not 1 <= len(alert_id) <= 64:
        raise NotFound("No such alert.")


async def _claimed_conflict(services: "Services", s: AsyncSession, row: CrisisAlert) -> Conflict:
    view = (await alert_views(services, s, [row]))[0]
    if row.status == "resolved":
        who = view["resolved_by"] or {}
        return Conflict(f"This alert was already resolved by {who.get('display_name', 'someone')}.",
                        code="already_resolved", details={"resolved_by": who})
    who = view["claimed_by"] or {}
    return Conflict(f"This alert is already claimed by {who.get('display_name', 'someone')}.",
                    code="already_claimed", details={"claimed_by": who})


async def acknowledge(services: "Services", user: "AuthUser", alert_id: str) -> tuple[dict[str, Any], bool]:
    """Claim an alert; the first claim wins and stops its escalation. Returns (view, newly claimed).

    Claiming again an alert one already holds is a no-op success, so a retried ack is harmless.
    """
    _check_alert_id(alert_id)
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        won = await s.execute(
            update(CrisisAlert)
            .where(CrisisAlert.id == alert_id, CrisisAlert.status == "open")
            .values(status="claimed", claimed_by=user.id, claimed_at=now, escalate_at=None)
            .execution_options(synchronize_session=False)
        )
        row = await s.get(CrisisAlert, alert_id)
        if row is None:
            raise NotFound("No such alert.")
        if won.rowcount == 1:
            await record_audit(s, user.id, "crisis.ack", room_id=row.room_id, target_id=row.id, detail={"level": row.level})
        elif row.claimed_by != user.id:
            raise await _claimed_conflict(services, s, row)
        view = (await alert_views(services, s, [row]))[0]
    if won.rowcount == 1:
        TIME_TO_CLAIM.observe((now - row.created_at).total_seconds())
    return view, won.rowcount == 1


async def resolve(services: "Services", user: "AuthUser", alert_id: str, outcome: str, note: str) -> tuple[dict[str, Any], bool]:
    """Close an alert with its outcome and a note. An unclaimed alert is claimed by its resolver; one
    claimed by someone else can only be closed by a supervisor. The claimant's access to the crisis
    conversation ends with it. Returns (view, newly resolved)."""
    _check_alert_id(alert_id)
    if outcome not in OUTCOMES:
        raise InvalidPayload(f"outcome is one of {', '.join(OUTCOMES)}.", code="invalid_outcome")
    note = note.strip()
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidPayload(f"A resolution note has at most {NOTE_MAX_CHARS} characters.", code="invalid_note")
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        row = await s.get(CrisisAlert, alert_id, with_for_update=True)
        if row is None:
            raise NotFound("No such alert.")
        if row.status == "resolved":
            if row.resolved_by != user.id:
                raise await _claimed_conflict(services, s, row)
            return (await alert_views(services, s, [row]))[0], False
        if row.claimed_by not in (None, user.id) and user.role not in SUPERVISOR_ROLES:
            raise await _claimed_conflict(services, s, row)
        room = await s.get(Room, row.room_id)
        assert room is not None
        row.note_nonce, row.note_ciphertext = services.keyring.seal(room.id, room.wrapped_key, _note_aad_id(row.id), note)
        ended = await end_responder_access(s, row, row.claimed_by) if row.claimed_by else None
        row.claimed_by = row.claimed_by or user.id
        row.claimed_at = row.claimed_at or now
        row.status, row.resolved_by, row.resolved_at, row.escalate_at = "resolved", user.id, now, None
        row.outcome = outcome
        await record_audit(s, user.id, "crisis.resolve", room_id=row.room_id, target_id=row.id, detail={"outcome": outcome})
        await s.flush()
        view = (await alert_views(services, s, [row]))[0]
    await after_access_ended(services, ended)
    return view, True


async def list_alerts(services: "Services", status: str | None = None, *, with_notes: bool = False) -> list[dict[str, Any]]:
    """Alerts for the console: unresolved ones (open and claimed) by default, oldest first, since
    the longest wait is the most urgent; resolved ones newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidPayload(f"status is one of {', '.join(STATUSES)}.")
    query = select(CrisisAlert)
    if status == "resolved":
        query = query.where(CrisisAlert.status == "resolved").order_by(CrisisAlert.resolved_at.desc())
    else:
        wanted = (status,) if status else ("open", "claimed")
        query = query.where(CrisisAlert.status.in_(wanted)).order_by(CrisisAlert.created_at)
    async with services.db.transaction() as s:
        rows = list(await s.scalars(query.limit(LIST_MAX_ALERTS)))
        views = await alert_views(services, s, rows)
        if with_notes:
            for row, view in zip(rows, views):
                room = await s.get(Room, row.room_id)
                view["note"] = _decrypt(services, room, _note_aad_id(row.id), row.note_nonce, row.note_ciphertext)
    return views


async def open_context(services: "Services", user: "AuthUser", alert_id: str, limit: int) -> dict[str, Any]:
    """The conversation around an alert: up to ``limit`` messages up to the risky one and up to
    ``limit`` after it, from that room only. Only the responder who claimed the alert (or a
    supervisor) may read it, and the reading is audited before anything is read."""
    _check_alert_id(alert_id)
    if not 1 <= limit <= CONTEXT_MAX_MESSAGES:
        raise InvalidPayload(f"limit is between 1 and {CONTEXT_MAX_MESSAGES}.")
    async with services.db.transaction() as s:
        row = await s.get(CrisisAlert, alert_id)
        if row is None:
            raise NotFound("No such alert.")
        if row.claimed_by != user.id and user.role not in SUPERVISOR_ROLES:
            raise Forbidden("Claim the alert before opening its conversation.", code="claim_first")
        await record_audit(s, user.id, "crisis.context", room_id=row.room_id, target_id=row.id,
                           detail={"around_seq": row.message_seq, "limit": limit})
        view = (await alert_views(services, s, [row]))[0]
        author = await s.get(User, row.author_id)
        room = await s.get(Room, row.room_id)
        room_id, seq = row.room_id, row.message_seq
    author_view = {"id": author.id, "display_name": author.display_name} if author else None
    if room is not None and room.private:
        # End-to-end encrypted: the server holds only ciphertext, and the alert's excerpt is all there is.
        return {"alert": view, "author": author_view, "message_seq": seq, "messages": [], "private": True,
                "has_earlier": False, "has_later": False}
    before = await services.messages.history_page(room_id, after_seq=None, before_seq=seq + 1, limit=limit)
    after = await services.messages.history_page(room_id, after_seq=seq, before_seq=None, limit=limit)
    return {
        "alert": view,
        "author": author_view,
        "message_seq": seq,
        "messages": before["messages"] + after["messages"],
        "has_earlier": before["has_more"],
        "has_later": after["has_more"],
    }


async def access_log(services: "Services", alert_id: str) -> list[dict[str, Any]]:
    """Every audited action on one alert (raised, escalated, claimed, opened, resolved), in order."""
    _check_alert_id(alert_id)
    async with services.db.transaction() as s:
        alert = await s.get(CrisisAlert, alert_id)
        if alert is None:
            raise NotFound("No such alert.")
        rows = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.room_id == alert.room_id, AuditEntry.target_id == alert_id)
            .order_by(AuditEntry.id)
        )
        return [
            {"at": _iso(r.at), "actor_id": r.actor_id, "action": r.action, "detail": r.detail}
            for r in rows
        ]


async def hand_over(services: "Services", user: "AuthUser", to_user_id: str) -> list[dict[str, Any]]:
    """Move the caller's claimed, unresolved alerts to a responder who is on call; returns their views.

    The claim changes hands, not the clock: ``claimed_at`` (time to claim) and ``contact_at`` stay.
    The caller's access to each crisis conversation ends; the new holder reaches out themselves.
    """
    if to_user_id == user.id:
        raise InvalidPayload("Hand your alerts to someone else.", code="handover_to_self")
    async with services.db.transaction() as s:
        target = await s.get(User, to_user_id) if 1 <= len(to_user_id) <= 64 else None
        on_call = await s.get(ResponderOnCall, to_user_id) if target is not None else None
        if target is None or target.banned or target.role not in CONSOLE_ROLES or on_call is None:
            raise Conflict("Alerts can only be handed to a responder who is on call.", code="not_on_call")
        rows = list(await s.scalars(
            select(CrisisAlert).where(CrisisAlert.status == "claimed", CrisisAlert.claimed_by == user.id)
            .order_by(CrisisAlert.created_at).with_for_update()
        ))
        ended = []
        for row in rows:
            ended.append(await end_responder_access(s, row, user.id))
            row.claimed_by = to_user_id
            await record_audit(s, user.id, "crisis.handover", room_id=row.room_id, target_id=row.id,
                               detail={"to": to_user_id})
        await s.flush()
        views = await alert_views(services, s, rows)
    for gone in ended:
        await after_access_ended(services, gone)
    return views
