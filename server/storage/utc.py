"""One column type for every moment: aware UTC datetimes in and out, on SQLite and PostgreSQL.

SQLite has no time-zone type and hands back naive values; a naive value written to the wire
("2026-12-02T16:00:00") is read by a browser as its own local time, hours off for anyone outside
UTC. Every datetime column uses this type (``Base.type_annotation_map``), so code never sees a
naive datetime and never has to guess.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give an aware datetime (UTC) to the database")
        value = value.astimezone(timezone.utc)
        # SQLite's DATETIME drops the offset when it formats the value: store UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
