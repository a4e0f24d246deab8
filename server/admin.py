"""Administrator commands, run on the server machine (no network API grants privileges)."""

from __future__ import annotations

import sys

from sqlalchemy import select

from .app import build_services
from .config import Settings
from .keyring import decode_key, key_id, unwrap_key, wrap_key
from .storage.models import Room

USAGE = """usage:
  python -m server users grant USERNAME ROLE
  python -m server keys rotate-master NEW_KEY_BASE64URL
  python -m server keys rotate-signing"""


async def run(command: str, args: list[str], settings: Settings) -> int:
    services = build_services(settings)
    await services.db.migrate()
    try:
        if command == "users" and len(args) == 3 and args[0] == "grant":
            user = await services.users.grant_role(args[1], args[2])
            print(f"{user.username} is now {user.role}")
            return 0
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
    finally:
        await services.db.close()


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
    if not services.settings.master_key:
        from .keyring import encode_key

        path = services.settings.data_path / "master.key"
        tmp = path.with_suffix(".new")
        tmp.write_text(encode_key(new_master) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    return count
