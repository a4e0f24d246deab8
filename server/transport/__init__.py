"""The wire: Socket.IO and HTTP in and out. Connections, the event gate, payload validation and
the wire guard, rate limits, and fan-out across server processes."""
