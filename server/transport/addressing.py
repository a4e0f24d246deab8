"""Names of the Socket.IO rooms that carry live events: a chat room, a user, a token.

These are the lowest layer of fan-out, shared by every feature; they depend on nothing.
"""

from __future__ import annotations


def socket_room(room_id: str) -> str:
    """The Socket.IO room that carries a chat room's live events."""
    return f"room:{room_id}"


def user_room(user_id: str) -> str:
    """The Socket.IO room that reaches every connection of one user."""
    return f"user:{user_id}"


def token_room(jti: str) -> str:
    """The Socket.IO room of every connection opened with one token, so signing that token out
    can end exactly those connections, on every namespace and process."""
    return f"token:{jti}"


ROOM_PREFIX = socket_room("")
USER_ROOM_PREFIX = user_room("")
