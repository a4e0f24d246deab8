"""Sharing a file in a conversation: receive it, check it, seal it, show it as a message; serve it
back to members only; export it with its uploader's data; erase it with them.

The upload, in order: the caller must be a member (anyone else is told the room does not exist);
a declared size over the limit is refused before a byte is read; the bytes stream in, at most the
limit, and their type is read from the first of them (``media_types``); documents are sealed chunk
by chunk as they arrive, images are held (at most the limit) to be cleaned and thumbnailed
(``images``) and then sealed; the blob is renamed into place, its row inserted, and its message
(kind "file", ``client_id`` "file:<id>", body: the file's description as JSON) sent through the
ordinary send path. Any failure or cancellation on the way removes what was written.

A file is served only while its message stands: the download joins the message, so deleting the
message (or the room's key) stops it at once, and the sweep then removes row and blob.

Where client-side encryption would plug in (private end-to-end rooms, a later issue): the browser
would seal each chunk itself before ``upload``, the server would store the chunks as given (no
sniffing, no thumbnail: those need the plaintext, so the client would send its own encrypted
thumbnail) and ``read`` would hand the sealed chunks back unopened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.messages import SendMessage
from server.core.background import every
from server.core.errors import AppError, Conflict, NotFound
from server.storage.models import Membership, Message, Room, RoomFile, new_id

from . import media_types
from .blobs import BlobDirectory, SealedWriter
from .errors import (
    EMPTY,
    NO_SUCH_FILE,
    NOT_ALLOWED,
    NOT_SENT,
    PRIVATE_ROOM,
    TOO_LARGE,
    UPLOADING_TOO_FAST,
    FileTooLarge,
    UnsupportedFileType,
)
from .images import clean_image

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

log = logging.getLogger("server.files")

FILE_KIND = "file"  # the message kind that shows a shared file
NAME_MAX_CHARS = 200
NAME_RECORD = "file-name:{id}"
THUMBNAIL_RECORD = "file-thumbnail:{id}"
# Images are cleaned in worker threads, this many at a time (the machine's cores).
IMAGE_WORKERS = 2
# A row whose message never came (the process died between the two) is swept after this long;
# a temporary blob (an upload cut off by a crash) after the longer one.
ORPHAN_GRACE = timedelta(minutes=10)
PARTIAL_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class Download:
    """A member's view of one file, ready to stream."""

    file_id: str
    room_id: str
    wrapped_key: bytes | None
    name: str
    media_type: str
    size: int


def client_id_for(file_id: str) -> str:
    return f"file:{file_id}"


def clean_name(name: str) -> str:
    """A name to show and to offer when saving: no folders, no control characters, not too long."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    return name[:NAME_MAX_CHARS] or "file"


def file_description(row: RoomFile, name: str) -> dict[str, Any]:
    """What a conversation shows of a file: the body of its message, and its entry in a library."""
    image = {"width": row.width, "height": row.height} if row.thumbnail_ciphertext is not None else None
    return {"file_id": row.id, "name": name, "type": row.media_type, "size": row.size, "image": image}


def _served(user_id: str) -> Select:
    """Files a user may fetch: in a room they are in, whose key stands, while the message stands."""
    return (
        select(RoomFile, Room.wrapped_key)
        .join(Room, Room.id == RoomFile.room_id)
        .join(Membership, (Membership.room_id == RoomFile.room_id) & (Membership.user_id == user_id))
        .join(Message, _message_of_file())
        .where(Room.wrapped_key.is_not(None), Message.deleted_at.is_(None))
    )


def _message_of_file() -> Any:
    return ((Message.room_id == RoomFile.room_id) & (Message.sender_id == RoomFile.uploader_id)
            & (Message.client_id == "file:" + RoomFile.id) & (Message.kind == FILE_KIND))


class FileService:
    def __init__(self, services: "Services") -> None:
        self.services = services
        self.blobs = BlobDirectory(services.settings.files_path)
        self._image_workers = asyncio.Semaphore(IMAGE_WORKERS)

    # ---- in ----

    async def upload(self, user: "AuthUser", room_id: str, name: str, declared_size: int | None,
                     body: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store one file sent by a member and show it in the room; returns the file and its message."""
        services = self.services
        limit = services.settings.max_file_bytes
        if declared_size is not None and declared_size > limit:
            raise self._too_large()
        async with services.db.read() as s:
            room = await member_room(s, room_id, user.id)
        if room.private:
            raise Conflict(PRIVATE_ROOM, code="private_room")
        await services.limiter.check(services.settings.file_upload_rate, "file-upload", user.id, message=UPLOADING_TOO_FAST)
        file_id = new_id()
        writer = self.blobs.writer(services.keyring, room.id, room.wrapped_key, file_id)
        try:
            media_type, image = await self._receive(body, writer, limit)
            row = RoomFile(id=file_id, room_id=room.id, uploader_id=user.id, client_id=client_id_for(file_id), media_type=media_type)
            if image is not None:
                async with self._image_workers:
                    cleaned = await asyncio.to_thread(clean_image, bytes(image), media_types.IMAGE_TYPES[media_type])
                image.clear()
                writer.write(cleaned.data)
                row.width, row.height = cleaned.width, cleaned.height
                row.thumbnail_nonce, row.thumbnail_ciphertext = services.keyring.seal_bytes(
                    room.id, room.wrapped_key, THUMBNAIL_RECORD.format(id=file_id), cleaned.thumbnail)
            row.size = await writer.finish()
        except BaseException:
            writer.discard()
            raise
        name = clean_name(name)
        row.name_nonce, row.name_ciphertext = services.keyring.seal(room.id, room.wrapped_key, NAME_RECORD.format(id=file_id), name)
        row.created_at = datetime.now(timezone.utc)
        description = file_description(row, name)
        try:
            async with services.db.transaction() as s:
                s.add(row)
            message = await services.messages.send(
                user, SendMessage(room.id, row.client_id, json.dumps(description, ensure_ascii=False), (user.locale or "en")[:2]),
                kind=FILE_KIND)
            if message["kind"] != FILE_KIND:
                # The caller had already used this client_id for a text message: nothing shows this file.
                raise AppError(NOT_SENT, code="file_not_sent", status=409)
        except BaseException:
            await self._forget(file_id)
            raise
        log.info("file.shared", extra={"fields": {"room_id": room.id, "file_id": file_id, "type": media_type, "bytes": row.size}})
        return {"file": description, "message": message}

    async def _receive(self, body: AsyncIterator[bytes], writer: SealedWriter, limit: int) -> tuple[str, bytearray | None]:
        """Read the body into ``writer`` (documents) or memory (images); returns the type read."""
        head = bytearray()
        media_type = ""
        image: bytearray | None = None
        received = 0
        async for piece in body:
            received += len(piece)
            if received > limit:
                raise self._too_large()
            if not media_type:
                head += piece
                if len(head) < media_types.SNIFF_BYTES:
                    continue
                media_type, image = self._admit(head)
                piece = bytes(head)
            if image is not None:
                image += piece
            else:
                writer.write(piece)
        if not media_type:
            if not head:
                raise UnsupportedFileType(EMPTY, code="empty_file", status=400)
            media_type, image = self._admit(head)
            if image is not None:
                image += head
            else:
                writer.write(bytes(head))
        return media_type, image

    @staticmethod
    def _admit(head: bytearray) -> tuple[str, bytearray | None]:
        media_type = media_types.sniff(bytes(head))
        if not media_types.is_allowed(media_type):
            raise UnsupportedFileType(NOT_ALLOWED, details={"type": media_type})
        return media_type, (bytearray() if media_types.is_image(media_type) else None)

    def _too_large(self) -> FileTooLarge:
        limit = self.services.settings.max_file_bytes
        return FileTooLarge(TOO_LARGE, params={"limit": f"{limit / 1_048_576:g}"}, details={"max_bytes": limit})

    # ---- out ----

    async def open(self, user: "AuthUser", file_id: str) -> Download:
        """A file the caller may read; anyone else (and a file that is gone) gets the same not_found."""
        async with self.services.db.read() as s:
            found = (await s.execute(_served(user.id).where(RoomFile.id == file_id))).first() if len(file_id) == 32 else None
        if found is None or not self.blobs.exists(file_id):
            raise NotFound(NO_SUCH_FILE)
        row, wrapped_key = found
        name = self.services.keyring.open(row.room_id, wrapped_key, NAME_RECORD.format(id=row.id), row.name_nonce, row.name_ciphertext)
        return Download(row.id, row.room_id, wrapped_key, name, row.media_type, row.size)

    def content(self, download: Download) -> AsyncIterator[bytes]:
        return self.blobs.read(self.services.keyring, download.room_id, download.wrapped_key, download.file_id, download.size)

    async def thumbnail(self, user: "AuthUser", file_id: str) -> bytes:
        async with self.services.db.read() as s:
            found = (await s.execute(_served(user.id).where(RoomFile.id == file_id))).first() if len(file_id) == 32 else None
        if found is None or found[0].thumbnail_ciphertext is None:
            raise NotFound(NO_SUCH_FILE)
        row, wrapped_key = found
        return self.services.keyring.open_bytes(row.room_id, wrapped_key, THUMBNAIL_RECORD.format(id=row.id),
                                                row.thumbnail_nonce, row.thumbnail_ciphertext)

    async def describe(self, session: AsyncSession, room_id: str, file_id: str) -> dict[str, Any] | None:
        """A file of this room that is still shown, as a library lists it; None otherwise."""
        found = (await session.execute(
            select(RoomFile, Room.wrapped_key).join(Room, Room.id == RoomFile.room_id).join(Message, _message_of_file())
            .where(RoomFile.id == file_id, RoomFile.room_id == room_id, Message.deleted_at.is_(None), Room.wrapped_key.is_not(None))
        )).first() if len(file_id) <= 64 else None
        if found is None:
            return None
        row, wrapped_key = found
        return file_description(row, self.services.keyring.open(row.room_id, wrapped_key, NAME_RECORD.format(id=row.id),
                                                                row.name_nonce, row.name_ciphertext))

    # ---- the person's data ----

    async def own_files(self, user_id: str) -> list[dict[str, Any]]:
        """Every file the person shared that is still stored, with its content (their data export)."""
        async with self.services.db.read() as s:
            rows = list(await s.execute(
                select(RoomFile, Room.wrapped_key).join(Room, Room.id == RoomFile.room_id).join(Message, _message_of_file())
                .where(RoomFile.uploader_id == user_id, Message.deleted_at.is_(None), Room.wrapped_key.is_not(None))
                .order_by(RoomFile.created_at)
            ))
        exported = []
        for row, wrapped_key in rows:
            download = Download(row.id, row.room_id, wrapped_key, "", row.media_type, row.size)
            content = b"".join([piece async for piece in self.content(download)]) if self.blobs.exists(row.id) else None
            name = self.services.keyring.open(row.room_id, wrapped_key, NAME_RECORD.format(id=row.id), row.name_nonce, row.name_ciphertext)
            exported.append({"room_id": row.room_id, **file_description(row, name), "created_at": row.created_at.isoformat(),
                             "content_base64": base64.b64encode(content).decode() if content is not None else None})
        return exported

    async def erase(self, session: AsyncSession, user_id: str, shredded_room_ids: list[str]) -> int:
        """Within a person's erasure: their files everywhere, and every file of the rooms shredded
        with them. Rows go with the transaction; blobs are removed at once (they were the person's
        to forget, so a rolled-back erasure that is run again loses nothing anyone may keep)."""
        condition = RoomFile.uploader_id == user_id
        if shredded_room_ids:
            condition = or_(condition, RoomFile.room_id.in_(shredded_room_ids))
        file_ids = list(await session.scalars(select(RoomFile.id).where(condition)))
        if file_ids:
            await session.execute(delete(RoomFile).where(RoomFile.id.in_(file_ids)))
        for file_id in file_ids:
            self.blobs.remove(file_id)
        return len(file_ids)

    # ---- upkeep ----

    async def sweep(self) -> int:
        """Remove files that are no longer shown: their message was deleted, their room shredded,
        or their message never came; and temporary blobs that a crash left. Returns files removed."""
        cutoff = datetime.now(timezone.utc) - ORPHAN_GRACE
        async with self.services.db.transaction() as s:
            file_ids = list(await s.scalars(
                select(RoomFile.id).join(Room, Room.id == RoomFile.room_id).outerjoin(Message, _message_of_file())
                .where(or_(Message.deleted_at.is_not(None), Room.wrapped_key.is_(None),
                           Message.id.is_(None) & (RoomFile.created_at < cutoff)))
            ))
            if file_ids:
                await s.execute(delete(RoomFile).where(RoomFile.id.in_(file_ids)))
        for file_id in file_ids:
            self.blobs.remove(file_id)
        await asyncio.to_thread(self.blobs.remove_stale_partials, PARTIAL_GRACE_SECONDS)
        if file_ids:
            log.info("file.swept", extra={"fields": {"files": len(file_ids)}})
        return len(file_ids)

    async def _forget(self, file_id: str) -> None:
        """Undo a stored upload whose message could not be sent."""
        with contextlib.suppress(Exception):
            async with self.services.db.transaction() as s:
                await s.execute(delete(RoomFile).where(RoomFile.id == file_id))
        self.blobs.remove(file_id)


async def member_room(session: AsyncSession, room_id: str, user_id: str) -> Room:
    """The room, for a member; anyone else is told it does not exist (file URLs reveal nothing)."""
    membership = await session.get(Membership, (room_id, user_id)) if len(room_id) <= 64 else None
    room = await session.get(Room, room_id) if membership is not None else None
    if room is None or room.wrapped_key is None:
        raise NotFound("That room does not exist or you are not a member.")
    return room


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    """Sweep removed files away in every process (deleting a row twice is harmless)."""
    async with every(services.settings.files_sweep_seconds, services.files.sweep, name="files.sweep", first_now=True):
        yield
