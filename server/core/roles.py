"""Every role the server knows, named once.

Two kinds: an account's role (``users.role``: what a person is on the network, granted on the
server machine except the two anyone may sign up as) and a room role (``memberships.role``: what
they are in one room). Features compare against these names, never against string literals, so a
renamed or added role is one change here.
"""

from __future__ import annotations

# Account roles.
MENTEE = "mentee"
MENTOR = "mentor"
LEADER = "leader"
RESPONDER = "responder"
PROFESSIONAL = "professional"
ADMIN = "admin"
ACCOUNT_ROLES = (MENTEE, MENTOR, LEADER, RESPONDER, PROFESSIONAL, ADMIN)
SELF_SERVICE_ROLES = (MENTEE, MENTOR)
# Who may host sessions and be matched with mentees.
MENTOR_ROLES = (MENTOR, LEADER)
# Who may open and schedule groups.
GROUP_LEADER_ROLES = (LEADER, ADMIN)
# Staff: may look into a mentorship's goals with an audited reason, and keep room libraries.
STAFF_ROLES = (PROFESSIONAL, ADMIN)

# Room roles. The group's leader is also called "leader" in the room.
ROOM_LEADER = LEADER
CO_LEADER = "co-leader"
MEMBER = "member"
CRISIS_RESPONDER = "crisis_responder"
ROOM_MODERATORS = frozenset({ROOM_LEADER, CO_LEADER})
