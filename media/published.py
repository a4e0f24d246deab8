"""PublishedTrack: one track a participant sends us, fanned out to the slots that show it.

Cost bound: each encoded frame is assembled once (aiortc's jitter buffer) and handed to every
subscribed ForwardingTrack; nobody decodes it and every sender packs it as it is. Decoding
happens here, once per publisher however many need it, and only while someone needs pictures or
sound: the recorder, or a subscriber whose slot uses another codec (a transcode, reported in
``media:stats``). Decoding starts at a keyframe, which is asked for when it begins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc import MediaStreamTrack, RTCRtpReceiver

from media.aiortc_adapter import ReceiverTap
from media.codecs import NegotiatedCodecs, is_keyframe, same_codec
from media.forwarding import KEYFRAME_RETRY_SECONDS, EncodedFrame, ForwardingTrack
from media.relay import BoundedMediaRelay
from media.speaker import AudioLevel

KEYFRAME_REQUEST_INTERVAL_SECONDS = 0.1  # several subscribers asking at once cost one PLI


class PublishedTrack:
    """A publisher's track: its encoded frames, who receives them, and decoding on demand."""

    def __init__(self, kind: str, receiver: RTCRtpReceiver, codecs: NegotiatedCodecs,
                 relay: BoundedMediaRelay, *, transcode_always: bool = False) -> None:
        self.kind = kind
        self.codec = codecs.send  # what the publisher sends: the first codec of our answer
        self.frames_received = 0
        self.first_frame_at: float | None = None  # time.monotonic()
        self.level = AudioLevel()
        self._codecs = codecs.by_payload_type
        self._decoded_track = receiver.track  # decoded frames appear here while decoding is on
        self._relay = relay
        self._transcode_always = transcode_always
        self._subscribers: set[ForwardingTrack] = set()
        self._decode_users = 0
        self._decoding = False
        self._asked_at = 0.0  # time.monotonic() of the last keyframe request
        self._keyframe_coming = False  # asked, and no keyframe has arrived since
        # Asked before the first packet told us where to send the request: ask on arrival.
        self._keyframe_owed = False
        self._tap = ReceiverTap(receiver, self._frame_arrived,
                                self.level.add if kind == "audio" else None)

    @property
    def frames_decoded(self) -> int:
        """Frames this server decoded from this track (zero while everyone is forwarded to)."""
        return self._tap.frames_to_decoder

    def feed(self, track: ForwardingTrack, source_id: str) -> None:
        """Make `track` show this publisher: forwarded when the codecs match, else decoded."""
        if track.codec is not None and same_codec(self.codec, track.codec) and not (
                self._transcode_always):
            self._subscribers.add(track)
            track.forward(source_id, self.codec.name, self.request_keyframe,
                          self._unsubscriber(track))
            return
        decoded = self._relay.subscribe(self._decoded_track, buffered=self.kind == "audio")
        self._decode_users += 1
        if self._decode_users == 1:
            self.request_keyframe()
        track.transcode(source_id, self.codec.name, decoded, self._decode_release(decoded))

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, unless one asked for a moment ago is on its way."""
        now = time.monotonic()
        if self.kind != "video" or (self._keyframe_coming and now - self._asked_at
                                    < KEYFRAME_REQUEST_INTERVAL_SECONDS):
            return
        sent = self._tap.request_keyframe()
        self._keyframe_owed = not sent
        if sent:
            self._asked_at, self._keyframe_coming = now, True

    def close(self) -> None:
        """The publisher left: every track showing it goes blank until reassigned."""
        for track in list(self._subscribers):
            track.clear()

    def _unsubscriber(self, track: ForwardingTrack) -> Callable[[], None]:
        return lambda: self._subscribers.discard(track)

    def _decode_release(self, decoded: MediaStreamTrack) -> Callable[[], None]:
        def release() -> None:
            decoded.stop()
            self._decode_users -= 1
        return release

    def _frame_arrived(self, data: bytes, timestamp: int, payload_type: int) -> bool:
        """Fan one frame out; returns whether aiortc should decode it too."""
        codec = self._codecs.get(payload_type)
        if codec is None:
            return False
        keyframe = is_keyframe(codec, data)
        self.frames_received += 1
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()
        if keyframe:
            self._keyframe_coming = False
        if self._keyframe_owed:
            # Typically the publisher's first keyframe reached us before its receiver started.
            self._keyframe_owed = False
            if not keyframe:
                self.request_keyframe()
        if same_codec(codec, self.codec):
            frame = EncodedFrame(data, timestamp, keyframe)
            for track in list(self._subscribers):
                track.push(frame)
        if not self._decode_users:
            self._decoding = False
        elif not self._decoding:
            if keyframe:
                self._decoding = True
            elif time.monotonic() - self._asked_at >= KEYFRAME_RETRY_SECONDS:
                self.request_keyframe()
        return self._decoding
