"""Turn a chat message into the canonical token stream the lexicon automata match against.

People in distress do not write dictionary text: they shout ("KIIIILL"), hide words from
filters ("k1ll", "su1c1de", "k*ll", "k.i.l.l", "$uicide"), drop accents on phones ("matarme",
"ojala"), and put numbers next to pills ("took 30 tylenol"). Every transformation here is applied
identically to lexicon phrases and to messages, so a phrase written once in plain form matches all
of these spellings.

The output is a list of tokens (words, the number placeholders ``#``/``##`` and the clause
boundary ``|``), each remembering the character span of the raw word it came from so a
detection can quote the original text.  Token normalisation is cached because chat vocabulary
repeats heavily; this keeps the per-message cost to a dictionary look-up per word.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable, NamedTuple

CLAUSE_BOUNDARY = "|"
SMALL_NUMBER = "#"  # a count from 0 to 9: "took 2 tylenol" is an ordinary dose
LARGE_NUMBER = "##"  # 10 and above: "took 30 tylenol" is an overdose
_LARGE_NUMBER_FROM = 10

# Look-alike characters used to dodge word filters. Applied only inside words that also contain
# letters, so a plain "30" stays a number.
_LEET = str.maketrans({"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "|": "i", "0": "o",
                       "5": "s", "$": "s", "7": "t", "+": "t"})
_APOSTROPHES = str.maketrans({"’": "", "‘": "", "'": "", "`": "", "´": ""})
_DOSE_UNITS = frozenset({"mg", "g", "ml", "x", "mcg", "pills", "pill", "pastillas", "pastilla"})
# Spelled-out counts in the natively covered languages; only "how many" matters, not the value.
_NUMBER_WORDS = {
    **dict.fromkeys(("ten", "eleven", "twelve", "fifteen", "twenty", "thirty", "forty", "fifty",
                     "sixty", "hundred", "hundreds", "dozen", "dozens"), LARGE_NUMBER),
    **dict.fromkeys(("diez", "once", "doce", "quince", "veinte", "treinta", "cuarenta",
                     "cincuenta", "cien", "cientos", "docena", "docenas"), LARGE_NUMBER),
}
_RAW_WORD = re.compile(r"\S+")
_REPEATS = re.compile(r"(.)\1+")
_CLAUSE_PUNCT = frozenset(".,;:!?¿¡…()[]{}\"“”«»")
_INNER_SEPARATORS = re.compile(r"[._\-·/~]+")
_KEEP = re.compile(r"[^a-z0-9#*]")
_DIGITS = re.compile(r"\d+")
_LEADING_NUMBER = re.compile(r"^(\d+)([a-z]+)$")

# Masked forms ("k*ll", "su*cide") resolved against the lexicon vocabulary; filled by
# register_vocabulary() when a lexicon is built.
_unmask: dict[str, str] = {}


class Token(NamedTuple):
    """One canonical token and the character span of the raw word it came from."""

    text: str
    start: int
    end: int


def fold(text: str) -> str:
    """Lower-case and strip accents, so "Jamás", "jamas" and "JAMÁS" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def collapse_repeats(word: str) -> str:
    """Squash runs of one character ("kiiiill" → "kil"); lexicon words get the same treatment."""
    return _REPEATS.sub(r"\1", word)


def register_vocabulary(words: Iterable[str]) -> None:
    """Teach the normaliser which masked spellings stand for which lexicon words.

    Every single-character mask ("k*l", "*il") and the all-vowels mask ("s**c*d*") of each
    canonical word is recorded; the first word to claim a mask keeps it, so callers register
    higher-risk vocabulary first.
    """
    for word in words:
        if len(word) < 3 or not word.isalpha():
            continue
        masks = {word[:i] + "*" + word[i + 1:] for i in range(len(word))}
        masks.add("".join("*" if c in "aeiou" else c for c in word))
        for mask in masks:
            _unmask.setdefault(collapse_repeats(mask), word)
    _normalise_word.cache_clear()


def _canonical_word(core: str) -> tuple[str, ...]:
    """Canonical form of a word with no outer punctuation and no inner separators."""
    if not core:
        return ()
    if core in (SMALL_NUMBER, LARGE_NUMBER):  # placeholders written in lexicon phrases
        return (core,)
    if core in _NUMBER_WORDS:
        return (_NUMBER_WORDS[core],)
    has_letters = any(c.isalpha() for c in core)
    has_digits = any(c.isdigit() for c in core)
    if has_digits and not has_letters:
        digits = _DIGITS.findall(core)
        if not digits:
            return ()
        return (_number_token(digits[0]),)
    if has_digits:
        dose = _LEADING_NUMBER.match(core)
        if dose and dose.group(2) in _DOSE_UNITS:  # "500mg", "30x": a count, not leet-speak
            return (_number_token(dose.group(1)), dose.group(2))
    word = core.translate(_LEET) if (has_letters or "$" in core or "@" in core) else core
    word = collapse_repeats(_KEEP.sub("", word))
    if "*" in word:
        word = _unmask.get(word, word.replace("*", ""))
    return (word,) if word else ()


def _number_token(digits: str) -> str:
    return LARGE_NUMBER if int(digits[:6]) >= _LARGE_NUMBER_FROM else SMALL_NUMBER


@lru_cache(maxsize=65536)
def _normalise_word(raw: str) -> tuple[str, ...]:
    """Canonical tokens for one whitespace-delimited raw word (cached: chat vocabulary repeats)."""
    word = fold(raw).translate(_APOSTROPHES)
    lead = 0
    while lead < len(word) and (word[lead] in _CLAUSE_PUNCT or not (word[lead].isalnum() or word[lead] in "$@*#")):
        lead += 1
    trail = len(word)
    while trail > lead and (word[trail - 1] in _CLAUSE_PUNCT or not (word[trail - 1].isalnum() or word[trail - 1] in "*#")):
        trail -= 1
    leading, core, trailing = word[:lead], word[lead:trail], word[trail:]
    out: list[str] = []
    if any(c in _CLAUSE_PUNCT for c in leading):
        out.append(CLAUSE_BOUNDARY)
    parts = [p for p in _INNER_SEPARATORS.split(core) if p]
    if len(parts) > 2 and all(len(p) == 1 for p in parts):  # "k.i.l.l", "s-u-i-c-i-d-e"
        out.extend(_canonical_word("".join(parts)))
    else:
        for index, part in enumerate(parts):
            if index and "." in core and re.search(r"[a-z]\.[a-z]", core):
                out.append(CLAUSE_BOUNDARY)  # "tired.i want" is two clauses typed without a space
            out.extend(_canonical_word(_trim_clause_punct(part, out)))
    if any(c in _CLAUSE_PUNCT for c in trailing):
        out.append(CLAUSE_BOUNDARY)
    return tuple(out)


def _trim_clause_punct(part: str, out: list[str]) -> str:
    """Punctuation glued inside a word ("die,tonight") still separates clauses."""
    if any(c in _CLAUSE_PUNCT for c in part):
        pieces = [p for p in re.split(r"[.,;:!?¿¡…()\"“”«»\[\]{}]+", part) if p]
        for piece in pieces[:-1]:
            out.extend(_canonical_word(piece))
            out.append(CLAUSE_BOUNDARY)
        return pieces[-1] if pieces else ""
    return part


def tokenize(text: str) -> list[Token]:
    """Canonical tokens of a message, with runs of spaced-out letters ("k i l l") joined."""
    tokens: list[Token] = []
    for raw in _RAW_WORD.finditer(text):
        start, end = raw.span()
        for piece in _normalise_word(raw.group()):
            tokens.append(Token(piece, start, end))
    return _join_spelled_out(tokens)


def _join_spelled_out(tokens: list[Token]) -> list[Token]:
    """Join three or more single-letter tokens in a row: "k i l l" → "kil"."""
    if len(tokens) < 3 or not _has_letter_run(tokens):
        return tokens
    joined: list[Token] = []
    run: list[Token] = []
    for token in tokens + [Token(CLAUSE_BOUNDARY, -1, -1)]:
        if len(token.text) == 1 and token.text.isalpha():
            run.append(token)
            continue
        if len(run) >= 3:
            word = _canonical_word("".join(t.text for t in run))
            if word:
                joined.append(Token(word[0], run[0].start, run[-1].end))
        else:
            joined.extend(run)
        run = []
        if token.start >= 0:
            joined.append(token)
    return joined


def _has_letter_run(tokens: list[Token]) -> bool:
    run = 0
    for token in tokens:
        run = run + 1 if len(token.text) == 1 and token.text.isalpha() else 0
        if run == 3:
            return True
    return False


def normalize_phrase(phrase: str) -> str:
    """Canonical form of a lexicon phrase, as a space-joined token string."""
    return " ".join(t.text for t in tokenize(phrase))
