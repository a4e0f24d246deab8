"""Recording a group session, only while every person present has said yes.

Consent is per room and per person, kept with the time it was given or withdrawn (the log is
the record of who agreed to what, when). A recording someone started stays *wanted* until it is
stopped; it only *runs* while everyone present consents. A newcomer without consent, or anyone
withdrawing, pauses it at once (the open file is closed); when consent is complete again a new
segment file starts. Membership changes also start a new segment because a recorder cannot add
tracks once running.

Each segment is a Matroska file with every participant's audio as its own stream plus the
leader's video (or the first published video). Recording is the one feature that needs pictures
and sound: each recorded track is decoded once on the server (however many people watch it), and
MediaRecorder re-encodes (AAC, H.264) on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRecorder
from av.frame import Frame

from media.errors import MediaError
from media.forwarding import ForwardingTrack
from media.participant import Participant
from server.storage.private_files import private_directory, private_file

logger = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Consent:
    user_id: str
    granted: bool
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "granted": self.granted, "at": self.at.isoformat()}


class SegmentTrack(MediaStreamTrack):
    """One recorded track of a segment; sound is dropped until the segment's first picture.

    Why: Matroska opens every stream's encoder when it muxes its first packet, and MediaRecorder
    sizes the video encoder from the first picture. Sound arrives at once while a picture waits
    for a keyframe, so sound muxed first would open the video encoder at a default size and the
    first picture would then fail ("Cannot change width after codec is open").
    """

    def __init__(self, source: ForwardingTrack, video_started: asyncio.Event) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._video_started = video_started

    async def recv(self) -> Frame:
        while True:
            frame = await self._source.recv()
            if self.kind == "video":
                self._video_started.set()
                return frame
            if self._video_started.is_set():
                return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def _file_stem(room_id: str) -> str:
    if SAFE_NAME.fullmatch(room_id):
        return room_id
    return "room-" + hashlib.sha256(room_id.encode()).hexdigest()[:16]


class RoomRecording:
    def __init__(self, room_id: str, recordings_dir: Path) -> None:
        self.room_id = room_id
        self.recordings_dir = recordings_dir
        self.consents: dict[str, Consent] = {}
        self.consent_log: list[Consent] = []
        self.wanted = False
        self.segments: list[Path] = []
        self._recorder: MediaRecorder | None = None
        self._tracks: list[SegmentTrack] = []

    @property
    def state(self) -> str:
        if self._recorder is not None:
            return "recording"
        return "paused" if self.wanted else "idle"

    def set_consent(self, user_id: str, granted: bool, at: datetime | None = None) -> Consent:
        consent = Consent(user_id, granted, at or datetime.now(timezone.utc))
        self.consents[user_id] = consent
        self.consent_log.append(consent)
        return consent

    def missing_consent(self, participants: Sequence[Participant]) -> list[str]:
        return [p.user_id for p in participants
                if not (c := self.consents.get(p.user_id)) or not c.granted]

    async def start(self, participants: Sequence[Participant]) -> Path:
        """Start recording now; refused unless everyone present has consented."""
        missing = self.missing_consent(participants)
        if missing:
            raise MediaError("Everyone in the session must agree before recording starts.",
                           code="consent_required", status=409, details={"missing": missing})
        if not any(p.published for p in participants):
            raise MediaError("There is nothing to record yet.", code="media_nothing_to_record",
                           status=409)
        self.wanted = True
        await self._close_segment()
        return await self._open_segment(participants)

    async def stop(self) -> list[Path]:
        """Stop recording for good; returns every segment written."""
        self.wanted = False
        await self._close_segment()
        return list(self.segments)

    async def update(self, participants: Sequence[Participant]) -> None:
        """Re-check after a join, a leave or a consent change: pause, or roll a new segment."""
        if not self.wanted:
            return
        await self._close_segment()
        if participants and not self.missing_consent(participants) and any(
                p.published for p in participants):
            await self._open_segment(participants)

    async def _open_segment(self, participants: Sequence[Participant]) -> Path:
        # A recording is people talking about their lives: only the server's user may read it.
        private_directory(self.recordings_dir)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = private_file(self.recordings_dir / f"{_file_stem(self.room_id)}-{stamp}-{len(self.segments) + 1:02d}.mkv")
        recorder = MediaRecorder(str(path))
        publishers_of_video = [p for p in participants if "video" in p.published]
        video_from = next((p for p in publishers_of_video if p.is_leader),
                          publishers_of_video[0] if publishers_of_video else None)
        video_started = asyncio.Event()
        if video_from is None:
            video_started.set()
        for participant in participants:
            kinds = ["audio"] + (["video"] if participant is video_from else [])
            for kind in kinds:
                published = participant.published.get(kind)
                if published is None:
                    continue
                source = ForwardingTrack(kind)  # no codec: it wants decoded frames
                published.feed(source, participant.user_id)
                track = SegmentTrack(source, video_started)
                recorder.addTrack(track)
                self._tracks.append(track)
        await recorder.start()
        self._recorder = recorder
        self.segments.append(path)
        return path

    async def _close_segment(self) -> None:
        recorder, self._recorder = self._recorder, None
        tracks, self._tracks = self._tracks, []
        if recorder is not None:
            try:
                await recorder.stop()
            except Exception:
                # A stream that never received a frame cannot be flushed; the file is still
                # closed by then as far as FFmpeg allows, and the next segment must not suffer.
                logger.exception("closing recording segment of room %s", self.room_id)
        for track in tracks:
            track.stop()
