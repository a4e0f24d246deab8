"""Passwords and bearer tokens.

Passwords: argon2id (memory-hard), hashed off the event loop. Tokens: short JWTs signed with
HMAC keys derived from the master key per key id (``kid``). Rotating the signing key bumps the
current kid; tokens of the previous kid stay valid until they expire, older ones die at once.
A token is also dead when its ``jti`` is revoked (logout) or its user's epoch moved (logout
everywhere, ban).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import Unauthorized
from server.core.keyring import Keyring
from server.storage import Database
from server.storage.models import RevokedToken, Setting

_KID_SETTING = "token_signing_kid"
# How long a process trusts its cached idea of the current signing kid.
_KID_CACHE_SECONDS = 5.0

_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


# A hash of a random password, so that login for an unknown user costs the same time.
DUMMY_HASH = _hasher.hash(uuid.uuid4().hex)


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    epoch: int
    jti: str
    expires_at: float


class TokenService:
    def __init__(self, db: Database, keyring: Keyring, ttl_seconds: int) -> None:
        self.db = db
        self.keyring = keyring
        self.ttl_seconds = ttl_seconds
        self._kid: int | None = None
        self._kid_read_at = 0.0

    def _key(self, kid: int) -> bytes:
        return self.keyring.derive(f"token-signing:{kid}")

    async def current_kid(self) -> int:
        now = time.monotonic()
        if self._kid is None or now - self._kid_read_at > _KID_CACHE_SECONDS:
            async with self.db.read() as s:
                row = await s.get(Setting, _KID_SETTING)
                self._kid = int(row.value) if row else 1
            self._kid_read_at = now
        return self._kid

    async def rotate_signing_key(self) -> int:
        async with self.db.transaction() as s:
            row = await s.get(Setting, _KID_SETTING, with_for_update=True)
            kid = (int(row.value) if row else 1) + 1
            if row:
                row.value = str(kid)
            else:
                s.add(Setting(name=_KID_SETTING, value=str(kid)))
        self._kid, self._kid_read_at = kid, time.monotonic()
        return kid

    async def issue(self, user_id: str, epoch: int) -> tuple[str, float]:
        kid = await self.current_kid()
        now = time.time()
        exp = now + self.ttl_seconds
        claims = {"sub": user_id, "ep": epoch, "jti": uuid.uuid4().hex, "iat": int(now), "exp": int(exp)}
        return jwt.encode(claims, self._key(kid), algorithm="HS256", headers={"kid": str(kid)}), exp

    async def verify(self, token: Any) -> TokenClaims:
        """Signature, expiry, kid window and revocation; the caller checks the user's epoch."""
        if not isinstance(token, str) or not token or len(token) > 2048:
            raise Unauthorized("You are not signed in.")
        try:
            kid = int(jwt.get_unverified_header(token).get("kid", "0"))
            current = await self.current_kid()
            if kid not in (current, current - 1):
                raise Unauthorized("Your session has expired; please sign in again.")
            claims = jwt.decode(token, self._key(kid), algorithms=["HS256"], options={"require": ["exp", "sub", "jti"]})
        except (jwt.PyJWTError, ValueError):
            raise Unauthorized("Your session has expired or is invalid; please sign in again.") from None
        async with self.db.read() as s:
            if await self.is_revoked(s, claims["jti"]):
                raise Unauthorized("You have signed out; please sign in again.")
        return TokenClaims(claims["sub"], int(claims.get("ep", 0)), claims["jti"], float(claims["exp"]))

    @staticmethod
    async def is_revoked(session: AsyncSession, jti: str) -> bool:
        """Whether the token ``jti`` was signed out (read in the caller's session)."""
        return await session.get(RevokedToken, jti) is not None

    async def revoke(self, claims: TokenClaims) -> None:
        async with self.db.transaction() as s:
            s.add(RevokedToken(jti=claims.jti, expires_at=datetime.fromtimestamp(claims.expires_at, timezone.utc)))

    async def purge_expired_revocations(self) -> None:
        async with self.db.transaction() as s:
            rows = await s.scalars(select(RevokedToken).where(RevokedToken.expires_at < datetime.now(timezone.utc)))
            for row in rows:
                await s.delete(row)
