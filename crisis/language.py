"""Which language a chat message is in, among the languages the detector covers natively.

py3langid restricted to our languages is accurate on sentences but costs tens of µs, and a
two-word message carries too little signal: there the caller's hint (the user's profile or UI
language) is the better guess. Most people write in their profile language, so the hint is
trusted unless the message's function words say otherwise; only then is the identifier run.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from py3langid.langid import MODEL_FILE, LanguageIdentifier

SHORT_MESSAGE_WORDS = 4  # below this many words, a caller's hint beats identification
DEFAULT_LANGUAGE = "en"

Source = Literal["caller", "identified", "default"]

# The commonest function words of each language, accents folded (as crisis.normalize.fold does).
# A message whose words are not more typical of another language than of the hint keeps the hint.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is to you it of that my was this have for with just what im dont but".split()),
    "es": frozenset("el la que de y los las es en por una con para pero lo mi estoy esta muy yo".split()),
    "fr": frozenset("le la je et est pas les des que un une ne ce suis mon avec pour mais moi tout".split()),
    "de": frozenset("ich und nicht die der das ist mich zu es ein eine mir mit auf sie wir aber auch bin".split()),
    "pt": frozenset("nao que de eu um uma com para me os as voce isso muito estou mas meu minha ja".split()),
    "it": frozenset("che non il di mi un una per sono ho la le gli io ma questo mio cosa sto anche".split()),
}


@cache
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(languages))
    return identifier


def primary_subtag(language: str) -> str:
    """"es-MX", "ES_mx", "es" → "es"."""
    return language.replace("_", "-").split("-", 1)[0].strip().lower()


_LANGUAGES_OF_WORD: dict[str, tuple[str, ...]] = {}
for _language, _words in FUNCTION_WORDS.items():
    for _word in _words:
        _LANGUAGES_OF_WORD[_word] = (*_LANGUAGES_OF_WORD.get(_word, ()), _language)


def hint_fits(words: list[str], hint: str) -> bool:
    """True when no other language's function words outnumber the hint's among ``words``."""
    if hint not in FUNCTION_WORDS:
        return False
    counts: dict[str, int] = {}
    for word in words:
        for language in _LANGUAGES_OF_WORD.get(word, ()):
            counts[language] = counts.get(language, 0) + 1
    own = counts.get(hint, 0)
    return all(n <= own for n in counts.values())


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
