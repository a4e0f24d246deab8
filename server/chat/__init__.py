"""Conversations: rooms and memberships, durable messages, presence, and the hooks around a send."""
