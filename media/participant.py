"""One person's media session with the server: what they publish and the slots they receive in.

The client's offer carries its own camera and microphone (``sendrecv`` or ``sendonly``) plus a
fixed number of ``recvonly`` slots. The server answers each slot with a ForwardingTrack, so the
room can change who a person sees and hears without renegotiating (Jitsi's last-N idea).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from media.errors import MediaError
from media.forwarding import ForwardingTrack
from media.published import PublishedTrack

PUBLISHING_DIRECTIONS = ("sendrecv", "sendonly")


@dataclass
class OfferLayout:
    """Which m-lines (by mid) of an offer publish media and which are receive slots."""

    publish: dict[str, str] = field(default_factory=dict)  # kind → mid
    slots: dict[str, list[str]] = field(default_factory=lambda: {"audio": [], "video": []})


def read_offer_layout(sdp: str) -> OfferLayout:
    """Classify the offer's m-lines; reject offers the slot design cannot serve."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as error:
        raise MediaError("The media offer is not valid SDP.", code="media_offer_invalid") from error
    layout = OfferLayout()
    for media in description.media:
        if media.kind not in ("audio", "video"):
            continue
        mid = media.rtp.muxId
        if media.direction in PUBLISHING_DIRECTIONS:
            if media.kind in layout.publish:
                raise MediaError(f"The offer publishes more than one {media.kind} track.",
                               code="media_offer_invalid")
            layout.publish[media.kind] = mid
        elif media.direction == "recvonly":
            layout.slots[media.kind].append(mid)
    if not layout.publish and not any(layout.slots.values()):
        raise MediaError("The offer has no audio or video.", code="media_offer_invalid")
    return layout


class Participant:
    """A connected participant: peer connection, published tracks and receive slots."""

    def __init__(self, user_id: str, pc: RTCPeerConnection, *, is_leader: bool) -> None:
        self.user_id = user_id
        self.pc = pc
        self.is_leader = is_leader
        self.joined_at = time.monotonic()
        self.published: dict[str, PublishedTrack] = {}
        self.slots: dict[str, list[ForwardingTrack]] = {"audio": [], "video": []}
        self.video_requests: list[str] = []  # sources this person asked to see, newest last
        self.last_stats_sample: tuple[float, int, int] | None = None  # (time, bytes in, out)

    @property
    def audio_level_dbfs(self) -> float | None:
        audio = self.published.get("audio")
        return audio.level.dbfs if audio else None

    def source_of_slots(self, kind: str) -> list[str | None]:
        return [slot.source_id for slot in self.slots[kind]]

    async def close(self) -> None:
        for published in self.published.values():
            published.close()
        for slots in self.slots.values():
            for slot in slots:
                slot.stop()
        await self.pc.close()
