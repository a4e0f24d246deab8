"""The Python reference peer: a bare python-socketio relay on the same stack as ours.

    .venv/bin/python bench/python_relay.py [PORT]     # prints {"port": N} once listening

Same wire shape as our chat path and bench/node_relay.js (auth token, ``room:join``,
``message:send`` -> ``message:new`` to the room, ack) on the same Python, aiohttp, uvloop and
orjson codec as ``python -m server``, and nothing else: no storage, no auth check, no limits,
python-socketio's in-process manager and its defaults (permessage-deflate on). It tells us what
python-socketio itself costs, so the ratio ours / this is the cost of everything we add.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import socketio
import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.transport import wirejson  # noqa: E402  (the same orjson codec as ours)


def build() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", json=wirejson, transports=["websocket"])
    app = web.Application()
    sio.attach(app)
    seqs: dict[str, int] = {}

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)

    @sio.on("room:join")
    async def join(sid: str, p: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, "room:" + p["room_id"])
        return {"ok": True, "last_seq": seqs.get(p["room_id"], 0)}

    @sio.on("message:send")
    async def send(sid: str, p: dict[str, Any]) -> dict[str, Any]:
        seq = seqs[p["room_id"]] = seqs.get(p["room_id"], 0) + 1
        message = {"id": p["client_id"], "seq": seq, "room_id": p["room_id"], "sender_id": sid, "client_id": p["client_id"], "body": p["body"]}
        await sio.emit("message:new", message, to="room:" + p["room_id"])
        return {"ok": True, "message": message}

    return app


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvloop.install()
    web.run_app(build(), sock=sock, print=None, backlog=1024, access_log=None)


if __name__ == "__main__":
    main()
