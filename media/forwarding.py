"""ForwardingTrack: what one server sender transmits, fed by one publisher at a time.

Why a track of our own instead of ``RTCRtpSender.replaceTrack``: replacing a sender's track
leaves the sender blocked on the old source until its next frame, and never stops the old relay
proxy (which would then buffer forever). A ForwardingTrack cancels the pending read and stops
the old proxy at once. It also restamps frames: decoded frames carry their publisher's random
RTP clock, so switching publishers would make the outgoing timestamps jump by hours, which
receivers treat as a stall. Because the server re-encodes anyway, a switch needs no keyframe:
the encoder just continues with new pictures.

Frames are copied before restamping because MediaRelay hands the same frame object to every
consumer, and encoders read ``pts`` later on an executor thread.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame
from av.frame import Frame

VIDEO_CLOCK_RATE = 90000  # Hz, the RTP clock for video
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)


class ForwardingTrack(MediaStreamTrack):
    """A switchable source with continuous timestamps; sends nothing while it has no source."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source_id: str | None = None
        self.frames_forwarded = 0
        self._source: MediaStreamTrack | None = None
        self._changed = asyncio.Event()
        self._epoch = time.monotonic()
        self._last_video_pts = -1
        self._audio_samples = 0

    def switch_to(self, source_id: str | None, source: MediaStreamTrack | None) -> None:
        """Feed this track from `source` (a relay proxy it now owns), or from nothing."""
        previous = self._source
        self._source = source
        self.source_id = source_id if source is not None else None
        if previous is not None and previous is not source:
            previous.stop()
        self._changed.set()

    async def recv(self) -> Frame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._source
            self._changed.clear()
            if source is None:
                await self._changed.wait()
                continue
            frame_read = asyncio.ensure_future(source.recv())
            source_changed = asyncio.ensure_future(self._changed.wait())
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
                continue
            try:
                frame = frame_read.result()
            except MediaStreamError:
                # The publisher went away; wait for the room to assign another source.
                if self._source is source:
                    self.switch_to(None, None)
                continue
            self.frames_forwarded += 1
            return self._restamped(frame)

    def stop(self) -> None:
        super().stop()
        if self._source is not None:
            self._source.stop()
            self._source = None
        self._changed.set()

    def _restamped(self, frame: Frame) -> Frame:
        if isinstance(frame, AudioFrame):
            copy = AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name,
                                           layout=frame.layout.name)
            copy.sample_rate = frame.sample_rate
            copy.pts = self._audio_samples
            copy.time_base = Fraction(1, frame.sample_rate)
            self._audio_samples += frame.samples
            return copy
        assert isinstance(frame, VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        video = VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        pts = int((time.monotonic() - self._epoch) * VIDEO_CLOCK_RATE)
        self._last_video_pts = max(pts, self._last_video_pts + 1)
        video.pts = self._last_video_pts
        video.time_base = VIDEO_TIME_BASE
        return video
