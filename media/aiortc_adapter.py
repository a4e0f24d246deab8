"""The one place that reaches inside aiortc: encoded frames out of a receiver, keyframe requests.

Why this module exists: aiortc 1.16 decodes everything a receiver gets and has no public way to
take a publisher's frames before the decoder, nor to hear a subscriber's keyframe request when
its sender packs pre-encoded data (a sender only reacts to PLI/FIR by flagging its own encoder).
A forwarding relay needs both, so three internals are used, all here, and all checked by
tests/test_library_contract.py (aiortc is pinned to >=1.16,<1.17 in pyproject.toml):

- ``RTCRtpReceiver.__jitter_buffer`` is replaced by a subclass with the same capacity and
  prefetch. Every complete video frame it assembles (after reordering, retransmission and loss
  handling, before the decoder) goes to our handler; it is returned to the receiver, whose
  decoder thread then decodes it, only when the handler asks for decoded pictures. Audio
  packets (each one a whole frame) go to the handler as they arrive: aiortc's audio buffer
  holds 4 packets back, and after one lost packet it holds 14 for good (it releases one frame
  per packet received), which a forwarding relay would pass on as 280 ms of extra delay. The
  subscriber's own jitter buffer reorders and conceals.
- ``RTCRtpReceiver._send_rtcp_pli(media_ssrc)``, what aiortc itself uses, asks the publisher
  for a keyframe.
- ``RTCRtpSender._send_keyframe``, which the sender calls on a PLI or FIR from its remote, is
  wrapped on the instance so that request reaches us too (the encoder still hears it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Optional

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

# (frame bytes, RTP timestamp, payload type) -> also decode this frame?
FrameHandler = Callable[[bytes, int, int], bool]
# audio level from the ssrc-audio-level header extension, in dBov (0 loudest, -127 silence)
AudioLevelHandler = Callable[[int], None]


class ReceiverTap:
    """Encoded frames of one RTCRtpReceiver, handed over before aiortc would decode them."""

    def __init__(self, receiver: RTCRtpReceiver, on_frame: FrameHandler,
                 on_audio_level: AudioLevelHandler | None = None) -> None:
        self.media_ssrc: int | None = None  # the publisher's SSRC, learnt from its packets
        self.frames_to_decoder = 0  # frames given back to aiortc, i.e. decoded on this side
        self._receiver = receiver
        self._on_frame = on_frame
        self._on_audio_level = on_audio_level
        self._requests: set[asyncio.Future[None]] = set()
        original: JitterBuffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__jitter_buffer = _TappedJitterBuffer(original, self)  # type: ignore[attr-defined]

    def request_keyframe(self) -> bool:
        """Send the publisher a PLI; False while no packet has told us its SSRC yet."""
        if self.media_ssrc is None:
            return False
        request = asyncio.ensure_future(self._receiver._send_rtcp_pli(self.media_ssrc))
        # Keep a reference until sent: the loop holds tasks only weakly.
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)
        return True

    def _packet_arrived(self, packet: RtpPacket, frame: Optional[JitterFrame]) -> Optional[JitterFrame]:
        self.media_ssrc = packet.ssrc
        level = packet.extensions.audio_level
        if level is not None and self._on_audio_level is not None:
            self._on_audio_level(-level[1])
        if frame is None:
            return None
        # The frame's packets all share one payload type; the newest packet's is the one in use.
        if self._on_frame(frame.data, frame.timestamp, packet.payload_type):
            self.frames_to_decoder += 1
            return frame
        return None


class _TappedJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, same settings, whose complete frames go to a ReceiverTap first
    (audio: every packet, unbuffered)."""

    def __init__(self, original: JitterBuffer, tap: ReceiverTap) -> None:
        super().__init__(capacity=original.capacity, prefetch=original._prefetch,
                         is_video=original._is_video)
        self._tap = tap

    def add(self, packet: RtpPacket) -> tuple[bool, Optional[JitterFrame]]:
        if not self._is_video:
            whole = JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]
            return False, self._tap._packet_arrived(packet, whole)
        pli_flag, frame = super().add(packet)
        return pli_flag, self._tap._packet_arrived(packet, frame)


def on_keyframe_request(sender: RTCRtpSender, handler: Callable[[], None]) -> None:
    """Call `handler` whenever the sender's remote asks for a keyframe (PLI or FIR)."""
    flag_own_encoder = sender._send_keyframe

    def keyframe_requested() -> None:
        flag_own_encoder()
        handler()

    sender._send_keyframe = keyframe_requested  # type: ignore[method-assign]
