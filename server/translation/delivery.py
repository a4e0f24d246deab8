"""Translated chat: each message is stored once, in its own language, and read in the reader's.

The send path names the message's language before it is stored (the client's ``language`` if it
gave a valid code, else ``detect_language`` hinted by the sender's profile). ``message:new``
carries the original at once; after it is out, ``deliver_translations`` (an after-fan-out hook,
so it never delays the original or the ack) translates the text once per target language with
``translate_for_targets`` and sends ``message:translated`` to every member who opted in and does
not read the source language. A pair without a package still reaches them: the original text,
``note: "no_translation_package"`` and a caption in their language saying so.

Packages installed while the server runs (``python -m server translation install FILE``) are
picked up by the next translation: the packages directory is compared with what the translator
last loaded, and a change reloads its route table (cached translations stay valid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import defaultdict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, AsyncIterator

from babel import Locale
from sqlalchemy import select

from server.accounts.profile import preferred_language, reads_without_translation
from server.accounts.users import LANGUAGE_RE
from server.core.config import Settings
from server.core.errors import InvalidPayload
from server.core.i18n import current_locale, gettext_for
from server.core.roles import ADMIN
from server.storage.models import Membership, User
from server.translation.language_id import detect_language
from server.translation.packages import packages_dir
from server.translation.translator import (
    NOTE_EMPTY,
    NOTE_SAME_LANGUAGE,
    PIVOT_LANGUAGE,
    TranslationResult,
    Translator,
)
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter, ui_locale

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.chat.message_hooks import SentMessage
    from server.services import Services

log = logging.getLogger(__name__)
router = EventRouter()

PackagesSignature = frozenset[tuple[str, int]]


class TranslationDelivery:
    """The app's one Translator, reloaded when the installed packages change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._translator = Translator(settings, workers=settings.translation_workers)
        self._loaded: PackagesSignature | None = None

    def translator(self) -> Translator:
        """The translator, after a reload if packages were installed since the last look."""
        current = packages_signature(self.settings)
        if current != self._loaded:
            if self._loaded is not None:
                log.info("translation.packages_changed")
            self._translator.reload()
            self._loaded = current
        return self._translator

    async def english(self, text: str, language: str) -> str | None:
        """English text of a message, for crisis scanning of a language it has no lexicon for.

        None when no package leads to English (the caller then has only the original to go on).
        """
        result = await self.translator().translate(text, language, PIVOT_LANGUAGE)
        if result.translated:
            return result.text
        if result.note not in (NOTE_SAME_LANGUAGE, NOTE_EMPTY):
            log.warning("translation.no_english", extra={"fields": {"language": language, "note": result.note}})
        return None

    def close(self) -> None:
        self._translator.close()


def packages_signature(settings: Settings) -> PackagesSignature:
    """Names and change times of the installed package folders (a few stat calls)."""
    try:
        with os.scandir(packages_dir(settings)) as entries:
            return frozenset((entry.name, entry.stat().st_mtime_ns) for entry in entries)
    except FileNotFoundError:
        return frozenset()


def message_language(services: "Services", body: str, sender: "AuthUser", given: str) -> str:
    """The client's code when it is one; otherwise a guess among the deployment's languages."""
    given = given.strip().lower()
    if LANGUAGE_RE.match(given):
        return given
    hint = preferred_language(sender.locale)
    candidates = services.settings.message_languages
    return detect_language(body, hint, candidates) if candidates else hint


@lru_cache(maxsize=64)
def language_name(code: str, locale: str) -> str:
    """A language's name as a reader of ``locale`` writes it ("en" in Spanish: "inglés")."""
    return Locale.parse(locale).languages.get(code, code)


def caption(result: TranslationResult, locale: str) -> str:
    """The line shown under a message, in the reader's language, saying what they are reading."""
    t = gettext_for(locale)
    if result.translated:
        return t("Translated from {language}", language=language_name(result.source, locale))
    return t("No translation available for {language}; showing the original.",
             language=language_name(result.target, locale))


def translated_event(view: dict[str, Any], result: TranslationResult, locale: str) -> dict[str, Any]:
    return {
        "room_id": view["room_id"],
        "message_id": view["id"],
        "seq": view["seq"],
        "language": result.target,
        "text": result.text,
        "source_language": result.source,
        "translated": result.translated,
        "note": result.note,
        "caption": caption(result, locale),
    }


async def translation_readers(services: "Services", room_id: str) -> list[tuple[str, str, list[str]]]:
    """(user id, locale, languages) of the room's members who opted into translations; read once
    per room and process, then from the room cache (it was a query after every message)."""

    async def load() -> list[tuple[str, str, list[str]]]:
        async with services.db.read() as s:
            rows = await s.execute(
                select(User.id, User.locale, User.languages)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.room_id == room_id, User.translate_messages.is_(True))
            )
            return [(uid, locale, list(languages or ())) for uid, locale, languages in rows]

    return await services.room_cache.get("translation_readers", room_id, load)


async def deliver_translations(services: "Services", sent: "SentMessage") -> None:
    """After-fan-out hook: ``message:translated`` to each opted-in member who needs it."""
    source = sent.view["language"]
    if sent.view["kind"] != "text" or not source:
        return
    readers = await translation_readers(services, sent.room.id)
    # (target language, reader's interface locale) -> user ids: one event per group.
    groups: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for uid, locale, languages in readers:
        if uid != sent.sender.id and source not in reads_without_translation(locale, languages):
            groups[(preferred_language(locale), ui_locale(locale))].append(uid)
    if not groups:
        return
    translator = services.translation.translator()
    results = await translator.translate_for_targets(sent.body, source, {target for target, _ in groups})
    for (target, locale), user_ids in groups.items():
        event = translated_event(sent.view, results[target], locale)
        await services.sio.emit("message:translated", event, to=[user_room(uid) for uid in user_ids])


async def attach_translations(services: "Services", messages: list[dict[str, Any]], target: str) -> None:
    """For ``message:history {translate_to}``: a ``translation`` on each message (None when the
    message is deleted or already in ``target``), from the cache or translated now."""
    target = target.strip().lower()
    if not LANGUAGE_RE.match(target):
        raise InvalidPayload("Languages are ISO 639 codes such as 'en' or 'es'.", code="invalid_languages")
    wanted = [m for m in messages if m["body"] and m["language"] and m["language"] != target]
    for message in messages:
        message["translation"] = None
    if not wanted:
        return
    translator = services.translation.translator()
    results = await asyncio.gather(*(translator.translate(m["body"], m["language"], target) for m in wanted))
    locale = current_locale.get()  # the caller's, set by the event gate
    for message, result in zip(wanted, results):
        message["translation"] = {
            "language": target,
            "text": result.text,
            "translated": result.translated,
            "note": result.note,
            "caption": caption(result, locale),
        }


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    # Loading the language-id model takes ~0.5 s: do it now, off the loop, not in the first send.
    candidates = services.settings.message_languages
    if candidates:
        await asyncio.to_thread(detect_language, "hello, how are you today?", None, candidates)
    try:
        yield
    finally:
        # Translations still running need the translator and the database: finish them first.
        await services.messages.drain_after_fanout()
        services.translation.close()


@router.on("translation:status", roles=(ADMIN,))
async def on_translation_status(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """What this process can translate and how well its cache does (operators only)."""
    translator = ctx.services.translation.translator()
    stats = translator.cache_stats()
    return {
        "pairs": sorted(f"{source}-{target}" for source, target in await translator.available_pairs()),
        "cache": {"hits": stats.hits, "misses": stats.misses, "entries": stats.entries},
    }
