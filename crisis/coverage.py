"""Which languages safety monitoring reads, and which it cannot.

A message in a language with neither a lexicon nor a translation to English cannot be scanned.
That must never look like a clean tier 0: the server names those languages at start-up, in
``/healthz`` and to every member in the room's consent text, and marks each such message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crisis.detector import SUPPORTED_LANGUAGES

if TYPE_CHECKING:
    from server.services import Services

SCAN_LANGUAGE = "en"


@dataclass(frozen=True)
class Coverage:
    native: tuple[str, ...]
    via_translation: tuple[str, ...]
    not_covered: tuple[str, ...]

    def covers(self, language: str) -> bool:
        return language in self.native or language in self.via_translation

    def to_dict(self) -> dict[str, list[str]]:
        return {"native": list(self.native), "via_translation": list(self.via_translation),
                "not_covered": list(self.not_covered)}


def coverage(message_languages: Iterable[str], translation_pairs: Iterable[tuple[str, str]]) -> Coverage:
    """Native lexicons first; then any language an installed package turns into English.

    ``message_languages`` are the languages this deployment expects people to write in; those
    that are neither native nor translatable are the ones reported as not covered.
    """
    native = tuple(SUPPORTED_LANGUAGES)
    via = tuple(sorted({source for source, target in translation_pairs
                        if target == SCAN_LANGUAGE and source not in native}))
    missing = tuple(code for code in dict.fromkeys(message_languages) if code not in native and code not in via)
    return Coverage(native, via, missing)


async def scan_coverage(services: "Services") -> Coverage:
    """This deployment's coverage now: translation packages can be installed while it runs."""
    pairs = await services.translation.translator().available_pairs()
    return coverage(services.settings.message_languages, pairs)


async def coverage_report(services: "Services") -> dict[str, list[str]]:
    """The ``safety_monitoring`` section of ``/healthz``."""
    return (await scan_coverage(services)).to_dict()
