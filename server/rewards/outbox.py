"""The reward outbox: written in the caller's transaction, delivered later with retries.

Writing the reward in the same transaction as the state change (a session completing) means
the two commit or roll back together: no reward without the change, no change without its
reward. Delivery claims due rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
has one writer at a time), so several server processes never send the same row concurrently;
the idempotency key makes the rare retry after a lost answer harmless at the receiver.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage import Database
from server.storage.claims import claim_due
from server.storage.models import RewardOutbox

from .base import REWARD_KINDS, RewardDeliveryFailed, RewardEvent, RewardSink

log = logging.getLogger("server.rewards")

# A claimed row is not offered to another process for this long (longer than any HTTP attempt).
CLAIM_LEASE = timedelta(seconds=120)
BATCH_SIZE = 50


async def record_reward(session: AsyncSession, kind: str, user_id: str, idempotency_key: str,
                        detail: dict[str, Any] | None = None) -> None:
    """Queue a reward inside the caller's transaction; a repeated key is ignored (paid once)."""
    if kind not in REWARD_KINDS:
        raise ValueError(f"unknown reward kind {kind!r}")
    now = datetime.now(timezone.utc)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    await session.execute(
        insert(RewardOutbox)
        .values(idempotency_key=idempotency_key, kind=kind, user_id=user_id, detail=detail or {},
                created_at=now, attempts=0, next_attempt_at=now, delivered_at=None, last_error="")
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> float:
    """Exponential backoff with jitter: base·2^(attempts−1), capped, scaled by 0.5–1.0."""
    delay = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return delay * (0.5 + random.random() / 2)


class OutboxDelivery:
    """Moves due outbox rows to the sink; one ``deliver_due`` pass is bounded by BATCH_SIZE."""

    def __init__(self, db: Database, sink: RewardSink, retry_base_seconds: float, retry_max_seconds: float) -> None:
        self.db = db
        self.sink = sink
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds

    async def _claim_due(self) -> list[Any]:
        now = datetime.now(timezone.utc)
        rows = await claim_due(
            self.db, RewardOutbox.id, [RewardOutbox.delivered_at.is_(None), RewardOutbox.next_attempt_at <= now],
            order_by=RewardOutbox.id, limit=BATCH_SIZE,
            values={"next_attempt_at": now + CLAIM_LEASE, "attempts": RewardOutbox.attempts + 1},
            returning=[RewardOutbox.id, RewardOutbox.idempotency_key, RewardOutbox.kind, RewardOutbox.user_id,
                       RewardOutbox.detail, RewardOutbox.created_at, RewardOutbox.attempts],
        )
        return sorted(rows, key=lambda row: row.id)

    async def deliver_due(self) -> int:
        """Try every due row once; returns how many were delivered."""
        delivered = 0
        for row in await self._claim_due():
            event = RewardEvent(row.idempotency_key, row.kind, row.user_id, row.created_at, row.detail or {})
            try:
                await self.sink.deliver(event)
            except RewardDeliveryFailed as exc:
                delay = retry_delay(row.attempts, self.retry_base_seconds, self.retry_max_seconds)
                log.warning("reward.retry", extra={"fields": {"key": row.idempotency_key, "attempts": row.attempts,
                                                              "retry_in_seconds": round(delay, 2), "error": str(exc)}})
                async with self.db.transaction() as s:
                    await s.execute(
                        update(RewardOutbox).where(RewardOutbox.id == row.id)
                        .values(next_attempt_at=datetime.now(timezone.utc) + timedelta(seconds=delay), last_error=str(exc)[:500])
                    )
                continue
            async with self.db.transaction() as s:
                await s.execute(
                    update(RewardOutbox).where(RewardOutbox.id == row.id)
                    .values(delivered_at=datetime.now(timezone.utc), last_error="")
                )
            delivered += 1
        return delivered

    async def run(self, tick_seconds: float, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing pass is logged and retried at the next tick."""
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception:
                log.exception("reward.delivery_pass_failed")
            try:
                await asyncio.wait_for(stop.wait(), tick_seconds)
            except asyncio.TimeoutError:
                pass
