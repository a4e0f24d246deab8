"""Server-side media for group sessions: an aiortc peer per participant, forwarding encoded frames."""

from media.server import MediaServer

__all__ = ["MediaServer"]
