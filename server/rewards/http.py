"""The HTTP reward back end: POST each event, signed, with an ``Idempotency-Key`` header."""

from __future__ import annotations

import aiohttp
import orjson

from server.matching.signature import signed_headers

from .base import RewardDeliveryFailed, RewardEvent, RewardSink

REQUEST_TIMEOUT_SECONDS = 10.0


class HttpRewardSink(RewardSink):
    """Any 2xx answer means paid; anything else (or no answer) means "retry later"."""

    def __init__(self, url: str, secret: str) -> None:
        if not url:
            raise ValueError("rewards_backend=http needs rewards_url")
        self.url = url
        self.secret = secret
        self._http: aiohttp.ClientSession | None = None

    async def deliver(self, event: RewardEvent) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))
        body = orjson.dumps(event.to_wire())
        headers = {"Content-Type": "application/json", "Idempotency-Key": event.idempotency_key}
        if self.secret:
            headers.update(signed_headers(self.secret, body))
        try:
            async with self._http.post(self.url, data=body, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise RewardDeliveryFailed(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RewardDeliveryFailed(f"{exc.__class__.__name__}: {exc}") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
