"""The server's own words in the reader's language, and dates in the reader's time zone.

Catalogs live in ``server/locale/<lang>/LC_MESSAGES/messages.po`` with their compiled ``.mo``
beside them, both committed (``pybabel compile``, see ``server/locale/README.md``): a checkout or
a plain ``pip install .`` has them, and the server never writes into its own package.

The locale of the work in progress is a ``ContextVar``: the aiohttp middleware sets it per
request; Socket.IO handlers use ``locale_scope``. ``_()`` translates into it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import string
import threading
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Protocol
from zoneinfo import available_timezones

from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, get_timezone
from babel.support import Translations

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "es", "fr")
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"

# Where the middleware leaves the negotiated locale for handlers that want it explicitly.
LOCALE_KEY = web.RequestKey("locale", str)

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (it is translated when shown)."""
    return message


MESSAGES: tuple[str, ...] = (
    # Errors
    N_("The payload must be a JSON object."),
    N_("You are not signed in."),
    N_("You are not allowed to do that."),
    N_("That room does not exist or you are not a member."),
    N_("You are sending messages too fast. Please wait a moment."),
    N_("The message is too long."),
    N_("Something went wrong on our side; nothing was lost, please retry."),
    # System lines in chat
    N_("{name} joined the room"),
    N_("{name} left the room"),
    N_("This room has safety monitoring turned on: messages are checked for signs of crisis "
       "so a professional can help."),
    N_("Translated from {language}"),
    N_("No translation available for {language}; showing the original."),
    # Session reminders
    N_("Your session \"{title}\" starts in {minutes} minutes."),
    N_("Your session \"{title}\" starts {when}."),
    N_("Your session \"{title}\" was cancelled."),
    N_("Your session \"{title}\" was moved to {when}."),
    # Crisis support
    N_("You are not alone. If you are in danger right now, call {emergency}."),
    N_("Talk to someone now"),
    N_("These services are free and confidential:"),
    N_("A trained professional has been notified and will reach out to you."),
)


class Gettext(Protocol):
    def __call__(self, message: str, **params: Any) -> str: ...


_catalogs: dict[str, Translations] = {}
_catalogs_lock = threading.Lock()


def translations_for(locale: str) -> Translations:
    """The compiled catalog of a supported locale (the default locale's for any other)."""
    locale = locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE
    with _catalogs_lock:
        if locale not in _catalogs:
            _catalogs[locale] = _load(locale)
        return _catalogs[locale]


def _load(locale: str) -> Translations:
    # A missing .mo fails here, loudly, rather than silently serving English (Translations.load
    # would fall back to NullTranslations). tests/test_i18n.py fails when a .mo is stale.
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as mo_file:
        return Translations(mo_file, domain=DOMAIN)


def gettext_for(locale: str) -> Gettext:
    """A translate-and-format function for one locale: ``t("{name} left the room", name=n)``."""
    catalog = translations_for(locale)

    def translate(message: str, **params: Any) -> str:
        text = catalog.gettext(message)
        return text.format(**params) if params else text

    return translate


def gettext(message: str, **params: Any) -> str:
    """Translate into the current locale (see ``current_locale``) and fill ``{placeholders}``."""
    return gettext_for(current_locale.get())(message, **params)


_ = gettext


@contextlib.contextmanager
def locale_scope(locale: str) -> Iterator[str]:
    """Run a block (e.g. one Socket.IO event) in ``locale``."""
    token = current_locale.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)
    try:
        yield current_locale.get()
    finally:
        current_locale.reset(token)


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags from an ``Accept-Language`` header, most preferred first (q=0 dropped)."""
    weighted = []
    for position, item in enumerate((header or "").split(",")):
        tag, _sep, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _q, _p, tag in sorted(weighted)]


def _best_supported(tags: list[str]) -> str | None:
    """Babel's negotiation: exact tag first, then its language part ("es-MX" → "es")."""
    try:
        negotiated = Locale.negotiate([tag.replace("_", "-") for tag in tags],
                                      SUPPORTED_LOCALES, sep="-")
    except (UnknownLocaleError, ValueError):
        return None
    return negotiated.language if negotiated is not None else None


def _supported(tag: str | None) -> str | None:
    return _best_supported([tag]) if tag else None


def negotiate_locale(user_locale: str | None, accept_language: str | None) -> str:
    """The user's chosen locale if we have it, else the browser's best match, else English."""
    chosen = _supported(user_locale)
    if chosen is not None:
        return chosen
    return _best_supported(parse_accept_language(accept_language)) or DEFAULT_LOCALE


def _as_utc(moment: datetime) -> datetime:
    # Stored times are UTC; a naive value is taken to be UTC rather than server-local time.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_iana_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this machine knows; the set is read from disk once,
    since listing it walks the whole zone database (≈ 3 ms, once per formatted slot before)."""
    return name in _iana_zones()


def format_datetime_for(dt_utc: datetime, tz_name: str, locale: str,
                        format: str = "medium") -> str:
    """A date and time as a reader in ``tz_name`` (IANA name) and ``locale`` expects."""
    return format_datetime(_as_utc(dt_utc), format, tzinfo=get_timezone(tz_name),
                           locale=_babel_locale(locale))


def format_date_for(dt_utc: datetime, tz_name: str, locale: str, format: str = "medium") -> str:
    """The calendar date in the reader's zone (it may differ from the UTC date)."""
    local = _as_utc(dt_utc).astimezone(get_timezone(tz_name))
    return format_date(date(local.year, local.month, local.day), format,
                       locale=_babel_locale(locale))


def format_time_for(dt_utc: datetime, tz_name: str, locale: str, format: str = "short") -> str:
    """The wall-clock time in the reader's zone."""
    return format_time(_as_utc(dt_utc), format, tzinfo=get_timezone(tz_name),
                       locale=_babel_locale(locale))


def _babel_locale(locale: str) -> str:
    return locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE


UserLocaleLookup = Callable[[web.Request], "str | None | Awaitable[str | None]"]


def locale_middleware(user_locale: UserLocaleLookup | None = None) -> Any:
    """aiohttp middleware: ``?lang=``, then the user's setting, then ``Accept-Language``.

    ``user_locale(request)`` (sync or async) returns the signed-in user's saved locale or
    None. The choice is stored in ``current_locale`` for the handler, in
    ``request[LOCALE_KEY]``, and sent back as ``Content-Language``.
    """

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                         ) -> web.StreamResponse:
        locale = _supported(request.query.get("lang"))
        if locale is None:
            saved = user_locale(request) if user_locale is not None else None
            if saved is not None and not isinstance(saved, str):
                saved = await saved
            locale = negotiate_locale(saved, request.headers.get("Accept-Language"))
        request[LOCALE_KEY] = locale
        token = current_locale.set(locale)
        try:
            response = await handler(request)
        except web.HTTPException as error:
            error.headers.setdefault("Content-Language", locale)
            raise
        finally:
            current_locale.reset(token)
        if not response.prepared:
            response.headers.setdefault("Content-Language", locale)
        return response

    return middleware


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message (translations must keep the same set)."""
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}
