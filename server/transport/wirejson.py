"""The JSON codec Socket.IO uses for every packet.

orjson over the stdlib: it encodes and decodes several times faster, which matters because
each fan-out packet is encoded on the hot path. (msgspec is as fast but lacks orjson's native
handling of the datetime/UUID values we sometimes emit.) python-socketio passes json.dumps-style
keyword arguments, which orjson does not take, hence the thin wrappers.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class TooDeep(ValueError):
    """JSON nested beyond what the decoder will walk; a ValueError, so Engine.IO, which catches
    ValueError around its own decoding, treats it as bad data like any other."""


def dumps(obj: Any, **_ignored: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, **_ignored: Any) -> Any:
    """orjson first; what only it refuses (lone surrogate escapes, NaN/Infinity, which Python
    clients can send) goes to the stdlib parser, so the payload reaches the wire rules
    (``server.transport.validation.check_value``) and its sender learns which field is wrong instead of
    having the packet dropped. orjson stops at 1024 levels; the stdlib parser recurses, so its
    RecursionError on deeper input becomes TooDeep."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:
            raise TooDeep("nested too deeply") from None
