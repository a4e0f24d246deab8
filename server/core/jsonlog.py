"""Structured JSON logs, one object per line, with secrets redacted before they are written.

Log calls pass fields through ``extra={"fields": {...}}``. Any field whose name suggests a
secret or a message body is replaced, so a careless log line cannot leak a conversation. A field
never replaces the line's own keys (``ts``, ``level``, ``logger``, ``event``): a log shipper
filters on ``level``, so a field named like one is written as ``field_<name>`` instead.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_SECRET_NAMES = ("password", "token", "secret", "body", "key", "authorization", "cookie", "note", "text")
REDACTED = "[redacted]"
# Prefix for a field whose name collides with one of the line's own keys.
COLLISION_PREFIX = "field_"


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        lowered = name.lower()
        if any(s in lowered for s in _SECRET_NAMES) and not lowered.endswith(("_id", "_len", "_count")):
            clean[name] = REDACTED
        elif isinstance(value, dict):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for name, value in redact(fields).items():
                entry[COLLISION_PREFIX + name if name in entry else name] = value
        if record.exc_info:
            # The type and where it happened help the on-call engineer; the message may hold data.
            etype, _exc, tb = record.exc_info
            frames = []
            while tb is not None:
                frames.append(f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}")
                tb = tb.tb_next
            entry["exception"] = getattr(etype, "__name__", str(etype))
            entry["where"] = frames[-5:]
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library loggers that would print payloads at INFO/DEBUG stay quiet (aiosqlite logs every
    # statement with its parameters: password hashes, display names, room titles).
    for noisy in ("engineio", "socketio", "aiohttp.access", "aioice", "aiortc", "sqlalchemy.engine", "alembic",
                  "aiosqlite", "asyncpg", "redis", "limits"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
