"""Group rooms: creating and joining groups, roles, the agenda, rotating leadership and moderation."""
