"""MentalVerse Live: the real-time server (aiohttp + python-socketio)."""

__version__ = "0.1.0"
