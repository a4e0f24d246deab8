"""Encryption at rest: a master key wraps one AES-256-GCM data key per room.

Associated data binds every ciphertext to where it belongs (room id, message id), so a row
copied to another room or message fails to decrypt instead of showing the wrong text. Deleting
a room's wrapped key (crypto-shredding) makes all its messages unreadable, including backups.
Whatever else belongs to a room and says something about its people (its title and agenda, the
findings of a crisis alert raised in it) is sealed with the same key under its own record id,
so shredding the room erases that too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12  # 96-bit random nonce, the size GCM is specified for
KEY_BYTES = 32  # AES-256


def decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    if len(raw) != KEY_BYTES:
        raise ValueError("A master key must be 32 bytes, base64url-encoded.")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def load_or_create_master_key(configured: str, data_dir: Path) -> bytes:
    """The configured key wins; otherwise data_dir/master.key, created 0600 on first run."""
    if configured:
        return decode_key(configured)
    path = data_dir / "master.key"
    if path.exists():
        return decode_key(path.read_text())
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(encode_key(raw) + "\n")
    return raw


def key_id(raw: bytes) -> str:
    """A short public fingerprint, stored beside wrapped keys to tell which master wrapped them."""
    return hashlib.sha256(b"mv-key-id:" + raw).hexdigest()[:16]


@dataclass
class Keyring:
    master: bytes
    _room_keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def master_id(self) -> str:
        return key_id(self.master)

    def derive(self, purpose: str) -> bytes:
        """Independent subkeys (e.g. token signing) so the master key itself signs nothing."""
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode()).derive(self.master)

    def new_room_key(self, room_id: str) -> bytes:
        """A fresh data key for a room, returned wrapped for storage."""
        data_key = AESGCM.generate_key(bit_length=256)
        self._room_keys[room_id] = data_key
        return wrap_key(self.master, room_id, data_key)

    def room_key(self, room_id: str, wrapped: bytes | None) -> bytes:
        cached = self._room_keys.get(room_id)
        if cached is not None:
            return cached
        if wrapped is None:
            raise KeyError(f"room {room_id} has no key (shredded)")
        data_key = unwrap_key(self.master, room_id, wrapped)
        self._room_keys[room_id] = data_key
        return data_key

    def forget_room(self, room_id: str) -> None:
        self._room_keys.pop(room_id, None)

    def seal(self, owner_id: str, wrapped: bytes | None, record_id: str, text: str) -> tuple[bytes, bytes]:
        """Encrypt text that belongs to one key owner (a room, a person's safety plan) under the
        owner's data key, bound to the owner and to ``record_id`` (a message id, an alert's note)
        so a ciphertext cannot be moved to another record. The one way we encrypt at rest."""
        return self.seal_bytes(owner_id, wrapped, record_id, text.encode("utf-8"))

    def open(self, owner_id: str, wrapped: bytes | None, record_id: str, nonce: bytes, ciphertext: bytes) -> str:
        return self.open_bytes(owner_id, wrapped, record_id, nonce, ciphertext).decode("utf-8")

    def seal_bytes(self, owner_id: str, wrapped: bytes | None, record_id: str, data: bytes) -> tuple[bytes, bytes]:
        """``seal`` for bytes that are not text (a chunk of a shared file, a thumbnail)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce, AESGCM(self.room_key(owner_id, wrapped)).encrypt(nonce, data, _record_aad(owner_id, record_id))

    def open_bytes(self, owner_id: str, wrapped: bytes | None, record_id: str, nonce: bytes, ciphertext: bytes) -> bytes:
        return AESGCM(self.room_key(owner_id, wrapped)).decrypt(nonce, ciphertext, _record_aad(owner_id, record_id))

    def seal_json(self, owner_id: str, wrapped: bytes | None, record_id: str, value: Any) -> tuple[bytes, bytes]:
        return self.seal(owner_id, wrapped, record_id, json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def open_json(self, owner_id: str, wrapped: bytes | None, record_id: str, nonce: bytes, ciphertext: bytes) -> Any:
        return json.loads(self.open(owner_id, wrapped, record_id, nonce, ciphertext))


def _record_aad(owner_id: str, record_id: str) -> bytes:
    # "mv-msg" since the first release: every stored ciphertext is bound with this prefix.
    return f"mv-msg:{owner_id}:{record_id}".encode()


def wrap_key(master: bytes, room_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, f"mv-room-key:{room_id}".encode())


def unwrap_key(master: bytes, room_id: str, wrapped: bytes) -> bytes:
    return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], f"mv-room-key:{room_id}".encode())
