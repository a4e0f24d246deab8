"""A short, bounded memory of each writer's recent messages in a room, so that risk which builds up
over several messages is seen even when no single one would raise an alert.

It lives in memory only (never stored) and forgets by count, by age and by number of writers, so
a busy process cannot grow it without bound and old words do not colour a new conversation. A
writer's socket is served by one process, so the window follows their conversation there; after
a reconnect to another process it starts afresh, which costs at most the build-up, never a
single-message alert.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from crisis.detector import CONVERSATION_MIN_MESSAGES, Detection

WINDOW_MESSAGES = CONVERSATION_MIN_MESSAGES
WINDOW_SECONDS = 30 * 60
MAX_WRITERS = 10_000


@dataclass(frozen=True)
class _Said:
    at: float
    text: str
    detection: Detection


class ConversationWindows:
    """The last few messages of each (room, writer), oldest first."""

    def __init__(self, *, size: int = WINDOW_MESSAGES, max_age: float = WINDOW_SECONDS,
                 max_writers: int = MAX_WRITERS, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._max_age = max_age
        self._max_writers = max_writers
        self._clock = clock
        self._windows: OrderedDict[tuple[str, str], deque[_Said]] = OrderedDict()

    def add(self, room_id: str, writer_id: str, text: str, detection: Detection) -> list[tuple[str, Detection]]:
        """Remember one graded message; return the writer's recent ones in this room in its language.

        Only texts of the same language are graded together: the classifier's thresholds are
        per language, and a mixed window would be read with the wrong ones.
        """
        now = self._clock()
        key = (room_id, writer_id)
        window = self._windows.pop(key, None)
        if window is None:
            window = deque(maxlen=self._size)
        while window and now - window[0].at > self._max_age:
            window.popleft()
        window.append(_Said(now, text, detection))
        self._windows[key] = window
        while len(self._windows) > self._max_writers:
            self._windows.popitem(last=False)
        return [(said.text, said.detection) for said in window if said.detection.language == detection.language]

    def forget(self, room_id: str, writer_id: str) -> None:
        """Drop a writer's window: their room is not monitored, so their words are not kept."""
        self._windows.pop((room_id, writer_id), None)

    def __len__(self) -> int:
        return len(self._windows)
