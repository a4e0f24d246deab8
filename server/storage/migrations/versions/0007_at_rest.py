"""at rest: room titles, group agendas and crisis alert detections sealed with the room key

Existing clear values are sealed here, in the same transaction that drops their clear columns, so
an upgraded deployment never runs with both (server/chat/room_text.py and crisis/alerts.py read the
sealed form). This needs the master key: the server hands its keyring over when it migrates at
start; a standalone ``alembic`` run must put one in ``config.attributes["keyring"]``.
A shredded room (no wrapped key) keeps nothing: its title, agenda and alert findings were already
unreadable in intent, now in fact.

SQLite keeps overwritten bytes in free pages and in the WAL: when this revision converted rows it
says so (``CLEAR_TEXT_REMOVED``) and the server rewrites the file afterwards; after a standalone
run, ``VACUUM`` the database yourself.

Revision ID: 0007_at_rest
Revises: 0006_message_safety
"""
from typing import Any

import sqlalchemy as sa
from alembic import op

from server.core.keyring import Keyring
from server.storage.database import CLEAR_TEXT_REMOVED

revision = "0007_at_rest"
down_revision = "0006_message_safety"
branch_labels = None
depends_on = None

# Frozen copies of the record ids server/chat/room_text.py and crisis/alerts.py bind ciphertexts to.
ROOM_TEXT_RECORD = "room-text"


def _detection_record(alert_id: str) -> str:
    return f"alert-detection:{alert_id}"


rooms = sa.table(
    "rooms",
    sa.column("id", sa.String), sa.column("title", sa.String), sa.column("wrapped_key", sa.LargeBinary),
    sa.column("settings", sa.JSON), sa.column("text_nonce", sa.LargeBinary), sa.column("text_ciphertext", sa.LargeBinary),
)
alerts = sa.table(
    "crisis_alerts",
    sa.column("id", sa.String), sa.column("room_id", sa.String), sa.column("detection", sa.JSON),
    sa.column("detection_nonce", sa.LargeBinary), sa.column("detection_ciphertext", sa.LargeBinary),
)


def _keyring() -> Keyring:
    keyring = op.get_context().config.attributes.get("keyring")
    if keyring is None:
        raise RuntimeError("0007_at_rest seals stored values with the room keys: run it through the server "
                           "(python -m server) or give alembic the keyring in config.attributes['keyring'].")
    return keyring


def _agenda_split(settings: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """(settings without the agenda items, the items)."""
    settings = dict(settings or {})
    group = settings.get("group")
    if not group or "items" not in group.get("agenda", {}):
        return settings, []
    agenda = dict(group["agenda"])
    items = list(agenda.pop("items"))
    settings["group"] = {**group, "agenda": agenda}
    return settings, items


def _agenda_joined(settings: dict[str, Any] | None, items: list[str]) -> dict[str, Any]:
    settings = dict(settings or {})
    group = settings.get("group")
    if group is None:
        return settings
    settings["group"] = {**group, "agenda": {**group.get("agenda", {}), "items": items}}
    return settings


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("text_nonce", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("text_ciphertext", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("crisis_alerts") as batch:
        batch.add_column(sa.Column("detection_nonce", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("detection_ciphertext", sa.LargeBinary(), nullable=True))

    bind = op.get_bind()
    room_rows = bind.execute(sa.select(rooms.c.id, rooms.c.title, rooms.c.wrapped_key, rooms.c.settings)).all()
    alert_rows = bind.execute(
        sa.select(alerts.c.id, alerts.c.room_id, alerts.c.detection, rooms.c.wrapped_key)
        .join(rooms, rooms.c.id == alerts.c.room_id)
    ).all()
    keyring = _keyring() if room_rows or alert_rows else None
    for room_id, title, wrapped_key, settings in room_rows:
        settings, items = _agenda_split(settings)
        sealed: dict[str, Any] = {"text_nonce": None, "text_ciphertext": None}
        if wrapped_key is not None:
            sealed["text_nonce"], sealed["text_ciphertext"] = keyring.seal_json(
                room_id, wrapped_key, ROOM_TEXT_RECORD, {"title": title or "", "agenda": items}
            )
        # Blanked before the column goes: PostgreSQL's DROP COLUMN leaves the bytes in every tuple.
        bind.execute(sa.update(rooms).where(rooms.c.id == room_id).values(title="", settings=settings, **sealed))
    for alert_id, room_id, detection, wrapped_key in alert_rows:
        sealed = {"detection_nonce": None, "detection_ciphertext": None}
        if wrapped_key is not None:
            sealed["detection_nonce"], sealed["detection_ciphertext"] = keyring.seal_json(
                room_id, wrapped_key, _detection_record(alert_id), detection or {}
            )
        bind.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(detection={}, **sealed))

    if room_rows or alert_rows:
        op.get_context().config.attributes[CLEAR_TEXT_REMOVED] = True
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy would drop and re-create ``rooms``, and with
    # foreign keys on that cascades into every membership and message.
    op.drop_column("crisis_alerts", "detection")
    op.drop_column("rooms", "title")


def downgrade() -> None:
    op.add_column("rooms", sa.Column("title", sa.String(200), nullable=False, server_default=""))
    op.add_column("crisis_alerts", sa.Column("detection", sa.JSON(), nullable=False, server_default="{}"))

    bind = op.get_bind()
    room_rows = bind.execute(
        sa.select(rooms.c.id, rooms.c.wrapped_key, rooms.c.settings, rooms.c.text_nonce, rooms.c.text_ciphertext)
    ).all()
    alert_rows = bind.execute(
        sa.select(alerts.c.id, alerts.c.room_id, rooms.c.wrapped_key, alerts.c.detection_nonce, alerts.c.detection_ciphertext)
        .join(rooms, rooms.c.id == alerts.c.room_id)
    ).all()
    keyring = _keyring() if room_rows or alert_rows else None
    for room_id, wrapped_key, settings, nonce, ciphertext in room_rows:
        text = {"title": "", "agenda": []}
        if wrapped_key is not None and ciphertext is not None:
            text = keyring.open_json(room_id, wrapped_key, ROOM_TEXT_RECORD, nonce, ciphertext)
        bind.execute(sa.update(rooms).where(rooms.c.id == room_id).values(
            title=text["title"], settings=_agenda_joined(settings, text["agenda"])))
    for alert_id, room_id, wrapped_key, nonce, ciphertext in alert_rows:
        detection: dict[str, Any] = {}
        if wrapped_key is not None and ciphertext is not None:
            detection = keyring.open_json(room_id, wrapped_key, _detection_record(alert_id), nonce, ciphertext)
        bind.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(detection=detection))

    for table, columns in (("crisis_alerts", ("detection_ciphertext", "detection_nonce")), ("rooms", ("text_ciphertext", "text_nonce"))):
        for column in columns:
            op.drop_column(table, column)
