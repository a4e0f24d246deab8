"""Who is speaking: audio levels the publishers send along, and a dominant speaker with hysteresis.

Why levels from the RTP header: every browser (and aiortc) measures its own microphone and writes
the level into each audio packet (RFC 6464, ``ssrc-audio-level``), so the server learns who is
loud without decoding anyone's sound. A publisher that sends no level is never the active
speaker; it still reaches everyone, as every audio track does.

Why hysteresis: without it the forwarded video flips between two people talking over each other
several times a second, and every flip costs the viewers a visible cut.
"""

from __future__ import annotations

import time

SILENCE_DBFS = -50.0  # below this a participant counts as silent
FLOOR_DBFS = -127.0  # level of digital silence (the lowest RFC 6464 can carry)
LEVEL_SMOOTHING = 0.15  # weight of each new 20 ms packet in the running level (~130 ms memory)
STALE_LEVEL_SECONDS = 0.5  # no audio packet for this long (muted, gone): count as silent
SWITCH_MARGIN_DB = 6.0  # a challenger must be this much louder than the current speaker...
SWITCH_HOLD_SECONDS = 0.6  # ...for this long before the speaker changes


class AudioLevel:
    """A smoothed audio level fed one packet at a time."""

    def __init__(self) -> None:
        self._dbfs = FLOOR_DBFS
        self._updated_at = 0.0  # time.monotonic()

    def add(self, dbov: int) -> None:
        """One packet's level in dBov (RFC 6464: RMS relative to full scale, 0 to -127)."""
        self._dbfs += LEVEL_SMOOTHING * (dbov - self._dbfs)
        self._updated_at = time.monotonic()

    @property
    def dbfs(self) -> float:
        if time.monotonic() - self._updated_at > STALE_LEVEL_SECONDS:
            return FLOOR_DBFS
        return self._dbfs


class ActiveSpeakerDetector:
    """Keeps the dominant speaker until someone else is clearly louder for a while."""

    def __init__(self, margin_db: float = SWITCH_MARGIN_DB,
                 hold_seconds: float = SWITCH_HOLD_SECONDS) -> None:
        self.margin_db = margin_db
        self.hold_seconds = hold_seconds
        self.current: str | None = None
        self.recent: list[str] = []  # everyone who has been the speaker, most recent first
        self._challenger: str | None = None
        self._challenger_since = 0.0

    def update(self, levels: dict[str, float], now: float) -> str | None:
        """Feed the current levels (user id → dBFS); returns the dominant speaker."""
        self.recent = [user for user in self.recent if user in levels]
        audible = {user: level for user, level in levels.items() if level > SILENCE_DBFS}
        if self.current not in levels:
            self.current = None
        if not audible:
            self._challenger = None
            return self.current
        loudest = max(audible, key=audible.__getitem__)
        if self.current is None:
            self._become_speaker(loudest)
            return self.current
        if loudest == self.current or audible[loudest] < levels[self.current] + self.margin_db:
            self._challenger = None
            return self.current
        if self._challenger != loudest:
            self._challenger, self._challenger_since = loudest, now
        elif now - self._challenger_since >= self.hold_seconds:
            self._become_speaker(loudest)
        return self.current

    def _become_speaker(self, user: str) -> None:
        self.current, self._challenger = user, None
        self.recent = [user, *(other for other in self.recent if other != user)]
