"""Synthetic aiortc client peers for media tests and benchmarks.

Each peer publishes a flat-colour picture (its own luma value) and a tone whose loudness the
test controls, and offers the receive slots the MediaServer asks for. The colour makes a
forwarded picture identifiable on the receiving side: the test can tell *whose* video arrived,
not just that some did. All methods must run on the loop that created the peer (the namespace
loop in tests).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import numpy as np
from aiortc import (AudioStreamTrack, MediaStreamTrack, RTCBundlePolicy, RTCConfiguration,
                    RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

TONE_HZ = 440.0


class ToneTrack(AudioStreamTrack):
    """A sine tone; `amplitude` (0..1 of full scale) can change while it plays."""

    def __init__(self, amplitude: float) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._phase = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        n = frame.samples
        t = (np.arange(n) + self._phase) / frame.sample_rate
        self._phase += n
        samples = (self.amplitude * 32767 * np.sin(2 * math.pi * TONE_HZ * t)).astype("<i2")
        frame.planes[0].update(samples.tobytes())
        return frame


class ColorTrack(VideoStreamTrack):
    """A flat picture whose luma identifies the publisher."""

    def __init__(self, luma: int, width: int = 320, height: int = 240) -> None:
        super().__init__()
        planes = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        planes[:height] = luma
        self._planes = planes

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._planes, format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        return frame


@dataclass
class ReceivedSlot:
    kind: str
    frames: int = 0
    first_frame_at: float | None = None  # time.monotonic()
    last_luma: float | None = None  # mean Y of the last video frame


class ClientPeer:
    """A participant: a tone and a flat picture out, the server's slots in.

    `video_codec` ("VP8" or "H264") restricts every video m-line to that codec, the way a
    device that only has a hardware H.264 encoder would offer; None offers aiortc's defaults.
    """

    def __init__(self, name: str, *, luma: int, amplitude: float, audio_slots: int,
                 video_slots: int, width: int = 320, height: int = 240,
                 video_codec: str | None = None) -> None:
        self.name = name
        self.luma = luma
        # max-bundle: aiortc's balanced policy strands extra m-lines of one kind (see server).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                     bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.tone = ToneTrack(amplitude)
        self.pc.addTransceiver(self.tone, direction="sendrecv")
        video = [self.pc.addTransceiver(ColorTrack(luma, width, height), direction="sendrecv")]
        for _ in range(audio_slots):
            self.pc.addTransceiver("audio", direction="recvonly")
        for _ in range(video_slots):
            video.append(self.pc.addTransceiver("video", direction="recvonly"))
        if video_codec is not None:
            only = [codec for codec in RTCRtpSender.getCapabilities("video").codecs
                    if codec.mimeType in (f"video/{video_codec}", "video/rtx")]
            for transceiver in video:
                transceiver.setCodecPreferences(only)
        self.slots: list[ReceivedSlot] = []
        self._readers: list[asyncio.Task[None]] = []
        self.answered_at: float | None = None

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": self.pc.localDescription.type}

    async def accept(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))
        self.answered_at = time.monotonic()
        for transceiver in self.pc.getTransceivers()[2:]:
            slot = ReceivedSlot(transceiver.kind)
            self.slots.append(slot)
            if transceiver.receiver.track is not None:
                self._readers.append(asyncio.ensure_future(
                    self._read(transceiver.receiver.track, slot)))

    @staticmethod
    async def _read(track: MediaStreamTrack, slot: ReceivedSlot) -> None:
        try:
            while True:
                frame = await track.recv()
                slot.frames += 1
                if slot.first_frame_at is None:
                    slot.first_frame_at = time.monotonic()
                if slot.kind == "video":
                    luma_rows = frame.to_ndarray(format="yuv420p")[: frame.height]
                    slot.last_luma = float(luma_rows.mean())
        except MediaStreamError:
            return

    def video_slots(self) -> list[ReceivedSlot]:
        return [slot for slot in self.slots if slot.kind == "video"]

    def audio_slots(self) -> list[ReceivedSlot]:
        return [slot for slot in self.slots if slot.kind == "audio"]

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await self.pc.close()


async def wait_until(condition, timeout: float = 20.0, interval: float = 0.1) -> bool:
    """Poll `condition()` until true or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(interval)
    return bool(condition())
