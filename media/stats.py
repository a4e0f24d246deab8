"""Per-participant media figures from the server peer's ``getStats()``, as plain dicts.

``frames_received`` counts encoded frames from a publisher, ``frames_decoded`` the ones this
server decoded (only while recording or transcoding needs them); ``frames_forwarded`` counts
what went out per kind, packed as received or re-encoded.

Bitrates are computed from transport byte counters between two calls, so the first call for a
participant reports ``None`` for them.
"""

from __future__ import annotations

import time
from typing import Any

from media.participant import Participant


async def participant_stats(participant: Participant) -> dict[str, Any]:
    """Bitrate in/out, packet loss, RTT and frame counts for one participant's connection."""
    report = await participant.pc.getStats()
    inbound: dict[str, dict[str, int]] = {}
    packets_sent = bytes_sent_rtp = 0
    round_trip_times: list[float] = []
    transport_in = transport_out = 0
    for entry in report.values():
        if entry.type == "inbound-rtp":
            counters = inbound.setdefault(entry.kind, {"packets_received": 0, "packets_lost": 0})
            counters["packets_received"] += entry.packetsReceived
            counters["packets_lost"] += max(entry.packetsLost, 0)
        elif entry.type == "outbound-rtp":
            packets_sent += entry.packetsSent
            bytes_sent_rtp += entry.bytesSent
        elif entry.type == "remote-inbound-rtp" and entry.roundTripTime is not None:
            round_trip_times.append(entry.roundTripTime)
        elif entry.type == "transport":
            transport_in, transport_out = entry.bytesReceived, entry.bytesSent

    now = time.monotonic()
    bitrate_in = bitrate_out = None
    if participant.last_stats_sample is not None:
        then, bytes_in_before, bytes_out_before = participant.last_stats_sample
        elapsed = now - then
        if elapsed > 0:
            bitrate_in = round((transport_in - bytes_in_before) * 8 / elapsed)
            bitrate_out = round((transport_out - bytes_out_before) * 8 / elapsed)
    participant.last_stats_sample = (now, transport_in, transport_out)

    received = sum(c["packets_received"] for c in inbound.values())
    lost = sum(c["packets_lost"] for c in inbound.values())
    return {
        "user_id": participant.user_id,
        "connection_state": participant.pc.connectionState,
        "bitrate_in_bps": bitrate_in,
        "bitrate_out_bps": bitrate_out,
        "bytes_received": transport_in,
        "bytes_sent": transport_out,
        "packets_sent": packets_sent,
        "inbound": inbound,
        "packet_loss_in": lost / (received + lost) if received + lost else 0.0,
        "rtt_ms": round(1000 * sum(round_trip_times) / len(round_trip_times), 1)
        if round_trip_times else None,
        "frames_received": {kind: published.frames_received
                            for kind, published in participant.published.items()},
        "frames_decoded": {kind: published.frames_decoded
                           for kind, published in participant.published.items()},
        "codecs": {kind: published.codec.name for kind, published in participant.published.items()},
        "first_frame_after_join_ms": {
            kind: round(1000 * (published.first_frame_at - participant.joined_at))
            for kind, published in participant.published.items() if published.first_frame_at},
        "frames_forwarded": {kind: sum(slot.frames_forwarded for slot in slots)
                             for kind, slots in participant.slots.items()},
        "audio_level_dbfs": participant.audio_level_dbfs,
        "receiving": {kind: participant.source_of_slots(kind) for kind in ("audio", "video")},
    }
