"""What each person in a call is sending: microphone on or muted, camera on or off.

A muted track still flows (as silence, as black frames), so the other side cannot tell a muted
microphone from a broken one, or a camera turned off from a frozen one. Each client says when it
mutes or turns its camera off (``call:media_state``) and every other joined participant gets
``call:media_state`` with who it is, so their tile shows it in words.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select

from server.chat.room_access import require_member
from server.core.errors import Conflict, NotFound
from server.core.i18n import N_
from server.storage.models import Call, CallParticipant
from server.transport.events import EventContext, EventRouter

router = EventRouter()

NOT_IN_CALL = N_("Join the call first.")


class MediaState(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    audio: bool
    video: bool


@router.on("call:media_state", MediaState, ordered=True)
async def on_media_state(ctx: EventContext, p: MediaState) -> dict[str, Any]:
    async with ctx.services.db.read() as s:
        call = await s.get(Call, p.call_id) if len(p.call_id) <= 64 else None
        if call is None:
            raise NotFound(NOT_IN_CALL, code="not_in_call")
        # A stranger to the room is refused as such; a member out of this call is told to join.
        await require_member(s, call.room_id, ctx.user.id)
        me = await s.get(CallParticipant, (p.call_id, ctx.user.id))
        if me is None or me.state != "joined" or call.state == "ended":
            raise Conflict(NOT_IN_CALL, code="not_in_call")
        sids = list(await s.scalars(select(CallParticipant.sid).where(
            CallParticipant.call_id == call.id, CallParticipant.state == "joined",
            CallParticipant.user_id != ctx.user.id, CallParticipant.sid.is_not(None),
        )))
    event = {"call_id": call.id, "user_id": ctx.user.id, "audio": p.audio, "video": p.video}
    for sid in sids:
        await ctx.services.sio.emit("call:media_state", event, to=sid)
    return {"state": event}
