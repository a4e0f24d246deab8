"""Which language a chat message is in, among the languages the detector covers natively.

py3langid restricted to our languages is fast (~10 µs) and accurate on sentences, but a
two-word message carries too little signal: there the caller's hint (the user's profile or UI
language) is the better guess.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from py3langid.langid import MODEL_FILE, LanguageIdentifier

SHORT_MESSAGE_WORDS = 4  # below this many words, a caller's hint beats identification
DEFAULT_LANGUAGE = "en"

Source = Literal["caller", "identified", "default"]


@cache
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(languages))
    return identifier


def primary_subtag(language: str) -> str:
    """"es-MX", "ES_mx", "es" → "es"."""
    return language.replace("_", "-").split("-", 1)[0].strip().lower()


def identify(text: str, supported: tuple[str, ...], hint: str | None = None) -> tuple[str, Source]:
    """Language of ``text`` and where that answer came from.

    A hint outside ``supported`` is returned as is (the caller then knows the text was not
    scanned natively). A supported hint wins on short messages; on longer ones the identifier
    decides, because users often write in a language other than their profile's.
    """
    if hint:
        hint = primary_subtag(hint)
        if hint not in supported:
            return hint, "caller"
        if len(text.split()) < SHORT_MESSAGE_WORDS:
            return hint, "caller"
    if not any(c.isalpha() for c in text):
        return (hint, "caller") if hint else (DEFAULT_LANGUAGE, "default")
    language, _score = _identifier(supported).classify(text)
    return language, "identified"
