"""The sealed envelope: what a private room's message carries instead of a body.

A member's device encrypts the message with its own room key (AES-GCM, docs/private-rooms.md)
and sends only this envelope. The server checks its shape and size, stores it as is and relays
it; it cannot open it, so nothing that reads a body (crisis scan, translation, language
identification) ever runs on it. The fields are base64 text: the device that sealed it, the id
of the key it used (so readers pick the right one after a rotation), the 96-bit IV and the
ciphertext with its tag.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from server.core.errors import InvalidPayload

ENVELOPE_VERSION = 1
IV_BYTES = 12
TAG_BYTES = 16
# AES-GCM adds only its tag: a sealed body is as long as the plaintext's UTF-8 plus 16 bytes;
# base64 grows it by a third. Four bytes per character bounds any body the plaintext limit allows.
BYTES_PER_CHAR = 4


class SealedEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    v: int
    device_id: str
    key_id: str
    iv: str
    ciphertext: str


def check_envelope(envelope: SealedEnvelope, max_body_chars: int) -> dict[str, Any]:
    """The envelope as stored, or ``sealed_invalid`` when it cannot be what a device sealed."""
    if envelope.v != ENVELOPE_VERSION:
        raise InvalidPayload("This sealed message uses an unknown format.", code="sealed_invalid")
    if not 1 <= len(envelope.device_id) <= 32 or not 1 <= len(envelope.key_id) <= 64:
        raise InvalidPayload("This sealed message names no device or key.", code="sealed_invalid")
    iv = _decoded(envelope.iv, IV_BYTES + 1)
    ciphertext = _decoded(envelope.ciphertext, max_body_chars * BYTES_PER_CHAR + TAG_BYTES + 1)
    if len(iv) != IV_BYTES or len(ciphertext) <= TAG_BYTES:
        raise InvalidPayload("This sealed message is not valid.", code="sealed_invalid")
    if len(ciphertext) > max_body_chars * BYTES_PER_CHAR + TAG_BYTES:
        raise InvalidPayload("The message is too long.", code="body_too_long")
    return msgspec.structs.asdict(envelope)


def _decoded(text: str, limit: int) -> bytes:
    if len(text) > (limit * 4) // 3 + 4:
        raise InvalidPayload("The message is too long.", code="body_too_long")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload("This sealed message is not valid.", code="sealed_invalid") from None
