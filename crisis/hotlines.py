"""Crisis lines to show a person at risk, chosen by country, locale or language.

Published apps have shipped wrong helpline numbers, so every entry in ``hotlines.json`` carries the
page it was checked against and the date of that check; ``stale_entries`` lists what is due for a
re-check (and every entry never confirmed) so the list cannot silently rot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

INTERNATIONAL = "INTL"
# Where no country is known, a language alone points at the countries most of its speakers live in.
LANGUAGE_DEFAULTS: dict[str, tuple[str, ...]] = {
    "es": ("ES", "MX"),
    "pt": ("BR", "PT"),
    "fr": ("FR",),
    "de": ("DE",),
    "nl": ("NL", "BE"),
    "it": ("IT",),
    "ja": ("JP",),
}


@dataclass(frozen=True, slots=True)
class Hotline:
    """One crisis service and where its numbers were checked."""

    country: str  # ISO 3166-1 alpha-2, or "INTL" for the international fallback
    service: str
    phone: tuple[str, ...]
    text: tuple[str, ...]
    url: str
    languages: tuple[str, ...]
    source: str
    source_kind: str
    last_verified: date | None
    verified: bool
    emergency: str | None  # the country's general emergency number
    notes: str = ""
    hours: str | None = None  # "24/7" when the source says so; None when not known


def _hotline(raw: dict, country: str, emergency: str | None) -> Hotline:
    checked = raw.get("last_verified")
    return Hotline(
        country=country,
        service=raw["service"],
        phone=tuple(raw.get("phone", ())),
        text=tuple(raw.get("text", ())),
        url=raw["url"],
        languages=tuple(raw.get("languages", ())),
        source=raw["source"],
        source_kind=raw["source_kind"],
        last_verified=date.fromisoformat(checked) if checked else None,
        verified=bool(raw["verified"]),
        emergency=emergency,
        notes=raw.get("notes", ""),
        hours=raw.get("hours"),
    )


@cache
def load_hotlines() -> tuple[Hotline, ...]:
    """Every hotline in the package data, the international fallback last."""
    raw = json.loads((resources.files("crisis") / "hotlines.json").read_text("utf-8"))
    lines = [
        _hotline(entry, block["country"], block.get("emergency"))
        for block in raw["countries"]
        for entry in block["hotlines"]
    ]
    lines.append(_hotline(raw["international_fallback"], INTERNATIONAL, None))
    return tuple(lines)


def _country_lines(country: str) -> list[Hotline]:
    return [h for h in load_hotlines() if h.country == country]


def _region_of(locale: str) -> str | None:
    """"es-MX", "es_MX", "zh-Hant-TW" → "MX"/"TW"; a bare language has no region."""
    parts = locale.replace("_", "-").split("-")[1:]
    regions = [p for p in parts if len(p) == 2 and p.isalpha()]
    return regions[-1].upper() if regions else None


def hotlines_for(country: str | None = None, locale: str | None = None) -> list[Hotline]:
    """Lines to show: the country's first, else the locale's region's, else its language's defaults.

    The international fallback always closes the list, so there is something to show even for a
    country we have no entry for.
    """
    fallback = _country_lines(INTERNATIONAL)
    candidates = [country.upper()] if country else []
    if locale:
        region = _region_of(locale)
        if region:
            candidates.append(region)
    for candidate in candidates:
        lines = _country_lines(candidate)
        if lines:
            return lines + fallback
    if locale:
        language = locale.replace("_", "-").split("-")[0].lower()
        chosen = [h for c in LANGUAGE_DEFAULTS.get(language, ()) for h in _country_lines(c)]
        return chosen + fallback
    return fallback


def stale_entries(today: date, max_age_days: int = 365) -> list[Hotline]:
    """Entries never confirmed, or last checked more than ``max_age_days`` before ``today``."""
    return [
        h for h in load_hotlines()
        if not h.verified or h.last_verified is None or (today - h.last_verified).days > max_age_days
    ]
