"""Where a shared file's bytes live: one file per shared file under ``Settings.files_path``, sealed
chunk by chunk with the room's key, written under a temporary name and renamed into place only
once complete, so a cancelled or failed upload leaves nothing readable behind.

Format: the plaintext is cut into ``CHUNK_BYTES`` pieces; each is stored as its nonce followed by
its AES-GCM ciphertext (``Keyring.seal_bytes``), bound to the room, the file, the chunk's index and
whether it is the last one. Chunks cannot be reordered, swapped between files or cut off at the
end without the reader noticing, and memory per upload or download is one chunk. Crypto-shredding
the room makes every blob of it noise.

The directory is the one place blobs are kept: an object store would replace this module. Every
server process of a deployment must see the same directory (point ``files_dir`` at shared storage
when they run on several machines).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import AsyncIterator

from server.core.keyring import NONCE_BYTES, Keyring
from server.storage.private_files import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, private_directory

CHUNK_BYTES = 64 * 1024  # plaintext per sealed chunk
TAG_BYTES = 16  # the AES-GCM authentication tag after each chunk
SEALED_CHUNK_BYTES = NONCE_BYTES + CHUNK_BYTES + TAG_BYTES
PARTIAL_SUFFIX = ".part"
_FILE_ID = re.compile(r"[0-9a-f]{32}")


def chunk_record(file_id: str, index: int, last: bool) -> str:
    """The record id a chunk is sealed under (with the room id, in the associated data)."""
    return f"file:{file_id}:{index}:{'last' if last else 'more'}"


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


class SealedWriter:
    """Seals what it is given into a temporary file; ``finish`` renames it into place.

    One chunk is held back until more data arrives, because only the last chunk is sealed as last.
    """

    def __init__(self, keyring: Keyring, room_id: str, wrapped_key: bytes | None, file_id: str, partial: Path, final: Path) -> None:
        self.keyring = keyring
        self.room_id = room_id
        self.wrapped_key = wrapped_key
        self.file_id = file_id
        self.partial = partial
        self.final = final
        self.size = 0
        self._index = 0
        self._pending = bytearray()
        self._fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)

    def write(self, data: bytes) -> None:
        self._pending += data
        self.size += len(data)
        while len(self._pending) > CHUNK_BYTES:
            self._seal(bytes(self._pending[:CHUNK_BYTES]), last=False)
            del self._pending[:CHUNK_BYTES]

    async def finish(self) -> int:
        """Seal the last chunk, make the file durable and move it into place; returns its size."""
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        await asyncio.to_thread(self._commit)
        return self.size

    def discard(self) -> None:
        """Forget everything written (a cancelled, refused or failed upload)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.partial.unlink(missing_ok=True)

    def _seal(self, piece: bytes, *, last: bool) -> None:
        nonce, ciphertext = self.keyring.seal_bytes(self.room_id, self.wrapped_key, chunk_record(self.file_id, self._index, last), piece)
        os.write(self._fd, nonce + ciphertext)
        self._index += 1

    def _commit(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self.partial, self.final)


class BlobDirectory:
    """Sealed blobs by file id, sharded by the id's first two hex digits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, file_id: str) -> Path:
        if not _FILE_ID.fullmatch(file_id):
            raise ValueError("not a file id")
        return self.root / file_id[:2] / file_id

    def writer(self, keyring: Keyring, room_id: str, wrapped_key: bytes | None, file_id: str) -> SealedWriter:
        final = self.path(file_id)
        private_directory(self.root)
        final.parent.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        return SealedWriter(keyring, room_id, wrapped_key, file_id, final.with_name(file_id + PARTIAL_SUFFIX), final)

    def exists(self, file_id: str) -> bool:
        return self.path(file_id).exists()

    async def read(self, keyring: Keyring, room_id: str, wrapped_key: bytes | None, file_id: str, size: int) -> AsyncIterator[bytes]:
        """The plaintext, chunk by chunk; raises if any chunk was altered, moved or cut off."""
        count = chunk_count(size)
        with open(self.path(file_id), "rb") as fh:
            for index in range(count):
                last = index == count - 1
                plain_bytes = size - index * CHUNK_BYTES if last else CHUNK_BYTES
                sealed = await asyncio.to_thread(fh.read, NONCE_BYTES + plain_bytes + TAG_BYTES)
                record = chunk_record(file_id, index, last)
                yield keyring.open_bytes(room_id, wrapped_key, record, sealed[:NONCE_BYTES], sealed[NONCE_BYTES:])

    def remove(self, file_id: str) -> bool:
        try:
            self.path(file_id).unlink()
            return True
        except FileNotFoundError:
            return False

    def remove_stale_partials(self, older_than_seconds: float) -> int:
        """Temporary files of uploads that a crash interrupted; a live upload's file is younger."""
        if not self.root.exists():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for partial in self.root.glob(f"*/*{PARTIAL_SUFFIX}"):
            try:
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
