"""The responder console: the ``/responders`` Socket.IO namespace, where crisis alerts arrive and
are claimed, read and resolved.

Only responders and supervisors (professionals, administrators) may connect; the connect handler
checks the token exactly as the main namespace does and refuses every other role. Every event
re-reads the caller's role (the gate does it for events that name roles), and a role change,
ban or sign-out closes the console on every process, so a demoted responder loses it at once. A connection
enters the audience rooms of its role, so an escalation step reaches it by room; on connect it is
sent every alert still waiting for a claim, so an alert raised while nobody was watching (or just
before a restart) is not missed.

Events (all acked ``{ok, ...}`` or ``{ok: false, error}``): ``crisis:list``, ``crisis:ack``,
``crisis:reach_out``, ``crisis:leave``, ``crisis:resolve``, ``crisis:context``, ``crisis:safety_plan``,
``crisis:report``, ``crisis:on_call``, ``crisis:state``, ``crisis:handover``, ``crisis:audit``. Pushed:
``crisis:alert``, ``crisis:escalated``, ``crisis:claimed``, ``crisis:resolved``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator, Literal

import msgspec

from crisis import alerts, outreach, report, safety_plans
from crisis.escalation import (
    ALL_RESPONDERS_ROOM,
    SUPERVISORS_ROOM,
    EscalationLadder,
    escalation_lifespan,
    on_call_state,
    set_on_call,
)
from crisis.metrics import refresh_gauges
from server.core.background import every
from server.core.errors import AppError, Forbidden
from server.transport.connections import admit_connection, enter_session_rooms
from server.transport.events import EventContext, EventRouter

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

log = logging.getLogger("crisis.responders")
router = EventRouter()

NAMESPACE = "/responders"
# Alerts replayed to a console when it connects; more wait in crisis:list.
PENDING_ON_CONNECT = 100


class AlertRef(msgspec.Struct, forbid_unknown_fields=True):
    alert_id: str


class Resolve(msgspec.Struct, forbid_unknown_fields=True):
    alert_id: str
    outcome: Literal["reached_safe", "referred", "emergency_services", "could_not_reach", "not_a_risk"]
    note: str = ""


class ReachOut(msgspec.Struct, forbid_unknown_fields=True):
    alert_id: str
    mode: Literal["join", "private"]


class ReportRequest(msgspec.Struct, forbid_unknown_fields=True):
    since: str | None = None


class Handover(msgspec.Struct, forbid_unknown_fields=True):
    to_user_id: str


class ContextRequest(msgspec.Struct, forbid_unknown_fields=True):
    alert_id: str
    limit: int = 20


class ListAlerts(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["open", "claimed", "resolved"] | None = None


class OnCall(msgspec.Struct, forbid_unknown_fields=True):
    on: bool


class ResponderConsole:
    """Pushes alert news into the /responders namespace; holds the escalation ladder."""

    def __init__(self, services: "Services", ladder: EscalationLadder) -> None:
        self.services = services
        self.ladder = ladder
        self.contacts = outreach.ContactWatch()
        # Replay tasks started from connect handlers; kept so they are not garbage-collected.
        self._tasks: set[asyncio.Task[None]] = set()

    async def notify_rooms(self, event: str, view: dict[str, Any], rooms: list[str]) -> None:
        """One emit to several rooms: a console in two of them still gets the event once."""
        await self.services.sio.emit(event, view, to=rooms, namespace=NAMESPACE)

    async def notify_level(self, event: str, view: dict[str, Any], level: int) -> None:
        async with self.services.db.transaction() as s:
            rooms = await self.ladder.audience_rooms(s, level)
        await self.notify_rooms(event, view, rooms)

    async def broadcast(self, event: str, data: dict[str, Any]) -> None:
        """To every open console (claims and resolutions, so nobody works on a taken alert)."""
        await self.services.sio.emit(event, data, namespace=NAMESPACE)

    def replay_pending(self, sid: str) -> None:
        task = asyncio.create_task(self._send_pending(sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_pending(self, sid: str) -> None:
        # Runs after the connect handler returned, i.e. after the namespace CONNECT packet went
        # out (the database read below yields first), so the client does not drop these events.
        try:
            pending = await alerts.list_alerts(self.services, "open")
            for view in pending[:PENDING_ON_CONNECT]:
                await self.services.sio.emit("crisis:alert", {**view, "replayed": True}, to=sid, namespace=NAMESPACE)
        except Exception:
            log.exception("crisis.replay_failed", extra={"fields": {"sid": sid}})


def build_console(services: "Services") -> ResponderConsole:
    settings = services.settings
    ladder = EscalationLadder.from_settings(
        settings.escalation_chain, settings.escalation_step_seconds, settings.escalation_poll_seconds
    )
    return ResponderConsole(services, ladder)


def setup(services: "Services") -> None:
    _install_namespace(services)


def _refuse_non_responders(user: "AuthUser") -> AppError | None:
    if user.role in alerts.CONSOLE_ROLES:
        return None
    return Forbidden("The responder console is only for crisis responders and supervisors.", code="not_a_responder")


def _install_namespace(services: "Services") -> None:
    sio = services.sio

    @sio.on("connect", namespace=NAMESPACE)
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Same gate as the main namespace, then only responders and supervisors pass."""
        session = await admit_connection(services, environ, auth, refuse=_refuse_non_responders)
        user = session["user"]
        await sio.save_session(sid, session, namespace=NAMESPACE)
        audience = SUPERVISORS_ROOM if user.role in alerts.SUPERVISOR_ROLES else ALL_RESPONDERS_ROOM
        await sio.enter_room(sid, audience, namespace=NAMESPACE)
        await enter_session_rooms(sio, sid, session, namespace=NAMESPACE)
        services.crisis.replay_pending(sid)
        log.info("responders.connected", extra={"fields": {"user_id": user.id, "sid": sid, "role": user.role}})

    @sio.on("disconnect", namespace=NAMESPACE)
    async def disconnect(sid: str, reason: Any = None) -> None:
        services.dispatcher.forget_sid(sid)

    @sio.on("*", namespace=NAMESPACE)
    async def unknown_event(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return {"ok": False, "error": {"code": "unknown_event", "message": f"There is no event called {str(event)[:64]!r}."}}


async def refresh_from_database(services: "Services") -> None:
    """What every process re-reads: conversations waiting for a first reply, and the gauges."""
    services.crisis.contacts.replace(await outreach.waiting_conversations(services))
    await refresh_gauges(services)


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    async with escalation_lifespan(services), every(
        outreach.CONTACT_REFRESH_SECONDS, lambda: refresh_from_database(services), name="crisis-refresh", first_now=True
    ):
        yield


@router.on("crisis:list", ListAlerts, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES)
async def on_list(ctx: EventContext, p: ListAlerts) -> dict[str, Any]:
    return {"alerts": await alerts.list_alerts(ctx.services, p.status, with_notes=p.status == "resolved")}


@router.on("crisis:ack", AlertRef, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_ack(ctx: EventContext, p: AlertRef) -> dict[str, Any]:
    await ctx.services.limiter.check(
        ctx.services.settings.alert_ack_rate, "alert-ack", ctx.user.id,
        message="You are claiming alerts very fast; please wait a moment.",
    )
    view, newly = await alerts.acknowledge(ctx.services, ctx.user, p.alert_id)
    if newly:
        await ctx.services.crisis.broadcast("crisis:claimed", view)
    return {"alert": view, "already_claimed": not newly}


@router.on("crisis:reach_out", ReachOut, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_reach_out(ctx: EventContext, p: ReachOut) -> dict[str, Any]:
    return {"room": await outreach.reach_out(ctx.services, ctx.user, p.alert_id, p.mode)}


@router.on("crisis:leave", AlertRef, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_leave(ctx: EventContext, p: AlertRef) -> dict[str, Any]:
    await outreach.leave(ctx.services, ctx.user, p.alert_id)
    return {}


@router.on("crisis:resolve", Resolve, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_resolve(ctx: EventContext, p: Resolve) -> dict[str, Any]:
    view, newly = await alerts.resolve(ctx.services, ctx.user, p.alert_id, p.outcome, p.note)
    if newly:
        await ctx.services.crisis.broadcast("crisis:resolved", view)
    return {"alert": view, "already_resolved": not newly}


@router.on("crisis:context", ContextRequest, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES)
async def on_context(ctx: EventContext, p: ContextRequest) -> dict[str, Any]:
    return await alerts.open_context(ctx.services, ctx.user, p.alert_id, p.limit)


@router.on("crisis:safety_plan", AlertRef, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES)
async def on_safety_plan(ctx: EventContext, p: AlertRef) -> dict[str, Any]:
    return {"plan": await safety_plans.plan_for_responder(ctx.services, ctx.user, p.alert_id)}


@router.on("crisis:report", ReportRequest, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES)
async def on_report(ctx: EventContext, p: ReportRequest) -> dict[str, Any]:
    return await report.responder_report(ctx.services, ctx.user, p.since)


@router.on("crisis:on_call", OnCall, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_on_call(ctx: EventContext, p: OnCall) -> dict[str, Any]:
    return {"on_call": p.on, "on_call_count": await set_on_call(ctx.services, ctx.user.id, p.on)}


@router.on("crisis:state", namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES)
async def on_state(ctx: EventContext, _p: Any) -> dict[str, Any]:
    on_call, count = await on_call_state(ctx.services, ctx.user.id)
    return {"on_call": on_call, "on_call_count": count}


@router.on("crisis:handover", Handover, namespace=NAMESPACE, roles=alerts.CONSOLE_ROLES, ordered=True)
async def on_handover(ctx: EventContext, p: Handover) -> dict[str, Any]:
    views = await alerts.hand_over(ctx.services, ctx.user, p.to_user_id)
    for view in views:
        await ctx.services.crisis.broadcast("crisis:claimed", view)
    return {"alerts": views}


@router.on("crisis:audit", AlertRef, namespace=NAMESPACE, roles=alerts.SUPERVISOR_ROLES)
async def on_audit(ctx: EventContext, p: AlertRef) -> dict[str, Any]:
    return {"entries": await alerts.access_log(ctx.services, p.alert_id)}
