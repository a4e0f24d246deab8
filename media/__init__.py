"""Server-side media for group sessions: an aiortc peer per participant, forwarding with MediaRelay."""

from media.server import MediaServer

__all__ = ["MediaServer"]
