"""The wire guard: every Socket.IO packet is screened as it is decoded, before any handler runs.

python-socketio decodes packets in its ``Packet`` class, which it lets us replace (the documented
``serializer=`` argument of ``AsyncServer``). ``GuardedPacket`` never raises: a packet that is too
large, not JSON, shaped wrongly, missing its binary attachments or breaking a wire rule
(``server.transport.validation.check_value``) is turned into the reserved event ``REJECTED_EVENT`` carrying
the ``AppError``. Its handler logs the rejection through the JSON logger (code and field, never
payload bytes) and answers the packet's ack id, if it had one, with the structured error. The
connection stays open.

Sizes: an event larger than ``Settings.max_payload_bytes`` (the app limit) is answered with
``payload_too_large``. Engine.IO's own buffer (``ENGINE_MAX_BYTES``) is set far above it, so the
connection is closed (WebSocket close 1009) only for frames beyond that.

One thing has no extension point: Engine.IO decodes each WebSocket frame outside any error handler,
so a text frame that is not an Engine.IO packet escapes as an exception and aiohttp writes an HTTP
500 into the already upgraded socket. ``ScreenedWebSocket`` closes such a socket with 1002
(protocol error) first; it is installed by replacing one entry of the engine's driver table, the
only reach into the library's internals (``tests/test_wire_guard.py`` checks it is still there).
The same class opens the socket without permessage-deflate (see its docstring).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode
from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket
from socketio import packet as sio_packet

from server.core.errors import AppError, InvalidPayload, PayloadTooLarge
from server.core.i18n import DEFAULT_LOCALE, N_

from .events import ui_locale
from .validation import NOT_JSON, TOO_DEEP, check_value
from .wirejson import TooDeep

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("server.wireguard")

# No client can send this name: the guard refuses NUL in every decoded string, event names included.
REJECTED_EVENT = "\x00rejected"
# Engine.IO's per-frame limit (bytes), far above the app limit so big events get an answer, not a close.
ENGINE_MAX_BYTES = 16 * 1024 * 1024
# Our events carry no binary data; a few attachments are still answered with a clean error.
MAX_ATTACHMENTS = 8
# Engine.IO packet types ("0" open … "6" noop): the first character of every text frame.
ENGINE_PACKET_TYPES = "0123456"

NOT_AN_EVENT = N_("An event packet is a list that starts with the event name.")
BAD_ATTACHMENTS = N_("The packet's binary attachments do not match what it announced.")
TOO_LARGE = N_("The payload is larger than {limit} bytes.")

# A Socket.IO packet's header: type, attachment count, namespace, ack id (socket.io-protocol v5).
_HEADER = re.compile(r"(\d)(?:(\d{1,10})-)?(?:(/[^,?]*)[^,]*,)?(\d{1,100})?")


class GuardedPacket(sio_packet.Packet):
    """A Socket.IO packet whose decoding ends in a handled event, whatever the client sent."""

    max_event_bytes: int = 64 * 1024

    def decode(self, encoded_packet: Any) -> int:
        self.id = None
        self._received_bytes = len(encoded_packet) if isinstance(encoded_packet, (str, bytes)) else 0
        try:
            if not isinstance(encoded_packet, str):
                raise InvalidPayload(NOT_AN_EVENT)
            if self._byte_size(encoded_packet) > self.max_event_bytes:
                self._read_header(encoded_packet)
                raise self._too_large()
            attachments = self._decode_checked(encoded_packet)
        except AppError as exc:
            self._reject(exc)
            return 0
        return attachments

    def add_attachment(self, attachment: Any) -> bool:
        """Collect one binary attachment; any mismatch rejects the whole event (True: it is complete)."""
        try:
            if not isinstance(attachment, bytes):
                # The client sent its next packet instead of the attachment it announced.
                raise InvalidPayload(BAD_ATTACHMENTS)
            self._received_bytes += len(attachment)
            if self._received_bytes > self.max_event_bytes:
                raise self._too_large()
            self.attachments.append(attachment)
            if len(self.attachments) < self.attachment_count:
                return False
            try:
                self.data = self.reconstruct_binary(self.data, self.attachments)
            except (IndexError, KeyError, TypeError):
                raise InvalidPayload(BAD_ATTACHMENTS) from None
        except AppError as exc:
            self._reject(exc, binary_complete=True)
        return True

    def _decode_checked(self, encoded_packet: str) -> int:
        try:
            attachments = super().decode(encoded_packet) or 0
        except TooDeep:
            raise InvalidPayload(TOO_DEEP) from None
        except ValueError:
            # Not JSON, an over-long id, too many attachments: self.id holds the ack id if the header got that far.
            raise InvalidPayload(NOT_JSON) from None
        if self.packet_type not in (sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK,
                                    sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            raise InvalidPayload(NOT_AN_EVENT)
        if attachments > MAX_ATTACHMENTS:
            raise InvalidPayload(BAD_ATTACHMENTS)
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            if not isinstance(self.data, list) or not self.data or not isinstance(self.data[0], str):
                raise InvalidPayload(NOT_AN_EVENT)
            check_value(self.data[0], "event")
            for argument in self.data[1:]:
                check_value(argument)
        else:
            check_value(self.data)
        return attachments

    def _byte_size(self, encoded_packet: str) -> int:
        """UTF-8 size, counted without encoding when the characters alone settle it."""
        if encoded_packet.isascii() or len(encoded_packet) > self.max_event_bytes:
            return len(encoded_packet)
        return len(encoded_packet.encode("utf-8", "surrogatepass"))

    def _read_header(self, encoded_packet: str) -> None:
        """Type, namespace and ack id of a packet whose body we will not parse."""
        header = _HEADER.match(encoded_packet)
        if header is None:
            raise InvalidPayload(NOT_AN_EVENT)
        kind, _attachments, namespace, ack_id = header.groups()
        self.packet_type = int(kind)
        self.namespace = namespace
        self.id = int(ack_id) if ack_id else None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(TOO_LARGE, params={"limit": self.max_event_bytes})

    def _reject(self, error: AppError, *, binary_complete: bool = False) -> None:
        """Become the reserved event, answered by ``install_wire_guard``'s handler.

        Only an event's ack id is kept: an ACK's id names one of our own callbacks, not a reply slot.
        A connect request becomes one without credentials, which the connect gate refuses cleanly.
        A binary packet whose attachments were being collected stays binary (python-socketio
        dispatches a completed one by its type); refused at decoding, it becomes a plain event so
        that nothing waits for its attachments.
        """
        self.attachment_count = 0
        self.attachments = []
        if self.packet_type == sio_packet.CONNECT:
            self.data = None
            log.warning("wire.rejected", extra={"fields": {"code": error.code, "field": error.details.get("field"), "packet": "connect"}})
            return
        if self.packet_type not in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            self.id = None
        if not binary_complete:
            self.packet_type = sio_packet.EVENT
        self.data = [REJECTED_EVENT, error]


def guarded_packet_class(max_event_bytes: int) -> type[GuardedPacket]:
    """A GuardedPacket bound to this server's app limit (python-socketio takes a class, not an instance)."""
    return type("GuardedPacket", (GuardedPacket,), {"max_event_bytes": max_event_bytes})


class ScreenedWebSocket(WebSocket):
    """Engine.IO's aiohttp WebSocket, closing the socket on a text frame that is not an Engine.IO
    packet, and answering without permessage-deflate.

    Why no compression: aiohttp deflates every frame once a client offers the extension (browsers
    and socket.io-client always do), and each connection then holds a zlib compressor and
    decompressor with their 32 KB windows for its whole life: ≈ 100 KB of the ≈ 150 KB an idle
    connection cost (bench/idle_memory.py), plus a deflate call on every chat frame of a few hundred
    bytes, where it saves next to nothing (bench/README.md, issue 23).
    """

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock

    async def wait(self) -> Any:
        data = await super().wait()
        if isinstance(data, str) and (not data or data[0] not in ENGINE_PACKET_TYPES):
            log.warning("wire.closed", extra={"fields": {"reason": "not_an_engineio_packet", "frame_len": len(data)}})
            await self._sock.close(code=WSCloseCode.PROTOCOL_ERROR, message=b"not an Engine.IO packet")
            return None
        return data


def install_wire_guard(services: "Services") -> None:
    """Answer rejected packets on every namespace, and screen WebSocket frames; run after the
    features have registered their namespaces."""
    sio = services.sio
    eio = sio.eio
    if "websocket" not in eio._async:
        raise RuntimeError("python-engineio's driver table has no 'websocket' entry to screen; see server/transport/wireguard.py")
    # A copy: the driver table is a module-level dict shared by every engine in the process.
    eio._async = {**eio._async, "websocket": ScreenedWebSocket}
    for namespace in [n for n in sio.handlers if n != "*"]:
        sio.on(REJECTED_EVENT, _rejection_handler(services, namespace), namespace=namespace)


def _rejection_handler(services: "Services", namespace: str) -> Any:
    async def answer_rejected(sid: str, error: AppError, *_extra: Any) -> dict[str, Any]:
        locale, user_id = DEFAULT_LOCALE, None
        session = await services.sio.get_session(sid, namespace=namespace)
        user = session.get("user") if session else None
        if user is not None:
            locale, user_id = ui_locale(user.locale), user.id
        log.warning("wire.rejected", extra={"fields": {
            "code": error.code, "field": error.details.get("field"), "namespace": namespace, "sid": sid, "user_id": user_id,
        }})
        return error.to_wire(locale)

    return answer_rejected
