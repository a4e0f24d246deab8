"""ForwardingTrack: what one server sender transmits, fed by one publisher at a time.

Normally it forwards: the publisher's encoded frames arrive through ``push`` and ``recv`` hands
them to the sender as ``av.Packet``s, which aiortc packetizes without encoding. Only when the
two ends use different codecs (or for the recorder, which needs pictures and sound) does it
pass on the publisher's decoded frames instead, and the sender encodes them (``transcode``).

Why a track of our own instead of ``RTCRtpSender.replaceTrack``: replacing a sender's track
leaves the sender blocked on the old source until its next frame. A ForwardingTrack switches at
once, and it restamps: every publisher has its own random RTP clock, so without a rebase the
timestamps a subscriber sees would jump by hours at a speaker switch, which receivers treat as
a stall. The new source's first frame is placed one wall-clock gap after the last one sent.

A forwarded video stream holds until a keyframe arrives and asks the publisher for one: on a
join (once the sender starts reading, i.e. the subscriber's connection is up), on a switch of
source, on the subscriber's own picture-loss report, and when its queue overflowed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from fractions import Fraction

from aiortc import MediaStreamTrack, RTCRtpCodecParameters
from aiortc.mediastreams import MediaStreamError, convert_timebase
from av import AudioFrame, Packet, VideoFrame
from av.frame import Frame

VIDEO_CLOCK_RATE = 90000  # Hz, the RTP clock of every video codec
AUDIO_CLOCK_RATE = 48000  # Hz, Opus's RTP clock, used when a consumer has no codec (recorder)
RTP_TIMESTAMP_MODULUS = 1 << 32
MAX_QUEUED_FRAMES = {"audio": 25, "video": 30}  # ~0.5 s of audio, ~1 s of video per subscriber
KEYFRAME_RETRY_SECONDS = 0.3  # ask again when a requested keyframe has not come by then


@dataclass(frozen=True)
class EncodedFrame:
    """One complete encoded frame of a publisher, as its RTP stream carried it."""

    data: bytes
    timestamp: int  # the publisher's RTP timestamp
    keyframe: bool


class Timeline:
    """Continuous output timestamps for a stream whose source changes."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.time_base = Fraction(1, clock_rate)
        self._source: Hashable = None
        self._offset = 0
        self._last_out: int | None = None
        self._last_sent_at = 0.0  # time.monotonic()

    def restamp(self, source: Hashable, timestamp: int) -> int:
        """The output timestamp for a source's `timestamp` (in this timeline's clock)."""
        now = time.monotonic()
        if source != self._source:
            if self._last_out is None:
                target = 0
            else:
                gap = max(1, round((now - self._last_sent_at) * self.clock_rate))
                target = self._last_out + gap
            self._offset = timestamp - target
            self._source = source
        out = (timestamp - self._offset) % RTP_TIMESTAMP_MODULUS
        self._last_out, self._last_sent_at = out, now
        return out


class ForwardingTrack(MediaStreamTrack):
    """A switchable source for one sender (or the recorder); sends nothing while it has none."""

    def __init__(self, kind: str, codec: RTCRtpCodecParameters | None = None) -> None:
        super().__init__()
        self.kind = kind
        # What the sender sends, known once our answer is made; None: wants decoded frames.
        self.codec = codec
        self.source_id: str | None = None
        self.source_codec: str | None = None
        self.transcoding = False
        self.frames_forwarded = 0
        self._queue: deque[EncodedFrame] = deque()
        self._decoded: MediaStreamTrack | None = None
        self._detach: Callable[[], None] | None = None
        self._ask_for_keyframe: Callable[[], None] = lambda: None
        self._awaiting_keyframe = False
        self._asked_at = 0.0  # time.monotonic() of the last keyframe request
        self._reading = False  # the sender has started: the subscriber's connection is up
        self._wakeup = asyncio.Event()
        self._timeline: Timeline | None = None  # made on first use, when the codec is known

    def forward(self, source_id: str, source_codec: str, ask_for_keyframe: Callable[[], None],
                detach: Callable[[], None]) -> None:
        """Send `source_id`'s encoded frames from its next keyframe; `detach` ends the feed."""
        self._switch(source_id, source_codec, detach)
        self._ask_for_keyframe = ask_for_keyframe
        self._hold_for_keyframe()

    def transcode(self, source_id: str, source_codec: str, decoded: MediaStreamTrack,
                  detach: Callable[[], None]) -> None:
        """Send `source_id`'s decoded frames (the sender encodes them); `detach` ends the feed."""
        self._switch(source_id, source_codec, detach)
        self._decoded = decoded
        self.transcoding = True

    def clear(self) -> None:
        """Send nothing until the room assigns another source."""
        self._switch(None, None, None)

    def push(self, frame: EncodedFrame) -> None:
        """A new frame from the forwarded publisher (called on the event loop, for every frame)."""
        if not self._reading:
            return  # nobody to send to yet: a burst of stale frames would only add delay
        if self._awaiting_keyframe:
            if not frame.keyframe:
                # A PLI can be lost, and a publisher skips one while another is on its way.
                if time.monotonic() - self._asked_at >= KEYFRAME_RETRY_SECONDS:
                    self._ask()
                return
            self._awaiting_keyframe = False
        if len(self._queue) >= MAX_QUEUED_FRAMES[self.kind]:
            if self.kind == "video":
                # Dropping any video frame breaks the ones after it: restart from a keyframe.
                self._hold_for_keyframe()
                return
            self._queue.popleft()
        self._queue.append(frame)
        self._wakeup.set()

    def keyframe_requested(self) -> None:
        """The subscriber reported picture loss: resend from the publisher's next keyframe."""
        if self._detach is not None and not self.transcoding:
            self._hold_for_keyframe()

    async def recv(self) -> Packet | Frame:
        if not self._reading:
            self._reading = True
            if self._awaiting_keyframe:
                self._ask()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            self._wakeup.clear()
            if self._decoded is not None:
                frame = await self._next_decoded(self._decoded)
                if frame is not None:
                    self.frames_forwarded += 1
                    return frame
            elif self._queue:
                self.frames_forwarded += 1
                return self._packet(self._queue.popleft())
            else:
                await self._wakeup.wait()

    def stop(self) -> None:
        super().stop()
        self._switch(None, None, None)

    def _switch(self, source_id: str | None, source_codec: str | None,
                detach: Callable[[], None] | None) -> None:
        previous, self._detach = self._detach, detach
        self.source_id, self.source_codec = source_id, source_codec
        self.transcoding = False
        self._decoded = None
        self._queue.clear()
        self._awaiting_keyframe = False
        self._ask_for_keyframe = lambda: None
        if previous is not None:
            previous()
        self._wakeup.set()

    def _hold_for_keyframe(self) -> None:
        self._queue.clear()
        if self.kind != "video":
            return
        self._awaiting_keyframe = True
        if self._reading:
            self._ask()

    def _ask(self) -> None:
        self._ask_for_keyframe()
        self._asked_at = time.monotonic()

    def _timestamps(self) -> Timeline:
        if self._timeline is None:
            if self.codec is not None:
                clock_rate = self.codec.clockRate
            else:
                clock_rate = VIDEO_CLOCK_RATE if self.kind == "video" else AUDIO_CLOCK_RATE
            self._timeline = Timeline(clock_rate)
        return self._timeline

    def _packet(self, frame: EncodedFrame) -> Packet:
        timeline = self._timestamps()
        packet = Packet(frame.data)
        packet.pts = timeline.restamp((self.source_id, "encoded"), frame.timestamp)
        packet.time_base = timeline.time_base
        return packet

    async def _next_decoded(self, source: MediaStreamTrack) -> Frame | None:
        """The source's next frame, or None when the source changed while waiting."""
        frame_read = asyncio.ensure_future(source.recv())
        source_changed = asyncio.ensure_future(self._wakeup.wait())
        try:
            done, _ = await asyncio.wait({frame_read, source_changed},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Also when the sender itself is cancelled (connection closing) mid-wait; a read
            # that already failed then is marked as seen so asyncio does not report it.
            for task in (frame_read, source_changed):
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()
        if frame_read not in done:
            return None
        try:
            frame = frame_read.result()
        except MediaStreamError:
            # The publisher went away; wait for the room to assign another source.
            if self._decoded is source:
                self.clear()
            return None
        return self._restamped(frame)

    def _restamped(self, frame: Frame) -> Frame:
        """A copy with this stream's timestamps: the relay hands one frame object to every
        consumer, and encoders read ``pts`` later on an executor thread."""
        timeline = self._timestamps()
        clock = timeline.time_base
        # aiortc's decoders stamp every frame with its RTP time (pts and time_base).
        pts = timeline.restamp((self.source_id, "decoded"),
                               convert_timebase(frame.pts, frame.time_base, clock))
        if isinstance(frame, AudioFrame):
            copy = AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name,
                                           layout=frame.layout.name)
            copy.sample_rate = frame.sample_rate
            copy.time_base = Fraction(1, frame.sample_rate)
            copy.pts = convert_timebase(pts, clock, copy.time_base)
            return copy
        assert isinstance(frame, VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        video = VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        video.pts, video.time_base = pts, clock
        return video
