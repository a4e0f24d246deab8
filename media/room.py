"""A group session on the media server: who forwards to whom.

Cost bound: encoded frames are forwarded, so each (subscriber, slot) that is fed costs packing
and sending, not an encode (see media/published.py for the exceptions that decode). Audio is
forwarded from everyone (cheap). Video goes, per subscriber, to at most
``max_video_forwards`` slots, filled in this order: the leader, the sources this subscriber asked
for (newest first), the active speaker, earlier speakers (most recent first, Jitsi's last-N),
then the others in join order. Filling every slot means a newcomer sees someone at once, before
anyone has spoken, and a switch only replaces what falls off the end of that list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from media.forwarding import ForwardingTrack
from media.participant import Participant
from media.recording import RoomRecording
from media.speaker import ActiveSpeakerDetector

SPEAKER_TICK_SECONDS = 0.2  # how often the dominant speaker is re-evaluated


class Room:
    def __init__(self, room_id: str, recording: RoomRecording) -> None:
        self.room_id = room_id
        self.participants: dict[str, Participant] = {}  # in join order
        self.leader_id: str | None = None
        self.recording = recording
        self.detector = ActiveSpeakerDetector()
        self.speaker_changes = 0
        self.lock = asyncio.Lock()  # serialises joins and leaves of this room
        self._speaker_task = asyncio.ensure_future(self._follow_active_speaker())

    @property
    def active_speaker(self) -> str | None:
        return self.detector.current

    def add(self, participant: Participant) -> None:
        self.participants[participant.user_id] = participant
        if participant.is_leader:
            self.leader_id = participant.user_id
        self.reassign()

    def remove(self, user_id: str) -> Participant | None:
        participant = self.participants.pop(user_id, None)
        if participant is None:
            return None
        if self.leader_id == user_id:
            self.leader_id = None
        for other in self.participants.values():
            if user_id in other.video_requests:
                other.video_requests.remove(user_id)
        self.reassign()
        return participant

    def reassign(self) -> None:
        """Point every subscriber's slots at the sources they should receive now."""
        for subscriber in self.participants.values():
            self._fill(subscriber, "audio", list(self._others_publishing(subscriber, "audio")))
            self._fill(subscriber, "video", self._wanted_video(subscriber))

    def _others_publishing(self, subscriber: Participant, kind: str) -> Iterator[str]:
        for user_id, participant in self.participants.items():
            if user_id != subscriber.user_id and kind in participant.published:
                yield user_id

    def _wanted_video(self, subscriber: Participant) -> list[str]:
        publishers = list(self._others_publishing(subscriber, "video"))
        slot_count = len(subscriber.slots["video"])
        if len(publishers) <= slot_count:
            return publishers
        priority = [self.leader_id, *reversed(subscriber.video_requests), *self.detector.recent,
                    *publishers]
        wanted: list[str] = []
        for user_id in priority:
            if user_id in publishers and user_id not in wanted:
                wanted.append(user_id)
        return wanted[:slot_count]

    def _fill(self, subscriber: Participant, kind: str, wanted: list[str]) -> None:
        """Keep slots already showing a wanted source (no needless cuts); reuse the rest."""
        slots = subscriber.slots[kind]
        wanted = wanted[: len(slots)]
        for slot in slots:
            if slot.source_id is not None and slot.source_id not in wanted:
                slot.clear()
        shown = {slot.source_id for slot in slots}
        free: list[ForwardingTrack] = [slot for slot in slots if slot.source_id is None]
        for source_id in wanted:
            if source_id in shown:
                continue
            self.participants[source_id].published[kind].feed(free.pop(0), source_id)

    async def _follow_active_speaker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SPEAKER_TICK_SECONDS)
            levels = {user_id: level for user_id, p in self.participants.items()
                      if (level := p.audio_level_dbfs) is not None}
            before = self.detector.current
            if self.detector.update(levels, loop.time()) != before:
                self.speaker_changes += 1
                self.reassign()

    def forwarding(self) -> dict[str, dict[str, list[str | None]]]:
        """Who each participant currently receives, slot by slot."""
        return {user_id: {kind: p.source_of_slots(kind) for kind in ("audio", "video")}
                for user_id, p in self.participants.items()}

    def transcoding(self) -> list[dict[str, str | None]]:
        """The slots that cannot forward because the two ends use different codecs."""
        return [{"subscriber": user_id, "source": slot.source_id, "kind": kind,
                 "from": slot.source_codec, "to": slot.codec.name if slot.codec else None}
                for user_id, p in self.participants.items()
                for kind, slots in p.slots.items() for slot in slots if slot.transcoding]

    async def close(self) -> None:
        self._speaker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._speaker_task
        await self.recording.stop()
        participants = list(self.participants.values())
        self.participants.clear()
        for participant in participants:
            await participant.close()
