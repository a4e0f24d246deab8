"""Who may do what in a group room: the permission matrix as data, enforced on the server.

docs/protocol.md (Groups) mirrors PERMISSIONS. Room roles are ``leader``, ``co-leader`` and
``member`` (``Membership.role``). A moderator acts only on someone of lower rank, and nobody acts
on the group's owner (the leader who owns the group, even while another member leads a session).
"""

from __future__ import annotations

from server.core.errors import Forbidden
from server.core.roles import CO_LEADER, MEMBER, ROOM_LEADER, ROOM_MODERATORS
from server.storage.models import Membership

LEADER = ROOM_LEADER
ROOM_ROLES = (LEADER, CO_LEADER, MEMBER)
MODERATORS = ROOM_MODERATORS
RANK = {LEADER: 2, CO_LEADER: 1, MEMBER: 0}

# Action name -> the room roles that may perform it. Actions reserved to the group's owner
# (permanent hand-over, rotation, co-leader appointments) are checked by `require_owner`.
PERMISSIONS: dict[str, frozenset[str]] = {
    "invite": MODERATORS,
    "requests": MODERATORS,
    "approve": MODERATORS,
    "mute": MODERATORS,
    "remove": MODERATORS,
    "lock": MODERATORS,
    "pin": MODERATORS,
    "slow_mode": MODERATORS,
    "hand.next": MODERATORS,
    "hand.lower_other": MODERATORS,
    "agenda": MODERATORS,
    "session": MODERATORS,
    "audit": MODERATORS,
    "handover": frozenset({LEADER}),
}


def require_permission(membership: Membership | None, action: str) -> None:
    """Refuse with ``forbidden`` unless the caller's room role may perform ``action``."""
    if membership is None or membership.role not in PERMISSIONS[action]:
        raise Forbidden("Only the group's leader or co-leaders can do that.")


def require_outranks(actor: Membership, target: Membership, owner_id: str | None) -> None:
    """Moderators act only downwards, so a co-leader cannot mute or remove the leader."""
    if target.user_id == actor.user_id:
        raise Forbidden("You cannot do that to yourself.")
    if target.user_id == owner_id or RANK.get(actor.role, 0) <= RANK.get(target.role, 0):
        raise Forbidden("You can only do that to someone with a smaller role in this group.")


def require_owner(membership: Membership | None, owner_id: str | None) -> None:
    """Permanent hand-over, rotation and co-leader appointments stay with the group's owner."""
    if membership is None or membership.user_id != owner_id:
        raise Forbidden("Only the group's own leader can do that.")
