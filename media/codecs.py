"""What codecs each m-line of our answer settled on, and how to tell a keyframe from its bytes.

Why from the answer: the codec a sender uses and the one a publisher sends are the first codec
of that m-line in the answer we gave, and the payload type numbers that map incoming packets to
codecs are the ones written there. Reading our own SDP keeps that knowledge out of aiortc's
internals.

Why keyframes matter: a forwarded video stream can only start (a join, a speaker switch, a
subscriber's picture-loss report) on a frame that needs no earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCRtpCodecParameters
from aiortc.sdp import SessionDescription

H264_START_CODE = b"\x00\x00\x01"
H264_NAL_IDR = 5  # nal_unit_type of an IDR slice (ITU-T H.264, table 7-1)
VP8_INTER_FRAME_BIT = 0x01  # RFC 6386 section 9.1: P bit of the frame tag, 0 on a key frame


@dataclass(frozen=True)
class NegotiatedCodecs:
    """One m-line of our answer: the codec sent on it and what each payload type means."""

    send: RTCRtpCodecParameters
    by_payload_type: dict[int, RTCRtpCodecParameters]


def negotiated_codecs(answer_sdp: str) -> dict[str, NegotiatedCodecs]:
    """Codecs per mid (audio and video m-lines only), retransmission formats left out."""
    result: dict[str, NegotiatedCodecs] = {}
    for media in SessionDescription.parse(answer_sdp).media:
        if media.kind not in ("audio", "video"):
            continue
        codecs = [codec for codec in media.rtp.codecs if codec.name.lower() != "rtx"]
        if codecs:
            result[media.rtp.muxId] = NegotiatedCodecs(
                codecs[0], {codec.payloadType: codec for codec in codecs})
    return result


def same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    """Whether frames encoded with `a` can be sent unchanged as `b`."""
    return a.mimeType.lower() == b.mimeType.lower() and a.clockRate == b.clockRate


def is_keyframe(codec: RTCRtpCodecParameters, data: bytes) -> bool:
    """Whether a decoder can start at this frame (always, for audio codecs)."""
    name = codec.name.lower()
    if name == "vp8":
        return bool(data) and not data[0] & VP8_INTER_FRAME_BIT
    if name == "h264":
        return H264_NAL_IDR in _h264_nal_types(data)
    return codec.mimeType.lower().startswith("audio/")


def _h264_nal_types(annex_b: bytes) -> set[int]:
    """The NAL unit types in an Annex B byte stream (aiortc depayloads H.264 into that form)."""
    types = set()
    start = annex_b.find(H264_START_CODE)
    while start != -1 and start + 3 < len(annex_b):
        types.add(annex_b[start + 3] & 0x1F)
        start = annex_b.find(H264_START_CODE, start + 3)
    return types
