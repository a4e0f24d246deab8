"""Socket.IO surface of calls: ringing, offer/answer/ICE relay, hang-up, ICE servers, and the
server media relay (group sessions, and the fallback when a 1:1 cannot connect peer to peer)."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Literal

import msgspec

from media.errors import MediaError
from server.chat.room_access import require_member
from server.core.audit import record_audit
from server.core.background import every
from server.core.errors import AppError, Forbidden
from server.core.roles import ROOM_MODERATORS
from server.storage.models import Call, CallParticipant
from server.transport.events import EventContext, EventRouter
from signaling.turn import ice_servers_for

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()
Handler = Callable[[EventContext, Any], Awaitable[dict[str, Any]]]


def answers_media_errors(handler: Handler) -> Handler:
    """Turn the media package's errors into the server's structured error, at this one edge."""

    @functools.wraps(handler)
    async def answering(ctx: EventContext, p: Any) -> dict[str, Any]:
        try:
            return await handler(ctx, p)
        except MediaError as error:
            raise AppError(error.message, code=error.code, status=error.status, details=error.details) from error

    return answering

MAX_SDP_CHARS = 64 * 1024
MAX_CANDIDATE_CHARS = 2048
# call:offer/answer/ice are `ordered`: handlers of one connection otherwise run concurrently, and a
# trickled candidate relayed ahead of its offer is rejected by the receiving peer connection.
# How often the ring timeout is checked; the timeout itself is a setting.
SWEEP_INTERVAL_SECONDS = 1.0


class StartCall(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    media: Literal["audio", "video"] = "video"
    mode: Literal["p2p", "relay"] = "p2p"


class CallRef(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str


class Description(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    to: str
    sdp: str
    type: Literal["offer", "answer", "rollback"] = "offer"


class IceCandidate(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    to: str
    # RTCIceCandidateInit; None marks the end of candidates.
    candidate: dict[str, Any] | None = None


class MediaOffer(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    sdp: str
    type: Literal["offer"] = "offer"


class VideoRequest(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    source_user_id: str
    on: bool = True


class Consent(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    granted: bool


def setup(services: "Services") -> None:
    services.disconnect_hooks.append(services.calls.connection_closed)


def _media_server(services: "Services") -> Any:
    """Built on first use: a process that never relays media never loads aiortc's codecs."""
    if services.media is None:
        # aiortc and its codecs: loaded on first use only (see the docstring)
        from media.server import MediaServer

        settings = services.settings
        services.media = MediaServer(
            ice_servers=[{"urls": list(settings.stun_urls)}] if settings.stun_urls else [],
            max_rooms=settings.media_max_rooms,
            max_participants_per_room=settings.media_max_participants,
            recordings_dir=settings.data_path / "recordings",
        )
    return services.media


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    try:
        async with every(SWEEP_INTERVAL_SECONDS, services.calls.expire_unanswered, name="ring-timeout"):
            yield
    finally:
        if services.media is not None:
            await services.media.close()


def _ice_servers(ctx: EventContext) -> list[dict[str, Any]]:
    s = ctx.services.settings
    return ice_servers_for(ctx.user.id, stun_urls=list(s.stun_urls), turn_urls=list(s.turn_urls),
                           turn_secret=s.turn_secret or None, ttl_seconds=s.turn_ttl_seconds)


def _check_size(text: str, limit: int) -> None:
    if len(text) > limit:
        raise AppError("That signaling message is too large.", code="payload_too_large", status=413)


@router.on("call:ice_servers")
async def on_ice_servers(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"ice_servers": _ice_servers(ctx)}


@router.on("call:start", StartCall)
async def on_start(ctx: EventContext, p: StartCall) -> dict[str, Any]:
    call, joined_existing = await ctx.services.calls.start(ctx.user, ctx.sid, p.room_id, p.media, p.mode)
    return {"call": call, "joined_existing": joined_existing, "ice_servers": _ice_servers(ctx)}


@router.on("call:accept", CallRef)
async def on_accept(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    return {"call": await ctx.services.calls.accept(ctx.user, ctx.sid, p.call_id), "ice_servers": _ice_servers(ctx)}


@router.on("call:decline", CallRef)
async def on_decline(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    return {"call": await ctx.services.calls.decline(ctx.user, p.call_id)}


@router.on("call:end", CallRef)
async def on_end(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    return {"call": await ctx.services.calls.leave(ctx.user, p.call_id)}


@router.on("call:offer", Description, ordered=True)
async def on_offer(ctx: EventContext, p: Description) -> dict[str, Any]:
    _check_size(p.sdp, MAX_SDP_CHARS)
    await ctx.services.calls.relay(ctx.user, p.call_id, p.to, "call:offer", {"sdp": p.sdp, "type": p.type})
    return {}


@router.on("call:answer", Description, ordered=True)
async def on_answer(ctx: EventContext, p: Description) -> dict[str, Any]:
    _check_size(p.sdp, MAX_SDP_CHARS)
    await ctx.services.calls.relay(ctx.user, p.call_id, p.to, "call:answer", {"sdp": p.sdp, "type": "answer"})
    return {}


@router.on("call:ice", IceCandidate, ordered=True)
async def on_ice(ctx: EventContext, p: IceCandidate) -> dict[str, Any]:
    if p.candidate is not None:
        _check_size(str(p.candidate.get("candidate", "")), MAX_CANDIDATE_CHARS)
    await ctx.services.calls.relay(ctx.user, p.call_id, p.to, "call:ice", {"candidate": p.candidate})
    return {}


async def _joined_relay_call(ctx: EventContext, call_id: str) -> tuple[Call, bool]:
    """The caller's relay-mode call, and whether they lead it (leaders' video is always forwarded)."""
    async with ctx.services.db.transaction() as s:
        call = await s.get(Call, call_id) if len(call_id) <= 64 else None
        me = await s.get(CallParticipant, (call_id, ctx.user.id)) if call else None
        if call is None or me is None or me.state != "joined":
            raise Forbidden("Join the call first.")
        _room, membership = await require_member(s, call.room_id, ctx.user.id)
        if call.state == "ended":
            raise AppError("That call has ended.", code="call_ended", status=409)
        if call.mode != "relay":
            # A 1:1 that cannot connect peer to peer falls back to the relay for both sides.
            call.mode = "relay"
        is_leader = membership.role in ROOM_MODERATORS or call.started_by == ctx.user.id
    return call, is_leader


@router.on("media:layout")
@answers_media_errors
async def on_media_layout(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"layout": _media_server(ctx.services).slot_layout()}


@router.on("media:join", MediaOffer)
@answers_media_errors
async def on_media_join(ctx: EventContext, p: MediaOffer) -> dict[str, Any]:
    _check_size(p.sdp, MAX_SDP_CHARS)
    call, is_leader = await _joined_relay_call(ctx, p.call_id)
    answer = await _media_server(ctx.services).join(call.id, ctx.user.id, {"sdp": p.sdp, "type": p.type}, is_leader=is_leader)
    return {"answer": answer}


@router.on("media:leave", CallRef)
@answers_media_errors
async def on_media_leave(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    if ctx.services.media is not None:
        await ctx.services.media.leave(p.call_id, ctx.user.id)
    return {}


@router.on("media:request_video", VideoRequest)
@answers_media_errors
async def on_request_video(ctx: EventContext, p: VideoRequest) -> dict[str, Any]:
    call, _lead = await _joined_relay_call(ctx, p.call_id)
    media = _media_server(ctx.services)
    if p.on:
        await media.request_video(call.id, ctx.user.id, p.source_user_id)
    else:
        await media.cancel_video_request(call.id, ctx.user.id, p.source_user_id)
    return {"forwarding": media.forwarding(call.id)}


@router.on("media:stats", CallRef)
@answers_media_errors
async def on_media_stats(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    call, _lead = await _joined_relay_call(ctx, p.call_id)
    return {"stats": await _media_server(ctx.services).stats(call.id)}


@router.on("media:consent", Consent)
@answers_media_errors
async def on_consent(ctx: EventContext, p: Consent) -> dict[str, Any]:
    """Recording consent is per person and recorded (audit log), and can be withdrawn at any time."""
    call, _lead = await _joined_relay_call(ctx, p.call_id)
    state = await _media_server(ctx.services).set_consent(call.id, ctx.user.id, p.granted)
    async with ctx.services.db.transaction() as s:
        await record_audit(s, ctx.user.id, "recording.consent", room_id=call.room_id, target_id=call.id, detail={"granted": p.granted})
    await ctx.services.sio.emit("media:consent", {"call_id": call.id, "user_id": ctx.user.id, "granted": p.granted}, to=f"room:{call.room_id}")
    return {"consent": state}


async def _set_recording(ctx: EventContext, call_id: str, on: bool) -> list[str]:
    """Start or stop a call's recording (leaders only), audit it and tell the room; returns file names."""
    call, is_leader = await _joined_relay_call(ctx, call_id)
    if not is_leader:
        raise Forbidden("Only the session's leader can start or stop a recording.")
    media = _media_server(ctx.services)
    files = [await media.start_recording(call.id)] if on else await media.stop_recording(call.id)
    async with ctx.services.db.transaction() as s:
        await record_audit(s, ctx.user.id, "recording.start" if on else "recording.stop", room_id=call.room_id, target_id=call.id)
    await ctx.services.sio.emit("media:recording", {"call_id": call.id, "recording": on}, to=f"room:{call.room_id}")
    return [Path(f).name for f in files]


@router.on("media:record_start", CallRef)
@answers_media_errors
async def on_record_start(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    return {"file": (await _set_recording(ctx, p.call_id, True))[0]}


@router.on("media:record_stop", CallRef)
@answers_media_errors
async def on_record_stop(ctx: EventContext, p: CallRef) -> dict[str, Any]:
    return {"files": await _set_recording(ctx, p.call_id, False)}
