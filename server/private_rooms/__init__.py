"""Private rooms' key plumbing: the server relays what member devices need and keeps no secret.

``devices`` records each browser's public identity key and lists a private room's member devices;
``key_shares`` relays a sender's room key, encrypted by the sender's device to each member device,
as to-device messages kept until the target device acknowledges them. Messages themselves are
ordinary messages carrying a sealed envelope (server/chat/sealed.py). See docs/private-rooms.md.
"""
