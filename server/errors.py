"""One error type for the whole server, and the one place it becomes the wire shape.

Every Socket.IO ack and HTTP error body is ``{"ok": false, "error": {"code", "message"}}``.
Codes are stable identifiers clients switch on; messages are for people.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An expected failure that the caller should see, with a stable code."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"ok": False, "error": error}


class InvalidPayload(AppError):
    code = "invalid_payload"
    status = 400


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    status = 413


class Unauthorized(AppError):
    code = "unauthorized"
    status = 401


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class RateLimited(AppError):
    code = "rate_limited"
    status = 429


class Unavailable(AppError):
    code = "unavailable"
    status = 503


def internal_error() -> dict[str, Any]:
    """What a caller sees when something unexpected broke: no stack trace, no internals."""
    return {"ok": False, "error": {"code": "internal", "message": "Something went wrong on our side; nothing was lost, please retry."}}
