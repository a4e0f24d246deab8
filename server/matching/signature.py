"""Signed HTTP bodies between us and an external service (matching webhook, reward endpoint).

The signature is HMAC-SHA256, keyed by the shared secret, over ``"<timestamp>." + raw body``.
The timestamp is inside what is signed so a captured request cannot be replayed later with a
fresh timestamp; requests older (or newer) than the tolerance are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from server.core.errors import Unauthorized

TIMESTAMP_HEADER = "X-MV-Timestamp"  # unix time, whole seconds
SIGNATURE_HEADER = "X-MV-Signature"  # "sha256=<hex>"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes,
           tolerance_seconds: int, now: float | None = None) -> None:
    """Raise ``Unauthorized`` unless the body was signed with ``secret`` within the tolerance."""
    if not timestamp_header or not signature_header or not timestamp_header.isdigit():
        raise Unauthorized("The request is not signed.", code="bad_signature")
    expected = sign(secret, int(timestamp_header), body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode()):
        raise Unauthorized("The request signature does not match.", code="bad_signature")
    current = time.time() if now is None else now
    if abs(current - int(timestamp_header)) > tolerance_seconds:
        raise Unauthorized("The request is too old (or from the future); it may be a replay.", code="stale_request")
