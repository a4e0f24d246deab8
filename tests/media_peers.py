"""Synthetic aiortc client peers for media tests and benchmarks.

In tests each peer publishes a flat-colour picture (its own luma value) and a tone whose loudness
the test controls, and offers the receive slots the MediaServer asks for. The colour makes a
forwarded picture identifiable on the receiving side: the test can tell *whose* video arrived,
not just that some did. The benchmark publishes a camera-like clip instead (``CameraClip``) and
counts received frames without decoding them. All methods must run on the loop that created the
peer (the namespace loop in tests).
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_PTIME, VIDEO_TIME_BASE, MediaStreamError
from av import AudioFrame, Packet, VideoFrame

from media.aiortc_adapter import ReceiverTap, on_keyframe_request

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


class CameraClip:
    """A few seconds of camera-like video, VP8-encoded once; every frame also as a keyframe.

    Why camera-like: flat pictures compress to almost nothing, which flatters any relay. These
    are textured (noise at several scales, like walls and clothes), the view drifts and shakes
    like a hand-held camera, a shape moves like a head, and sensor grain changes every pixel of
    every frame. Why pre-encoded: eight publishers encoding live would take most of a small
    machine's cores and disturb what the benchmark measures on the server. Why each frame twice:
    a publisher must answer a keyframe request at once, as a browser does.
    """

    FRAME_RATE = 30
    BITRATE = 1_000_000  # bits/s, about what a browser sends for 640x480 on a good link

    def __init__(self, deltas: list[bytes], keyframes: list[bytes]) -> None:
        self.deltas = deltas  # frame 0 is the stream's first keyframe
        self.keyframes = keyframes

    @classmethod
    def make(cls, width: int, height: int, seconds: float = 3.0) -> CameraClip:
        deltas, keyframes = _vp8_encoder(width, height), _vp8_encoder(width, height)
        delta_data, key_data = [], []
        for index, planes in enumerate(_camera_pictures(width, height,
                                                        round(seconds * cls.FRAME_RATE))):
            for encoder, out, keyframe in ((deltas, delta_data, False), (keyframes, key_data, True)):
                frame = VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = index
                frame.pict_type = (av.video.frame.PictureType.I if keyframe
                                   else av.video.frame.PictureType.NONE)
                out.append(b"".join(bytes(packet) for packet in encoder.encode(frame)))
        return cls(delta_data, key_data)

    def save(self, path: Path) -> None:
        with path.open("wb") as out:
            out.write(struct.pack("!I", len(self.deltas)))
            for data in (*self.deltas, *self.keyframes):
                out.write(struct.pack("!I", len(data)) + data)

    @classmethod
    def load(cls, path: Path) -> CameraClip:
        raw = path.read_bytes()
        (count,), position, frames = struct.unpack_from("!I", raw), 4, []
        for _ in range(2 * count):
            (size,) = struct.unpack_from("!I", raw, position)
            frames.append(raw[position + 4: position + 4 + size])
            position += 4 + size
        return cls(frames[:count], frames[count:])

    @property
    def bitrate(self) -> float:
        """Bits per second of the clip as sent without keyframe requests."""
        return 8 * sum(map(len, self.deltas)) * self.FRAME_RATE / len(self.deltas)


def _vp8_encoder(width: int, height: int) -> av.video.codeccontext.VideoCodecContext:
    """libvpx set up as aiortc's Vp8Encoder sets it (real-time, CBR), at CameraClip.BITRATE."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = CameraClip.BITRATE
    codec.time_base = Fraction(1, CameraClip.FRAME_RATE)
    codec.framerate = Fraction(CameraClip.FRAME_RATE)
    codec.gop_size = 3000
    codec.qmin, codec.qmax = 2, 56
    rate = str(CameraClip.BITRATE)
    codec.options = {"bufsize": rate, "cpu-used": "-6", "deadline": "realtime",
                     "lag-in-frames": "0", "minrate": rate, "maxrate": rate,
                     "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                     "static-thresh": "1", "undershoot-pct": "100"}
    return codec


def _camera_pictures(width: int, height: int, count: int) -> list[np.ndarray]:
    """yuv420p planes of a textured scene seen by a drifting, shaking camera, with a moving
    shape and fresh sensor grain in every frame."""
    rng = np.random.default_rng(21)
    margin = 48

    def texture(w: int, h: int) -> np.ndarray:
        """Random values on coarse to fine grids, each stretched over the picture (bilinear)."""
        layers = np.zeros((h, w))
        for cells, weight in ((4, 70.0), (24, 35.0), (96, 18.0)):
            small = rng.random((max(2, h * cells // w), cells))
            xs = np.linspace(0, cells - 1, w)
            ys = np.linspace(0, small.shape[0] - 1, h)
            wide = np.array([np.interp(xs, np.arange(cells), row) for row in small])
            layers += weight * np.array([np.interp(ys, np.arange(small.shape[0]), column)
                                         for column in wide.T]).T
        return layers

    scene_y = 40 + texture(width + 2 * margin, height + 2 * margin)
    for _ in range(8):  # hard edges, like furniture and picture frames
        top, left = rng.integers(0, height + margin), rng.integers(0, width + margin)
        bottom, right = top + rng.integers(20, 120), left + rng.integers(20, 160)
        scene_y[top:bottom, left:right] = rng.uniform(20, 220) + 0.3 * scene_y[top:bottom, left:right]
    scene_u = 100 + 0.5 * texture((width + 2 * margin) // 2, (height + 2 * margin) // 2)
    scene_v = 110 + 0.4 * texture((width + 2 * margin) // 2, (height + 2 * margin) // 2)
    rows, columns = np.mgrid[0:height, 0:width]
    pictures = []
    for index in range(count):
        t = index / CameraClip.FRAME_RATE
        dx = int(margin + 0.8 * margin * math.sin(0.7 * t) + 2 * math.sin(11 * t))
        dy = int(margin + 0.5 * margin * math.sin(0.5 * t + 1) + 2 * math.cos(13 * t))
        y = scene_y[dy:dy + height, dx:dx + width].copy()
        cx = width * (0.5 + 0.15 * math.sin(1.3 * t))
        cy = height * (0.45 + 0.05 * math.sin(2.1 * t))
        head = ((columns - cx) / (0.16 * width)) ** 2 + ((rows - cy) / (0.3 * height)) ** 2 < 1
        y[head] = 150 + 0.4 * y[head]
        y += rng.normal(0, 2.5, y.shape)
        planes = np.empty((height * 3 // 2, width), dtype=np.uint8)
        planes[:height] = np.clip(y, 0, 255)
        u = scene_u[dy // 2:dy // 2 + height // 2, dx // 2:dx // 2 + width // 2]
        v = scene_v[dy // 2:dy // 2 + height // 2, dx // 2:dx // 2 + width // 2]
        chroma = np.clip(np.stack([u, v]), 0, 255).astype(np.uint8)
        planes[height:] = chroma.reshape(height // 2, width)
        pictures.append(planes)
    return pictures


class ClipTrack(MediaStreamTrack):
    """Plays a CameraClip in real time as encoded packets (the sender packs, never encodes),
    from frame `start`, answering keyframe requests with the current frame's keyframe."""

    kind = "video"

    def __init__(self, clip: CameraClip, start: int = 0) -> None:
        super().__init__()
        self._clip = clip
        self._start = start
        self._sent = 0
        self._keyframe_wanted = True  # a stream starts with one
        self._started_at: float | None = None

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    async def recv(self) -> Packet:
        if self._started_at is None:
            self._started_at = time.monotonic()
        wait = self._started_at + self._sent * VIDEO_PTIME - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        index = (self._start + self._sent) % len(self._clip.deltas)
        frames = self._clip.keyframes if self._keyframe_wanted else self._clip.deltas
        self._keyframe_wanted = False
        packet = Packet(frames[index])
        packet.pts = self._sent * int(VIDEO_PTIME * VIDEO_CLOCK_RATE)
        packet.time_base = VIDEO_TIME_BASE
        self._sent += 1
        return packet


@dataclass
class ReceivedSlot:
    kind: str
    frames: int = 0
    first_frame_at: float | None = None  # time.monotonic()
    last_luma: float | None = None  # mean Y of the last video frame


class ClientPeer:
    """A participant: a tone and a picture out, the server's slots in.

    `video_codec` ("VP8" or "H264") restricts every video m-line to that codec, the way a
    device that only has a hardware H.264 encoder would offer; None offers aiortc's defaults.
    With a `clip`, the peer publishes that camera-like clip instead of its flat colour and
    counts the frames it receives without decoding them (``last_luma`` then stays None).
    """

    def __init__(self, name: str, *, luma: int, amplitude: float | None, audio_slots: int,
                 video_slots: int, width: int = 320, height: int = 240,
                 video_codec: str | None = None, clip: ClipTrack | None = None) -> None:
        """`amplitude` None: no microphone (offer `audio_slots=0` too for a video-only peer)."""
        self.name = name
        self.luma = luma
        self.decodes = clip is None
        # max-bundle: aiortc's balanced policy strands extra m-lines of one kind (see server).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                     bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.tone = ToneTrack(amplitude or 0.0)
        if amplitude is not None:
            self.pc.addTransceiver(self.tone, direction="sendrecv")
        picture = clip if clip is not None else ColorTrack(luma, width, height)
        video = [self.pc.addTransceiver(picture, direction="sendrecv")]
        if clip is not None:
            on_keyframe_request(video[0].sender, clip.request_keyframe)
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
        for transceiver in self.pc.getTransceivers():
            if transceiver.direction != "recvonly":
                continue  # our microphone and camera
            slot = ReceivedSlot(transceiver.kind)
            self.slots.append(slot)
            if transceiver.receiver.track is None:
                continue
            if self.decodes:
                self._readers.append(asyncio.ensure_future(
                    self._read(transceiver.receiver.track, slot)))
            else:
                ReceiverTap(transceiver.receiver, self._counter(slot))

    @staticmethod
    def _counter(slot: ReceivedSlot) -> Callable[[bytes, int, int], bool]:
        def count(data: bytes, timestamp: int, payload_type: int) -> bool:
            slot.frames += 1
            if slot.first_frame_at is None:
                slot.first_frame_at = time.monotonic()
            return False  # never decoded
        return count

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
