"""A user's language and translation preferences: read them, change them, and apply them at once.

``locale`` is the language the server speaks to the user (system lines, errors, dates) and the
language translated chat arrives in; ``languages`` are the ones they read without translation;
``translate_messages`` opts into translated chat. A change takes effect on every open connection
of the user in this process: their sessions are refreshed, so the next ack is already in the new
language. (Connections held by other processes pick it up when they reconnect.)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from server.core.errors import AppError, Conflict, InvalidPayload, NotFound
from server.core.i18n import N_, is_iana_zone
from server.services import SERVICES
from server.storage.models import User
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter
from server.transport.httpio import bearer_token

from .users import LANGUAGE_RE, AuthUser, auth_user

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()

MAX_LANGUAGES = 10
LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
PSEUDONYM_RE = re.compile(r"^[\w][\w .'-]{0,38}[\w.]$")

PROFILE_MESSAGES: tuple[str, ...] = (
    N_("Languages are ISO 639 codes such as 'en' or 'es'."),
    N_("The time zone must be an IANA name such as 'Europe/Madrid'."),
    N_("The country is a two-letter code such as 'US'."),
    N_("The locale looks like 'en' or 'es_MX'."),
    N_("List at most {count} languages."),
    N_("A chosen name has 2 to 40 characters: letters, digits, spaces and . _ ' -"),
    N_("Someone else already uses that name; please choose another."),
)


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    locale: str | None = None
    languages: list[str] | None = None
    translate_messages: bool | None = None
    timezone: str | None = None
    country: str | None = None
    # A name shown to others instead of the display name and username; "" removes it.
    pseudonym: str | None = None


def preferred_language(locale: str) -> str:
    """The language a user reads chat in: their locale's language part ("es_MX" → "es")."""
    return re.split(r"[_-]", locale, maxsplit=1)[0].lower() or "en"


def reads_without_translation(locale: str, languages: list[str] | tuple[str, ...]) -> set[str]:
    """Languages shown as written: the preferred one and every one the user says they read."""
    return {preferred_language(locale), *languages}


def _validated(p: ProfileUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if p.locale is not None:
        if not LOCALE_RE.match(p.locale):
            raise InvalidPayload("The locale looks like 'en' or 'es_MX'.", code="invalid_locale")
        changes["locale"] = p.locale
    if p.languages is not None:
        if len(p.languages) > MAX_LANGUAGES:
            raise InvalidPayload("List at most {count} languages.", code="invalid_languages",
                                 params={"count": MAX_LANGUAGES})
        languages = [language.strip().lower() for language in p.languages]
        if not all(LANGUAGE_RE.match(language) for language in languages):
            raise InvalidPayload("Languages are ISO 639 codes such as 'en' or 'es'.", code="invalid_languages")
        changes["languages"] = list(dict.fromkeys(languages))
    if p.translate_messages is not None:
        changes["translate_messages"] = p.translate_messages
    if p.timezone is not None:
        if not is_iana_zone(p.timezone):
            raise InvalidPayload("The time zone must be an IANA name such as 'Europe/Madrid'.", code="invalid_timezone")
        changes["timezone"] = p.timezone
    if p.country is not None:
        country = p.country.strip().upper()
        if country and not COUNTRY_RE.match(country):
            raise InvalidPayload("The country is a two-letter code such as 'US'.", code="invalid_country")
        changes["country"] = country
    if p.pseudonym is not None:
        pseudonym = " ".join(p.pseudonym.split())
        if pseudonym and not PSEUDONYM_RE.match(pseudonym):
            raise InvalidPayload("A chosen name has 2 to 40 characters: letters, digits, spaces and . _ ' -",
                                 code="invalid_pseudonym")
        changes["pseudonym"] = pseudonym or None
    return changes


async def update_profile(services: "Services", user_id: str, p: ProfileUpdate) -> AuthUser:
    """Validate and store the changes, then refresh the user's live sessions in this process."""
    changes = _validated(p)
    try:
        async with services.db.transaction() as s:
            row = await s.get(User, user_id)
            if row is None:
                raise NotFound("No such user.")
            for name, value in changes.items():
                setattr(row, name, value)
            user = auth_user(row)
    except IntegrityError:
        raise Conflict("Someone else already uses that name; please choose another.", code="pseudonym_taken") from None
    await refresh_sessions(services, user)
    return user


async def refresh_sessions(services: "Services", user: AuthUser) -> None:
    sio = services.sio
    for namespace in list(sio.manager.get_namespaces()):
        for sid, _eio_sid in list(sio.manager.get_participants(namespace, user_room(user.id))):
            async with sio.session(sid, namespace=namespace) as session:
                session["user"] = user


async def saved_locale(request: web.Request) -> str | None:
    """For ``locale_middleware``: the signed-in caller's saved locale, None when anonymous."""
    if "Authorization" not in request.headers:
        return None
    try:
        user = await request.app[SERVICES].users.authenticate(bearer_token(request))
    except AppError:
        return None
    return user.locale


@router.on("profile:get")
async def on_profile_get(ctx: EventContext, _p: Any) -> dict[str, Any]:
    user = await ctx.services.users.get(ctx.user.id)
    return {"user": user.profile()}


@router.on("profile:update", ProfileUpdate)
async def on_profile_update(ctx: EventContext, p: ProfileUpdate) -> dict[str, Any]:
    user = await update_profile(ctx.services, ctx.user.id, p)
    # The user's other tabs and devices learn of the change too.
    await ctx.services.sio.emit("profile:updated", {"user": user.profile()}, to=user_room(user.id))
    return {"user": user.profile()}
