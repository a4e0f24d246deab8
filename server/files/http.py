"""The bytes of shared files, in and out over HTTP (Socket.IO events stay small).

``POST /api/rooms/{room_id}/files`` takes the raw bytes (``application/octet-stream``, the name in
the ``X-File-Name`` header, percent-encoded UTF-8) and streams them in: the app-wide body limit
(``max_payload_bytes``) is for JSON, this route reads ``request.content`` under its own limit
(``max_file_bytes``). ``GET /api/files/{file_id}`` and ``…/thumbnail`` stream them out to members
only; ids are random 128-bit values, and a non-member, a wrong id and a deleted file all get the
same 404. Documents always come as attachments under a sandboxing CSP, so nothing shared can run
in our origin.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from server.services import SERVICES
from server.transport.httpio import current_user, json_response
from server.transport.security import UnsupportedMediaType, accepts_binary_body

from . import media_types
from .blobs import CHUNK_BYTES
from .errors import SEND_BYTES

log = logging.getLogger("server.files")
routes = web.RouteTableDef()

FILE_NAME_HEADER = "X-File-Name"
UPLOAD_TYPE = "application/octet-stream"
# Nothing in a served file may run, load anything or be framed, whatever a browser makes of it.
DOCUMENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
IMAGE_CSP = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"
PRIVATE_NO_STORE = "private, no-store"


@routes.post("/api/rooms/{room_id}/files")
@accepts_binary_body
async def upload(request: web.Request) -> web.Response:
    user = await current_user(request)
    if request.content_type != UPLOAD_TYPE:
        raise UnsupportedMediaType(SEND_BYTES)
    services = request.app[SERVICES]
    name = unquote(request.headers.get(FILE_NAME_HEADER, ""), errors="replace")
    try:
        shared = await services.files.upload(user, request.match_info["room_id"], name, request.content_length,
                                             request.content.iter_chunked(CHUNK_BYTES))
    except (ConnectionResetError, HttpProcessingError):
        # The uploader went away or sent a cut-off body (a cancelled upload, a closed tab): nothing was
        # kept, and nobody is left to read an answer; not a fault of ours worth an error line.
        log.info("file.upload_interrupted", extra={"fields": {"room_id": request.match_info["room_id"]}})
        raise web.HTTPBadRequest(reason="upload interrupted") from None
    return json_response({"ok": True, **shared}, 201)


@routes.get("/api/files/{file_id}")
async def download(request: web.Request) -> web.StreamResponse:
    user = await current_user(request)
    files = request.app[SERVICES].files
    found = await files.open(user, request.match_info["file_id"])
    image = media_types.is_image(found.media_type)
    response = web.StreamResponse(headers={
        "Content-Type": found.media_type,
        "Content-Disposition": content_disposition("inline" if image else "attachment", found.name),
        "Content-Security-Policy": IMAGE_CSP if image else DOCUMENT_CSP,
        "Cache-Control": PRIVATE_NO_STORE,
    })
    response.content_length = found.size
    await response.prepare(request)
    try:
        async for piece in files.content(found):
            await response.write(piece)
    except ConnectionResetError:
        return response  # the reader went away (a cancelled download, a closed tab)
    await response.write_eof()
    return response


@routes.get("/api/files/{file_id}/thumbnail")
async def thumbnail(request: web.Request) -> web.Response:
    user = await current_user(request)
    data = await request.app[SERVICES].files.thumbnail(user, request.match_info["file_id"])
    return web.Response(body=data, content_type="image/webp",
                        headers={"Content-Security-Policy": IMAGE_CSP, "Cache-Control": PRIVATE_NO_STORE})


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266: an ASCII fallback name for old clients, the exact UTF-8 name for the rest."""
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
