"""Short-lived TURN credentials (the "TURN REST API" scheme coturn implements as use-auth-secret).

Why: a static TURN password in a web client is a free relay for anyone who reads the page.
With a shared secret between this server and coturn, each credential names its own expiry and
user, and coturn checks it without a database: username = "<expiry unix time>:<user id>",
password = base64(HMAC-SHA1(secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

DEFAULT_TTL_SECONDS = 3600  # an hour covers a session; a leaked credential dies with it


def turn_credential(user_id: str, *, secret: str, expires_at: int) -> tuple[str, str]:
    """The (username, credential) pair coturn accepts until `expires_at` (unix seconds)."""
    if ":" in user_id:
        # coturn splits the username at the first colon; a colon in the id would shift fields.
        raise ValueError("user_id must not contain ':'")
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(user_id: str, *, stun_urls: list[str], turn_urls: list[str],
                    turn_secret: str | None, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                    now: float | None = None) -> list[dict[str, Any]]:
    """ICE servers for one client in RTCIceServer shape (``urls``, ``username``, ``credential``).

    Empty lists give an empty result: host candidates only, which is right for tests and LANs,
    and never a silent fallback to a public STUN server. TURN needs a secret to be offered.
    """
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls:
        if not turn_secret:
            raise ValueError("turn_urls are configured but turn_secret is empty")
        expires_at = int(time.time() if now is None else now) + ttl_seconds
        username, credential = turn_credential(user_id, secret=turn_secret, expires_at=expires_at)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential,
                        "credentialType": "password"})
    return servers
