"""MediaRelay with a bounded buffer per consumer.

Why: aiortc's buffered relay proxies queue frames in an unbounded ``asyncio.Queue``; one slow
consumer (a congested sender, a recorder busy encoding) would grow memory without limit. Here a
full queue drops its oldest frame instead, which for live audio is the right trade: a short
glitch now rather than ever-growing latency and memory. Video consumers should subscribe
unbuffered (latest frame only), which is bounded by construction.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay

MAX_BUFFERED_FRAMES = 25  # 25 × 20 ms audio frames = 0.5 s of audio at most per consumer

T = TypeVar("T")


class DropOldestQueue(asyncio.Queue[T]):
    """A queue that, when full, discards its oldest item to make room for the new one."""

    def put_nowait(self, item: T) -> None:
        if self.full():
            self.get_nowait()
        super().put_nowait(item)


class BoundedMediaRelay(MediaRelay):
    """A MediaRelay whose buffered proxies hold at most ``max_buffered_frames`` frames."""

    def __init__(self, max_buffered_frames: int = MAX_BUFFERED_FRAMES) -> None:
        super().__init__()
        self.max_buffered_frames = max_buffered_frames

    def subscribe(self, track: MediaStreamTrack, buffered: bool = True) -> MediaStreamTrack:
        proxy = super().subscribe(track, buffered)
        if buffered:
            # RelayStreamTrack exposes no queue-size option; its queue is only ever fed through
            # put_nowait by the relay worker, so swapping in a bounded queue is safe.
            proxy._queue = DropOldestQueue(maxsize=self.max_buffered_frames)  # type: ignore[attr-defined]
        return proxy
