"""The server speaks the reader's language and tells time in the reader's zone."""

from __future__ import annotations

import asyncio
import gettext
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiohttp import web
from babel.messages.pofile import read_po

from server.core.i18n import (
    LOCALE_DIR,
    MESSAGES,
    SUPPORTED_LOCALES,
    _,
    format_date_for,
    format_datetime_for,
    format_time_for,
    gettext_for,
    locale_middleware,
    locale_scope,
    negotiate_locale,
    placeholders,
)

REPO = Path(__file__).resolve().parent.parent


def catalog(locale: str):
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        return read_po(po_file, locale=locale)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_committed_compiled_catalog_says_what_its_po_says(locale: str) -> None:
    """A .po edited without `pybabel compile` would ship the old words: this fails instead."""
    mo_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.mo"
    with mo_path.open("rb") as mo_file:
        compiled = gettext.GNUTranslations(mo_file)._catalog  # msgid -> msgstr, as gettext reads it
    expected = {m.id: m.string for m in catalog(locale) if m.id and m.string and not m.fuzzy}
    assert {k: v for k, v in compiled.items() if k} == expected, \
        "run: .venv/bin/pybabel compile -d server/locale -D messages"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_server_message_is_translated_and_keeps_its_placeholders(locale: str) -> None:
    entries = {message.id: message for message in catalog(locale) if message.id}
    missing = [m for m in MESSAGES if m not in entries]
    assert missing == []
    for msgid, message in entries.items():
        assert message.string, f"{locale}: no translation for {msgid!r}"
        assert not message.fuzzy, f"{locale}: fuzzy translation for {msgid!r}"
        assert placeholders(message.string) == placeholders(msgid), (locale, msgid)


def test_the_catalogs_hold_every_string_marked_in_the_code(tmp_path: Path) -> None:
    template = tmp_path / "messages.pot"
    subprocess.run([Path(sys.executable).parent / "pybabel", "-q", "extract", "-F", "babel.cfg",
                    "-o", str(template), "."], cwd=REPO, check=True, timeout=120)
    with template.open("rb") as pot:
        marked = {message.id for message in read_po(pot) if message.id}
    for locale in SUPPORTED_LOCALES:
        translated = {message.id for message in catalog(locale) if message.id}
        assert marked - translated == set(), f"run pybabel update and translate ({locale})"


def test_a_browser_asking_for_mexican_spanish_gets_spanish() -> None:
    assert negotiate_locale(None, "es-MX,es;q=0.9,en;q=0.5") == "es"


def test_a_browser_asking_only_for_german_gets_english() -> None:
    assert negotiate_locale(None, "de") == "en"
    assert negotiate_locale(None, None) == "en"
    assert negotiate_locale(None, "garbage;;q=x,,*") == "en"


def test_quality_values_order_the_browser_preferences() -> None:
    assert negotiate_locale(None, "en;q=0.3, fr;q=0.8, de") == "fr"
    assert negotiate_locale(None, "es;q=0, fr;q=0.1") == "fr"


def test_a_saved_user_setting_beats_the_browser() -> None:
    assert negotiate_locale("fr_CA", "es-MX,es;q=0.9") == "fr"
    assert negotiate_locale("de", "es") == "es"


def test_a_spanish_user_reads_system_messages_in_spanish() -> None:
    spanish = gettext_for("es")
    assert spanish("{name} joined the room", name="Ana") == "Ana se unió a la sala"
    assert spanish("Your session \"{title}\" starts in {minutes} minutes.",
                   title="Respirar", minutes=15) == \
        "Tu sesión «Respirar» empieza dentro de 15 minutos."
    with locale_scope("fr"):
        assert _("{name} left the room", name="Léa") == "Léa a quitté le salon"
    assert _("{name} left the room", name="Ann") == "Ann left the room"


def test_an_unsupported_locale_reads_english() -> None:
    assert gettext_for("de")("Talk to someone now") == "Talk to someone now"


def test_a_session_time_is_shown_in_each_readers_zone_and_language() -> None:
    starts = datetime(2026, 11, 26, 22, 30, tzinfo=timezone.utc)
    madrid = format_datetime_for(starts, "Europe/Madrid", "es")
    new_york = format_datetime_for(starts, "America/New_York", "en")
    print(madrid, "|", new_york)
    assert madrid == "26 nov 2026, 23:30:00"
    assert new_york == "Nov 26, 2026, 5:30:00\u202fPM"
    assert format_time_for(starts, "Europe/Madrid", "es") == "23:30"
    # Late evening in New York is already the next day in Tokyo.
    assert format_date_for(starts, "Asia/Tokyo", "fr", "full") == "vendredi 27 novembre 2026"
    assert format_date_for(starts, "America/New_York", "en", "full") == \
        "Thursday, November 26, 2026"


def test_naive_times_are_taken_as_utc() -> None:
    naive = datetime(2026, 7, 1, 12, 0)
    assert format_time_for(naive, "Europe/Madrid", "es") == "14:00"


async def hello(request: web.Request) -> web.Response:
    await asyncio.sleep(0.01)  # let concurrent requests interleave
    return web.Response(text=_("{name} joined the room", name="Ana"))


async def test_each_http_request_is_answered_in_its_own_language(aiohttp_client) -> None:
    saved_locales = {"ana": "es"}

    def user_locale(request: web.Request) -> str | None:
        return saved_locales.get(request.headers.get("X-User", ""))

    app = web.Application(middlewares=[locale_middleware(user_locale)])
    app.router.add_get("/hello", hello)
    client = await aiohttp_client(app)

    async def fetch(headers: dict[str, str], query: str = "") -> tuple[str, str]:
        response = await client.get("/hello" + query, headers=headers)
        return await response.text(), response.headers["Content-Language"]

    answers = await asyncio.gather(
        fetch({"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}),
        fetch({"Accept-Language": "de"}),
        fetch({"Accept-Language": "en", "X-User": "ana"}),
        fetch({"Accept-Language": "es", "X-User": "ana"}, "?lang=fr"),
    )
    assert answers == [
        ("Ana se unió a la sala", "es"),
        ("Ana joined the room", "en"),
        ("Ana se unió a la sala", "es"),
        ("Ana a rejoint le salon", "fr"),
    ]
