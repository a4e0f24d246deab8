"""Accounts: registration, sign-in, roles, bans. Policy lives here; routes only call it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound, Unauthorized
from server.core.i18n import is_iana_zone
from server.core.roles import ACCOUNT_ROLES, MENTEE, SELF_SERVICE_ROLES
from server.storage import Database
from server.storage.models import User

from .auth import DUMMY_HASH, TokenClaims, TokenService, hash_password, verify_password

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    display_name: str
    role: str = MENTEE
    languages: list[str] = []
    locale: str = "en"
    country: str = ""
    timezone: str = "UTC"


class Login(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


@dataclass(frozen=True)
class AuthUser:
    """What a connection knows about its user; refreshed from the database at every connect and,
    for events that need a role, at every such event (``UserService.confirm_session``)."""

    id: str
    username: str
    display_name: str
    role: str
    locale: str = "en"
    country: str = ""
    timezone: str = "UTC"
    languages: tuple[str, ...] = field(default_factory=tuple)
    translate_messages: bool = False
    pseudonym: str | None = None

    def public(self) -> dict[str, Any]:
        """How others see this person (their pseudonym, when they chose one)."""
        return public_identity(self.id, self.username, self.display_name, self.role, self.pseudonym)

    def profile(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        return data


def public_identity(user_id: str, username: str, display_name: str, role: str, pseudonym: str | None) -> dict[str, Any]:
    """A person as everyone else is shown them. With a pseudonym, neither their display name nor
    their username (often a real name too) leaves the server: peer support is often anonymous."""
    if pseudonym:
        return {"id": user_id, "username": "", "display_name": pseudonym, "role": role, "pseudonymous": True}
    return {"id": user_id, "username": username, "display_name": display_name, "role": role}


def auth_user(row: User) -> AuthUser:
    return AuthUser(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        locale=row.locale,
        country=row.country,
        timezone=row.timezone,
        languages=tuple(row.languages or ()),
        translate_messages=row.translate_messages,
        pseudonym=row.pseudonym,
    )


def _validate_registration(reg: Registration) -> None:
    reg.username = reg.username.strip().lower()
    if not USERNAME_RE.match(reg.username):
        raise InvalidPayload("A username has 3–32 characters: letters, digits, '.', '_' or '-'.", code="invalid_username")
    if not 10 <= len(reg.password) <= 256:
        raise InvalidPayload("A password has 10 to 256 characters.", code="weak_password")
    reg.display_name = reg.display_name.strip()
    if not 1 <= len(reg.display_name) <= 100:
        raise InvalidPayload("A display name has 1 to 100 characters.")
    if reg.role not in SELF_SERVICE_ROLES:
        raise Forbidden("You can register as a mentee or a mentor; other roles are granted by an administrator.")
    if len(reg.languages) > 10 or not all(LANGUAGE_RE.match(lang) for lang in reg.languages):
        raise InvalidPayload("Languages are ISO 639 codes such as 'en' or 'es'.")
    if not is_iana_zone(reg.timezone):
        raise InvalidPayload("The time zone must be an IANA name such as 'Europe/Madrid'.")
    if reg.country and not re.fullmatch(r"[A-Z]{2}", reg.country.upper()):
        raise InvalidPayload("The country is a two-letter code such as 'US'.")
    reg.country = reg.country.upper()
    if not re.fullmatch(r"[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?", reg.locale):
        raise InvalidPayload("The locale looks like 'en' or 'es_MX'.")


class UserService:
    def __init__(self, db: Database, tokens: TokenService) -> None:
        self.db = db
        self.tokens = tokens

    async def register(self, reg: Registration) -> AuthUser:
        _validate_registration(reg)
        password_hash = await hash_password(reg.password)
        try:
            async with self.db.transaction() as s:
                row = User(
                    username=reg.username,
                    password_hash=password_hash,
                    display_name=reg.display_name,
                    role=reg.role,
                    languages=reg.languages or [reg.locale[:2]],
                    locale=reg.locale,
                    country=reg.country,
                    timezone=reg.timezone,
                )
                s.add(row)
        except IntegrityError:
            raise Conflict("That username is taken.", code="username_taken") from None
        return auth_user(row)

    async def login(self, login: Login) -> tuple[str, AuthUser]:
        async with self.db.read() as s:
            row = await s.scalar(select(User).where(User.username == login.username.strip().lower()))
        ok = await verify_password(row.password_hash if row else DUMMY_HASH, login.password)
        if row is None or not ok:
            raise Unauthorized("Wrong username or password.", code="bad_credentials")
        if row.banned:
            raise Forbidden("This account is suspended.", code="banned")
        token, _exp = await self.tokens.issue(row.id, row.token_epoch)
        return token, auth_user(row)

    async def authenticate(self, token: Any) -> AuthUser:
        """A valid, unrevoked token of a current, unbanned user; else Unauthorized."""
        user, _claims = await self.authenticate_with_claims(token)
        return user

    async def authenticate_with_claims(self, token: Any) -> tuple[AuthUser, TokenClaims]:
        """As ``authenticate``, plus the token's claims: a live connection keeps the epoch it was
        opened under, so a later ban or "log out everywhere" can be noticed and end it."""
        claims = await self.tokens.verify(token)
        async with self.db.read() as s:
            row = await s.get(User, claims.user_id)
        if row is None or row.banned or row.token_epoch != claims.epoch:
            raise Unauthorized("Your session has ended; please sign in again.")
        return auth_user(row), claims

    async def confirm_session(self, user_id: str, epoch: int | None, jti: str | None) -> AuthUser:
        """The user as the database has them now, if the session opened with token ``jti`` under
        ``epoch`` is still live; else Unauthorized. Privileged events call this instead of trusting
        the role cached at connect: two primary-key reads, and a demotion, ban or sign-out applies
        from the next event on, whatever the connection's process."""
        async with self.db.read() as s:
            row = await s.get(User, user_id)
            revoked = jti is None or await self.tokens.is_revoked(s, jti)
        if row is None or row.banned or row.token_epoch != epoch or revoked:
            raise Unauthorized("Your session has ended; please sign in again.")
        return auth_user(row)

    async def get(self, user_id: str) -> AuthUser:
        async with self.db.read() as s:
            row = await s.get(User, user_id)
        if row is None:
            raise NotFound("No such user.")
        return auth_user(row)

    async def find_by_username(self, username: str) -> AuthUser:
        async with self.db.read() as s:
            row = await s.scalar(select(User).where(User.username == username.strip().lower()))
        if row is None:
            raise NotFound("No such user.")
        return auth_user(row)

    async def grant_role(self, username: str, role: str, *, actor_id: str | None = None) -> tuple[AuthUser, bool]:
        """Give a user a role; returns the user and whether the role changed. A change moves the
        token epoch: every session opened under the old role ends (the caller closes the live
        connections), so no connection, cache or token outlives a demotion."""
        if role not in ACCOUNT_ROLES:
            raise InvalidPayload(f"Unknown role {role!r}; roles are {', '.join(ACCOUNT_ROLES)}.")
        async with self.db.transaction() as s:
            row = await s.scalar(select(User).where(User.username == username.strip().lower()).with_for_update())
            if row is None:
                raise NotFound("No such user.")
            changed = row.role != role
            if changed:
                row.role = role
                row.token_epoch += 1
            await record_audit(s, actor_id, "user.grant_role", target_id=row.id, detail={"role": role})
        return auth_user(row), changed

    async def end_all_sessions(
        self, user_id: str, *, ban: bool = False, actor_id: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Log out everywhere (and optionally ban): every existing token stops working."""
        async with self.db.transaction() as s:
            row = await s.get(User, user_id, with_for_update=True)
            if row is None:
                raise NotFound("No such user.")
            row.token_epoch += 1
            if ban:
                row.banned = True
            await record_audit(s, actor_id or user_id, "user.ban" if ban else "user.logout_all", target_id=user_id, detail=detail)
