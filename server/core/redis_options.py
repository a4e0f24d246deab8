"""How every Redis client of the server connects: explicit timeouts, no library-level retries."""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# A command to Redis that takes longer than this has failed (loopback or LAN Redis answers in µs).
REDIS_COMMAND_TIMEOUT = 2.0  # seconds
REDIS_CONNECT_TIMEOUT = 2.0  # seconds


def redis_options() -> dict[str, Any]:
    """Explicit timeouts and no library-level retries: our callers decide how to retry."""
    return {
        "socket_timeout": REDIS_COMMAND_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 15,
    }
