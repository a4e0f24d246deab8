"""The local token ledger, the default reward back end: one row per idempotency key."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from server.storage import Database
from server.storage.models import RewardLedgerEntry

from .base import RewardEvent, RewardSink


class LedgerSink(RewardSink):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def deliver(self, event: RewardEvent) -> None:
        try:
            async with self.db.transaction() as s:
                if await s.get(RewardLedgerEntry, event.idempotency_key) is None:
                    s.add(RewardLedgerEntry(idempotency_key=event.idempotency_key, kind=event.kind, user_id=event.user_id,
                                            detail=event.detail, occurred_at=event.occurred_at))
        except IntegrityError:
            # Another process recorded the same key at the same moment: it is paid, once.
            pass

