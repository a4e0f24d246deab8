"""The local ranking: relevance from nine weighted factors, then the fairness guard.

Relevance (0..1) is the weighted mean of, per mentor: language (speaks the mentee's first language:
1, another shared one: 0.7; no shared language at all: not eligible), area (share of the support the
mentee looks for that the mentor offers), availability (weekly hours both are free, in their own
zones, saturating at 3 h), track (fit with the relationship and format asked for), certification
(training hours), responsiveness (how fast they answer requests), rating (Bayesian average of
session ratings), preferences (the stated gender, age range and shared lived experience) and
capacity (share of seats still free, so the busiest are not flooded). Weights come from
``matching_weights``.

The fairness guard (``matching_fairness_*`` settings):
- eligibility first: paused mentors, full mentors, mentors the mentee left, declined by, blocked
  or was blocked by, and a professional relationship without a verified credential are never shown;
- exposure: every showing counts, decaying with a half-life; a share of the final score goes to
  low exposure (1 / (1 + exposure / the eligible mean)), so among comparable mentors the less
  shown rise and the most shown sink, and a new mentor (exposure 0) starts with the full share;
- exploration: every n-th place goes to the eligible mentor shown least of all, so nobody who can
  help is starved however their profile compares (marked "new" when rarely shown).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np

from .index import AGE_CODE, AREA_COLUMN, BIN_MINUTES, GENDER_CODE, TRACK_CODE, MentorIndex, bin_start, hour_bins
from .vocabulary import CERTIFICATION_HOURS, GROUP, PEER, PROFESSIONAL, part_of_day

# Weekly overlap at which the availability factor is full.
FULL_OVERLAP_MINUTES = 180
# Below this decayed exposure a mentor is called new in the reasons.
NEW_EXPOSURE = 3.0
MAX_AREA_REASONS = 3


@dataclass(frozen=True)
class Weights:
    language: float = 2.0
    area: float = 3.0
    availability: float = 2.0
    track: float = 1.0
    certification: float = 0.5
    responsiveness: float = 1.0
    rating: float = 1.0
    preferences: float = 1.0
    capacity: float = 0.5

    @classmethod
    def parse(cls, text: str) -> "Weights":
        """``"area=3,language=2"``: the named weights change, the others keep their defaults."""
        names = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, raw = part.partition("=")
            if name.strip() not in names:
                raise ValueError(f"unknown matching weight {name.strip()!r} (known: {', '.join(sorted(names))})")
            value = float(raw)
            if value < 0 or not np.isfinite(value):
                raise ValueError(f"matching weight {name.strip()} must be a finite number ≥ 0")
            values[name.strip()] = value
        weights = cls(**values)
        if sum(getattr(weights, n) for n in names) <= 0:
            raise ValueError("at least one matching weight must be above 0")
        return weights


@dataclass(frozen=True)
class Fairness:
    share: float = 0.3  # of the final score given to low exposure; 0 turns the exposure term off
    exploration_every: int = 5  # every n-th place goes to the least-shown eligible mentor; 0: never
    half_life_hours: float = 72.0


@dataclass(frozen=True)
class Query:
    """What one mentee asks for, ready for the arrays."""

    languages: tuple[str, ...] = ()  # preferred first; empty: any language
    areas: frozenset[str] = frozenset()
    hours: np.ndarray | None = None  # packed weekly UTC bins (index.weekly_hours); None: not stated
    relationship: str = ""
    format: str = ""
    gender: str = ""
    age_range: str = ""
    shared_experience: bool = False
    exclude: frozenset[str] = frozenset()
    only_area: str = ""
    only_language: str = ""
    only_track: str = ""


@dataclass(frozen=True)
class Ranked:
    position: int
    relevance: float
    score: float
    overlap_minutes: int
    explored: bool


def eligible(index: MentorIndex, q: Query) -> np.ndarray:
    ok = index.accepting & (index.seats < index.capacity)
    columns = [index.language_column[c] for c in q.languages if c in index.language_column]
    if q.languages:
        ok &= index.speaks[:, columns].sum(axis=1) > 0 if columns else False
    if q.only_language:
        column = index.language_column.get(q.only_language)
        ok &= index.speaks[:, column] > 0 if column is not None else False
    if q.only_area:
        ok &= index.areas[:, AREA_COLUMN[q.only_area]] > 0 if q.only_area in AREA_COLUMN else False
    if q.only_track:
        ok &= index.track == TRACK_CODE.get(q.only_track, -1)
    if q.relationship == PROFESSIONAL:
        ok &= (index.track == TRACK_CODE[PROFESSIONAL]) & index.verified
    for user_id in q.exclude:
        pos = index.position.get(user_id)
        if pos is not None:
            ok[pos] = False
    return np.asarray(ok, dtype=bool)


def overlap_minutes(index: MentorIndex, q: Query) -> np.ndarray:
    if q.hours is None:
        return np.zeros(index.size, dtype=np.float32)
    return np.bitwise_count(index.hours & q.hours).sum(axis=1, dtype=np.int32) * BIN_MINUTES


def relevance(index: MentorIndex, q: Query, w: Weights, overlap: np.ndarray) -> np.ndarray:
    n = index.size
    one = np.ones(n, dtype=np.float32)
    columns = [index.language_column[c] for c in q.languages if c in index.language_column]
    language = (0.7 + 0.3 * index.speaks[:, columns[0]]) if columns and q.languages[0] in index.language_column else one
    want = [AREA_COLUMN[a] for a in sorted(q.areas) if a in AREA_COLUMN]
    area = index.areas[:, want].sum(axis=1) / len(want) if want else np.zeros(n, dtype=np.float32)
    availability = np.minimum(1.0, overlap / FULL_OVERLAP_MINUTES)
    track = one.copy()
    if q.relationship == PEER:
        track *= np.where(index.track == TRACK_CODE[PROFESSIONAL], 0.3, np.where(index.track == TRACK_CODE[GROUP], 0.6, 1.0))
    if q.format == "group":
        track *= np.where(index.track == TRACK_CODE[GROUP], 1.0, 0.4)
    elif q.format == "one_to_one":
        track *= np.where(index.track == TRACK_CODE[GROUP], 0.4, 1.0)
    stated, matched = 0, np.zeros(n, dtype=np.float32)
    if q.gender in GENDER_CODE:
        stated += 1
        matched += index.gender == GENDER_CODE[q.gender]
    if q.age_range in AGE_CODE:
        stated += 1
        matched += index.age == AGE_CODE[q.age_range]
    if q.shared_experience and want:
        stated += 1
        matched += index.lived[:, want].sum(axis=1) / len(want)
    preferences = matched / stated if stated else np.zeros(n, dtype=np.float32)
    free = 1.0 - np.minimum(1.0, index.seats / np.maximum(1, index.capacity))
    total = (w.language * language + w.area * area + w.availability * availability + w.track * track
             + w.certification * index.certification + w.responsiveness * index.responsiveness + w.rating * index.rating
             + w.preferences * preferences + w.capacity * free)
    weight_sum = sum(getattr(w, f.name) for f in fields(w))
    return total / weight_sum


def rank(index: MentorIndex, q: Query, w: Weights, fairness: Fairness, now: float, count: int) -> list[Ranked]:
    """The best ``count`` eligible mentors, fairness applied, best first."""
    ok = eligible(index, q)
    candidates = np.flatnonzero(ok)
    if count <= 0 or candidates.size == 0:
        return []
    overlap = overlap_minutes(index, q)
    rel = relevance(index, q, w, overlap)
    exposure = index.exposure_now(now, fairness.half_life_hours)
    mean = float(exposure[candidates].mean())
    novelty = 1.0 / (1.0 + exposure / mean) if mean > 0 else np.ones(index.size)
    score = (1.0 - fairness.share) * rel + fairness.share * novelty
    take = min(count, candidates.size)
    best = candidates[np.argsort(-score[candidates], kind="stable")[:take]] if candidates.size <= 4 * take else \
        _top(candidates, score, take)
    explorers = take // fairness.exploration_every if fairness.exploration_every > 0 else 0
    least = _least_shown(candidates, exposure, rel, explorers + take) if explorers else []
    chosen: list[tuple[int, bool]] = []
    taken: set[int] = set()
    queue = iter(best.tolist())
    for place in range(take):
        explore = explorers and (place + 1) % fairness.exploration_every == 0
        pick = next((p for p in least if p not in taken), None) if explore else None
        if pick is None:
            pick = next((p for p in queue if p not in taken), None)
        if pick is None:
            break
        taken.add(pick)
        chosen.append((pick, bool(explore)))
    return [Ranked(p, float(rel[p]), float(score[p]), int(overlap[p]), explored) for p, explored in chosen]


def _top(candidates: np.ndarray, score: np.ndarray, take: int) -> np.ndarray:
    part = candidates[np.argpartition(-score[candidates], take - 1)[:take]]
    return part[np.argsort(-score[part], kind="stable")]


def _least_shown(candidates: np.ndarray, exposure: np.ndarray, rel: np.ndarray, take: int) -> list[int]:
    """Up to ``take`` candidates, least exposure first, the more relevant first among equals."""
    take = min(take, candidates.size)
    part = candidates[np.argpartition(exposure[candidates], take - 1)[:take]] if take < candidates.size else candidates
    order = np.lexsort((-rel[part], exposure[part]))
    return part[order].tolist()


def reasons(index: MentorIndex, pos: int, q: Query, viewer_zone: str, exposure: float) -> list[dict[str, object]]:
    """Why this mentor is suggested, as codes the client puts in plain words in the reader's
    language: "speaks Spanish · grief · free Tuesday evenings in your time"."""
    found: list[dict[str, object]] = []
    spoken = [c for c in q.languages if c in index.language_column and index.speaks[pos, index.language_column[c]]]
    if spoken:
        found.append({"kind": "language", "code": spoken[0]})
    for code in sorted(q.areas, key=lambda a: AREA_COLUMN.get(a, 99)):
        if code in AREA_COLUMN and index.areas[pos, AREA_COLUMN[code]] and len([r for r in found if r["kind"] == "area"]) < MAX_AREA_REASONS:
            found.append({"kind": "area", "code": code})
    when = best_time(index, pos, q, viewer_zone)
    if when is not None:
        found.append({"kind": "time", "weekday": when[0], "part": when[1]})
    if q.shared_experience:
        for code in sorted(q.areas):
            if code in AREA_COLUMN and index.lived[pos, AREA_COLUMN[code]]:
                found.append({"kind": "experience", "code": code})
                break
    hours = int(round(float(index.certification[pos]) * max(CERTIFICATION_HOURS.values())))
    level = next((name for name, h in CERTIFICATION_HOURS.items() if h == hours), "")
    if level:
        found.append({"kind": "certified", "code": level, "hours": hours})
    if index.verified[pos]:
        found.append({"kind": "verified"})
    if exposure < NEW_EXPOSURE:
        found.append({"kind": "new"})
    return found


def best_time(index: MentorIndex, pos: int, q: Query, viewer_zone: str) -> tuple[int, str] | None:
    """The weekday and part of the day (in the viewer's zone) with the most shared hours, or with
    the mentor's most hours when the viewer stated none."""
    bins = hour_bins(index.hours[pos] & q.hours if q.hours is not None else index.hours[pos])
    if not bins:
        return None
    return most_common_time(index.monday, bins, viewer_zone)


def most_common_time(monday: date, bins: list[int], zone_name: str) -> tuple[int, str]:
    zone = ZoneInfo(zone_name)
    counts: Counter[tuple[int, str]] = Counter()
    for b in bins:
        local = bin_start(monday, b).astimezone(zone)
        counts[(local.weekday(), part_of_day(local.hour))] += 1
    return max(counts.items(), key=lambda item: (item[1], -item[0][0]))[0]
