"""Who is speaking: audio level from decoded frames, and a dominant speaker with hysteresis.

Why hysteresis: without it the forwarded video flips between two people talking over each other
several times a second, and every flip costs the viewers a visible cut.
"""

from __future__ import annotations

import math

import numpy as np
from av import AudioFrame

SILENCE_DBFS = -50.0  # below this a participant counts as silent
FLOOR_DBFS = -127.0  # level of digital silence
LEVEL_SMOOTHING = 0.15  # weight of each new 20 ms frame in the running level (~130 ms memory)
SWITCH_MARGIN_DB = 6.0  # a challenger must be this much louder than the current speaker...
SWITCH_HOLD_SECONDS = 0.6  # ...for this long before the speaker changes


def frame_level_dbfs(frame: AudioFrame) -> float:
    """RMS level of a frame in dBFS (0 = full scale), for integer or float sample formats."""
    samples = frame.to_ndarray().astype(np.float64)
    if frame.format.name.startswith("s16"):
        samples /= 32768.0
    elif frame.format.name.startswith("s32"):
        samples /= 2147483648.0
    rms = math.sqrt(float(np.mean(samples * samples))) if samples.size else 0.0
    return 20.0 * math.log10(rms) if rms > 0 else FLOOR_DBFS


class AudioLevel:
    """A smoothed audio level fed one frame at a time."""

    def __init__(self) -> None:
        self.dbfs = FLOOR_DBFS

    def add(self, frame: AudioFrame) -> None:
        self.dbfs += LEVEL_SMOOTHING * (frame_level_dbfs(frame) - self.dbfs)


class ActiveSpeakerDetector:
    """Keeps the dominant speaker until someone else is clearly louder for a while."""

    def __init__(self, margin_db: float = SWITCH_MARGIN_DB,
                 hold_seconds: float = SWITCH_HOLD_SECONDS) -> None:
        self.margin_db = margin_db
        self.hold_seconds = hold_seconds
        self.current: str | None = None
        self._challenger: str | None = None
        self._challenger_since = 0.0

    def update(self, levels: dict[str, float], now: float) -> str | None:
        """Feed the current levels (user id → dBFS); returns the dominant speaker."""
        audible = {user: level for user, level in levels.items() if level > SILENCE_DBFS}
        if self.current not in levels:
            self.current = None
        if not audible:
            self._challenger = None
            return self.current
        loudest = max(audible, key=audible.__getitem__)
        if self.current is None:
            self.current = loudest
            self._challenger = None
            return self.current
        if loudest == self.current or audible[loudest] < levels[self.current] + self.margin_db:
            self._challenger = None
            return self.current
        if self._challenger != loudest:
            self._challenger, self._challenger_since = loudest, now
        elif now - self._challenger_since >= self.hold_seconds:
            self.current, self._challenger = loudest, None
        return self.current
