"""The words matching is made of: support areas, program tracks, certification levels and the
preferences a mentee may state. Codes on the wire and in storage; the web client names them in
the reader's language (static/i18n, keys ``mentors.area.<code>`` and so on)."""

from __future__ import annotations

# Support areas a mentor helps with and a mentee looks for.
AREAS = ("anxiety", "depression", "grief", "addiction_recovery", "ptsd", "lgbtq", "youth", "relationships", "stress",
         "self_esteem", "loneliness", "family", "trauma", "eating_disorders", "sleep", "chronic_illness")

# Program tracks a mentor serves in.
PEER, PROFESSIONAL, SPECIALIZED, GROUP = "peer", "professional", "specialized", "group"
TRACKS = (PEER, PROFESSIONAL, SPECIALIZED, GROUP)

# Certification levels (granted by staff) and the training hours each stands for.
CERTIFICATION_HOURS = {"basic": 20, "advanced": 40, "specialist": 60, "master": 100, "professional": 150}
CERTIFICATIONS = tuple(CERTIFICATION_HOURS)

# What a mentee may state about the mentor they would like; "" means "no preference".
GENDERS = ("woman", "man", "nonbinary")
AGE_RANGES = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
RELATIONSHIPS = (PEER, PROFESSIONAL)
FORMATS = ("one_to_one", "group")

# Parts of a day in a person's own zone, as [start hour, end hour).
PARTS_OF_DAY = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def part_of_day(hour: int) -> str:
    """The part of the day a local hour falls in."""
    for name, (start, end) in PARTS_OF_DAY.items():
        if start <= hour < end:
            return name
    raise ValueError(f"hour {hour} is not 0–23")
