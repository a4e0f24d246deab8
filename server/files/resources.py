"""A room's library: resources (a link, or a file shared in the room) pinned with a title.

Mentors, leaders and staff pin them in any room they are a member of (a group's library is its
room's); every member reads the library. Whoever pinned a resource, the room's leader or
co-leader, or an admin may unpin it. Title and link are sealed with the room key; a pinned file
leaves the library when its message is deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import func, select

from server.chat.room_access import RoomOnly, require_member
from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.i18n import N_
from server.core.roles import ADMIN, MENTOR_ROLES, ROOM_MODERATORS, STAFF_ROLES
from server.storage.models import Room, RoomResource, new_id
from server.transport.addressing import socket_room
from server.transport.events import EventContext, EventRouter

from .errors import PRIVATE_ROOM

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()

CURATOR_ROLES = (*MENTOR_ROLES, *STAFF_ROLES)
MAX_RESOURCES_PER_ROOM = 50
TITLE_MAX_CHARS = 120
URL_MAX_CHARS = 2000
RESOURCE_RECORD = "resource:{id}"

BAD_TITLE = N_("A resource has a title of 1 to 120 characters.")
LINK_OR_FILE = N_("Pin either a link or a file of this conversation.")
BAD_LINK = N_("A link starts with http:// or https://.")
NO_SUCH_FILE_HERE = N_("That file is not shared in this conversation.")
LIBRARY_FULL = N_("This library holds at most {count} resources; unpin one first.")
NO_SUCH_RESOURCE = N_("No such resource in this conversation.")
ONLY_PINNER = N_("Only whoever pinned it, a group leader or an admin can unpin it.")


class PinResource(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    title: Annotated[str, msgspec.Meta(max_length=TITLE_MAX_CHARS)]
    url: Annotated[str, msgspec.Meta(max_length=URL_MAX_CHARS)] = ""
    file_id: str = ""


class UnpinResource(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    resource_id: str


def checked_link(url: str) -> str:
    """An absolute http(s) link, or InvalidPayload: the library never holds a javascript: URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidPayload(BAD_LINK, code="invalid_link")
    return url


async def _view(services: "Services", s: Any, room: Room, row: RoomResource) -> dict[str, Any] | None:
    sealed = services.keyring.open_json(room.id, room.wrapped_key, RESOURCE_RECORD.format(id=row.id), row.nonce, row.ciphertext)
    file = await services.files.describe(s, room.id, row.file_id) if row.file_id else None
    if row.file_id and file is None:
        return None  # its message was deleted: the sweep removes the row
    return {"id": row.id, "room_id": room.id, "title": sealed["title"], "url": sealed["url"], "file": file,
            "pinned_by": row.pinned_by, "created_at": row.created_at.isoformat()}


async def library(services: "Services", room_id: str, user_id: str) -> list[dict[str, Any]]:
    async with services.db.read() as s:
        room, _m = await require_member(s, room_id, user_id)
        rows = await s.scalars(select(RoomResource).where(RoomResource.room_id == room.id).order_by(RoomResource.created_at))
        return [view for row in rows if (view := await _view(services, s, room, row)) is not None]


async def pin(services: "Services", user_id: str, p: PinResource) -> dict[str, Any]:
    title = p.title.strip()
    if not title:
        raise InvalidPayload(BAD_TITLE, code="invalid_title")
    if bool(p.url.strip()) == bool(p.file_id):
        raise InvalidPayload(LINK_OR_FILE, code="link_or_file")
    url = checked_link(p.url) if p.url.strip() else None
    async with services.db.transaction() as s:
        room, _m = await require_member(s, p.room_id, user_id)
        if room.private:
            raise Conflict(PRIVATE_ROOM, code="private_room")
        if p.file_id and await services.files.describe(s, room.id, p.file_id) is None:
            raise NotFound(NO_SUCH_FILE_HERE)
        count = await s.scalar(select(func.count()).select_from(RoomResource).where(RoomResource.room_id == room.id))
        if count >= MAX_RESOURCES_PER_ROOM:
            raise Conflict(LIBRARY_FULL, code="library_full", params={"count": MAX_RESOURCES_PER_ROOM})
        resource_id = new_id()
        nonce, ciphertext = services.keyring.seal_json(room.id, room.wrapped_key, RESOURCE_RECORD.format(id=resource_id),
                                                      {"title": title, "url": url})
        row = RoomResource(id=resource_id, room_id=room.id, pinned_by=user_id, file_id=p.file_id or None,
                           nonce=nonce, ciphertext=ciphertext)
        s.add(row)
        await s.flush()
        view = await _view(services, s, room, row)
    await services.sio.emit("resource:pinned", view, to=socket_room(room.id))
    return view  # type: ignore[return-value]


async def unpin(services: "Services", user_id: str, user_role: str, p: UnpinResource) -> None:
    async with services.db.transaction() as s:
        room, membership = await require_member(s, p.room_id, user_id)
        row = await s.get(RoomResource, p.resource_id) if len(p.resource_id) <= 64 else None
        if row is None or row.room_id != room.id:
            raise NotFound(NO_SUCH_RESOURCE)
        if row.pinned_by != user_id and membership.role not in ROOM_MODERATORS and user_role != ADMIN:
            raise Forbidden(ONLY_PINNER)
        if row.pinned_by != user_id:
            await record_audit(s, user_id, "resource.unpin", room_id=room.id, target_id=row.id)
        await s.delete(row)
    await services.sio.emit("resource:unpinned", {"room_id": room.id, "resource_id": p.resource_id}, to=socket_room(room.id))


async def pinned_by(services: "Services", user_id: str) -> list[dict[str, Any]]:
    """The resources a person pinned (their data export)."""
    async with services.db.read() as s:
        rows = list(await s.execute(
            select(RoomResource, Room).join(Room, Room.id == RoomResource.room_id)
            .where(RoomResource.pinned_by == user_id, Room.wrapped_key.is_not(None)).order_by(RoomResource.created_at)))
        return [view for row, room in rows if (view := await _view(services, s, room, row)) is not None]


@router.on("resource:list", RoomOnly)
async def on_list(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    return {"resources": await library(ctx.services, p.room_id, ctx.user.id)}


@router.on("resource:pin", PinResource, roles=CURATOR_ROLES)
async def on_pin(ctx: EventContext, p: PinResource) -> dict[str, Any]:
    return {"resource": await pin(ctx.services, ctx.user.id, p)}


@router.on("resource:unpin", UnpinResource, roles=CURATOR_ROLES)
async def on_unpin(ctx: EventContext, p: UnpinResource) -> dict[str, Any]:
    await unpin(ctx.services, ctx.user.id, ctx.user.role, p)
    return {}
