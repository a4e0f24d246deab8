"""Claiming due rows of a work queue (reminders, the reward outbox) so each is done once.

Several server processes poll the same tables. A claim marks up to ``limit`` due rows in one
UPDATE and returns what it marked: on PostgreSQL the candidates are locked ``SKIP LOCKED``, so
concurrent claimers take disjoint batches; SQLite serialises writers, so the re-checked
conditions in the UPDATE are enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.orm import InstrumentedAttribute

from .database import Database


async def claim_due(db: Database, id_column: InstrumentedAttribute[Any], conditions: Sequence[ColumnElement[bool]], *,
                    order_by: Any, limit: int, values: dict[str, Any], returning: Sequence[Any]) -> list[Row[Any]]:
    """Set ``values`` on the due rows (those meeting every condition) this process wins; return ``returning``."""
    due = select(id_column).where(*conditions).order_by(order_by).limit(limit)
    if not db.is_sqlite:
        due = due.with_for_update(skip_locked=True)
    async with db.transaction() as s:
        result = await s.execute(
            update(id_column.class_).where(id_column.in_(due.scalar_subquery()), *conditions)
            .values(**values).returning(*returning)
        )
        return list(result.all())
