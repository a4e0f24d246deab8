"""Bad input never breaks anything: property-based fuzzing of every event payload and HTTP body.

Every payload sent is invalid by construction (a field dropped, a wrong type, an unknown field,
a huge string, deep nesting, bytes, a non-object); the oracle is the server's own validation
layer run locally, so the test knows which error code each payload must earn. Whatever is sent,
the caller gets a structured error, keeps its connection, others keep chatting, and the
database holds exactly the rows it held before.

Hypothesis drives synchronous test bodies, so the Socket.IO client lives on an event loop in a
thread of its own and each example is run on it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import socketio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from msgspec import inspect as mi

from server.app import build_app
from server.core.config import Settings
from server.core.errors import AppError
from server.services import SERVICES
from server.transport import wirejson
from server.transport.validation import check_value, parse
from tests.conftest import database_url_for
from tests.live_server import LiveClient, ServerProcess, close_all, register

MAX_PAYLOAD_BYTES = 64 * 1024
EXAMPLES_PER_EVENT = 12  # × ~45 events ≈ 500 examples over one connection
HTTP_EXAMPLES = 150
counts: collections.Counter[str] = collections.Counter()


def built_app() -> Any:
    """The app as the server builds it, to read its registries. Building it installs the server's
    JSON codec process-wide in python-socketio; the test's clients keep the stdlib codec, so
    what they can send (e.g. integers beyond 64 bits) is not limited by the server's choice."""
    codec = socketio.packet.Packet.json
    try:
        return build_app(Settings(data_dir=str(Path("/tmp") / f"mv-fuzz-{uuid.uuid4().hex[:8]}")))
    finally:
        socketio.packet.Packet.json = codec


def registered_events() -> list[tuple[str, str, type | None]]:
    app = built_app()
    return sorted((ns, name, spec.schema) for (ns, name), spec in app[SERVICES].dispatcher.specs.items())


def gated_roles() -> dict[tuple[str, str], frozenset[str] | None]:
    """The roles each event's gate lets in (None: everyone signed in)."""
    return {key: spec.roles for key, spec in built_app()[SERVICES].dispatcher.specs.items()}


def json_post_routes() -> list[str]:
    app = built_app()
    paths = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("POST", "PUT", "PATCH", "DELETE") and path and path.startswith("/api/"):
            paths.add(path.replace("{", "").replace("}", ""))
    return sorted(paths)


EVENTS = registered_events()
GATES = gated_roles()
# Who fuzzes an event: the admin, or for events whose gate leaves admins out (a mentee's request, a
# mentor's profile) someone of a role it lets in, so the payload reaches validation.
FUZZING_ROLES = ("admin", "mentee", "mentor")


class Remote:
    """A server, a fuzzing admin who is a member of a real room, and two bystanders chatting."""

    def __init__(self, tmp: Path) -> None:
        data_dir = tmp / "fuzz"
        self.server = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir), extra_env={
            "MV_EVENT_RATE": "100000/second", "MV_MESSAGE_RATE": "100000/second", "MV_MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD_BYTES),
        }).start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self._setup())

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _setup(self) -> None:
        s = self.server
        self.fuzzer, self.peer = await register(s, role="admin"), await register(s, role="mentor")
        self.bystander, self.friend = await register(s), await register(s, role="mentor")
        namespaces = sorted({ns for ns, _n, _s in EVENTS})
        self.client = await self.fuzzer.connect(namespaces=namespaces)
        self.by_role = {"admin": self.client}
        for role in FUZZING_ROLES[1:]:
            self.by_role[role] = await (await register(s, role=role)).connect()
        self.room_id = (await self.client.call("room:create", {"kind": "direct", "member_ids": [self.peer.id]}))["room"]["id"]
        await self.client.call("message:send", {"room_id": self.room_id, "client_id": "seed", "body": "a real message"})
        self.b = await self.bystander.connect()
        self.other_room = (await self.b.call("room:create", {"kind": "direct", "member_ids": [self.friend.id]}))["room"]["id"]
        self.chats = 0

    def client_for(self, namespace: str, event: str) -> LiveClient:
        allowed = GATES[(namespace, event)]
        return self.by_role[next(r for r in FUZZING_ROLES if allowed is None or r in allowed)]

    async def call(self, namespace: str, event: str, data: Any) -> Any:
        return await self.client_for(namespace, event).sio.call(event, data, namespace=namespace, timeout=20)

    async def bystander_chats(self) -> None:
        self.chats += 1
        reply = await self.b.call("message:send", {"room_id": self.other_room, "client_id": f"c{self.chats}", "body": f"still here {self.chats}"})
        assert reply["ok"], reply

    def row_counts(self) -> dict[str, int]:
        with sqlite3.connect(self.server.data_dir / "mentalverse.db") as conn:
            tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table' and name not like 'alembic%'")]
            return {t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}

    def close(self) -> None:
        for client in list(self.by_role.values())[1:]:
            self.run(client.disconnect())
        self.run(close_all(self.fuzzer, self.peer, self.bystander, self.friend))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.server.stop()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):
    r = Remote(tmp_path_factory.mktemp("fuzz"))
    yield r
    r.close()


# --- payload strategies ----------------------------------------------------------------------


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"n": [value]}
    return value


WRONG_VALUES = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.binary(min_size=1, max_size=64),  # sent as a Socket.IO binary attachment
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=40),
    st.just("x" * (MAX_PAYLOAD_BYTES + 10)),
    st.sampled_from([deep(12), deep(40)]),
)


def template_value(field: mi.Field, room_id: str) -> Any:
    t = field.type
    if isinstance(t, mi.UnionType):
        t = next((x for x in t.types if not isinstance(x, mi.NoneType)), t.types[0])
    if isinstance(t, mi.StrType):
        return room_id if field.name == "room_id" else "x"
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    return {mi.IntType: 1, mi.FloatType: 1.0, mi.BoolType: True, mi.ListType: [], mi.DictType: {}}.get(type(t), "x")


def invalid_payloads(schema: type | None, room_id: str) -> st.SearchStrategy[tuple[str, Any]]:
    non_objects = st.tuples(st.just("not_an_object"), st.one_of(
        st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=3), st.binary(min_size=1, max_size=32)))
    if schema is None:
        return non_objects
    fields = mi.type_info(schema).fields
    base = {f.name: template_value(f, room_id) for f in fields}
    names = [f.name for f in fields]
    required = [f.name for f in fields if f.required]
    options = [
        non_objects,
        st.tuples(st.just("unknown_field"), st.text(min_size=1, max_size=12).filter(lambda k: k not in names).map(lambda k: {**base, k: 1})),
        st.tuples(st.just("huge_string"), st.just({**base, "padding": "y" * (MAX_PAYLOAD_BYTES + 1)})),
        st.tuples(st.just("deep_nesting"), st.just({**base, "nested": deep(20)})),
    ]
    if names:
        options.append(st.tuples(st.just("wrong_type"), st.tuples(st.sampled_from(names), WRONG_VALUES).map(lambda kv: {**base, kv[0]: kv[1]})))
    if required:
        options.append(st.tuples(st.just("missing_field"), st.sampled_from(required).map(lambda k: {n: v for n, v in base.items() if n != k})))
    return st.one_of(*options)


def as_the_server_decodes(event: str, payload: Any) -> tuple[int, Any]:
    """The frame's size and the payload the server sees: the client's encoding (binary values as
    attachments), then the server's codec (orjson, or the stdlib for what only it reads)."""
    data, attachments = socketio.packet.Packet.deconstruct_binary([event, payload])
    text = json.dumps(data, separators=(",", ":"))
    size = len(text.encode("utf-8", "surrogatepass")) + sum(len(a) for a in attachments)
    return size, socketio.packet.Packet.reconstruct_binary(wirejson.loads(text), attachments)[1]


def expected_code(schema: type | None, event: str, payload: Any) -> str | None:
    """The validation layer's verdict, run locally: an error code, or None when it would pass."""
    if schema is None:
        return None
    size, decoded = as_the_server_decodes(event, payload)
    if size > MAX_PAYLOAD_BYTES:
        return "payload_too_large"
    try:
        check_value(decoded)
        parse(schema, decoded)
    except AppError as exc:
        return exc.code
    return None


# --- Socket.IO ----------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace,event,schema", EVENTS, ids=[f"{ns}{name}" for ns, name, _ in EVENTS])
def test_every_invalid_payload_earns_a_structured_error_and_changes_nothing(remote, namespace, event, schema):
    before = remote.row_counts()
    seen: collections.Counter[str] = collections.Counter()

    @settings(max_examples=EXAMPLES_PER_EVENT, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(invalid_payloads(schema, remote.room_id))
    def check(case: tuple[str, Any]) -> None:
        kind, payload = case
        code = expected_code(schema, event, payload)
        assume(schema is None or code is not None)
        reply = remote.run(remote.call(namespace, event, payload))
        assert isinstance(reply, dict) and reply.get("ok") is False or (schema is None and reply.get("ok") is True), reply
        if code is not None:
            assert reply["error"]["code"] == code, (kind, reply)
        if reply.get("ok"):
            seen["ignored_by_a_payloadless_event"] += 1
        else:
            assert reply["error"]["code"] != "internal", (kind, reply)
        seen[kind] += 1

    check()
    assert remote.client_for(namespace, event).sio.connected, "the fuzzing connection is still up"
    if not seen["ignored_by_a_payloadless_event"]:
        # A payloadless event that ignored the junk did its normal job (e.g. made a feed URL).
        assert remote.row_counts() == before, "nothing half-written"
    seen.pop("ignored_by_a_payloadless_event", None)
    remote.run(remote.bystander_chats())
    counts.update({f"{kind}": n for kind, n in seen.items()})
    counts["events"] += 1
    print(f"{namespace}{event}: {sum(seen.values())} invalid payloads ({dict(seen)}), all refused cleanly; "
          f"running total {sum(v for k, v in counts.items() if k != 'events')} examples over {counts['events']} events")


async def handshake(url: str, token: str) -> aiohttp.ClientWebSocketResponse:
    """A raw Engine.IO v4 websocket with the main namespace joined, below python-socketio."""
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
    ws._fuzz_http = http  # type: ignore[attr-defined]
    opened = await ws.receive_str(timeout=10)
    assert opened.startswith("0{")
    await ws.send_str('40{"token":"%s"}' % token)
    joined = await ws.receive_str(timeout=10)
    assert joined.startswith("40{"), joined
    return ws


async def ack_of(ws: aiohttp.ClientWebSocketResponse, packet_id: int, timeout: float = 10) -> str:
    while True:
        msg = await ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return f"<{msg.type.name}>"
        if msg.data == "2":
            await ws.send_str("3")
            continue
        if msg.data.startswith(f"43{packet_id}"):
            return msg.data


async def close_raw(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._fuzz_http.close()  # type: ignore[attr-defined]


def test_raw_wire_garbage_is_survived_by_the_server_and_by_everyone_else(remote):
    """Below the client library: broken Socket.IO packets keep the connection; invalid UTF-8 in a
    text frame is a WebSocket protocol error (RFC 6455 §8.1: close 1007) and closes only that
    socket; binary frames nobody announced are dropped."""
    async def scenario() -> dict[str, str]:
        url, token = remote.server.url, remote.fuzzer.token
        outcomes = {}
        ws = await handshake(url, token)
        for i, garbage in enumerate(['42[not json', '421{"a":1}', '42["message:send",' + "[" * 5000, '4', '49', '42' + "é" * 5000, '4278["room:list", 99999999999999999999999]']):
            await ws.send_str(garbage)
        await ws.send_bytes(b"\x00\xff\x00binary nobody announced")
        await ws.send_str('4277["room:list"]')
        outcomes["after_broken_packets"] = (await ack_of(ws, 77))[:40]
        await close_raw(ws)

        ws = await handshake(url, token)
        await ws.send_frame(b"42[\"room:list\",\"\xff\xfe\xfd\"]", aiohttp.WSMsgType.TEXT)
        msg = await ws.receive(timeout=10)
        outcomes["invalid_utf8_text_frame"] = f"{msg.type.name} {ws.close_code}"
        await close_raw(ws)
        return outcomes

    before = remote.row_counts()
    outcomes = remote.run(scenario())
    print(f"raw Engine.IO garbage: {outcomes}")
    assert outcomes["after_broken_packets"].startswith("4377[{"), "the connection survived and still answers"
    assert outcomes["invalid_utf8_text_frame"].startswith(("CLOSE", "CLOSED", "CLOSING")) and "1007" in outcomes["invalid_utf8_text_frame"]
    assert remote.client.sio.connected
    assert remote.row_counts() == before
    remote.run(remote.bystander_chats())


# Raw frames the python-socketio client would never write: each is invalid by construction, and
# each kind names what the server must answer (kind -> the field its error names, None: no field).
POISONS = st.one_of(
    st.tuples(st.just("surrogate"), st.integers(0xD800, 0xDFFF).map(lambda c: "\\u%04x" % c)),
    st.tuples(st.just("nul"), st.just("\\u0000")),
)
HUGE_INTEGERS = st.one_of(st.integers(max_value=-(2**31) - 1), st.integers(min_value=2**31))


def raw_frames(room_id: str) -> st.SearchStrategy[tuple[str, str | None, list[str | bytes]]]:
    """(kind, the field its error must name, frames) for one packet id placeholder ``{id}``."""
    text_field = st.sampled_from(["client_id", "body", "room_id"])
    poisoned_text = st.tuples(text_field, POISONS, st.text(alphabet="abc é😀", max_size=6)).map(
        lambda t: (t[1][0], t[0], ['42{id}["message:send",%s]' % json.dumps(
            {"room_id": room_id, "client_id": "c", "body": "b", t[0]: t[2] + "@@"}).replace("@@", t[1][1])]))
    huge_integer = st.tuples(st.sampled_from(["after_seq", "before_seq", "limit"]), HUGE_INTEGERS).map(
        lambda t: ("huge_integer", t[0], ['42{id}["message:history",{"room_id":"%s","%s":%d}]' % (room_id, t[0], t[1])]))
    deep_nesting = st.tuples(st.integers(33, 5000), st.sampled_from(["[", '{"a":'])).map(
        lambda t: ("deep_nesting", None, ['42{id}["message:send",' + t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}") * t[0] + "]"]))
    mismatched_binary = st.tuples(st.integers(1, 3), st.integers(0, 3), st.binary(max_size=64)).map(
        lambda t: ("binary_attachment", None, ['45%d-{id}["message:send",{"room_id":"%s","client_id":"c","body":{"_placeholder":true,"num":%d}}]'
                                               % (t[0], room_id, t[0] + t[1])] + [t[2]] * t[0]))
    return st.one_of(poisoned_text, huge_integer, deep_nesting, mismatched_binary)


def test_raw_frames_with_surrogates_nul_huge_integers_deep_nesting_and_bad_attachments_are_refused_by_name(remote):
    """Raw Engine.IO/Socket.IO frames: each gets the structured error for what is wrong with it (the
    field named where there is one), the socket stays up, nothing is written, others chat on."""
    before = remote.row_counts()
    seen: collections.Counter[str] = collections.Counter()
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    ids = iter(range(100, 100_000))

    async def refusal(frames: list[str | bytes]) -> tuple[int, Any]:
        if not sockets:
            sockets.append(await handshake(remote.server.url, remote.fuzzer.token))
        ws, packet_id = sockets[0], next(ids)
        for frame in frames:
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame.replace("{id}", str(packet_id), 1)))
        return packet_id, await ack_of(ws, packet_id)

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(raw_frames(remote.room_id))
    def check(case: tuple[str, str | None, list[str | bytes]]) -> None:
        kind, field, frames = case
        packet_id, answer = remote.run(refusal(frames))
        assert answer.startswith(f"43{packet_id}["), (kind, answer[:80])
        reply = json.loads(answer[len(f"43{packet_id}"):])[0]
        assert reply["ok"] is False and reply["error"]["code"] == "invalid_payload", (kind, reply)
        if field is not None:
            assert reply["error"]["details"]["field"] == field, (kind, reply)
        seen[kind] += 1

    check()
    ws = sockets[0]
    assert remote.run(ack_of_call(ws, next(ids), "room:list")).startswith("43")
    remote.run(close_raw(ws))
    assert remote.row_counts() == before
    assert "Traceback" not in remote.server.log_text()
    remote.run(remote.bystander_chats())
    print(f"raw frames: {sum(seen.values())} refused by the wire guard ({dict(seen)})")


async def ack_of_call(ws: aiohttp.ClientWebSocketResponse, packet_id: int, event: str) -> str:
    await ws.send_str(f'42{packet_id}["{event}"]')
    return await ack_of(ws, packet_id)


# --- HTTP ---------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
HTTP_BODIES = st.one_of(
    st.tuples(st.just("random_bytes"), st.binary(max_size=300)),
    st.tuples(st.just("invalid_utf8"), st.binary(min_size=1, max_size=50).map(lambda b: b'{"username": "' + b"\xff\xfe" + b + b'"}')),
    st.tuples(st.just("json_any"), JSON_VALUES.map(msgspec.json.encode)),
    st.tuples(st.just("truncated_json"), JSON_VALUES.map(lambda v: msgspec.json.encode({"k": v})[:-1])),
    st.tuples(st.just("deep_json"), st.integers(10, 3000).map(lambda n: b"[" * n + b"]" * n)),
    st.tuples(st.just("huge_json"), st.just(b'{"username": "' + b"z" * (MAX_PAYLOAD_BYTES + 5) + b'"}')),
)


# These take no body and would sign the fuzzer out, which is their job, not a write by garbage.
BODYLESS_SIGN_OUTS = ("/api/auth/logout", "/api/auth/logout-all")


def test_every_json_route_answers_garbage_bodies_with_a_4xx_error_and_writes_nothing(remote):
    routes = json_post_routes()
    before = remote.row_counts()
    seen: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()

    async def post(path: str, body: bytes) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if path not in BODYLESS_SIGN_OUTS:
            headers["Authorization"] = f"Bearer {remote.fuzzer.token}"
        async with aiohttp.ClientSession() as http:
            async with http.post(remote.server.url + path, data=body, headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)

    @settings(max_examples=HTTP_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(routes), HTTP_BODIES)
    def check(path: str, case: tuple[str, bytes]) -> None:
        kind, body = case
        status, reply = remote.run(post(path, body))
        # 4xx, or 503 from a feature that is switched off by configuration; never a crash.
        assert 400 <= status < 500 or status == 503, (path, kind, body[:80], status, reply)
        assert reply["ok"] is False and reply["error"]["code"], reply
        seen[kind] += 1
        statuses[status] += 1

    check()
    after = remote.row_counts()
    remote.run(remote.bystander_chats())
    print(f"HTTP fuzz over {routes}: {sum(seen.values())} bodies ({dict(seen)}), statuses {dict(statuses)}")
    assert after == before, "nothing half-written"
