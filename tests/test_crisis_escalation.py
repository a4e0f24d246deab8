"""Crisis escalation: a risky message reaches a responder at once, is claimed by one of them, and
climbs a ladder of wider audiences while nobody claims it — across restarts and processes.

The escalation servers here run a short ladder (1.5 s per step, checked every 0.2 s) so escalation
is observable in a test; production waits two minutes per step. Consent and resources tests use the
ordinary module server, which also keeps each server under the per-address sign-in limit.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import socketio

from tests.conftest import database_url_for
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register

STEP_SECONDS = 1.5
LADDER_ENV = {"MV_ESCALATION_STEP_SECONDS": str(STEP_SECONDS), "MV_ESCALATION_POLL_SECONDS": "0.2"}
CONSOLE = ["/responders"]
RISKY = "I can't do this anymore, I want to kill myself tonight"


def ladder_server_process(backend: str, data_dir: Path) -> ServerProcess:
    return ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir), extra_env=dict(LADDER_ENV))


@pytest.fixture(scope="module")
def ladder_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ladder_server_process(backend, tmp_path_factory.mktemp(f"crisis-{backend}"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def restartable_ladder_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ladder_server_process(backend, tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def two_ladder_servers(backend: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one database (and one data dir, so one master key), without Redis."""
    data_dir = tmp_path / "data"
    url = database_url_for(backend, data_dir)
    one = ServerProcess(data_dir=data_dir, database_url=url, extra_env=dict(LADDER_ENV)).start()
    two = ServerProcess(data_dir=data_dir, database_url=url, extra_env=dict(LADDER_ENV)).start()
    yield one, two
    one.stop()
    two.stop()


async def console(person: Person, *, on_call: bool | None = None) -> LiveClient:
    client = await person.connect(namespaces=CONSOLE)
    if on_call is not None:
        reply = await client.call("crisis:on_call", {"on": on_call})
        assert reply["ok"], reply
    return client


async def mentee_room(mentee: Person, mentor: Person) -> tuple[LiveClient, str]:
    client = await mentee.connect()
    reply = await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]})
    assert reply["ok"], reply
    room_id = reply["room"]["id"]
    assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    return client, room_id


async def send(client: LiveClient, room_id: str, body: str) -> dict[str, Any]:
    reply = await client.call("message:send", {"room_id": room_id, "client_id": uuid.uuid4().hex, "body": body})
    assert reply["ok"], reply
    return reply["message"]


def alert_events(client: LiveClient, event: str, alert_id: str) -> list[dict[str, Any]]:
    return [data for data in client.received(event) if data["id"] == alert_id]


async def audit_actions(server: ServerProcess, room_id: str) -> list[tuple[str, str | None, Any]]:
    """(action, actor_id, detail) of the room's audit entries, read from the server's database."""
    if server.database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(server.database_url.split("///", 1)[1]) as db:
            rows = db.execute("SELECT action, actor_id, detail FROM audit_log WHERE room_id = ? ORDER BY id", (room_id,)).fetchall()
        return [(a, actor, json.loads(d)) for a, actor, d in rows]
    import asyncpg

    conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT action, actor_id, detail FROM audit_log WHERE room_id = $1 ORDER BY id", room_id)
    finally:
        await conn.close()
    return [(r["action"], r["actor_id"], json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]) for r in rows]


async def test_a_responder_gets_the_alert_at_once_claims_it_and_the_escalation_stops(ladder_server):
    mentee = await register(ladder_server, country="US", locale="en")
    mentor = await register(ladder_server, role="mentor")
    first, second = await register(ladder_server, role="responder"), await register(ladder_server, role="responder")
    r1, r2 = await console(first, on_call=True), await console(second)
    mentor_client = await mentor.connect()
    a, room_id = await mentee_room(mentee, mentor)

    sent_at = time.perf_counter()
    message = await send(a, room_id, RISKY)
    acked_at = time.perf_counter()
    alert = await r1.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)
    arrived_at = r1.arrived_at[next(i for i, (n, d) in enumerate(r1.events) if n == "crisis:alert" and d is alert)]
    print(f"\nsend→ack {1000 * (acked_at - sent_at):.1f} ms; send→crisis:alert {1000 * (arrived_at - sent_at):.1f} ms; "
          f"ack→crisis:alert {1000 * (arrived_at - acked_at):+.1f} ms (negative: the alert arrived before the sender's ack)")

    # Minimal data: who/where/how bad/when/how far escalated, the quote, and nothing of the history.
    assert alert["tier"] == 3 and alert["level"] == 0 and alert["status"] == "open"
    assert "kill myself" in alert["excerpt"] and alert["created_at"]
    assert not {"messages", "body", "history", "author_id", "sender_id"} & set(alert)
    # The writer gets help in the same breath; the mentor a gentle flag; nobody else the resources.
    resources = await a.wait_for("crisis:resources", lambda d: d["message_id"] == message["id"])
    assert resources["hotlines"][0]["service"].startswith("988") and "911" in resources["message"]
    flag = await mentor_client.wait_for("crisis:flag", lambda d: d["message_id"] == message["id"])
    assert flag["tier"] == 3 and flag["responders_alerted"] is True
    assert not mentor_client.received("crisis:resources")

    claim = await r1.call("crisis:ack", {"alert_id": alert["id"]})
    assert claim["ok"] and claim["already_claimed"] is False and claim["alert"]["claimed_by"]["id"] == first.id
    again = await r1.call("crisis:ack", {"alert_id": alert["id"]})
    assert again["ok"] and again["already_claimed"] is True
    late = await r2.call("crisis:ack", {"alert_id": alert["id"]})
    assert late["ok"] is False and late["error"]["code"] == "already_claimed"
    assert first.user["display_name"] in late["error"]["message"]
    assert (await r2.wait_for("crisis:claimed", lambda d: d["id"] == alert["id"]))["claimed_by"]["id"] == first.id

    await asyncio.sleep(STEP_SECONDS * 2.5)
    assert alert_events(r1, "crisis:escalated", alert["id"]) == alert_events(r2, "crisis:escalated", alert["id"]) == []
    listed = {x["id"]: x for x in (await r2.call("crisis:list"))["alerts"]}
    assert listed[alert["id"]]["status"] == "claimed" and listed[alert["id"]]["level"] == 0

    done = await r1.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "reached_safe",
                                            "note": "Called the mentee; safe with family tonight."})
    assert done["ok"] and done["alert"]["status"] == "resolved"
    await r2.wait_for("crisis:resolved", lambda d: d["id"] == alert["id"])
    resolved = {x["id"]: x for x in (await r2.call("crisis:list", {"status": "resolved"}))["alerts"]}
    assert resolved[alert["id"]]["note"].startswith("Called the mentee")
    await r1.call("crisis:on_call", {"on": False})
    await close_all(mentee, mentor, first, second)


async def test_an_unclaimed_alert_climbs_to_all_responders_then_to_supervisors(ladder_server):
    mentee, mentor = await register(ladder_server), await register(ladder_server, role="mentor")
    on_call, off_call = await register(ladder_server, role="responder"), await register(ladder_server, role="responder")
    supervisor = await register(ladder_server, role="professional")
    r_on, r_off, sup = await console(on_call, on_call=True), await console(off_call, on_call=False), await console(supervisor)
    a, room_id = await mentee_room(mentee, mentor)
    await send(a, room_id, RISKY)

    alert = await r_on.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)
    started = time.perf_counter()
    step1 = await r_off.wait_for("crisis:escalated", lambda d: d["id"] == alert["id"], timeout=STEP_SECONDS * 4)
    at1 = time.perf_counter() - started
    step2 = await sup.wait_for("crisis:escalated", lambda d: d["id"] == alert["id"], timeout=STEP_SECONDS * 4)
    at2 = time.perf_counter() - started
    print(f"\nescalation with {STEP_SECONDS} s steps: level 1 after {at1:.2f} s, level 2 after {at2:.2f} s")
    assert (step1["level"], step1["step"]) == (1, "all_responders") and (step2["level"], step2["step"]) == (2, "supervisors")
    # Each circle heard of it only when its step came: not before.
    assert not alert_events(r_off, "crisis:alert", alert["id"])
    assert not alert_events(sup, "crisis:alert", alert["id"])
    assert [e["level"] for e in alert_events(sup, "crisis:escalated", alert["id"])] == [2]
    assert {1, 2} <= {e["level"] for e in alert_events(r_on, "crisis:escalated", alert["id"])}

    claim = await sup.call("crisis:ack", {"alert_id": alert["id"]})
    assert claim["ok"], claim
    level = claim["alert"]["level"]
    await asyncio.sleep(STEP_SECONDS * 2)
    assert max(e["level"] for e in alert_events(r_on, "crisis:escalated", alert["id"])) <= level
    await r_on.call("crisis:on_call", {"on": False})
    await close_all(mentee, mentor, on_call, off_call, supervisor)


async def test_only_responders_and_supervisors_may_open_the_responder_console(ladder_server):
    for role in ("mentee", "mentor", "leader"):
        person = await register(ladder_server, role=role)
        refused: list[Any] = []
        client = socketio.AsyncClient(reconnection=False)
        client.on("connect_error", lambda data: refused.append(data), namespace="/responders")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(ladder_server.url, auth={"token": person.token}, namespaces=CONSOLE,
                                 transports=["websocket"], wait_timeout=10)
        assert refused and refused[0]["data"]["code"] == "not_a_responder", (role, refused)
        # The main namespace has no crisis events at all.
        main = await person.connect()
        assert (await main.call("crisis:list"))["error"]["code"] == "unknown_event"
        await close_all(person)

    anonymous: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("connect_error", lambda data: anonymous.append(data), namespace="/responders")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(ladder_server.url, auth={"token": "forged"}, namespaces=CONSOLE, transports=["websocket"], wait_timeout=10)
    assert anonymous and anonymous[0]["data"]["code"] == "unauthorized"

    responder = await register(ladder_server, role="responder")
    r = await console(responder)
    assert (await r.call("crisis:audit", {"alert_id": "x"}))["error"]["code"] == "forbidden"
    await close_all(responder)


async def test_reading_the_conversation_behind_an_alert_needs_a_claim_and_is_audited(ladder_server):
    mentee, mentor, other_mentor = (await register(ladder_server), await register(ladder_server, role="mentor"),
                                    await register(ladder_server, role="mentor"))
    responder, supervisor = await register(ladder_server, role="responder"), await register(ladder_server, role="admin")
    r, sup = await console(responder, on_call=True), await console(supervisor)
    a, room_id = await mentee_room(mentee, mentor)
    other = await a.call("room:create", {"kind": "direct", "member_ids": [other_mentor.id]})
    await send(a, other["room"]["id"], "something private from my other room")
    for body in ("hi", "today was rough", RISKY):
        await send(a, room_id, body)
    alert = await r.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)

    early = await r.call("crisis:context", {"alert_id": alert["id"]})
    assert early["ok"] is False and early["error"]["code"] == "claim_first"
    assert (await r.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    context = await r.call("crisis:context", {"alert_id": alert["id"], "limit": 10})
    assert context["ok"], context
    assert [m["body"] for m in context["messages"]] == ["hi", "today was rough", RISKY]
    assert context["author"]["id"] == mentee.id
    assert "something private" not in str(context) and "something private" not in str(r.events)
    await r.call("crisis:context", {"alert_id": alert["id"]})

    log = await sup.call("crisis:audit", {"alert_id": alert["id"]})
    assert log["ok"], log
    actions = [(e["action"], e["actor_id"]) for e in log["entries"]]
    assert actions[0] == ("crisis.alert", None)
    assert actions.count(("crisis.context", responder.id)) == 2 and ("crisis.ack", responder.id) in actions
    stored = await audit_actions(ladder_server, room_id)
    assert [x for x in stored if x[0] == "crisis.context"][0][2]["around_seq"] == 3
    await r.call("crisis:on_call", {"on": False})
    await close_all(mentee, mentor, other_mentor, responder, supervisor)


async def test_safety_monitoring_is_on_by_default_shown_and_only_professionals_may_turn_it_off(server):
    mentee, mentor, professional = (await register(server), await register(server, role="mentor"),
                                    await register(server, role="professional"))
    a, room_id = await mentee_room(mentee, mentor)
    m = await mentor.connect()
    rooms = (await m.call("room:list"))["rooms"]
    assert [x["safety_monitoring"] for x in rooms if x["id"] == room_id] == [True]

    for client in (a, m):
        refused = await client.call("room:safety_monitoring", {"room_id": room_id, "on": False})
        assert refused["ok"] is False and refused["error"]["code"] == "monitoring_locked"
    p = await professional.connect()
    off = await p.call("room:safety_monitoring", {"room_id": room_id, "on": False})
    assert off["ok"] and off["room"]["safety_monitoring"] is False
    notice = await a.wait_for("room:safety_monitoring", lambda d: d["room_id"] == room_id)
    assert notice["safety_monitoring"] is False and notice["changed_by"]["id"] == professional.id

    unscanned = await send(a, room_id, RISKY)
    await asyncio.sleep(0.5)
    assert not [d for d in a.received("crisis:resources") if d["message_id"] == unscanned["id"]]

    on = await a.call("room:safety_monitoring", {"room_id": room_id, "on": True})
    assert on["ok"] and on["room"]["safety_monitoring"] is True
    scanned = await send(a, room_id, "I wish I was dead")
    resources = await a.wait_for("crisis:resources", lambda d: d["message_id"] == scanned["id"])
    assert resources["tier"] == 1 and resources["hotlines"]
    # Tier 1 flags the mentor gently but raises no alert for responders.
    flag = await m.wait_for("crisis:flag", lambda d: d["message_id"] == scanned["id"])
    assert flag["tier"] == 1 and flag["responders_alerted"] is False
    assert not [d for d in m.received("crisis:flag") if d["message_id"] == unscanned["id"]]
    stored = [(action, actor, detail) for action, actor, detail in await audit_actions(server, room_id)
              if action == "room.safety_monitoring"]
    assert stored == [("room.safety_monitoring", professional.id, {"on": False}),
                      ("room.safety_monitoring", mentee.id, {"on": True})]
    await close_all(mentee, mentor, professional)


async def test_resources_come_in_the_writers_language_with_their_countrys_lines(server):
    mentee, mentor = await register(server, locale="es_MX", country="MX", languages=["es"]), await register(server, role="mentor")
    a, room_id = await mentee_room(mentee, mentor)
    message = await send(a, room_id, "ya no puedo más, me quiero morir")
    resources = await a.wait_for("crisis:resources", lambda d: d["message_id"] == message["id"])
    assert resources["locale"] == "es" and "No estás solo" in resources["message"]
    assert resources["hotlines"][0]["country"] == "MX" and resources["emergency"] == "911"
    await close_all(mentee, mentor)


async def test_an_alert_raised_just_before_a_restart_reaches_a_responder_who_connects_after_it_and_still_escalates(
    restartable_ladder_server,
):
    server = restartable_ladder_server
    mentee, mentor = await register(server), await register(server, role="mentor")
    responder = await register(server, role="responder")
    a, room_id = await mentee_room(mentee, mentor)
    await send(a, room_id, RISKY)  # nobody is watching the console yet
    await close_all(mentee)
    server.restart()

    r = await console(responder)
    replayed = await r.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)
    assert replayed["replayed"] is True and replayed["status"] == "open"
    listed = [x for x in (await r.call("crisis:list"))["alerts"] if x["id"] == replayed["id"]]
    assert listed and listed[0]["tier"] == 3
    later = await r.wait_for("crisis:escalated", lambda d: d["id"] == replayed["id"] and d["level"] > replayed["level"],
                             timeout=STEP_SECONDS * 4)
    print(f"\nafter the restart the alert went from level {replayed['level']} to {later['level']}")
    await close_all(responder)


async def test_with_two_server_processes_each_escalation_step_fires_exactly_once(two_ladder_servers):
    one, two = two_ladder_servers
    mentee, mentor, responder = await register(one), await register(one, role="mentor"), await register(one, role="responder")
    # One console on each process; without Redis, an emit reaches only the emitting process's
    # connections, so the two together see every notice that was sent, once per sending.
    consoles = [await console(responder), await responder.connect(namespaces=CONSOLE, url=two.url)]
    a, room_id = await mentee_room(mentee, mentor)
    await send(a, room_id, RISKY)
    alert = await consoles[0].wait_for("crisis:alert", lambda d: d["room_id"] == room_id)

    def escalations() -> list[int]:
        return sorted(e["level"] for c in consoles for e in alert_events(c, "crisis:escalated", alert["id"]))

    deadline = time.monotonic() + STEP_SECONDS * 8
    while len(set(escalations())) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    levels = escalations()
    per_process = [len(alert_events(c, "crisis:escalated", alert["id"])) for c in consoles]
    print(f"\nescalations seen: levels {levels}, per process {per_process}")
    assert levels[:4] == [1, 2, 3, 4] and len(levels) == len(set(levels))
    assert (await consoles[1].call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    await close_all(mentee, responder)


async def test_claiming_alerts_is_rate_limited_per_responder(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "data", database_url=database_url_for("sqlite", tmp_path / "data"),
                           extra_env={"MV_ALERT_ACK_RATE": "3/minute"}).start()
    try:
        mentee, mentor = await register(server), await register(server, role="mentor")
        responder = await register(server, role="responder")
        desk = await console(responder)
        client, room_id = await mentee_room(mentee, mentor)
        await send(client, room_id, RISKY)
        alert = await desk.wait_for("crisis:alert")
        replies = [await desk.call("crisis:ack", {"alert_id": alert["id"]}) for _ in range(4)]
        assert [r["ok"] for r in replies] == [True, True, True, False]
        assert replies[-1]["error"]["code"] == "rate_limited"
        assert desk.sio.connected
        await close_all(mentee, mentor, responder)
    finally:
        server.stop()
