"""MediaServer: the process-wide aiortc server peer for group sessions and fallback 1:1 calls.

A plain library: the Socket.IO signaling layer authorizes people and calls these coroutines;
nothing here knows about sockets or users beyond their ids. Every peer connection is built with
the configured ICE servers only (an empty list means host candidates only): aiortc's own default
would contact Google's public STUN server.

How to build an offer the server can serve: publish your microphone and camera (``sendrecv`` or
``sendonly``), then add ``slot_layout()["audio"]`` audio and ``slot_layout()["video"]`` video
transceivers with direction ``recvonly``. The server fills those slots and switches them as the
room changes, without renegotiation.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from media.aiortc_adapter import on_keyframe_request
from media.codecs import negotiated_codecs
from media.errors import MediaError
from media.forwarding import ForwardingTrack
from media.participant import Participant, read_offer_layout
from media.published import PublishedTrack
from media.recording import RoomRecording
from media.relay import BoundedMediaRelay
from media.room import Room
from media.stats import participant_stats

logger = logging.getLogger(__name__)

JOIN_ATTEMPTS = 3  # a room can close while a join waits for it; retry with a fresh one


def _ice_server(entry: dict[str, Any]) -> RTCIceServer:
    return RTCIceServer(urls=entry["urls"], username=entry.get("username"),
                        credential=entry.get("credential"))


class MediaServer:
    def __init__(self, *, ice_servers: list[dict[str, Any]] | None = None, max_rooms: int = 20,
                 max_participants_per_room: int = 8, max_video_forwards: int = 2,
                 recordings_dir: str | Path = "recordings", transcode_always: bool = False) -> None:
        """`transcode_always` decodes every publisher and encodes for every subscriber, as this
        server did before it forwarded encoded frames: for bench/media.py's comparison only."""
        self._ice_servers = [_ice_server(entry) for entry in ice_servers or []]
        self._transcode_always = transcode_always
        self.max_rooms = max_rooms
        self.max_participants_per_room = max_participants_per_room
        self.max_video_forwards = max_video_forwards
        self.recordings_dir = Path(recordings_dir)
        self._relay = BoundedMediaRelay()
        self._rooms: dict[str, Room] = {}
        self._closed = False

    def slot_layout(self) -> dict[str, int]:
        """How many recvonly audio and video transceivers a client offer should carry."""
        return {"audio": self.max_participants_per_room - 1, "video": self.max_video_forwards}

    async def join(self, room_id: str, user_id: str, offer: dict[str, str], *,
                   is_leader: bool) -> dict[str, str]:
        """Connect a participant; returns the SDP answer. Rejoining replaces the old session."""
        if self._closed:
            raise MediaError("The media server is shutting down.", code="media_server_closed",
                           status=503)
        if not isinstance(offer, dict) or offer.get("type") != "offer" or not isinstance(
                offer.get("sdp"), str):
            raise MediaError("Expected an SDP offer.", code="media_offer_invalid")
        layout = read_offer_layout(offer["sdp"])
        for _ in range(JOIN_ATTEMPTS):
            room = self._room_for_join(room_id)
            async with room.lock:
                if self._rooms.get(room_id) is not room:
                    continue
                try:
                    return await self._join_locked(room, user_id, offer["sdp"], layout,
                                                   is_leader=is_leader)
                finally:
                    if not room.participants:
                        await self._close_room(room)
        raise MediaError("The session is busy, please retry.", code="media_busy", status=503)

    def _room_for_join(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            if len(self._rooms) >= self.max_rooms:
                raise MediaError("The media server is at capacity; please try again later.",
                               code="media_server_full", status=503)
            room = Room(room_id, RoomRecording(room_id, self.recordings_dir))
            self._rooms[room_id] = room
        return room

    async def _join_locked(self, room: Room, user_id: str, sdp: str, layout: Any, *,
                           is_leader: bool) -> dict[str, str]:
        previous = room.remove(user_id)
        if previous is not None:
            await previous.close()
        if len(room.participants) >= self.max_participants_per_room:
            raise MediaError(f"This session is full ({self.max_participants_per_room} people).",
                           code="media_room_full", status=409)
        # max-bundle: with aiortc's default (balanced) policy, a second m-line of the same kind
        # is tied to that kind's first transport before BUNDLE is applied, and that transport
        # is then discarded, so extra video slots would never send (aiortc 1.16).
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers,
                                                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        participant = Participant(user_id, pc, is_leader=is_leader)
        slot_limits = self.slot_layout()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            publishing: list[RTCRtpTransceiver] = []
            for transceiver in pc.getTransceivers():
                kind, mid = transceiver.kind, transceiver.mid
                if layout.publish.get(kind) == mid and transceiver.receiver.track is not None:
                    transceiver.direction = "recvonly"
                    publishing.append(transceiver)
                elif mid in layout.slots[kind] and len(participant.slots[kind]) < slot_limits[kind]:
                    slot = ForwardingTrack(kind)
                    transceiver.sender.replaceTrack(slot)
                    on_keyframe_request(transceiver.sender, slot.keyframe_requested)
                    transceiver.direction = "sendonly"
                    participant.slots[kind].append(slot)
                else:
                    transceiver.direction = "inactive"
            await pc.setLocalDescription(await pc.createAnswer())
            # Nothing flows before this returns to the loop (aiortc connects in a task), so the
            # codecs are in place before the first packet.
            codecs = negotiated_codecs(pc.localDescription.sdp)
            for transceiver in publishing:
                participant.published[transceiver.kind] = PublishedTrack(
                    transceiver.kind, transceiver.receiver, codecs[transceiver.mid], self._relay,
                    transcode_always=self._transcode_always)
            for transceiver in pc.getTransceivers():
                if isinstance(transceiver.sender.track, ForwardingTrack):
                    transceiver.sender.track.codec = codecs[transceiver.mid].send
        except MediaError:
            await participant.close()
            raise
        except Exception as error:
            await participant.close()
            logger.warning("media negotiation failed for %s in %s: %s", user_id, room.room_id,
                           error)
            raise MediaError("The media offer could not be negotiated.",
                           code="media_negotiation_failed") from error

        @pc.on("connectionstatechange")
        async def on_connection_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._leave_if_current(room, participant)

        room.add(participant)
        await room.recording.update(list(room.participants.values()))
        answer = pc.localDescription
        return {"sdp": answer.sdp, "type": answer.type}

    async def _leave_if_current(self, room: Room, participant: Participant) -> None:
        async with room.lock:
            if room.participants.get(participant.user_id) is participant:
                await self._remove_locked(room, participant.user_id)

    async def leave(self, room_id: str, user_id: str) -> None:
        """Disconnect a participant; the room closes with its last participant."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        async with room.lock:
            await self._remove_locked(room, user_id)

    async def end_session(self, room_id: str) -> None:
        """Disconnect everyone at once: the call is over (a 1:1 one side hung up, a ring expired).

        Without this, the people still connected would keep sending media into a call that no
        longer exists until their own peer connection gave up.
        """
        room = self._rooms.get(room_id)
        if room is None:
            return
        async with room.lock:
            await self._close_room(room)

    async def _remove_locked(self, room: Room, user_id: str) -> None:
        participant = room.remove(user_id)
        if participant is not None:
            await participant.close()
            await room.recording.update(list(room.participants.values()))
        if not room.participants:
            await self._close_room(room)

    async def _close_room(self, room: Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
        await room.close()

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise MediaError("There is no media session for this room.", code="media_no_session",
                           status=404)
        return room

    def _participant(self, room: Room, user_id: str) -> Participant:
        participant = room.participants.get(user_id)
        if participant is None:
            raise MediaError("You are not connected to this media session.",
                           code="media_not_in_room", status=404)
        return participant

    async def request_video(self, room_id: str, user_id: str, source_user_id: str) -> None:
        """Ask to receive `source_user_id`'s video; it takes a slot ahead of the active speaker."""
        room = self._room(room_id)
        subscriber = self._participant(room, user_id)
        source = self._participant(room, source_user_id)
        if "video" not in source.published:
            raise MediaError("That participant is not sending video.", code="media_no_video",
                           status=404)
        if source_user_id in subscriber.video_requests:
            subscriber.video_requests.remove(source_user_id)
        subscriber.video_requests.append(source_user_id)
        del subscriber.video_requests[: -self.max_video_forwards]
        room.reassign()

    async def cancel_video_request(self, room_id: str, user_id: str, source_user_id: str) -> None:
        room = self._room(room_id)
        subscriber = self._participant(room, user_id)
        if source_user_id in subscriber.video_requests:
            subscriber.video_requests.remove(source_user_id)
            room.reassign()

    async def set_consent(self, room_id: str, user_id: str, granted: bool) -> dict[str, Any]:
        """Record a yes/no to recording; a no pauses a running recording at once."""
        room = self._room(room_id)
        consent = room.recording.set_consent(user_id, granted)
        async with room.lock:
            await room.recording.update(list(room.participants.values()))
        return consent.to_dict()

    async def start_recording(self, room_id: str) -> str:
        room = self._room(room_id)
        async with room.lock:
            return str(await room.recording.start(list(room.participants.values())))

    async def stop_recording(self, room_id: str) -> list[str]:
        room = self._room(room_id)
        async with room.lock:
            return [str(path) for path in await room.recording.stop()]

    def forwarding(self, room_id: str) -> dict[str, Any]:
        """Who is leader and speaker, and what each participant receives, slot by slot."""
        room = self._room(room_id)
        return {"leader_id": room.leader_id, "active_speaker": room.active_speaker,
                "speaker_changes": room.speaker_changes,
                "recording": room.recording.state, "receiving": room.forwarding(),
                "transcoding": room.transcoding()}

    async def stats(self, room_id: str) -> dict[str, Any]:
        """Per-participant network and media figures (async: aiortc's getStats is)."""
        room = self._room(room_id)
        participants = list(room.participants.values())
        figures = await asyncio.gather(*(participant_stats(p) for p in participants))
        return {"room_id": room_id, **self.forwarding(room_id),
                "participants": {f["user_id"]: f for f in figures}}

    async def close(self) -> None:
        """Close every room and peer connection (app shutdown)."""
        self._closed = True
        for room in list(self._rooms.values()):
            async with room.lock:
                await self._close_room(room)
