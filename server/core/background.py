"""Periodic background work owned by a feature's lifespan: started with the app, cancelled on
shutdown, and never ended by one failing turn (the failure is logged and the next turn retries)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Awaitable, Callable

log = logging.getLogger("server.background")


@contextlib.asynccontextmanager
async def every(seconds: float, work: Callable[[], Awaitable[object]], *, name: str, first_now: bool = False) -> AsyncIterator[None]:
    """Run ``work`` every ``seconds`` while the block is open (at once too, with ``first_now``)."""

    async def loop() -> None:
        if not first_now:
            await asyncio.sleep(seconds)
        while True:
            try:
                await work()
            except Exception:
                log.exception("background.failed", extra={"fields": {"task": name}})
            await asyncio.sleep(seconds)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
