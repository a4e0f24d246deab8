"""Translate chat messages off the event loop, once per (text, target language).

Translation runs argostranslate's own objects (``PackageTranslation`` for a package,
``CompositeTranslation`` for a pivot) in a thread pool: CTranslate2 releases the GIL, so the
event loop keeps serving sockets while a model runs. We build the route table ourselves instead
of calling ``argostranslate.translate.translate``, because that one reads the packages directory
fixed at import time through an ``lru_cache`` and pivots through any language; we want this
deployment's directory, a reload after installs, and pivots through English only.

A missing package, an empty text or a model failure never raises: the caller gets the original
text back with ``translated=False`` and a ``note`` saying why.

Underscores: argostranslate's SentencePiece decoder turns every ``_`` into a space. Words of
the original that contain an inner underscore (user names, file names, ``snake_case``) are put
back when their spaced form appears in the translation; other underscores are lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from server.core.config import Settings
from server.translation.packages import argos_package_module, packages_dir
from server.translation.sentence_splitter import RuleBasedSentencizer

log = logging.getLogger(__name__)

PIVOT_LANGUAGE = "en"
DEFAULT_WORKERS = 2  # model runs in parallel; each CTranslate2 call also uses intra-op threads
DEFAULT_CACHE_ENTRIES = 4096

NOTE_NO_PACKAGE = "no_translation_package"
NOTE_SAME_LANGUAGE = "same_language"
NOTE_EMPTY = "nothing_to_translate"
NOTE_FAILED = "translation_failed"

_UNDERSCORED_WORD = re.compile(r"\S*[^\s_]_+[^\s_]\S*")


@dataclass(frozen=True)
class TranslationResult:
    text: str
    source: str
    target: str
    translated: bool
    note: str | None = None


@dataclass(frozen=True)
class CacheStats:
    hits: int
    # One miss is one model run (concurrent requests for the same key share a run).
    misses: int
    entries: int


def restore_underscored_words(original: str, translated: str) -> str:
    """Put back words like ``mood_log_2`` that the decoder turned into ``mood log 2``."""
    for word in dict.fromkeys(_UNDERSCORED_WORD.findall(original)):
        spaced = re.sub(r"_+", " ", word).strip()
        translated = translated.replace(spaced, word)
    return translated


def sentencizer_for(package: Any) -> Any:
    """The package's own MiniSBD model if it ships one (offline), else our rule-based splitter."""
    bundled = package.package_path / "minisbd"
    if bundled.is_dir() and any(p.suffix == ".onnx" for p in bundled.iterdir()):
        # argostranslate reads its settings at import: imported only after packages.py set them
        from argostranslate.sbd import MiniSBDSentencizer

        return MiniSBDSentencizer(package)
    return RuleBasedSentencizer(package.from_code)


class Translator:
    """Translates with the packages installed under ``Settings.data_dir``; one per app."""

    def __init__(self, settings: Settings, *, workers: int = DEFAULT_WORKERS,
                 cache_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="translation")
        self._cache_entries = cache_entries
        self._cache: OrderedDict[tuple[bytes, str, str], str] = OrderedDict()
        self._in_flight: dict[tuple[bytes, str, str], asyncio.Future[str]] = {}
        self._hits = 0
        self._misses = 0
        # Guards the route table and every route's first run (which loads its model files).
        self._routes_lock = threading.Lock()
        self._routes: dict[tuple[str, str], Any] | None = None
        self._warm: set[tuple[str, str]] = set()

    async def translate(self, text: str, source: str, target: str) -> TranslationResult:
        """Translate ``text``; never raises for missing packages or model errors."""
        if source == target:
            return TranslationResult(text, source, target, False, NOTE_SAME_LANGUAGE)
        if not text.strip():
            return TranslationResult(text, source, target, False, NOTE_EMPTY)
        routes = self._routes
        if routes is not None and (source, target) not in routes:
            # Known to be missing: answer without queueing behind running translations.
            return TranslationResult(text, source, target, False, NOTE_NO_PACKAGE)
        key = (hashlib.blake2b(text.encode(), digest_size=16).digest(), source, target)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self._hits += 1
            return TranslationResult(cached, source, target, True)
        running = self._in_flight.get(key)
        if running is not None:
            self._hits += 1
            return await self._result_of(asyncio.shield(running), text, source, target)
        self._misses += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._translate_blocking,
                                      text, source, target)
        self._in_flight[key] = future
        try:
            result = await self._result_of(asyncio.shield(future), text, source, target)
        finally:
            self._in_flight.pop(key, None)
        if result.translated:
            self._remember(key, result.text)
        return result

    async def translate_for_targets(self, text: str, source: str, targets: set[str],
                                    ) -> dict[str, TranslationResult]:
        """One translation per target language, however many recipients read each."""
        languages = sorted(targets)
        results = await asyncio.gather(
            *(self.translate(text, source, target) for target in languages))
        return dict(zip(languages, results))

    def cache_stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses, entries=len(self._cache))

    async def available_pairs(self) -> set[tuple[str, str]]:
        """Every (source, target) this translator can serve, pivots included."""
        loop = asyncio.get_running_loop()
        routes = await loop.run_in_executor(self._executor, self._route_table)
        return set(routes)

    def reload(self) -> None:
        """Pick up packages installed since the first translation (cache entries stay valid)."""
        with self._routes_lock:
            self._routes = None
            self._warm.clear()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _result_of(self, future: Any, text: str, source: str, target: str,
                         ) -> TranslationResult:
        try:
            translated = await future
        except Exception:
            log.exception("translation %s -> %s failed", source, target)
            return TranslationResult(text, source, target, False, NOTE_FAILED)
        if translated is None:
            return TranslationResult(text, source, target, False, NOTE_NO_PACKAGE)
        return TranslationResult(translated, source, target, True)

    def _remember(self, key: tuple[bytes, str, str], translated: str) -> None:
        self._cache[key] = translated
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)

    def _translate_blocking(self, text: str, source: str, target: str) -> str | None:
        route = self._route_table().get((source, target))
        if route is None:
            return None
        if (source, target) not in self._warm:
            # argostranslate loads the CTranslate2 model and tokenizer on first use without a
            # lock; loading once, under ours, avoids two threads loading the same files.
            with self._routes_lock:
                translated = route.translate(text)
                self._warm.add((source, target))
        else:
            translated = route.translate(text)
        return restore_underscored_words(text, translated)

    def _route_table(self) -> dict[tuple[str, str], Any]:
        with self._routes_lock:
            if self._routes is None:
                self._routes = self._build_routes()
            return self._routes

    def _build_routes(self) -> dict[tuple[str, str], Any]:
        argos_package = argos_package_module(self._settings)
        # as in sentencizer_for: argostranslate only after its settings are in the environment
        from argostranslate.translate import (
            CompositeTranslation,
            Language,
            PackageTranslation,
        )

        languages: dict[str, Any] = {}
        routes: dict[tuple[str, str], Any] = {}
        found = argos_package.get_installed_packages(path=[packages_dir(self._settings)])
        for package in found:
            if package.type != "translate":
                continue
            source = languages.setdefault(package.from_code,
                                          Language(package.from_code, package.from_name))
            target = languages.setdefault(package.to_code,
                                          Language(package.to_code, package.to_name))
            translation = PackageTranslation(source, target, package)
            translation.sentencizer = sentencizer_for(package)
            routes[(package.from_code, package.to_code)] = translation
        for (source, middle), first in list(routes.items()):
            if middle != PIVOT_LANGUAGE:
                continue
            for (start, target), second in list(routes.items()):
                if start == PIVOT_LANGUAGE and target != source and (source, target) not in routes:
                    routes[(source, target)] = CompositeTranslation(first, second)
        log.info("translation routes: %s", sorted(routes))
        return routes
