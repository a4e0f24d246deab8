"""One error type for the whole server, and the one place it becomes the wire shape.

Every Socket.IO ack and HTTP error body is ``{"ok": false, "error": {"code", "message"}}``.
Codes are stable identifiers clients switch on; messages are for people, so they are English
msgids of the gettext catalogs (``server/locale``) and are translated here, into the caller's
locale, when the error becomes the wire shape. A message with ``{placeholders}`` gets its values
through ``params`` so that the msgid stays constant; a message missing from the catalogs is sent
as written.
"""

from __future__ import annotations

from typing import Any

from .i18n import N_, gettext, gettext_for


class AppError(Exception):
    """An expected failure that the caller should see, with a stable code."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def to_wire(self, locale: str | None = None) -> dict[str, Any]:
        """The wire shape, with the message in ``locale`` (default: the current locale)."""
        error: dict[str, Any] = {"code": self.code, "message": _translator(locale)(self.message, **self.params)}
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


def internal_error(locale: str | None = None) -> dict[str, Any]:
    """What a caller sees when something unexpected broke: no stack trace, no internals."""
    message = _translator(locale)("Something went wrong on our side; nothing was lost, please retry.")
    return {"ok": False, "error": {"code": "internal", "message": message}}


def _translator(locale: str | None) -> Any:
    return gettext if locale is None else gettext_for(locale)


# The core's error messages, declared for catalog extraction (pybabel reads N_): raise sites
# pass the same English text, which is the msgid. Features declare theirs beside their code.
ERROR_MESSAGES: tuple[str, ...] = (
    N_("Send the request body as application/json."),
    N_("Your session has expired; please sign in again."),
    N_("Your session has expired or is invalid; please sign in again."),
    N_("You have signed out; please sign in again."),
    N_("Your session has ended; please sign in again."),
    N_("A direct room has exactly one other member."),
    N_("A room title has at most 200 characters."),
    N_("Only group leaders can open group rooms."),
    N_("One of those people does not exist."),
    N_("You have created many rooms recently; please wait."),
    N_("No such message in this room."),
    N_("Give after_seq or before_seq, not both."),
    N_("A message cannot be empty."),
    N_("client_id has 1 to 64 characters."),
    N_("The message could not be found."),
    N_("You are muted in this room for now."),
    N_("Only the author can edit a message."),
    N_("Only a text message can be edited."),
    N_("A deleted message cannot be edited."),
    N_("This message is too old to edit."),
    N_("Only the author can delete a message."),
    N_("A username has 3–32 characters: letters, digits, '.', '_' or '-'."),
    N_("A password has 10 to 256 characters."),
    N_("A display name has 1 to 100 characters."),
    N_("You can register as a mentee or a mentor; other roles are granted by an administrator."),
    N_("Languages are ISO 639 codes such as 'en' or 'es'."),
    N_("The time zone must be an IANA name such as 'Europe/Madrid'."),
    N_("The country is a two-letter code such as 'US'."),
    N_("The locale looks like 'en' or 'es_MX'."),
    N_("Wrong username or password."),
    N_("This account is suspended."),
    N_("No such user."),
    N_("That username is taken."),
    N_("The request body is too large."),
    N_("Too many sign-in attempts; please wait a minute."),
    N_("Too many connection attempts from your network; please wait a minute."),
    N_("The payload is nested too deeply."),
)
