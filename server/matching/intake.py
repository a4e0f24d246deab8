"""A mentee's intake: what support they look for, their goals, languages, the kind of relationship
and the preferences they choose to state. Every field is optional and may be changed or deleted.

Sealed at rest as one JSON value with a data key of the mentee's own, wrapped by the master key
(record id ``intake:<user id>``, like a safety plan): the areas alone say what someone lives with.
Only the mentee reads it back; the ranking opens it for the mentee's own request; a mentor they
ask sees the support areas and languages they asked with (never the goals).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

import msgspec
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import InvalidPayload
from server.core.i18n import N_
from server.storage.database import session_keyring
from server.storage.models import MenteeIntake

from .vocabulary import AGE_RANGES, AREAS, FORMATS, GENDERS, PARTS_OF_DAY, RELATIONSHIPS

INTAKE_RECORD = "intake"
GOALS_MAX_CHARS = 1000
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


class Preferences(msgspec.Struct, forbid_unknown_fields=True):
    gender: str = ""  # one of GENDERS, or "" for no preference
    age_range: str = ""  # one of AGE_RANGES
    shared_experience: bool = False  # prefer a mentor who lived through what I look for support with


class Intake(msgspec.Struct, forbid_unknown_fields=True):
    support: Annotated[list[str], msgspec.Meta(max_length=len(AREAS))] = []
    goals: Annotated[str, msgspec.Meta(max_length=GOALS_MAX_CHARS)] = ""
    languages: Annotated[list[str], msgspec.Meta(max_length=10)] = []  # preferred first
    relationship: str = ""  # "", "peer" or "professional"
    format: str = ""  # "", "one_to_one" or "group"
    times: Annotated[list[str], msgspec.Meta(max_length=len(PARTS_OF_DAY))] = []  # parts of the day that suit me
    preferences: Preferences = msgspec.field(default_factory=Preferences)


INTAKE_MESSAGES: tuple[str, ...] = (
    N_("Unknown support area {code}."),
    N_("Languages are ISO 639 codes such as 'en' or 'es'."),
    N_("Choose a relationship of peer or professional, or none."),
    N_("Choose a format of one-to-one or group, or none."),
    N_("Times of day are morning, afternoon, evening or night."),
    N_("That preference is not one of the offered choices."),
)


def intake_key(user_id: str) -> str:
    return f"intake:{user_id}"


def validated(intake: Intake) -> Intake:
    """The intake as stored: codes checked, duplicates dropped, text trimmed."""
    for code in intake.support:
        if code not in AREAS:
            raise InvalidPayload("Unknown support area {code}.", code="invalid_area", params={"code": code[:40]})
    languages = [c.strip().lower() for c in intake.languages]
    if not all(LANGUAGE_RE.match(c) for c in languages):
        raise InvalidPayload("Languages are ISO 639 codes such as 'en' or 'es'.", code="invalid_languages")
    if intake.relationship not in ("", *RELATIONSHIPS):
        raise InvalidPayload("Choose a relationship of peer or professional, or none.")
    if intake.format not in ("", *FORMATS):
        raise InvalidPayload("Choose a format of one-to-one or group, or none.")
    if any(t not in PARTS_OF_DAY for t in intake.times):
        raise InvalidPayload("Times of day are morning, afternoon, evening or night.")
    prefs = intake.preferences
    if prefs.gender not in ("", *GENDERS) or prefs.age_range not in ("", *AGE_RANGES):
        raise InvalidPayload("That preference is not one of the offered choices.")
    return Intake(support=list(dict.fromkeys(intake.support)), goals=intake.goals.strip(),
                  languages=list(dict.fromkeys(languages)), relationship=intake.relationship, format=intake.format,
                  times=list(dict.fromkeys(intake.times)), preferences=prefs)


def intake_view(intake: Intake | None) -> dict[str, Any] | None:
    return msgspec.to_builtins(intake) if intake is not None else None


async def load_intake(session: AsyncSession, user_id: str) -> Intake | None:
    row = await session.get(MenteeIntake, user_id)
    if row is None:
        return None
    raw = session_keyring(session).open(intake_key(user_id), row.wrapped_key, INTAKE_RECORD, row.nonce, row.ciphertext)
    return msgspec.json.decode(raw, type=Intake)


async def save_intake(session: AsyncSession, user_id: str, intake: Intake) -> Intake:
    """Replace the mentee's intake (validated) with ``intake``."""
    clean = validated(intake)
    keyring = session_keyring(session)
    row = await session.get(MenteeIntake, user_id)
    if row is None:
        row = MenteeIntake(user_id=user_id, wrapped_key=keyring.new_room_key(intake_key(user_id)))
        session.add(row)
    row.nonce, row.ciphertext = keyring.seal(intake_key(user_id), row.wrapped_key, INTAKE_RECORD, msgspec.json.encode(clean).decode())
    row.updated_at = datetime.now(timezone.utc)
    return clean


async def delete_intake(session: AsyncSession, user_id: str) -> bool:
    """Forget the intake, key and all; True if there was one."""
    result = await session.execute(delete(MenteeIntake).where(MenteeIntake.user_id == user_id))
    session_keyring(session).forget_room(intake_key(user_id))
    return bool(result.rowcount)
