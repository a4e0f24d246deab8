"""The token adapter's contract: a back end that pays one reward event, identified by its key.

Delivery is at least once from the outbox's side, so every back end must treat a repeated
idempotency key as already paid; that is what makes "never paid twice" hold.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Reward kinds (record_reward accepts only these; add a kind here and in docs/protocol.md).
REWARD_KINDS = frozenset({"session_completed", "group_session_led", "mentorship_started", "goal_milestone"})


class RewardDeliveryFailed(Exception):
    """The back end did not confirm the reward; the outbox will retry it later."""


@dataclass(frozen=True)
class RewardEvent:
    idempotency_key: str
    kind: str
    user_id: str
    occurred_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "kind": self.kind,
            "user_id": self.user_id,
            "occurred_at": self.occurred_at.isoformat(),
            "detail": self.detail,
        }


class RewardSink(abc.ABC):
    """Where rewards are paid. ``deliver`` returns only once the reward is durably accepted."""

    @abc.abstractmethod
    async def deliver(self, event: RewardEvent) -> None:
        """Pay ``event`` (idempotently by key) or raise ``RewardDeliveryFailed``."""

    async def close(self) -> None:
        """Release connections; called at shutdown."""
