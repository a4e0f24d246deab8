"""A room's own words, its title and its agenda, sealed with the room's data key.

A support group's title and agenda say what its members live with ("Widowed by overdose",
"Urges at night"); beside the membership table they say it about named people. They are stored
as one ciphertext (``Room.text_nonce``, ``Room.text_ciphertext``) under the key that encrypts the
room's messages, so a copy of the database shows neither, and crypto-shredding the room (deleting
its wrapped key) erases them with the history. The server opens them for every view, so members
see exactly what they saw when these were stored in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.core.keyring import Keyring
from server.storage.models import Room

# The record id the ciphertext is bound to in the associated data (beside the room id), so a
# sealed title cannot be passed off as a message body or moved to another room.
ROOM_TEXT_RECORD = "room-text"


@dataclass
class RoomText:
    title: str = ""
    agenda: list[str] = field(default_factory=list)


def open_room_text(keyring: Keyring, room: Room) -> RoomText:
    """The room's title and agenda; empty once the room is shredded."""
    if room.wrapped_key is None or room.text_nonce is None or room.text_ciphertext is None:
        return RoomText()
    stored = keyring.open_json(room.id, room.wrapped_key, ROOM_TEXT_RECORD, room.text_nonce, room.text_ciphertext)
    return RoomText(title=stored["title"], agenda=list(stored["agenda"]))


def seal_room_text(keyring: Keyring, room: Room, text: RoomText) -> None:
    """Store the room's title and agenda, encrypted, on its row (the caller's session saves it)."""
    room.text_nonce, room.text_ciphertext = keyring.seal_json(
        room.id, room.wrapped_key, ROOM_TEXT_RECORD, {"title": text.title, "agenda": text.agenda}
    )


def shred_room_text(room: Room) -> None:
    """Drop the ciphertext too when a room's key goes, so nothing of it is left to attack."""
    room.text_nonce = room.text_ciphertext = None


def settings_view(settings: dict[str, Any], text: RoomText) -> dict[str, Any]:
    """A room's settings as clients know them: a group's agenda items back in their place."""
    group = settings.get("group")
    if group is None:
        return settings
    agenda = {**group.get("agenda", {}), "items": list(text.agenda)}
    return {**settings, "group": {**group, "agenda": agenda}}


def settings_to_store(settings: dict[str, Any]) -> dict[str, Any]:
    """A room's settings without what is sealed (a group's agenda items), for the clear column."""
    group = settings.get("group")
    if group is None or "items" not in group.get("agenda", {}):
        return settings
    agenda = {k: v for k, v in group["agenda"].items() if k != "items"}
    return {**settings, "group": {**group, "agenda": agenda}}
