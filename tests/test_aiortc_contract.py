"""What media/aiortc_adapter.py relies on inside aiortc, checked on real aiortc objects.

The forwarding relay takes a receiver's encoded frames from its jitter buffer, asks publishers
for keyframes with the receiver's own PLI, and hears subscribers' keyframe requests through the
sender's ``_send_keyframe``. None of that is public API, so aiortc is pinned to a tested range in
pyproject.toml and these tests fail loudly, naming what moved, when an upgrade changes it.

Packets go in the way RTCDtlsTransport delivers them (``_handle_rtp_packet``); what goes out is
caught by a transport that records instead of encrypting, since nothing is connected here.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction

import numpy as np
import pytest
from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpDecodingParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket, RtpPacket
from av import VideoFrame

from media.aiortc_adapter import ReceiverTap, on_keyframe_request

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96)
PUBLISHER_SSRC = 4242
DARK, BRIGHT = 40, 210  # luma of the frames we keep from the decoder and of those we pass


class RecordingTransport(RTCDtlsTransport):
    """A DTLS transport that keeps what would be sent (there is no peer in these tests)."""

    def __init__(self) -> None:
        super().__init__(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


async def started_receiver(kind: str, codec: RTCRtpCodecParameters,
                           transport: RTCDtlsTransport) -> RTCRtpReceiver:
    receiver = RTCRtpReceiver(kind, transport)
    receiver._track = RemoteStreamTrack(kind=kind)  # what RTCPeerConnection does on an offer
    receiver._set_rtcp_ssrc(1)
    return receiver


class Vp8Publisher:
    """Flat pictures encoded by aiortc's own VP8 encoder, as the RTP packets a peer would send."""

    def __init__(self) -> None:
        self.encoder = Vp8Encoder()
        self.frame_index = 0
        self.sequence_number = 0

    def frames(self, count: int, luma: int, keyframe_first: bool = False) -> list[list[RtpPacket]]:
        planes = np.full((240 * 3 // 2, 320), 128, dtype=np.uint8)
        planes[:240] = luma
        frames = []
        for i in range(count):
            picture = VideoFrame.from_ndarray(planes, format="yuv420p")
            picture.pts, picture.time_base = self.frame_index * 3000, Fraction(1, 90000)
            self.frame_index += 1
            payloads, timestamp = self.encoder.encode(picture, keyframe_first and i == 0)
            packets = []
            for payload in payloads:
                packets.append(RtpPacket(payload_type=VP8.payloadType, timestamp=timestamp,
                                         sequence_number=self.sequence_number,
                                         ssrc=PUBLISHER_SSRC, payload=payload))
                self.sequence_number += 1
            frames.append(packets)
        return frames


async def test_encoded_frames_reach_the_tap_and_only_the_returned_ones_are_decoded() -> None:
    transport = RecordingTransport()
    receiver = await started_receiver("video", VP8, transport)
    want_pictures = decoding = False
    seen: list[tuple[bytes, int, int]] = []

    def on_frame(data: bytes, timestamp: int, payload_type: int) -> bool:
        # Like media/published.py: once pictures are wanted, decode from the next keyframe on.
        nonlocal decoding
        seen.append((data, timestamp, payload_type))
        decoding = decoding or (want_pictures and not data[0] & 0x01)
        return decoding

    tap = ReceiverTap(receiver, on_frame)
    await receiver.receive(RTCRtpReceiveParameters(
        codecs=[VP8], encodings=[RTCRtpDecodingParameters(ssrc=PUBLISHER_SSRC,
                                                          payloadType=VP8.payloadType)]))
    try:
        publisher = Vp8Publisher()
        # The jitter buffer releases a frame when the next one starts: send one more each time.
        for packets in publisher.frames(6, DARK):
            for packet in packets:
                await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
        assert len(seen) == 5, "the jitter buffer no longer hands complete frames to add()'s caller"
        assert not seen[0][0][0] & 0x01, "the first frame handed over is not the VP8 keyframe"
        assert {pt for _, _, pt in seen} == {VP8.payloadType}
        assert tap.media_ssrc == PUBLISHER_SSRC and tap.frames_to_decoder == 0

        want_pictures = True
        for packets in publisher.frames(5, BRIGHT, keyframe_first=True):
            for packet in packets:
                await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
        decoded = await asyncio.wait_for(receiver.track.recv(), 5)
        # The first picture out of aiortc's decoder is a bright one: the dark frames we kept
        # back were never decoded (had they been, the decoder would have output them first).
        assert decoded.to_ndarray(format="yuv420p")[:240].mean() == pytest.approx(BRIGHT, abs=12)
        assert tap.frames_to_decoder == 4

        assert tap.request_keyframe()
        await asyncio.sleep(0)  # the PLI is sent by a task
        await asyncio.sleep(0)
        feedback = [packet for data in transport.sent for packet in RtcpPacket.parse(data)
                    if isinstance(packet, RtcpPsfbPacket)]
        assert [(p.fmt, p.media_ssrc) for p in feedback] == [(RTCP_PSFB_PLI, PUBLISHER_SSRC)]
    finally:
        await receiver.stop()


async def test_audio_packets_reach_the_tap_at_once_with_their_levels_in_dbov() -> None:
    receiver = await started_receiver("audio", OPUS, RecordingTransport())
    levels: list[int] = []
    timestamps: list[int] = []

    def on_frame(data: bytes, timestamp: int, payload_type: int) -> bool:
        timestamps.append(timestamp)
        return False

    ReceiverTap(receiver, on_frame, levels.append)
    await receiver.receive(RTCRtpReceiveParameters(
        codecs=[OPUS], encodings=[RTCRtpDecodingParameters(ssrc=PUBLISHER_SSRC,
                                                           payloadType=OPUS.payloadType)]))
    try:
        # Packet 2 is lost: nothing waits for it, every packet is handed over as it arrives.
        for sequence, level in ((0, 30), (1, 9), (3, 127)):
            packet = RtpPacket(payload_type=OPUS.payloadType, sequence_number=sequence,
                               timestamp=960 * sequence, ssrc=PUBLISHER_SSRC,
                               payload=b"\xfc\xff\xfe")
            packet.extensions.audio_level = (True, level)
            await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
            assert timestamps[-1:] == [960 * sequence]
        assert levels == [-30, -9, -127]
    finally:
        await receiver.stop()


@pytest.mark.parametrize("fmt", [RTCP_PSFB_PLI, RTCP_PSFB_FIR])
async def test_a_subscribers_keyframe_request_reaches_the_handler(fmt: int) -> None:
    sender = RTCRtpSender("video", RecordingTransport())
    requests: list[str] = []
    on_keyframe_request(sender, lambda: requests.append("keyframe"))
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc))
    assert requests == ["keyframe"], "RTCRtpSender no longer calls _send_keyframe on PLI/FIR"
