"""From alert to a human voice: the responder who claimed an alert reaches the writer in a live
crisis conversation, the writer's card is honest and in their language, their safety plan is read
only by that responder, on-call is a state that outlives sign-out and restart, and every alert
closes with an outcome that the report, the metrics and the evaluation export count.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from tests.conftest import database_url_for
from tests.live_server import PASSWORD, REPO, LiveClient, Person, ServerProcess, close_all, register
from tests.test_crisis_escalation import LADDER_ENV, RISKY, audit_actions, console, mentee_room, send

METRICS_TOKEN = "scraper-" + uuid.uuid4().hex
PLAN = {
    "warning_signs": ["I stop answering my sister", "I can't sleep for days"],
    "coping": ["Walk the dog around the park", "Cold shower, then music"],
    "people_places": ["My sister Ana", "The library on Calle Mayor"],
    "professionals": [{"name": "Dr. Ruiz", "phone": "+34 600 000 000"}],
    "environment": ["Give the pills to Ana to keep"],
    "emergency_contact": {"name": "Ana", "phone": "+34 611 111 111"},
}


def outreach_process(backend: str, data_dir: Path) -> ServerProcess:
    return ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir),
                         extra_env={**LADDER_ENV, "MV_METRICS_TOKEN": METRICS_TOKEN})


@pytest.fixture(scope="module")
def outreach_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = outreach_process(backend, tmp_path_factory.mktemp(f"outreach-{backend}"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def restartable_outreach_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = outreach_process(backend, tmp_path / "data")
    proc.start()
    yield proc
    proc.stop()


async def raised_alert(desk: LiveClient, writer: LiveClient, room_id: str, body: str = RISKY) -> dict[str, Any]:
    """Send a risky message and return the alert as the console received it (each test has its own room)."""
    await send(writer, room_id, body)
    return await desk.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)


async def listed(desk: LiveClient, alert_id: str, status: str | None = None) -> dict[str, Any]:
    reply = await desk.call("crisis:list", {"status": status} if status else {})
    assert reply["ok"], reply
    return next(a for a in reply["alerts"] if a["id"] == alert_id)


async def wait_for_contact(desk: LiveClient, alert_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The alert once its contact_at is stamped (the after-fan-out hook runs after the ack)."""
    deadline = time.monotonic() + timeout
    while True:
        alert = await listed(desk, alert_id)
        if alert["contact_at"] is not None or time.monotonic() > deadline:
            return alert
        await asyncio.sleep(0.1)


async def test_a_responder_joins_the_writers_room_as_a_crisis_responder_and_leaving_ends_their_access(outreach_server):
    server = outreach_server
    writer = await register(server, locale="en", country="US", timezone="America/Chicago", languages=["en"])
    mentor = await register(server, role="mentor")
    responder, colleague = await register(server, role="responder"), await register(server, role="responder")
    desk, other_desk = await console(responder, on_call=True), await console(colleague)
    w, room_id = await mentee_room(writer, mentor)
    m = await mentor.connect()
    assert (await m.call("room:join", {"room_id": room_id}))["ok"]
    alert = await raised_alert(desk, w, room_id)

    # Who and where: the writer by name, language and local hour; around them only roles.
    assert alert["writer"]["id"] == writer.id and alert["writer"]["display_name"] == writer.user["display_name"]
    assert alert["writer"]["language"] == "en" and alert["writer"]["timezone"] == "America/Chicago"
    assert re.search(r"T\d\d:\d\d:\d\d.*-0[56]:00$", alert["writer"]["local_time"])
    assert alert["room"] == {"id": room_id, "kind": "direct", "participants": [{"role": "mentor", "room_role": "member"}]}
    assert mentor.user["display_name"] not in json.dumps(alert["room"])
    assert (alert["has_safety_plan"], alert["outcome"], alert["contact_at"], alert["crisis_room_id"]) == (False, None, None, None)

    early = await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "join"})
    assert early["ok"] is False and early["error"]["code"] == "claim_first"
    assert (await desk.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    stranger = await other_desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "join"})
    assert stranger["ok"] is False and stranger["error"]["code"] == "claim_first"

    reached = await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "join"})
    assert reached["ok"], reached
    assert reached["room"]["id"] == room_id
    assert {(x["id"], x["room_role"]) for x in reached["room"]["members"]} >= {(responder.id, "crisis_responder")}
    # Everyone in the room sees that a crisis responder from MentalVerse joined, and who.
    for member in (w, m):
        notice = await member.wait_for("room:responder_joined", lambda d: d["room_id"] == room_id)
        assert notice["responder"] == {"id": responder.id, "display_name": responder.user["display_name"],
                                       "title": "Crisis responder, MentalVerse"}
    again = await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "private"})
    assert again["ok"] and again["room"]["id"] == room_id
    assert (await listed(desk, alert["id"]))["crisis_room_id"] == room_id

    # The responder's ordinary chat socket now talks in that room.
    chat = await responder.connect()
    assert (await chat.call("room:join", {"room_id": room_id}))["ok"]
    hello = await send(chat, room_id, "Hi, I'm from the MentalVerse crisis team. I'm here with you. Are you safe right now?")
    assert (await w.wait_for("message:new", lambda d: d["id"] == hello["id"]))["sender_id"] == responder.id
    answer = await send(w, room_id, "I'm at home. Thank you for writing.")
    await chat.wait_for("message:new", lambda d: d["id"] == answer["id"])
    contacted = await wait_for_contact(desk, alert["id"])
    assert contacted["contact_at"] is not None and contacted["contact_at"] >= contacted["claimed_at"]

    left = await desk.call("crisis:leave", {"alert_id": alert["id"]})
    assert left["ok"], left
    await chat.wait_for("room:removed", lambda d: d["room_id"] == room_id)
    assert (await chat.call("room:join", {"room_id": room_id}))["error"]["code"] == "forbidden"
    refused = await chat.call("message:send", {"room_id": room_id, "client_id": uuid.uuid4().hex, "body": "still here?"})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    after = await send(w, room_id, "are you still there?")
    await m.wait_for("message:new", lambda d: d["id"] == after["id"])
    assert not [d for d in chat.received("message:new") if d["id"] == after["id"]]
    actions = [(a, actor) for a, actor, _ in await audit_actions(server, room_id)]
    assert ("crisis.reach_out", responder.id) in actions and ("crisis.leave", responder.id) in actions
    assert ("crisis.contact", responder.id) in actions
    await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "reached_safe", "note": "Safe at home."})
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, responder, colleague)


async def test_a_private_crisis_room_is_closed_by_resolving_with_an_outcome_and_the_report_counts_it(outreach_server):
    server = outreach_server
    writer = await register(server, locale="es", country="ES", languages=["es"], timezone="Europe/Madrid")
    mentor, responder = await register(server, role="mentor"), await register(server, role="responder")
    desk = await console(responder, on_call=True)
    w, room_id = await mentee_room(writer, mentor)
    sent_at = time.perf_counter()
    alert = await raised_alert(desk, w, room_id, "ya no quiero vivir, tengo las pastillas guardadas para esta noche")
    assert alert["writer"]["language"] == "es" and alert["writer"]["local_time"].endswith(("+01:00", "+02:00"))
    assert (await desk.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]

    reached = await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "private"})
    assert reached["ok"], reached
    crisis_room = reached["room"]
    assert crisis_room["kind"] == "crisis" and crisis_room["id"] != room_id
    assert {(x["id"], x["room_role"]) for x in crisis_room["members"]} == {(writer.id, "member"), (responder.id, "crisis_responder")}
    # The writer is told, in Spanish, that a professional is here, and finds the room in their list.
    notice = await w.wait_for("room:responder_joined", lambda d: d["room_id"] == crisis_room["id"])
    assert notice["responder"]["title"] == "Profesional de crisis, MentalVerse"
    await w.wait_for("room:added", lambda d: d["room"]["id"] == crisis_room["id"])
    assert crisis_room["id"] in [r["id"] for r in (await w.call("room:list"))["rooms"]]

    chat = await responder.connect()
    assert (await chat.call("room:join", {"room_id": crisis_room["id"]}))["ok"]
    assert (await w.call("room:join", {"room_id": crisis_room["id"]}))["ok"]
    first = await send(chat, crisis_room["id"], "Hola, soy del equipo de crisis de MentalVerse. Estoy aquí contigo.")
    await w.wait_for("message:new", lambda d: d["id"] == first["id"])
    first_contact = time.perf_counter()
    print(f"\nrisky message → responder's first message in the crisis room: {first_contact - sent_at:.2f} s")
    await send(w, crisis_room["id"], "gracias, estoy en casa")
    history = await chat.call("message:history", {"room_id": crisis_room["id"]})
    assert [x["sender_id"] for x in history["messages"]] == [responder.id, writer.id]
    contacted = await wait_for_contact(desk, alert["id"])
    assert contacted["contact_at"] is not None
    # Audio first, with the ordinary calls.
    started = await chat.call("call:start", {"room_id": crisis_room["id"], "media": "audio"})
    assert started["ok"] and started["call"]["media"] == "audio", started
    ring = await w.wait_for("call:ring", lambda d: d["call"]["id"] == started["call"]["id"])
    assert ring["from"]["id"] == responder.id
    assert (await w.call("call:accept", {"call_id": started["call"]["id"]}))["ok"]
    assert (await chat.wait_for("call:accepted"))["user_id"] == writer.id
    assert (await chat.call("call:end", {"call_id": started["call"]["id"]}))["ok"]

    missing = await desk.call("crisis:resolve", {"alert_id": alert["id"], "note": "Talked."})
    assert missing["ok"] is False and missing["error"]["code"] == "invalid_payload"
    wrong = await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "fine", "note": "Talked."})
    assert wrong["ok"] is False and wrong["error"]["code"] == "invalid_payload"
    too_long = await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "referred", "note": "x" * 2001})
    assert too_long["ok"] is False and too_long["error"]["code"] == "invalid_note"
    done = await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "referred",
                                              "note": "Talked for 20 minutes; referred to her GP tomorrow."})
    assert done["ok"] and done["alert"]["outcome"] == "referred" and done["alert"]["status"] == "resolved"
    await desk.wait_for("crisis:resolved", lambda d: d["id"] == alert["id"])

    # Resolving ended the responder's access to the crisis room; the writer keeps it.
    await chat.wait_for("room:removed", lambda d: d["room_id"] == crisis_room["id"])
    assert (await chat.call("room:join", {"room_id": crisis_room["id"]}))["error"]["code"] == "forbidden"
    refused = await chat.call("message:send", {"room_id": crisis_room["id"], "client_id": uuid.uuid4().hex, "body": "hola"})
    assert refused["error"]["code"] == "forbidden"
    assert (await chat.call("call:start", {"room_id": crisis_room["id"], "media": "audio"}))["error"]["code"] == "forbidden"
    assert (await w.call("room:join", {"room_id": crisis_room["id"]}))["ok"]
    closed = await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "private"})
    assert closed["ok"] is False and closed["error"]["code"] == "already_resolved"
    resolved = await listed(desk, alert["id"], "resolved")
    assert resolved["note"].startswith("Talked for 20 minutes") and resolved["outcome"] == "referred"

    # The responder's own numbers (only this alert: they are new) beside everyone's.
    report = await desk.call("crisis:report", {})
    assert report["ok"], report
    assert report["alerts"] == 1 and report["by_tier"] == {str(alert["tier"]): 1}
    assert report["by_outcome"]["referred"] == 1 and sum(report["by_outcome"].values()) == 1
    assert 0 <= report["time_to_claim_seconds"]["p50"] < 60
    assert report["time_to_claim_seconds"]["p90"] == report["time_to_claim_seconds"]["p50"]
    assert 0 <= report["time_to_contact_seconds"]["p50"] < 60
    assert report["totals"]["alerts"] >= 1 and report["totals"]["by_outcome"]["referred"] >= 1
    later = await desk.call("crisis:report", {"since": "2999-01-01T00:00:00+00:00"})
    assert later["alerts"] == 0 and later["time_to_claim_seconds"] == {"p50": None, "p90": None}
    bad = await desk.call("crisis:report", {"since": "yesterday"})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_since"
    stored = [(a, d) for a, actor, d in await audit_actions(server, room_id) if a in ("crisis.reach_out", "crisis.resolve")]
    assert stored == [("crisis.reach_out", {"crisis_room_id": crisis_room["id"], "mode": "private", "joined": True}),
                      ("crisis.resolve", {"outcome": "referred"})]
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, responder)


async def test_the_safety_plan_is_the_writers_and_only_the_responder_holding_the_open_alert_reads_it(outreach_server):
    server = outreach_server
    writer, mentor = await register(server, locale="es", country="ES"), await register(server, role="mentor")
    leader = await register(server, role="leader")
    holder, colleague = await register(server, role="responder"), await register(server, role="responder")
    supervisor = await register(server, role="professional")
    desk, other_desk, sup_desk = await console(holder, on_call=True), await console(colleague), await console(supervisor)
    w, room_id = await mentee_room(writer, mentor)

    assert (await w.call("safety_plan:get"))["plan"] is None
    saved = await w.call("safety_plan:set", {"plan": PLAN})
    assert saved["ok"] and saved["plan"] == PLAN
    assert (await w.call("safety_plan:get"))["plan"] == PLAN
    too_many = await w.call("safety_plan:set", {"plan": {**PLAN, "coping": ["breathe"] * 11}})
    assert too_many["ok"] is False and too_many["error"]["code"] == "invalid_payload"
    too_long = await w.call("safety_plan:set", {"plan": {**PLAN, "coping": ["x" * 301]}})
    assert too_long["ok"] is False and too_long["error"]["code"] == "invalid_payload"
    assert (await w.call("safety_plan:get"))["plan"] == PLAN

    alert = await raised_alert(desk, w, room_id)
    assert alert["has_safety_plan"] is True
    # Before anyone holds the claim, nobody reads it; once one responder holds it, only they do.
    assert (await desk.call("crisis:safety_plan", {"alert_id": alert["id"]}))["error"]["code"] == "forbidden"
    assert (await desk.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    for other in (other_desk, sup_desk):
        refused = await other.call("crisis:safety_plan", {"alert_id": alert["id"]})
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    read = await desk.call("crisis:safety_plan", {"alert_id": alert["id"]})
    assert read["ok"] and read["plan"] == PLAN
    # Mentors and leaders have no console, and their own plan is all the main namespace gives them.
    for person in (mentor, leader):
        own = await person.connect()
        assert (await own.call("safety_plan:get"))["plan"] is None
        assert (await own.call("crisis:safety_plan", {"alert_id": alert["id"]}))["error"]["code"] == "unknown_event"

    done = await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "not_a_risk", "note": "Quoting a film."})
    assert done["ok"], done
    assert (await desk.call("crisis:safety_plan", {"alert_id": alert["id"]}))["error"]["code"] == "forbidden"
    reads = [(actor, d) for a, actor, d in await audit_actions(server, room_id) if a == "crisis.safety_plan_read"]
    assert reads == [(holder.id, {"writer_id": writer.id})]
    assert "Calle Mayor" not in await stored_plan_bytes(server, writer.id)
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, leader, holder, colleague, supervisor)


async def stored_plan_bytes(server: ServerProcess, user_id: str) -> str:
    """The plan row as the database holds it, decoded loosely, to look for clear text."""
    if server.database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(server.database_url.split("///", 1)[1]) as db:
            row = db.execute("SELECT nonce, ciphertext FROM crisis_safety_plans WHERE user_id = ?", (user_id,)).fetchone()
    else:
        import asyncpg

        conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
        try:
            row = await conn.fetchrow("SELECT nonce, ciphertext FROM crisis_safety_plans WHERE user_id = $1", user_id)
        finally:
            await conn.close()
    assert row is not None
    return b"".join(bytes(x) for x in row).decode("utf-8", "replace")


async def sign_in(server: ServerProcess, person: Person) -> Person:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/login", json={"username": person.username, "password": PASSWORD}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
    return Person(server, person.username, data["token"], data["user"])


async def sign_out(server: ServerProcess, person: Person) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/logout", headers={"Authorization": f"Bearer {person.token}"}) as resp:
            assert resp.status < 300, await resp.text()


async def test_on_call_is_a_state_that_survives_sign_out_and_restart_and_a_shift_hands_its_alerts_over(
    restartable_outreach_server,
):
    server = restartable_outreach_server
    leaving = await register(server, role="responder")
    arriving, off_duty = await register(server, role="responder"), await register(server, role="responder")
    desk = await console(leaving)
    assert (await desk.call("crisis:state"))["on_call"] is False
    assert (await desk.call("crisis:on_call", {"on": True}))["on_call"] is True
    await close_all(leaving)
    await sign_out(server, leaving)

    leaving = await sign_in(server, leaving)
    desk = await console(leaving)
    state = await desk.call("crisis:state")
    assert state["ok"] and state["on_call"] is True and state["on_call_count"] == 1
    await close_all(leaving)
    server.restart()
    desk = await console(leaving)
    assert (await desk.call("crisis:state"))["on_call"] is True

    writer, mentor = await register(server), await register(server, role="mentor")
    new_desk, idle_desk = await console(arriving, on_call=True), await console(off_duty)
    w, room_id = await mentee_room(writer, mentor)
    alert = await raised_alert(desk, w, room_id)
    assert (await desk.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    assert (await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "join"}))["ok"]

    refused = await desk.call("crisis:handover", {"to_user_id": off_duty.id})
    assert refused["ok"] is False and refused["error"]["code"] == "not_on_call"
    handed = await desk.call("crisis:handover", {"to_user_id": arriving.id})
    assert handed["ok"], handed
    assert [(a["id"], a["claimed_by"]["id"]) for a in handed["alerts"]] == [(alert["id"], arriving.id)]
    claimed = await new_desk.wait_for("crisis:claimed", lambda d: d["id"] == alert["id"] and d["claimed_by"]["id"] == arriving.id)
    assert claimed["status"] == "claimed"
    await idle_desk.wait_for("crisis:claimed", lambda d: d["id"] == alert["id"] and d["claimed_by"]["id"] == arriving.id)
    # The old holder's part ends; the new holder reaches out into the same conversation.
    assert (await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "join"}))["error"]["code"] == "claim_first"
    old_chat = await leaving.connect()
    assert (await old_chat.call("room:join", {"room_id": room_id}))["error"]["code"] == "forbidden"
    taken = await new_desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "private"})
    assert taken["ok"] and taken["room"]["id"] == room_id
    handovers = [(actor, d) for a, actor, d in await audit_actions(server, room_id) if a == "crisis.handover"]
    assert handovers == [(leaving.id, {"to": arriving.id})]
    await close_all(writer, mentor, leaving, arriving, off_duty)


async def test_the_writers_card_carries_no_verification_notes_and_is_all_spanish_for_a_spanish_writer(outreach_server):
    server = outreach_server
    writer, mentor = await register(server, locale="es", country="ES", languages=["es"]), await register(server, role="mentor")
    responder = await register(server, role="responder")
    desk = await console(responder, on_call=True)
    w, room_id = await mentee_room(writer, mentor)
    message = await send(w, room_id, "ya no puedo más, me quiero morir esta noche")
    card = await w.wait_for("crisis:resources", lambda d: d["message_id"] == message["id"])

    assert card["tier"] >= 2 and card["responders_alerted"] is True
    assert card["message"].startswith("No estás solo") and "profesional" in card["message"]
    assert card["title"] == "Habla con alguien ahora"
    assert [line["country"] for line in card["hotlines"]][:2] == ["ES", "ES"]
    for line in card["hotlines"]:
        assert set(line) == {"service", "phone", "text", "url", "hours", "country"}
    assert card["hotlines"][0]["service"].startswith("024") and card["hotlines"][0]["hours"] == "Abierto las 24 horas, todos los días"
    assert card["hotlines"][-1]["service"] == "Find A Helpline (directorio internacional de líneas de crisis)"
    text = json.dumps(card, ensure_ascii=False)
    for note in ("verified", "last_verified", "source", "notes", "Not opened during the check", "not confirmed",
                 "no page seen", "Ministerio de Sanidad", "international directory"):
        assert note not in text, note
    alert = await desk.wait_for("crisis:alert", lambda d: d["room_id"] == room_id)
    await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "could_not_reach", "note": ""})
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, responder)


async def metrics_text(server: ServerProcess) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as resp:
            assert resp.status == 200
            return await resp.text()


def sample(text: str, name: str, labels: str = "") -> float | None:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


async def wait_for_metrics(server: ServerProcess, ready, timeout: float = 10.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        text = await metrics_text(server)
        if ready(text) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.2)


async def test_metrics_show_alerts_by_tier_latencies_open_alerts_by_level_and_responders_on_call(outreach_server):
    server = outreach_server
    writer, mentor, responder = await register(server), await register(server, role="mentor"), await register(server, role="responder")
    desk = await console(responder, on_call=True)
    w, room_id = await mentee_room(writer, mentor)
    alert = await raised_alert(desk, w, room_id)
    text = await wait_for_metrics(server, lambda t: (sample(t, "mentalverse_crisis_open_alerts", '{level="0"}') or 0) >= 1)
    assert (sample(text, "mentalverse_crisis_alerts_total", f'{{tier="{alert["tier"]}"}}') or 0) >= 1
    assert (sample(text, "mentalverse_crisis_responders_on_call") or 0) >= 1
    claims_before = sample(text, "mentalverse_crisis_time_to_claim_seconds_count") or 0
    contacts_before = sample(text, "mentalverse_crisis_time_to_contact_seconds_count") or 0

    assert (await desk.call("crisis:ack", {"alert_id": alert["id"]}))["ok"]
    assert (await desk.call("crisis:reach_out", {"alert_id": alert["id"], "mode": "private"}))["ok"]
    chat = await responder.connect()
    room = (await desk.call("crisis:list"))["alerts"]
    crisis_room_id = next(a["crisis_room_id"] for a in room if a["id"] == alert["id"])
    await send(chat, crisis_room_id, "I'm here with you.")
    text = await wait_for_metrics(server, lambda t: (sample(t, "mentalverse_crisis_time_to_contact_seconds_count") or 0) > contacts_before)
    assert sample(text, "mentalverse_crisis_time_to_claim_seconds_count") == claims_before + 1
    assert sample(text, "mentalverse_crisis_time_to_contact_seconds_count") == contacts_before + 1
    assert 'mentalverse_crisis_time_to_claim_seconds_bucket{le="+Inf"}' in text
    await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "reached_safe", "note": "ok"})
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, responder)


async def test_the_labelled_export_holds_tier_language_outcome_excerpt_and_reasons_and_no_other_text(outreach_server, tmp_path):
    server = outreach_server
    writer, mentor, responder = await register(server), await register(server, role="mentor"), await register(server, role="responder")
    desk = await console(responder, on_call=True)
    w, room_id = await mentee_room(writer, mentor)
    await send(w, room_id, "my cat knocked my plant over this morning")
    alert = await raised_alert(desk, w, room_id)
    assert (await desk.call("crisis:resolve", {"alert_id": alert["id"], "outcome": "emergency_services",
                                               "note": "Called 911 with her consent; the note is private."}))["ok"]
    out = tmp_path / "outcomes.jsonl"
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "crisis", "export-outcomes", str(out)],
                                   cwd=REPO, env=server.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    mine = [r for r in rows if r["outcome"] == "emergency_services"]  # no other test here ends so
    assert mine == [{"tier": alert["tier"], "language": "en", "outcome": "emergency_services",
                     "excerpt": alert["excerpt"], "reasons": alert["reasons"]}]
    assert all(set(r) == {"tier", "language", "outcome", "excerpt", "reasons"} for r in rows)
    text = out.read_text()
    assert "plant" not in text and "private" not in text and writer.username not in text
    await desk.call("crisis:on_call", {"on": False})
    await close_all(writer, mentor, responder)


async def test_a_safety_plan_stays_readable_after_the_master_key_is_rotated(restartable_outreach_server):
    server = restartable_outreach_server
    writer = await register(server)
    w = await writer.connect()
    assert (await w.call("safety_plan:set", {"plan": PLAN}))["ok"]
    await close_all(writer)
    server.stop()
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    await asyncio.to_thread(server.cli, "keys", "rotate-master", new_key)
    server.start()
    writer = await sign_in(server, writer)  # token keys derive from the master key: everyone signs in again
    w = await writer.connect()
    assert (await w.call("safety_plan:get"))["plan"] == PLAN
    await close_all(writer)
