"""The rewards feature: picks the back end from Settings, runs outbox delivery, lists rewards."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, AsyncIterator

from sqlalchemy import select

from server.storage.models import RewardOutbox
from server.transport.events import EventContext, EventRouter

from .base import RewardSink
from .http import HttpRewardSink
from .ledger import LedgerSink
from .outbox import OutboxDelivery

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()


def build_sink(services: "Services") -> RewardSink:
    """Configuration picks the implementation; nothing else knows which one runs."""
    settings = services.settings
    if settings.rewards_backend == "http":
        return HttpRewardSink(settings.rewards_url, settings.rewards_secret)
    if settings.rewards_backend == "ledger":
        return LedgerSink(services.db)
    raise ValueError(f"unknown rewards_backend {settings.rewards_backend!r} (use 'ledger' or 'http')")


def build_outbox(services: "Services") -> OutboxDelivery:
    settings = services.settings
    return OutboxDelivery(services.db, build_sink(services), settings.rewards_retry_base_seconds,
                          settings.rewards_retry_max_seconds)


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(services.rewards.run(services.settings.rewards_tick_seconds, stop))
    try:
        yield
    finally:
        stop.set()
        await task
        await services.rewards.sink.close()


@router.on("rewards:list")
async def on_rewards_list(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """The caller's reward events and whether the back end has confirmed each."""
    async with ctx.services.db.transaction() as s:
        rows = await s.scalars(
            select(RewardOutbox).where(RewardOutbox.user_id == ctx.user.id).order_by(RewardOutbox.id.desc()).limit(200)
        )
        return {"rewards": [{"idempotency_key": r.idempotency_key, "kind": r.kind, "detail": r.detail,
                             "created_at": r.created_at.isoformat(), "delivered": r.delivered_at is not None} for r in rows]}
