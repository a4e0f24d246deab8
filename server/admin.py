"""Administrator commands, run on the server machine (no network API grants privileges)."""

from __future__ import annotations

import sys

import orjson
from sqlalchemy import make_url, select

from server.accounts.privacy import admin_detail
from server.accounts.privacy import delete_user as erase_user
from server.accounts.privacy import export_user as export_user_data
from server.app import build_services
from server.core.config import Settings
from server.core.errors import AppError
from server.core.keyring import decode_key, encode_key, key_id, unwrap_key, wrap_key
from server.matching.intake import intake_key
from server.matching.profiles import set_credentials
from server.mentorship.feedback import feedback_key
from server.mentorship.reports import OPEN as OPEN_REPORTS
from server.mentorship.reports import report_key, reports_for_staff
from server.mentorship.requests import mentorship_key
from server.storage.models import MenteeIntake, Mentorship, MentorshipFeedback, Room, SafetyPlan, UserReport
from server.transport.connections import publish_disconnect_user

USAGE = """usage:
  python -m server users grant USERNAME ROLE
  python -m server users ban USERNAME        suspend and disconnect everywhere
  python -m server users export USERNAME     print their data as JSON (GDPR access request)
  python -m server users delete USERNAME     forget them (GDPR erasure; crypto-shreds rooms only they held)
  python -m server mentors certify USERNAME LEVEL      basic (20 h), advanced (40 h), specialist (60 h),
                                                       master (100 h), professional (150 h+), or none
  python -m server mentors credential USERNAME verified|unverified   a professional's checked credential
  python -m server reports list [open|resolved]        reports to staff, with the reported messages
  python -m server keys rotate-master NEW_KEY_BASE64URL
  python -m server keys rotate-signing"""


async def run(command: str, args: list[str], settings: Settings) -> int:
    if not settings.database_url and not (settings.data_path / "mentalverse.db").exists():
        # A wrong data dir would otherwise get a new empty database and master key, and every
        # command would answer "No such user." about a server that does exist elsewhere.
        print(f"No database in {settings.data_dir}: pass the server's --data-dir (or MV_DATA_DIR) "
              "or MV_DATABASE_URL.", file=sys.stderr)
        return 1
    services = build_services(settings)
    print(f"database: {_describe(settings)}", file=sys.stderr)
    await services.db.migrate()
    try:
        if command == "users" and len(args) == 3 and args[0] == "grant":
            return await grant_role(services, args[1], args[2])
        if command == "users" and len(args) == 2 and args[0] in USER_ACTIONS:
            return await USER_ACTIONS[args[0]](services, args[1])
        if command == "mentors" and len(args) == 3 and args[0] in ("certify", "credential"):
            return await set_mentor_credentials(services, args[0], args[1], args[2])
        if command == "reports" and args[:1] == ["list"] and len(args) <= 2:
            return await list_reports(services, args[1] if len(args) == 2 else OPEN_REPORTS)
        if command == "keys" and len(args) == 2 and args[0] == "rotate-master":
            count = await rotate_master_key(services, decode_key(args[1]))
            print(f"re-wrapped {count} room keys; now set MV_MASTER_KEY (or master.key) to the new key")
            return 0
        if command == "keys" and args == ["rotate-signing"]:
            kid = await services.tokens.rotate_signing_key()
            print(f"tokens are now signed with key {kid}; tokens of key {kid - 1} stay valid until they expire")
            return 0
        print(USAGE, file=sys.stderr)
        return 2
    except AppError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        await services.db.close()


def _describe(settings: Settings) -> str:
    """Where the command acts, without the password of a database URL."""
    if not settings.database_url:
        return str((settings.data_path / "mentalverse.db"))
    return make_url(settings.database_url).render_as_string(hide_password=True)


async def grant_role(services, username: str, role: str) -> int:  # type: ignore[no-untyped-def]
    """Change a user's role. A change signs them out everywhere, and their live connections close
    on every process and namespace, so a demoted responder or leader keeps no privileged socket."""
    user, changed = await services.users.grant_role(username, role)
    if not changed:
        print(f"{user.username} is already {user.role}")
        return 0
    print(f"{user.username} is now {user.role}; they sign in again, their connections close {await _closing(services, user.id, 'role_changed')}")
    return 0


async def ban_user(services, username: str) -> int:  # type: ignore[no-untyped-def]
    """Suspend an account: every token dies now, and its live connections close on every process
    (at once through Redis when configured, else at each server's next session check)."""
    user = await services.users.find_by_username(username)
    await services.users.end_all_sessions(user.id, ban=True, detail=admin_detail())
    print(f"{user.username} is banned; their connections close {await _closing(services, user.id, 'banned')}")
    return 0


async def _closing(services, user_id: str, reason: str) -> str:  # type: ignore[no-untyped-def]
    """Push the end of a user's sessions to every server; says when their connections close."""
    pushed = await publish_disconnect_user(services.settings, user_id, reason)
    return "now" if pushed else f"within {services.settings.session_check_seconds:g} s"


async def export_user(services, username: str) -> int:  # type: ignore[no-untyped-def]
    print(orjson.dumps(await export_user_data(services, username), option=orjson.OPT_INDENT_2).decode())
    return 0


async def delete_user(services, username: str) -> int:  # type: ignore[no-untyped-def]
    summary = await erase_user(services, username)
    print(f"deleted {username}: {summary['messages_removed']} messages removed, "
          f"{summary['rooms_shredded']} rooms crypto-shredded, {summary['rows_removed']} personal rows removed")
    return 0


USER_ACTIONS = {"ban": ban_user, "export": export_user, "delete": delete_user}


async def set_mentor_credentials(services, what: str, username: str, value: str) -> int:  # type: ignore[no-untyped-def]
    """Staff-set mentor fields, never self-declared: a certification level or a verified credential."""
    user = await services.users.find_by_username(username)
    if what == "certify":
        changes = {"certification": "" if value == "none" else value}
    elif value in ("verified", "unverified"):
        changes = {"credential_verified": value == "verified"}
    else:
        print(USAGE, file=sys.stderr)
        return 2
    async with services.db.transaction() as s:
        row = await set_credentials(s, None, user.id, services.settings.mentor_default_capacity, detail=admin_detail(), **changes)
    print(f"{user.username}: certification {row.certification or 'none'}, credential "
          f"{'verified' if row.credential_verified else 'not verified'}")
    return 0


async def list_reports(services, status: str) -> int:  # type: ignore[no-untyped-def]
    """Print reports (opened, with their messages) as JSON; the reading is audited."""
    reports = await reports_for_staff(services, None, status, admin_detail())
    print(orjson.dumps(reports, option=orjson.OPT_INDENT_2).decode())
    return 0


async def rotate_master_key(services, new_master: bytes) -> int:  # type: ignore[no-untyped-def]
    """Re-wrap every room's data key under the new master key in one transaction.

    Message ciphertexts are untouched (their data keys do not change), so rotation is fast and
    atomic: either every room moves to the new master key or none does. When the key came from
    the key file, the file is replaced too.
    """
    old_master = services.keyring.master
    count = 0
    async with services.db.transaction() as s:
        for room in await s.scalars(select(Room).where(Room.wrapped_key.is_not(None))):
            data_key = unwrap_key(old_master, room.id, room.wrapped_key)
            room.wrapped_key = wrap_key(new_master, room.id, data_key)
            room.master_key_id = key_id(new_master)
            count += 1
        # Safety plans, intakes, request notes, feedback comments and reports carry data keys of
        # their own, wrapped the same way.
        owned_keys = [
            (SafetyPlan, lambda r: f"safety-plan:{r.user_id}"),
            (MenteeIntake, lambda r: intake_key(r.user_id)),
            (Mentorship, lambda r: mentorship_key(r.id)),
            (MentorshipFeedback, lambda r: feedback_key(r.session_id, r.author_id)),
            (UserReport, lambda r: report_key(r.id)),
        ]
        for model, record_of in owned_keys:
            for row in await s.scalars(select(model).where(model.wrapped_key.is_not(None))):
                record = record_of(row)
                row.wrapped_key = wrap_key(new_master, record, unwrap_key(old_master, record, row.wrapped_key))
    if not services.settings.master_key:
        path = services.settings.data_path / "master.key"
        tmp = path.with_suffix(".new")
        tmp.write_text(encode_key(new_master) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    return count
