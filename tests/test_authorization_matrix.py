"""The authorization matrix: every Socket.IO event and HTTP route × every role, from one table.

The set of events and routes is read from the app as the server builds it; an event or route
with no row in the table fails the first test by name, so a feature cannot land unreviewed.
Then each row is driven against a real server with real clients: a leader's group room whose
members hold every platform role, and a mentee who is not a member.

A cell is "allowed" when the ack is neither ``forbidden`` nor ``unauthorized`` (a not_found or
conflict means the gate let the caller through to the business rules), and "forbidden" when the
ack says so. Anonymous callers cannot open a Socket.IO connection at all, which is checked once
per namespace and stands for the whole anonymous column of events.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio
from msgspec import inspect as mi

from server.services import SERVICES
from tests.live_server import close_all, register
from tests.test_fuzz import built_app

ROLES = ("mentee", "mentor", "leader", "responder", "professional", "admin")
COLUMNS = ("anonymous", *ROLES, "non-member")
CONSOLE = frozenset({"responder", "professional", "admin"})
SUPERVISOR = frozenset({"professional", "admin"})

# Who may call: "everyone" signed in; "members" of the room named in the payload (any role);
# "moderators": the room's leader (the group's own moderation rules then apply), and with
# "moderators+admin" also a platform admin; "holder": only whoever holds the named object (the
# message's author, a call's joined participant, a session's parties). The matrix names objects
# the leader made, so the leader is their only holder unless a row says otherwise;
# a frozenset of platform roles (the namespace or event gate).
EVERYONE, MEMBERS, MODERATORS, MODERATORS_AND_ADMIN, HOLDER = "everyone", "members", "moderators", "moderators+admin", "holder"


@dataclass(frozen=True)
class Row:
    who: Any
    # Rows with a rank run after every other row, in rank order: they change membership or
    # ownership of the shared room.
    last: int = 0
    holders: tuple[str, ...] = ("leader",)
    extra: dict[str, Any] = field(default_factory=dict)


TABLE: dict[tuple[str, str], Row] = {
    # chat core
    ("/", "room:create"): Row(EVERYONE),
    ("/", "room:list"): Row(EVERYONE),
    ("/", "room:join"): Row(MEMBERS),
    ("/", "room:leave_view"): Row(EVERYONE),
    ("/", "user:find"): Row(EVERYONE),
    ("/", "message:send"): Row(MEMBERS),
    ("/", "message:edit"): Row(HOLDER),
    ("/", "message:delete"): Row(HOLDER),
    ("/", "message:history"): Row(MEMBERS),
    ("/", "reaction:toggle"): Row(MEMBERS, extra={"emoji": "👍"}),
    ("/", "room:previews"): Row(EVERYONE),
    ("/", "typing:start"): Row(MEMBERS),
    ("/", "typing:stop"): Row(MEMBERS),
    ("/", "receipt:read"): Row(MEMBERS),
    ("/", "profile:get"): Row(EVERYONE),
    ("/", "profile:update"): Row(EVERYONE),
    ("/", "room:safety_monitoring"): Row(MEMBERS),
    ("/", "translation:status"): Row(frozenset({"admin"})),
    # calls and media
    ("/", "call:start"): Row(MEMBERS),
    ("/", "call:accept"): Row(MEMBERS),
    ("/", "call:decline"): Row(MEMBERS),
    ("/", "call:end"): Row(MEMBERS),
    ("/", "call:offer"): Row(MEMBERS),
    ("/", "call:answer"): Row(MEMBERS),
    ("/", "call:ice"): Row(MEMBERS),
    ("/", "call:ice_servers"): Row(EVERYONE),
    ("/", "call:media_state"): Row(MEMBERS),
    ("/", "media:join"): Row(HOLDER, holders=()),
    ("/", "media:leave"): Row(EVERYONE),
    ("/", "media:consent"): Row(HOLDER, holders=()),
    ("/", "media:layout"): Row(EVERYONE),
    ("/", "media:record_start"): Row(HOLDER, holders=()),
    ("/", "media:record_stop"): Row(HOLDER, holders=()),
    ("/", "media:request_video"): Row(HOLDER, holders=()),
    ("/", "media:stats"): Row(HOLDER, holders=()),
    # groups
    ("/", "group:create"): Row(frozenset({"leader", "admin"})),
    ("/", "group:state"): Row(MEMBERS),
    ("/", "group:request"): Row(EVERYONE),
    ("/", "group:requests"): Row(MODERATORS),
    ("/", "group:invite"): Row(MODERATORS),
    ("/", "group:approve"): Row(MODERATORS),
    ("/", "group:reject"): Row(MODERATORS),
    ("/", "group:accept"): Row(EVERYONE),
    ("/", "group:invitations"): Row(EVERYONE),
    ("/", "group:decline"): Row(EVERYONE),
    ("/", "group:lock"): Row(MODERATORS),
    ("/", "group:mute"): Row(MODERATORS),
    ("/", "group:unmute"): Row(MODERATORS),
    ("/", "group:pin"): Row(MODERATORS),
    ("/", "group:unpin"): Row(MODERATORS),
    ("/", "group:slow_mode"): Row(MODERATORS),
    ("/", "group:audit"): Row(MODERATORS_AND_ADMIN),
    ("/", "group:rotation"): Row(MODERATORS),
    ("/", "group:session_start"): Row(MODERATORS),
    ("/", "group:session_end"): Row(MODERATORS),
    ("/", "group:set_role"): Row(MODERATORS, last=1),
    ("/", "group:remove"): Row(MODERATORS, last=2),
    ("/", "group:handover"): Row(MODERATORS, last=3),
    ("/", "group:reclaim"): Row(HOLDER, holders=(), last=4),
    ("/", "group:leave"): Row(MEMBERS, last=5),
    ("/", "hand:raise"): Row(MEMBERS),
    ("/", "hand:lower"): Row(MEMBERS),
    ("/", "hand:next"): Row(MODERATORS),
    ("/", "agenda:set"): Row(MODERATORS),
    ("/", "agenda:next"): Row(MODERATORS),
    ("/", "agenda:goto"): Row(MODERATORS),
    # scheduling, matching, rewards
    ("/", "availability:set"): Row(EVERYONE),
    ("/", "availability:get"): Row(EVERYONE),
    ("/", "availability:slots"): Row(EVERYONE),
    ("/", "session:book"): Row(EVERYONE),
    ("/", "session:schedule_group"): Row(frozenset({"leader", "admin"})),
    ("/", "session:cancel"): Row(HOLDER, holders=()),
    ("/", "session:reschedule"): Row(EVERYONE),
    ("/", "session:list"): Row(EVERYONE),
    ("/", "session:join"): Row(HOLDER, holders=()),
    ("/", "session:end"): Row(HOLDER, holders=()),
    ("/", "calendar:feed_url"): Row(EVERYONE),
    ("/", "calendar:revoke_feed"): Row(EVERYONE),
    ("/", "rewards:list"): Row(EVERYONE),
    # matching and mentorship (issue 18)
    ("/", "matching:suggestions"): Row(frozenset({"mentee"})),
    ("/", "matching:browse"): Row(frozenset({"mentee"})),
    ("/", "mentor_profile:get"): Row(EVERYONE),
    ("/", "mentor_profile:set"): Row(frozenset({"mentor", "leader"})),
    ("/", "intake:get"): Row(EVERYONE),
    ("/", "intake:set"): Row(EVERYONE),
    ("/", "intake:delete"): Row(EVERYONE),
    ("/", "staff:certify"): Row(frozenset({"admin"})),
    ("/", "match:request"): Row(frozenset({"mentee"})),
    ("/", "match:respond"): Row(frozenset({"mentor", "leader"})),
    ("/", "mentorship:list"): Row(EVERYONE),
    ("/", "mentorship:end"): Row(HOLDER, holders=()),
    ("/", "mentorship:rematch"): Row(HOLDER, holders=()),
    ("/", "mentor:stats"): Row(frozenset({"mentor", "leader"})),
    ("/", "feedback:give"): Row(HOLDER, holders=()),
    ("/", "feedback:list"): Row(frozenset({"admin"})),
    ("/", "user:block"): Row(EVERYONE),
    ("/", "user:unblock"): Row(EVERYONE),
    ("/", "user:blocks"): Row(EVERYONE),
    ("/", "user:report"): Row(EVERYONE),
    ("/", "report:list"): Row(frozenset({"admin"})),
    ("/", "report:resolve"): Row(frozenset({"admin"})),
    # crisis console
    ("/responders", "crisis:list"): Row(CONSOLE),
    ("/responders", "crisis:ack"): Row(CONSOLE),
    ("/responders", "crisis:resolve"): Row(CONSOLE),
    ("/responders", "crisis:context"): Row(CONSOLE),
    ("/responders", "crisis:on_call"): Row(CONSOLE),
    ("/responders", "crisis:audit"): Row(SUPERVISOR),
    ("/responders", "crisis:reach_out"): Row(CONSOLE),
    ("/responders", "crisis:leave"): Row(CONSOLE),
    ("/responders", "crisis:safety_plan"): Row(CONSOLE),
    ("/responders", "crisis:report"): Row(CONSOLE),
    ("/responders", "crisis:state"): Row(CONSOLE),
    ("/responders", "crisis:handover"): Row(CONSOLE),
    ("/", "safety_plan:get"): Row(EVERYONE),
    ("/", "safety_plan:set"): Row(EVERYONE),
    # files, libraries and shared goals (issue 22): the matrix room is a group, so goal events
    # reach "not a mentorship" for its members; tests/test_files_goals.py checks the pair itself
    ("/", "resource:list"): Row(MEMBERS),
    ("/", "resource:pin"): Row(frozenset({"mentor", "leader", "professional", "admin"})),
    ("/", "resource:unpin"): Row(frozenset({"mentor", "leader", "professional", "admin"})),
    ("/", "goal:list"): Row(MEMBERS),
    ("/", "goal:create"): Row(MEMBERS),
    ("/", "goal:update"): Row(MEMBERS),
    ("/", "goal:agree"): Row(MEMBERS),
    ("/", "goal:step"): Row(MEMBERS),
    ("/", "goal:check_in"): Row(MEMBERS),
    ("/", "goal:close"): Row(MEMBERS),
    ("/", "goal:review"): Row(frozenset({"professional", "admin"})),
    # private rooms (issue 20): the matrix room is not private, so its members reach "not_private";
    # a device named by anyone else's id is refused as "not_your_device" (tests/test_private_rooms.py)
    ("/", "device:register"): Row(EVERYONE),
    ("/", "room:devices"): Row(MEMBERS),
    ("/", "keys:share"): Row(MEMBERS),
    ("/", "keys:fetch"): Row(EVERYONE),
    ("/", "keys:ack"): Row(EVERYONE),
    ("/", "crisis:device_alert"): Row(MEMBERS),
}

# HTTP: "public", "signed_in" (bearer token), "capability" (a secret in the URL, a signed
# webhook or the scraper's metrics token; no user token involved), "engineio" (python-socketio's own endpoint), "static".
HTTP_TABLE: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("POST", "/api/auth/register"): "public",
    ("POST", "/api/auth/login"): "public",
    ("POST", "/api/auth/logout"): "signed_in",
    ("POST", "/api/auth/logout-all"): "signed_in",
    ("GET", "/api/me"): "signed_in",
    ("GET", "/api/help/lines"): "public",
    ("GET", "/api/safety/coverage"): "public",
    ("GET", "/metrics"): "capability",
    ("GET", "/api/calendar/{secret}.ics"): "capability",
    ("POST", "/api/matching/matches"): "capability",
    # members of the file's room only; anyone else gets 404 (tests/test_files_goals.py)
    ("POST", "/api/rooms/{room_id}/files"): "signed_in",
    ("GET", "/api/files/{file_id}"): "signed_in",
    ("GET", "/api/files/{file_id}/thumbnail"): "signed_in",
    ("GET", "/socket.io/"): "engineio",
    ("POST", "/socket.io/"): "engineio",
    ("OPTIONS", "/socket.io/"): "engineio",
    ("GET", "/"): "static",
    ("GET", "/static"): "static",
    ("GET", "/vendor/socket.io"): "static",
}


def app_registry() -> tuple[dict[tuple[str, str], Any], set[tuple[str, str]]]:
    app = built_app()
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        routes.add((route.method, info.get("path") or info.get("formatter") or info.get("prefix")))
    return dict(app[SERVICES].dispatcher.specs), routes


SPECS, ROUTES = app_registry()


def test_every_event_and_route_has_a_row_in_the_table():
    missing_events = sorted(f"{ns} {name}" for ns, name in set(SPECS) - set(TABLE))
    stale_events = sorted(f"{ns} {name}" for ns, name in set(TABLE) - set(SPECS))
    missing_routes = sorted(f"{m} {p}" for m, p in ROUTES - set(HTTP_TABLE))
    stale_routes = sorted(f"{m} {p}" for m, p in set(HTTP_TABLE) - ROUTES)
    print(f"matrix: {len(SPECS)} events and {len(ROUTES)} routes registered; table has {len(TABLE)} + {len(HTTP_TABLE)} rows")
    assert not missing_events, f"events without a row in the authorization table: {missing_events}"
    assert not missing_routes, f"routes without a row in the authorization table: {missing_routes}"
    assert not stale_events and not stale_routes, f"rows for things that no longer exist: {stale_events + stale_routes}"


def test_the_table_agrees_with_each_events_declared_role_gate():
    """A row naming platform roles must match the gate the event declares, and vice versa."""
    for key, spec in SPECS.items():
        row = TABLE.get(key)
        if row is None:
            continue
        if isinstance(row.who, frozenset) and key[0] == "/":
            assert spec.roles == row.who, (key, spec.roles, row.who)
        if not isinstance(row.who, frozenset):
            assert spec.roles is None, (key, spec.roles)


def expected(row: Row, column: str, namespace: str) -> str:
    if column == "anonymous":
        return "unauthorized"
    role = "mentee" if column == "non-member" else column
    if namespace == "/responders" and role not in CONSOLE:
        return "forbidden"
    if isinstance(row.who, frozenset):
        return "allowed" if role in row.who else "forbidden"
    if row.who == EVERYONE:
        return "allowed"
    if column == "non-member":
        return "forbidden"
    if row.who == MEMBERS:
        return "allowed"
    if row.who == HOLDER:
        return "allowed" if column in row.holders else "forbidden"
    if row.who == MODERATORS_AND_ADMIN:
        return "allowed" if column in ("leader", "admin") else "forbidden"
    return "allowed" if column == "leader" else "forbidden"


def payload_for(schema: type | None, ids: dict[str, str]) -> Any:
    if schema is None:
        return {}
    data = {}
    for f in mi.type_info(schema).fields:
        if not f.required:
            continue
        t = f.type
        if isinstance(t, mi.UnionType):
            t = next((x for x in t.types if not isinstance(x, mi.NoneType)), t.types[0])
        if isinstance(t, mi.StrType):
            data[f.name] = ids.get(f.name, "x" + ids["nonce"])
        elif isinstance(t, mi.LiteralType):
            data[f.name] = t.values[0]
        elif isinstance(t, mi.BoolType):
            data[f.name] = True
        elif isinstance(t, (mi.IntType, mi.FloatType)):
            data[f.name] = 1
        elif isinstance(t, mi.ListType):
            data[f.name] = []
        elif isinstance(t, mi.DictType):
            data[f.name] = {}
        else:
            data[f.name] = "x"
    return data


def verdict(reply: Any) -> str:
    if isinstance(reply, dict) and reply.get("ok") is False and reply["error"]["code"] in ("forbidden", "unauthorized"):
        return reply["error"]["code"]
    return "allowed"


async def connect(person, namespace: str) -> Any:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(person.server.url, auth={"token": person.token}, transports=["websocket"],
                         namespaces=[namespace], wait_timeout=10)
    person.clients.append(client)
    return client


async def refused(server, token: str | None, namespace: str) -> str | None:
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []
    client.on("connect_error", lambda data: reasons.append(data), namespace=namespace)
    try:
        await client.connect(server.url, auth={"token": token} if token else None, transports=["websocket"],
                             namespaces=[namespace], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        data = reasons[0] if reasons else {}
        return (data.get("data") or data).get("code", "refused") if isinstance(data, dict) else "refused"
    await client.disconnect()
    return None


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory):
    from tests.conftest import database_url_for
    from tests.live_server import ServerProcess

    data_dir = tmp_path_factory.mktemp("matrix")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         extra_env={"MV_EVENT_RATE": "100000/second", "MV_MESSAGE_RATE": "100000/second"}).start()
    yield proc
    proc.stop()


async def test_every_event_answers_every_role_as_the_table_says(matrix_server):
    people = {role: await register(matrix_server, role=role) for role in ROLES}
    outsider = await register(matrix_server)
    leader = people["leader"]
    lc = await connect(leader, "/")
    members = [p.id for r, p in people.items() if r != "leader"]
    created = await lc.call("room:create", {"kind": "group", "member_ids": members, "title": "matrix"}, timeout=15)
    assert created["ok"], created
    room_id = created["room"]["id"]
    sent = await lc.call("message:send", {"room_id": room_id, "client_id": "m", "body": "hello"}, timeout=15)
    message_id = sent["message"]["id"]

    for namespace in sorted({ns for ns, _ in SPECS}):
        assert await refused(matrix_server, None, namespace) == "unauthorized"
        assert await refused(matrix_server, "forged.token.value", namespace) == "unauthorized"

    clients: dict[tuple[str, str], Any] = {}
    denied_namespace: dict[tuple[str, str], str] = {}
    callers = {**people, "non-member": outsider}
    for column, person in callers.items():
        for namespace in sorted({ns for ns, _ in SPECS}):
            code = await refused(matrix_server, person.token, namespace) if namespace != "/" else None
            if code is not None:
                # The console names its refusal (e.g. not_a_responder); it is a forbidden kind.
                denied_namespace[(column, namespace)] = code if code == "unauthorized" else "forbidden"
            else:
                clients[(column, namespace)] = await connect(person, namespace)

    call = await lc.call("call:start", {"room_id": room_id, "media": "audio"}, timeout=15)
    assert call["ok"], call
    ids = {"room_id": room_id, "message_id": message_id, "user_id": outsider.id, "target_id": outsider.id,
           "call_id": call["call"]["id"], "alert_id": "noalert", "session_id": "nosession", "nonce": "1"}
    mismatches, cells = [], collections.Counter()
    ordered = sorted(SPECS, key=lambda k: (TABLE[k].last, k))
    for key in ordered:
        namespace, name = key
        row = TABLE[key]
        for column in COLUMNS:
            want = expected(row, column, namespace)
            if column == "anonymous":
                got = "unauthorized"  # proven above: no connection without a valid token
            elif (column, namespace) in denied_namespace:
                got = denied_namespace[(column, namespace)]
            else:
                payload = payload_for(SPECS[key].schema, {**ids, **row.extra})
                got = verdict(await clients[(column, namespace)].call(name, payload, namespace=namespace, timeout=15))
            cells[got] += 1
            if got != want:
                mismatches.append(f"{namespace} {name} as {column}: expected {want}, got {got}")
    print(f"authorization matrix: {len(ordered)} events × {len(COLUMNS)} roles = {sum(cells.values())} cells, {dict(cells)}")
    for line in mismatches:
        print("  MISMATCH", line)
    assert not mismatches
    await close_all(*callers.values())


async def test_every_route_answers_every_caller_as_the_table_says(matrix_server):
    checks = []
    async with aiohttp.ClientSession() as http:
        for (method, path), policy in sorted(HTTP_TABLE.items()):
            if policy in ("engineio", "static"):
                continue
            person = await register(matrix_server)  # its own, as logout routes end the session
            url = matrix_server.url + re.sub(r"\{(\w+)\}", r"not-a-real-\1", path)
            kwargs = {"json": {}} if method == "POST" else {}
            async with http.request(method, url, **kwargs) as resp:
                anonymous = resp.status
            async with http.request(method, url, headers={"Authorization": f"Bearer {person.token}"}, **kwargs) as resp:
                signed_in = resp.status
            checks.append((method, path, policy, anonymous, signed_in))
            # Whoever asks, a route answers with a decision, never a crash (503: switched off by configuration).
            assert anonymous < 500 or anonymous == 503, (method, path, anonymous)
            if policy == "signed_in":
                assert anonymous == 401 and signed_in not in (401, 403), (path, anonymous, signed_in)
            elif policy == "public":
                assert anonymous not in (401, 403) and signed_in not in (401, 403), (path, anonymous, signed_in)
            elif policy == "capability":
                assert anonymous in (401, 403, 404, 503) and signed_in == anonymous, "a user token is no substitute for the capability"
    for method, path, policy, anonymous, signed_in in checks:
        print(f"  {method:5} {path:32} {policy:10} anonymous→{anonymous} signed-in→{signed_in}")
