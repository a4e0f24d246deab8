"""The one configuration object.

Every setting is read from an environment variable ``MV_<NAME>`` and may be overridden by the
command-line option ``--<name>`` (underscores become dashes). Tests build the app from a
``Settings`` made directly, so there is no other source of configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import platformdirs


def _default_data_dir() -> str:
    return platformdirs.user_data_dir("mentalverse-live", appauthor=False)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = field(default_factory=_default_data_dir)
    # Empty means "a SQLite file inside data_dir".
    database_url: str = ""
    # Empty means the in-process Socket.IO manager (single process).
    redis_url: str = ""
    # Prefix for every Redis key and channel, so several deployments (or test runs) share a server.
    redis_prefix: str = "mv"
    # base64url of 32 bytes; empty means "use (or create) data_dir/master.key".
    master_key: str = ""
    log_level: str = "INFO"
    # Bearer token a Prometheus scraper sends to GET /metrics; empty means /metrics is not served.
    metrics_token: str = ""
    # Tokens
    token_ttl_seconds: int = 12 * 3600
    # Limits
    max_body_chars: int = 4000
    max_payload_bytes: int = 64 * 1024
    # `limits` syntax ("N per M seconds" or "N/M seconds").
    message_rate: str = "10/2 seconds"
    connect_rate_per_ip: str = "60/minute"
    login_rate_per_ip: str = "20/minute"
    # Claims per responder: a hijacked console cannot grab every alert and starve the others.
    alert_ack_rate: str = "30/minute"
    # Engine.IO heartbeat: how fast a tab closed without goodbye is noticed (interval + timeout).
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    # How long after sending a message its author may still edit it.
    edit_window_seconds: int = 24 * 3600
    # Languages a chat message may be identified as (ISO 639-1), and model runs in parallel.
    message_languages: tuple[str, ...] = ("en", "es", "fr")
    translation_workers: int = 2
    # Group rooms: participants (leader included) per group, and per-program overrides "program=min-max,...".
    group_min_participants: int = 4
    group_max_participants: int = 8
    group_program_sizes: str = ""
    # Calls: an unanswered ring ends after this long; ICE servers handed to clients.
    ring_timeout_seconds: float = 30.0
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_seconds: int = 3600
    media_max_rooms: int = 20
    media_max_participants: int = 8
    # Crisis escalation (crisis/escalation.py): who hears of an unclaimed alert, step by step
    # (on_call, all_responders, supervisors), how long each step waits, how often timers are checked.
    escalation_chain: tuple[str, ...] = ("on_call", "all_responders", "supervisors")
    escalation_step_seconds: float = 120.0
    escalation_poll_seconds: float = 1.0
    # Scheduling (server/scheduling). Slot lengths in minutes; offsets, windows and ticks in seconds.
    slot_minutes: int = 60
    booking_horizon_days: int = 365
    reminder_offsets_seconds: tuple[str, ...] = ("86400", "600")
    join_window_seconds: int = 600
    no_show_grace_seconds: int = 900
    scheduler_tick_seconds: float = 1.0
    # Matching adapter: "local" or "http"; matching_secret signs the inbound webhook and outbound calls.
    matching_backend: str = "local"
    matching_url: str = ""
    matching_secret: str = ""
    matching_webhook_tolerance_seconds: int = 300
    # The local ranking (server/matching/ranking.py): weights as "factor=weight,..." over language,
    # area, availability, track, certification, responsiveness, rating, preferences, capacity (the
    # ones not named keep their defaults); the share of the score given to low exposure (0: off);
    # every n-th suggestion for the least-shown eligible mentor (0: never); exposure's half-life.
    matching_weights: str = ""
    matching_fairness_share: float = 0.3
    matching_exploration_every: int = 5
    matching_exposure_half_life_hours: float = 72.0
    # The longest a process serves suggestions from its mentor index without re-reading it.
    matching_index_ttl_seconds: float = 15.0
    # Mentorship (server/mentorship): seats of a new mentor profile, how long a request waits for
    # its answer, and how often each process looks for requests that expired.
    mentor_default_capacity: int = 3
    match_request_ttl_seconds: int = 48 * 3600
    mentorship_tick_seconds: float = 5.0
    # Token (reward) adapter: "ledger" (local) or "http"; retries back off from base to max seconds.
    rewards_backend: str = "ledger"
    rewards_url: str = ""
    rewards_secret: str = ""
    rewards_retry_base_seconds: float = 2.0
    rewards_retry_max_seconds: float = 600.0
    rewards_tick_seconds: float = 1.0
    # HTTP hardening
    # An HTTP connection that has not sent a complete request by then is closed (slow-header floods).
    keepalive_timeout: float = 15.0
    # Shared per-user budget over all Socket.IO events (`limits` syntax).
    event_rate: str = "60/10 seconds"
    # How often each process re-checks its live connections against bans and "log out everywhere".
    session_check_seconds: float = 2.0
    cors_origins: tuple[str, ...] = ()
    # Files in conversations (server/files): the largest upload in bytes, uploads per user
    # (`limits` syntax), where the sealed blobs live (empty: data_dir/files; every process of a
    # deployment must see the same directory) and how often blobs of deleted files are removed.
    max_file_bytes: int = 10 * 1024 * 1024
    file_upload_rate: str = "30/10 minutes"
    files_dir: str = ""
    files_sweep_seconds: float = 60.0
    tls_cert: str = ""
    tls_key: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def files_path(self) -> Path:
        return Path(self.files_dir) if self.files_dir else self.data_path / "files"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_path / 'mentalverse.db'}"

    @property
    def public_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        host = "[" + self.host + "]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
    ) -> "Settings":
        """Environment first, then command-line options on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get("MV_" + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f, raw)
        if argv:
            parser = argparse.ArgumentParser(add_help=False)
            for f in fields(cls):
                parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None)
            known, _ = parser.parse_known_args(list(argv))
            for name, raw in vars(known).items():
                if raw is not None:
                    values[name] = _coerce(next(f for f in fields(cls) if f.name == name), raw)
        return cls(**values)

    def cli_help(self) -> str:
        return "\n".join(
            f"  --{f.name.replace('_', '-'):28} env MV_{f.name.upper()}" for f in fields(self)
        )


def _coerce(f: dataclasses.Field, raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind.startswith("tuple"):
        return _csv(raw)
    return raw
