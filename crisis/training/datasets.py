"""The labelled texts the classifier learns from and is measured on, each with its source and split.

Splits are fixed by a hash of a grouping key, so every run sees the same ones: Reddit C-SSRS by
*user* (a user's posts share words and a label: splitting by post would leak), GoEmotions by its
published files, authored sets by line for train/validation and by file for evaluation.

Risk labels are tiers (0..3) as in crisis/detector.py. C-SSRS labels users, not posts: a post of
an "Ideation" user may be a reply helping someone else. That noise is accepted for training; the
evaluation reports C-SSRS per post *and* per user (worst post), as a moderator would see it.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DATA = Path(__file__).parent / "data"
CHAT_SETS = Path(__file__).resolve().parents[2] / "tests" / "data" / "crisis"  # the lexicons' own chat sets
Split = Literal["train", "validation", "test"]

CSSRS_TIERS = {"Supportive": 0, "Indicator": 1, "Ideation": 2, "Behavior": 3, "Attempt": 3}
# GoEmotions raters labelled emotions, not risk; these comments are everyday talk (incl. grief,
# sadness and dark humour) and are used as tier 0.
_GOEMOTIONS_FILES: dict[str, Split] = {"train.tsv": "train", "dev.tsv": "validation", "test.tsv": "test"}
# The C-SSRS release replaced some words by medical concept names ("Tired aware", "Asthenia");
# these are mapped back to plain words so the model does not learn the release's artefacts.
_CSSRS_ARTEFACTS = {"Tired aware": "well aware", "Asthenia": "week", "Pain": "hurt"}


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    language: str
    tier: int
    source: str  # cssrs | goemotions | authored
    split: Split
    group: str  # split key: user, comment or line id
    note: str = ""

    @property
    def at_risk(self) -> bool:
        return self.tier >= 1


def bucket(key: str, validation: float = 0.2, test: float = 0.2) -> Split:
    """A stable split for a grouping key."""
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    if value < test:
        return "test"
    if value < test + validation:
        return "validation"
    return "train"


def _posts(cell: str) -> list[str]:
    """The Post column is a Python list literal; a few rows are truncated, so fall back to splitting."""
    try:
        return [str(p) for p in ast.literal_eval(cell)]
    except (SyntaxError, ValueError):
        return [p for p in re.split(r"', '|\", \"", cell.strip("[]'\"")) if p]


_URL = re.compile(r"https?://\S+|www\.\S+|\S+\.com\S*")
MIN_CSSRS_WORDS = 6  # shorter posts are greetings and thanks, which carry their user's label as pure noise


def clean(text: str) -> str:
    """Remove what only one source has (links, HTML entities, GoEmotions' "[NAME]" masks), so the
    model learns how people write about risk and not which site a text came from."""
    text = html.unescape(_URL.sub(" ", text))
    return text.replace("[NAME]", "").replace("[RELIGION]", "religion")


def _clean_cssrs(post: str) -> str:
    for artefact, word in _CSSRS_ARTEFACTS.items():
        post = post.replace(artefact, word)
    return clean(post)


def cssrs() -> Iterator[Example]:
    """Reddit C-SSRS (Gaur et al. 2019, CC BY 4.0): one example per post, labelled with its user's tier."""
    path = DATA / "cssrs" / "500_Reddit_users_posts_labels.csv"
    with path.open(encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            split = bucket("cssrs:" + row["User"])
            for post in _posts(row["Post"]):
                if len(post.split()) >= MIN_CSSRS_WORDS:
                    yield Example(_clean_cssrs(post), "en", CSSRS_TIERS[row["Label"]], "cssrs", split, row["User"],
                                  row["Label"])


def goemotions(labels_wanted: frozenset[str] | None = None) -> Iterator[Example]:
    """GoEmotions (Demszky et al. 2020, Apache-2.0) comments as tier-0 everyday talk."""
    names = (DATA / "goemotions" / "labels.txt").read_text("utf-8").split()
    for filename, split in _GOEMOTIONS_FILES.items():
        with (DATA / "goemotions" / filename).open(encoding="utf-8") as rows:
            for line in rows:
                text, label_ids, comment_id = line.rstrip("\n").split("\t")
                emotions = ",".join(names[int(i)] for i in label_ids.split(","))
                if labels_wanted is None or labels_wanted & set(emotions.split(",")):
                    yield Example(clean(text), "en", 0, "goemotions", _goemotions_split(split, comment_id), comment_id,
                                  emotions)


def _goemotions_split(published: Split, comment_id: str) -> Split:
    """Half of the published dev file validates, half trains: the validation mix then holds about as
    many risk posts as public sets of social-media posts do (a third), so thresholds chosen on it
    are not tuned to a flood of everyday comments."""
    if published != "validation":
        return published
    return "validation" if bucket("goemotions:" + comment_id, validation=0.0, test=0.5) == "test" else "train"


def authored(language: str | None = None) -> Iterator[Example]:
    """The project's own written sets: ``<lang>.train.jsonl`` and the chat sets the lexicons were
    written beside (train/validation), ``<lang>.eval.jsonl`` (test)."""
    paths = sorted((DATA / "authored").glob("*.jsonl")) + sorted(CHAT_SETS.glob("*.jsonl"))
    for path in paths:
        lang, kind = (path.name.split(".")[:2] if path.parent != CHAT_SETS else (path.stem, "train"))
        if language is not None and lang != language:
            continue
        with path.open(encoding="utf-8") as rows:
            for number, line in enumerate(rows):
                if not line.strip():
                    continue
                row = json.loads(line)
                key = f"{path.parent.name}/{path.name}:{number}"
                split: Split = "test" if kind == "eval" else bucket(key, validation=0.25, test=0.0)
                group = f"{path.name}:group:{row['group']}" if "group" in row else key
                yield Example(row["text"], row.get("language", lang), int(row["expected_tier"]), "authored", split,
                              group, row.get("note", ""))


def all_examples() -> list[Example]:
    """Every labelled text the project has."""
    return [*cssrs(), *goemotions(), *authored()]
