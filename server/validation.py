"""The one validation layer: payloads are converted into msgspec Structs or rejected.

msgspec is used rather than pydantic because it validates plain dicts (what python-socketio
hands us) several times faster, and its error messages name the offending field path.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from .errors import InvalidPayload, PayloadTooLarge

T = TypeVar("T")

# Generous enough for any legitimate event; the per-field limits below do the real work.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DEPTH = 8


def _measure(value: Any, depth: int = 0) -> int:
    """Size and nesting guard that runs before conversion, so a hostile 1 MB nested blob is
    refused cheaply and with a clear code instead of being walked by the converter."""
    if depth > MAX_DEPTH:
        raise InvalidPayload("The payload is nested too deeply.")
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(_measure(k, depth + 1) + _measure(v, depth + 1) for k, v in value.items()) + 2
    if isinstance(value, (list, tuple)):
        return sum(_measure(v, depth + 1) for v in value) + 2
    return 8


def parse(schema: type[T], data: Any, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> T:
    """Turn an event payload into ``schema`` or raise a structured error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidPayload("The payload must be a JSON object.")
    if _measure(data) > max_bytes:
        raise PayloadTooLarge(f"The payload is larger than {max_bytes} bytes.")
    try:
        return msgspec.convert(data, schema, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(f"Invalid payload: {exc}") from None


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)
