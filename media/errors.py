"""The one error type of the media package.

media/ knows nothing of the chat server's error type or its wire format: it raises MediaError
with a stable code, and the signaling layer, which owns the Socket.IO events, turns it into the
server's structured error (``signaling.events.answers_media_errors``).
"""

from __future__ import annotations

from typing import Any


class MediaError(Exception):
    """A media-session failure the caller should see: a stable code, a message, an HTTP-like status."""

    def __init__(self, message: str, *, code: str, status: int = 400, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or {}
