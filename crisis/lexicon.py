"""Per-language risk lexicons, loaded from package JSON and compiled into one Aho–Corasick automaton.

The phrase lists are data (``crisis/lexicon_<lang>.json``, flat so setuptools ships them as package data) so clinicians can review and extend them
without touching code. Each language compiles to a single automaton: one pass over a message finds
every phrase at once, whatever the number of phrases, which is what keeps scanning in the
microseconds. Keys are padded with spaces, so every hit is a whole-word hit.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import ahocorasick

from crisis.normalize import normalize_phrase, register_vocabulary

Kind = Literal["risk", "amplifier", "figurative", "harassment"]
# When two lexicon entries normalise to the same key, the earlier kind wins: a phrase listed as
# figurative must never be re-armed by a risk entry that happens to share its spelling.
_KIND_PRECEDENCE: dict[str, int] = {"figurative": 0, "harassment": 1, "risk": 2, "amplifier": 3}
_SLOT = re.compile(r"\{(\w+)\}")
_MAX_SLOT_DEPTH = 4  # slots may reference slots ("{kill}" → "commit {suicide}"); bounded


@dataclass(frozen=True, slots=True)
class Entry:
    """One lexicon phrase as the automaton reports it."""

    phrase: str  # canonical form, reported in Detection.matches
    kind: Kind
    tier: int
    category: str
    length: int  # in tokens
    self_evident: bool  # the phrase itself names the speaker ("kill myself", "without me")


@dataclass(frozen=True)
class Lexicon:
    """A compiled lexicon for one language, with the word lists that steer negation and subject."""

    language: str
    automaton: ahocorasick.Automaton
    negations: frozenset[str]
    pseudo_negations: frozenset[tuple[str, ...]]
    self_markers: frozenset[str]
    other_subjects: frozenset[str]
    negation_window: int
    subject_window: int
    size: int  # number of distinct keys


def available_languages() -> tuple[str, ...]:
    """Languages with a lexicon file shipped in the package."""
    names = (p.name for p in resources.files("crisis").iterdir())
    return tuple(sorted(n.removeprefix("lexicon_").removesuffix(".json") for n in names
                        if n.startswith("lexicon_") and n.endswith(".json")))


def expand(phrase: str, slots: dict[str, list[str]]) -> list[str]:
    """Every spelling of a phrase with its ``{slot}`` placeholders filled in."""
    phrases = [phrase]
    for _ in range(_MAX_SLOT_DEPTH):
        if not any(_SLOT.search(p) for p in phrases):
            break
        expanded: list[str] = []
        for p in phrases:
            names = _SLOT.findall(p)
            if not names:
                expanded.append(p)
                continue
            template = _SLOT.sub("{}", p)
            for choice in itertools.product(*(slots[name] for name in names)):
                expanded.append(template.format(*choice))
        phrases = expanded
    return [" ".join(p.split()) for p in phrases]


def _tokens(words: list[str]) -> frozenset[str]:
    return frozenset(normalize_phrase(w) for w in words)


@cache
def load_lexicon(language: str) -> Lexicon:
    """Load and compile the lexicon of ``language`` (once per process)."""
    raw = json.loads((resources.files("crisis") / f"lexicon_{language}.json").read_text("utf-8"))
    slots: dict[str, list[str]] = raw.get("slots", {})
    self_markers = _tokens(raw["self_markers"])
    groups = sorted(raw["groups"], key=lambda g: (_KIND_PRECEDENCE[g["kind"]], -g.get("tier", 0)))

    # Risk vocabulary first, so a masked word ("k*l") resolves to a risk word before any other.
    vocabulary = [w for g in groups if g["kind"] == "risk" for p in g["phrases"] for e in expand(p, slots)
                  for w in e.split()]
    register_vocabulary(normalize_phrase(w) for w in vocabulary)

    automaton = ahocorasick.Automaton()
    for group in groups:
        for written in group["phrases"]:
            for phrase in expand(written, slots):
                key = normalize_phrase(phrase)
                if not key or automaton.exists(f" {key} "):
                    continue
                words = key.split()
                entry = Entry(phrase=phrase, kind=group["kind"], tier=int(group.get("tier", 0)),
                              category=group["category"], length=len(words),
                              self_evident=any(w in self_markers for w in words))
                automaton.add_word(f" {key} ", entry)
    automaton.make_automaton()
    return Lexicon(
        language=language,
        automaton=automaton,
        negations=_tokens(raw["negations"]),
        pseudo_negations=frozenset(tuple(normalize_phrase(p).split()) for p in raw["pseudo_negations"]),
        self_markers=self_markers,
        other_subjects=_tokens(raw["other_subjects"]),
        negation_window=int(raw["negation_window"]),
        subject_window=int(raw["subject_window"]),
        size=len(automaton),
    )
