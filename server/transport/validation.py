"""The one validation layer: what may cross the wire at all, then msgspec Structs or a rejection.

Two steps. ``check_value`` holds the rules every decoded payload obeys whatever its event, applied
where bytes become Python values (the Socket.IO packet class in ``server/transport/wireguard.py``, the HTTP
body reader): text is valid Unicode without NUL (PostgreSQL stores neither lone surrogates nor
NUL, and orjson cannot encode a surrogate, so one would break every later answer that shows it),
integers fit the 32-bit INTEGER columns both databases use, and nesting is shallow. ``parse`` then
converts a payload into its event's Struct.

msgspec is used rather than pydantic because it validates plain dicts (what python-socketio
hands us) several times faster, and its error messages name the offending field path.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from server.core.errors import InvalidPayload
from server.core.i18n import N_

from .wirejson import TooDeep, loads

T = TypeVar("T")

# Containers inside containers; our deepest schema (ICE candidates in a list) needs 3.
MAX_DEPTH = 32
# Every integer column is a SQL INTEGER: the range PostgreSQL enforces, and well inside SQLite's 64 bits.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
# Field paths are named in errors and logs; a hostile key must not make either one huge.
MAX_PATH_CHARS = 80
# msgspec ends its errors with the offending path: "Expected `int`, got `str` - at `$.after_seq`".
_MSGSPEC_PATH = re.compile(r" - at `\$(.*)`$")

TEXT_HAS_NUL = N_("{field} contains a NUL character, which is not allowed in text.")
TEXT_HAS_SURROGATE = N_("{field} is not valid text: it contains a lone surrogate.")
INTEGER_OUT_OF_RANGE = N_("{field} must be a whole number from {low} to {high}.")
TOO_DEEP = N_("The payload is nested too deeply.")
NOT_JSON = N_("The payload is not valid JSON.")


def check_value(value: Any, root: str = "") -> None:
    """Refuse a decoded value that breaks a wire rule, naming an offending field.

    Iterative, so a value as deep as the decoder allows cannot exhaust Python's recursion limit.
    """
    pending: list[tuple[Any, str, int]] = [(value, root, 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise _invalid(INTEGER_OUT_OF_RANGE, path, low=INT_MIN, high=INT_MAX)
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise InvalidPayload(TOO_DEEP)
            if isinstance(item, dict):
                for key, child in item.items():
                    key_path = _join(path, str(key))
                    if isinstance(key, str):
                        _check_text(key, key_path)
                    pending.append((child, key_path, depth + 1))
            else:
                pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def decode_json(text: str | bytes) -> Any:
    """JSON text to a value that obeys the wire rules, or InvalidPayload (the HTTP bodies' reader)."""
    try:
        value = loads(text)
    except TooDeep:
        raise InvalidPayload(TOO_DEEP) from None
    except ValueError:
        raise InvalidPayload(NOT_JSON) from None
    check_value(value)
    return value


def parse(schema: type[T], data: Any) -> T:
    """Turn an event payload (already through ``check_value``) into ``schema`` or raise a structured error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidPayload("The payload must be a JSON object.")
    try:
        return msgspec.convert(data, schema, strict=True)
    except msgspec.ValidationError as exc:
        at = _MSGSPEC_PATH.search(str(exc))
        details = {"field": _printable(at.group(1).removeprefix("."))} if at and at.group(1) else None
        raise InvalidPayload(f"Invalid payload: {exc}", details=details) from None



def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise _invalid(TEXT_HAS_NUL, path)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(TEXT_HAS_SURROGATE, path) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _invalid(message: str, path: str, **params: Any) -> InvalidPayload:
    field = _printable(path or "the payload")
    return InvalidPayload(message, params={"field": field, **params}, details={"field": field})


def _printable(path: str) -> str:
    """The path as it can be shown: a key may itself hold the NUL or surrogate being refused."""
    shown = path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return shown if len(shown) <= MAX_PATH_CHARS else shown[: MAX_PATH_CHARS - 1] + "…"
