"""The official JavaScript socket.io-client (npm) speaks our protocol exactly like the web client will."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from tests.conftest import unavailable
from tests.live_server import REPO, register

SCRIPT = Path(__file__).with_name("js") / "chat_flow.mjs"


async def test_two_javascript_clients_chat_through_the_server(server):
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "socket.io-client").exists():
        unavailable("node and the npm socket.io-client (run scripts/setup.sh)")
    mentee, mentor = await register(server), await register(server, role="mentor")
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), server.url, mentee.token, mentor.token, mentor.id,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    steps = {line["step"]: line for line in map(json.loads, out.decode().splitlines())}
    assert proc.returncode == 0, (out, err)
    assert "unauthorized" in steps["bad_token_refused"]["reason"]
    done = steps["done"]
    assert done["sent_ok"] and done["seq"] == 1 and done["same_id"]
    assert done["received_body"] == "hola desde node"
    assert done["reply_seq"] == 2
    assert done["bad_code"] == "invalid_payload" and done["still_connected"]
    assert done["history"] == ["hola desde node", "hello back"]
