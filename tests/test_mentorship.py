"""Mentorship: a mentee finds a mentor, asks, is answered, talks, books, rates, and can change
course (a different mentor, a block, a report), with real clients on SQLite and PostgreSQL.

People here are vulnerable: a pseudonymous mentee's real name must never reach a mentor, a block
must hold on every path (message, call, booking, request), and a mentor's capacity must hold in
the database however many requests arrive on however many processes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import database_url_for, new_pg_database
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register

REQUEST_TTL_SECONDS = 3


@pytest.fixture(scope="module")
def mentorship_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Requests expire after a few seconds here, and the expiry loop looks often."""
    data_dir = tmp_path_factory.mktemp(f"mentorship-{backend}")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir), extra_env={
        "MV_MATCH_REQUEST_TTL_SECONDS": str(REQUEST_TTL_SECONDS), "MV_MENTORSHIP_TICK_SECONDS": "0.3",
        "MV_MATCHING_INDEX_TTL_SECONDS": "0.5", "MV_EVENT_RATE": "1000/10 seconds"})
    proc.start()
    yield proc
    proc.stop()


async def mentor(server: ServerProcess, *, areas: list[str], languages: list[str], tz: str = "America/Mexico_City",
                 windows: list[dict[str, Any]] | None = None, **profile: Any) -> tuple[Person, LiveClient]:
    """A mentor with hours and a profile (hours first: the profile save is what the index notices)."""
    person = await register(server, role="mentor", languages=languages, timezone=tz)
    client = await person.connect()
    if windows:
        assert (await client.call("availability:set", {"windows": windows}))["ok"]
    reply = await client.call("mentor_profile:set", {"areas": areas, **profile})
    assert reply["ok"], reply
    return person, client


async def spanish_mentee(server: ServerProcess, **intake: Any) -> tuple[Person, LiveClient]:
    person = await register(server, languages=["es"], locale="es", timezone="Europe/Madrid")
    client = await person.connect()
    reply = await client.call("intake:set", {"intake": {"languages": ["es"], **intake}})
    assert reply["ok"], reply
    return person, client


def ids(matches: list[dict[str, Any]]) -> list[str]:
    return [m["user_id"] for m in matches]


TUESDAY_NOON_MEXICO = [{"weekday": 1, "start": "12:00", "end": "15:00"}]  # Tuesday evening in Madrid


async def test_a_spanish_speaking_mentee_is_matched_accepted_and_can_change_mentor_without_the_first_coming_back(mentorship_server):
    server = mentorship_server
    best, bc = await mentor(server, areas=["grief", "anxiety"], languages=["es", "en"], windows=TUESDAY_NOON_MEXICO)
    second, _sc = await mentor(server, areas=["grief"], languages=["es"], tz="Europe/Madrid")
    english, _ec = await mentor(server, areas=["grief"], languages=["en"], windows=TUESDAY_NOON_MEXICO)
    mentee, mc = await spanish_mentee(server, support=["grief"], times=["evening"], goals="dormir mejor")

    found = (await mc.call("matching:suggestions", {"limit": 20}))["matches"]
    ours = [m for m in found if m["user_id"] in {best.id, second.id, english.id}]
    print(f"\nsuggestions: {[(m['mentor']['display_name'], m['score'], m['reasons']) for m in ours]}")
    assert english.id not in ids(ours), "a mentor who shares no language is never suggested"
    assert ids(ours)[:2] == [best.id, second.id]
    reasons = ours[0]["reasons"]
    assert {"kind": "language", "code": "es"} in reasons and {"kind": "area", "code": "grief"} in reasons
    assert {"kind": "time", "weekday": 1, "part": "evening"} in reasons, "free Tuesday evenings in the mentee's own time"
    assert ours[0]["overlap_minutes"] == 180 and ours[0]["mentor"]["bio"] == ""

    asked = await mc.call("match:request", {"mentor_id": best.id, "note": "Perdí a mi madre este año."})
    assert asked["ok"] and asked["mentorship"]["status"] == "requested"
    request = await bc.wait_for("match:requested")
    assert request["mentorship"]["note"] == "Perdí a mi madre este año."
    assert request["mentorship"]["looking_for"]["support"] == ["grief"] and "goals" not in request["mentorship"]["looking_for"]
    again = await mc.call("match:request", {"mentor_id": second.id})
    assert again["error"]["code"] == "request_pending", "one waiting request at a time"

    accepted = await bc.call("match:respond", {"mentorship_id": asked["mentorship"]["id"], "accept": True})
    room_id = accepted["mentorship"]["room_id"]
    assert accepted["mentorship"]["status"] == "active" and room_id
    told = await mc.wait_for("match:accepted")
    print(f"accepted notice (es): {told['notice']}")
    assert told["mentorship"]["room_id"] == room_id and "aceptó" in told["notice"]
    assert (await mc.wait_for("room:added", lambda d: d["room"]["id"] == room_id))["room"]["kind"] == "direct"
    sent = await mc.call("message:send", {"room_id": room_id, "client_id": "hola", "body": "Hola, gracias"})
    assert sent["ok"], sent

    changed = await mc.call("mentorship:rematch", {"mentorship_id": asked["mentorship"]["id"]})
    assert changed["mentorship"]["status"] == "ended"
    assert best.id not in ids(changed["matches"]) and second.id in ids(changed["matches"])
    ended = await bc.wait_for("mentorship:ended")
    assert ended["mentorship"]["status"] == "ended" and "rematch" not in json.dumps(ended), "the mentor is not told why"
    later = (await mc.call("matching:suggestions", {"limit": 20}))["matches"]
    assert best.id not in ids(later)
    stats = (await bc.call("mentor:stats"))["stats"]
    assert stats["active_mentees"] == 0 and stats["response_hours"] is not None
    rewards = (await bc.call("rewards:list"))["rewards"]
    assert [r["kind"] for r in rewards] == ["mentorship_started"]
    await close_all(best, second, english, mentee)


async def test_a_declined_or_unanswered_mentee_hears_it_kindly_with_other_mentors_and_the_seat_comes_back(mentorship_server):
    server = mentorship_server
    busy, bc = await mentor(server, areas=["anxiety"], languages=["es"], capacity=1)
    other, _oc = await mentor(server, areas=["anxiety"], languages=["es"])
    mentee, mc = await spanish_mentee(server, support=["anxiety"])
    late, lc = await spanish_mentee(server, support=["anxiety"])

    first = await mc.call("match:request", {"mentor_id": busy.id})
    full = await lc.call("match:request", {"mentor_id": busy.id})
    assert full["error"]["code"] == "mentor_full", "a pending request holds the only seat"
    assert busy.id not in ids((await lc.call("matching:suggestions", {"limit": 20}))["matches"])

    declined = await bc.call("match:respond", {"mentorship_id": first["mentorship"]["id"], "accept": False})
    assert declined["mentorship"]["status"] == "declined"
    heard = await mc.wait_for("match:declined")
    print(f"\ndeclined notice (es): {heard['notice']}")
    assert "no es por ti" in heard["notice"] and busy.id not in ids(heard["matches"]) and other.id in ids(heard["matches"])

    waiting = await lc.call("match:request", {"mentor_id": busy.id, "note": "¿Tienes sitio?"})
    assert waiting["ok"], "the declined request gave its seat back"
    expired = await lc.wait_for("match:expired", timeout=REQUEST_TTL_SECONDS + 10)
    assert expired["mentorship"]["status"] == "expired" and "a tiempo" in expired["notice"]
    assert (await bc.wait_for("match:expired"))["mentorship"]["id"] == waiting["mentorship"]["id"]
    too_late = await bc.call("match:respond", {"mentorship_id": waiting["mentorship"]["id"], "accept": True})
    assert too_late["error"]["code"] == "request_closed"
    assert (await lc.call("match:request", {"mentor_id": busy.id}))["ok"], "the expired request gave its seat back"
    await close_all(busy, other, mentee, late)


async def test_a_pseudonymous_mentees_real_name_never_reaches_the_mentors_client(mentorship_server):
    """Every event and ack the mentor's client receives, through request, acceptance, the
    conversation, presence, typing, read receipts, a booking and a call, is searched for the
    mentee's display name and username."""
    server = mentorship_server
    real_name = "Lucía Fernández Ortega"
    person = await register(server, username=f"lucia.fernandez.{os.urandom(3).hex()}", display_name=real_name,
                            languages=["es"], timezone="Europe/Madrid")
    the_mentor, mentor_client = await mentor(server, areas=["grief"], languages=["es"], tz="UTC",
                                             windows=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)])
    seen: list[Any] = []

    async def mentor_call(event: str, data: Any = None) -> dict[str, Any]:
        reply = await mentor_client.call(event, data)
        seen.append((event, reply))
        return reply

    mc = await person.connect()
    assert (await mc.call("profile:update", {"pseudonym": "Girasol"}))["user"]["pseudonym"] == "Girasol"
    taken = await (await (await register(server)).connect()).call("profile:update", {"pseudonym": "Girasol"})
    assert taken["error"]["code"] == "pseudonym_taken"
    asked = await mc.call("match:request", {"mentor_id": the_mentor.id, "note": "hola"})
    await mentor_client.wait_for("match:requested")
    accepted = await mentor_call("match:respond", {"mentorship_id": asked["mentorship"]["id"], "accept": True})
    room_id = accepted["mentorship"]["room_id"]
    await mentor_client.wait_for("room:added")
    await mentor_call("room:list")
    await mentor_call("room:join", {"room_id": room_id, "last_seq": 0})
    await mentor_call("mentorship:list")
    await mentor_call("user:find", {"username": person.username})
    await mc.call("room:join", {"room_id": room_id})
    await mc.call("typing:start", {"room_id": room_id})
    await mc.call("message:send", {"room_id": room_id, "client_id": "c1", "body": "Hola, soy yo"})
    await mc.call("receipt:read", {"room_id": room_id, "seq": 1})
    slot = next(s for s in (await mc.call("availability:slots", {"host_id": the_mentor.id, "days": 2}))["slots"] if s["free"])
    assert (await mc.call("session:book", {"host_id": the_mentor.id, "starts_at": slot["starts_at"]}))["ok"]
    await mentor_client.wait_for("session:booked")
    await mentor_call("session:list")
    call = await mc.call("call:start", {"room_id": room_id, "media": "audio"})
    assert call["ok"], call
    ring = await mentor_client.wait_for("call:ring")
    assert ring["from"]["display_name"] == "Girasol"
    await mc.call("call:end", {"call_id": call["call"]["id"]})
    await mentor_client.wait_for("call:ended")
    await mentor_client.wait_for("receipt:read")
    await mentor_client.wait_for("message:new")
    await mentor_client.wait_for("typing")
    await mc.disconnect()
    assert (await mentor_client.wait_for("presence"))["online"] is False

    everything = json.dumps([mentor_client.events, seen], ensure_ascii=False)
    received = sorted({name for name, _ in mentor_client.events})
    print(f"\nthe mentor's client received {len(mentor_client.events)} events ({', '.join(received)}) and {len(seen)} acks")
    assert "Girasol" in everything
    assert real_name not in everything and person.username not in everything
    assert "Lucía" not in everything and "lucia" not in everything.lower()
    assert seen[[e for e, _ in seen].index("user:find")][1]["error"]["code"] == "not_found"
    await close_all(person, the_mentor)


async def test_blocked_people_cannot_message_call_book_or_request_each_other(mentorship_server):
    server = mentorship_server
    the_mentor, mentor_client = await mentor(server, areas=["stress"], languages=["es"], tz="UTC",
                                             windows=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)])
    mentee, mc = await spanish_mentee(server, support=["stress"])
    asked = await mc.call("match:request", {"mentor_id": the_mentor.id})
    room_id = (await mentor_client.call("match:respond", {"mentorship_id": asked["mentorship"]["id"], "accept": True}))["mentorship"]["room_id"]
    assert (await mc.call("message:send", {"room_id": room_id, "client_id": "before", "body": "hola"}))["ok"]

    assert (await mentor_client.call("user:block", {"user_id": mentee.id}))["blocked"] is True
    ended = await mc.wait_for("mentorship:ended")
    assert "block" not in json.dumps(ended).lower(), "the blocked person is told it ended, not that they were blocked"
    slot = next(s for s in (await mc.call("availability:slots", {"host_id": the_mentor.id, "days": 2}))["slots"] if s["free"])
    refused = {
        "mentee message:send": await mc.call("message:send", {"room_id": room_id, "client_id": "after", "body": "¿hola?"}),
        "mentor message:send": await mentor_client.call("message:send", {"room_id": room_id, "client_id": "m", "body": "x"}),
        "mentee call:start": await mc.call("call:start", {"room_id": room_id, "media": "audio"}),
        "mentor call:start": await mentor_client.call("call:start", {"room_id": room_id, "media": "video"}),
        "mentee match:request": await mc.call("match:request", {"mentor_id": the_mentor.id}),
        "mentee session:book": await mc.call("session:book", {"host_id": the_mentor.id, "starts_at": slot["starts_at"]}),
    }
    print(f"\nafter the block: {[(k, v.get('error', {}).get('code')) for k, v in refused.items()]}")
    assert all(reply["error"]["code"] == "blocked" for reply in refused.values()), refused
    assert the_mentor.id not in ids((await mc.call("matching:suggestions", {"limit": 50}))["matches"])
    browse = await mc.call("matching:browse", {"filters": {"area": "stress"}, "limit": 50})
    assert the_mentor.id not in [m["id"] for m in browse["mentors"]]

    # In a group both stay members, but a call started there does not ring the one who blocked.
    leader = await register(server, role="leader")
    lc = await leader.connect()
    group = await lc.call("room:create", {"kind": "group", "member_ids": [mentee.id, the_mentor.id], "title": "Círculo"})
    gid = group["room"]["id"]
    for client in (mc, mentor_client):
        await client.call("room:join", {"room_id": gid})
    started = await mc.call("call:start", {"room_id": gid, "media": "audio"})
    assert started["ok"] and {p["user_id"] for p in started["call"]["participants"]} == {mentee.id, leader.id}
    await lc.wait_for("call:ring")
    await lc.call("message:send", {"room_id": gid, "client_id": "after-ring", "body": "bienvenidos"})
    await mentor_client.wait_for("message:new", lambda m: m["client_id"] == "after-ring")
    assert not mentor_client.received("call:ring"), "the ring would have come before the leader's message"

    assert (await mentor_client.call("user:unblock", {"user_id": mentee.id}))["unblocked"] is True
    assert (await mc.call("message:send", {"room_id": room_id, "client_id": "again", "body": "gracias"}))["ok"]
    await close_all(the_mentor, mentee, leader)


async def test_a_report_reaches_staff_with_the_reported_messages_and_every_reading_is_audited(mentorship_server):
    server = mentorship_server
    the_mentor, mentor_client = await mentor(server, areas=["youth"], languages=["es"])
    mentee, mc = await spanish_mentee(server, support=["youth"])
    admin = await register(server, role="admin")
    ac = await admin.connect()
    asked = await mc.call("match:request", {"mentor_id": the_mentor.id})
    room_id = (await mentor_client.call("match:respond", {"mentorship_id": asked["mentorship"]["id"], "accept": True}))["mentorship"]["room_id"]
    bad = await mentor_client.call("message:send", {"room_id": room_id, "client_id": "b1", "body": "Dame tu dirección y tu teléfono"})
    assert bad["ok"]

    outsider = await (await register(server)).connect()
    snooping = await outsider.call("user:report", {"user_id": the_mentor.id, "reason": "harassment", "room_id": room_id})
    assert snooping["error"]["code"] == "forbidden", "nobody reads a room through a report"
    filed = await mc.call("user:report", {"user_id": the_mentor.id, "reason": "boundaries", "room_id": room_id,
                                          "text": "Me pide datos personales."})
    assert filed["ok"], filed
    note = await ac.wait_for("report:new")
    assert note["report"]["id"] == filed["report_id"] and "text" not in note["report"]
    assert (await mentor_client.call("message:delete", {"room_id": room_id, "message_id": bad["message"]["id"]}))["ok"]

    listed = (await ac.call("report:list", {}))["reports"]
    report = next(r for r in listed if r["id"] == filed["report_id"])
    assert report["text"] == "Me pide datos personales." and report["reported"]["username"] == the_mentor.username
    assert [m["body"] for m in report["messages"]] == ["Dame tu dirección y tu teléfono"], "the copy outlives the deletion"
    assert (await ac.call("report:resolve", {"report_id": filed["report_id"], "outcome": "warned"}))["ok"]
    assert (await ac.call("report:resolve", {"report_id": filed["report_id"]}))["error"]["code"] == "report_resolved"
    assert (await mc.call("report:list", {}))["error"]["code"] == "forbidden"
    audit = await asyncio.to_thread(server.cli, "reports", "list", "resolved")
    assert filed["report_id"] in audit.stdout
    await close_all(the_mentor, mentee, admin)


def near_window(minutes_ahead: int = 2) -> tuple[str, dict[str, Any]]:
    """A zone and a one-hour weekly window starting a few minutes from now in it (within one day)."""
    start = datetime.now(timezone.utc) + timedelta(minutes=minutes_ahead)
    for zone in ("UTC", "Asia/Tokyo", "America/New_York", "Pacific/Auckland"):
        local = start.astimezone(ZoneInfo(zone))
        if local.hour < 22:
            return zone, {"weekday": local.weekday(), "start": f"{local.hour:02d}:{local.minute:02d}",
                          "end": f"{local.hour + 1:02d}:{local.minute:02d}"}
    raise AssertionError("no zone where the next hour stays within the day")


async def test_both_sides_rate_a_completed_session_and_the_mentor_sees_only_aggregates(mentorship_server):
    server = mentorship_server
    zone, window = near_window()
    the_mentor, mentor_client = await mentor(server, areas=["sleep"], languages=["es"], tz=zone, windows=[window])
    mentee, mc = await spanish_mentee(server, support=["sleep"])
    admin = await (await register(server, role="admin")).connect()
    asked = await mc.call("match:request", {"mentor_id": the_mentor.id})
    await mentor_client.call("match:respond", {"mentorship_id": asked["mentorship"]["id"], "accept": True})
    slot = next(s for s in (await mc.call("availability:slots", {"host_id": the_mentor.id, "days": 1}))["slots"] if s["free"])
    session = (await mc.call("session:book", {"host_id": the_mentor.id, "starts_at": slot["starts_at"]}))["session"]
    too_early = await mc.call("feedback:give", {"session_id": session["id"], "rating": 5})
    assert too_early["error"]["code"] == "session_not_completed"
    for client in (mc, mentor_client):
        assert (await client.call("session:join", {"session_id": session["id"]}))["ok"]
    assert (await mentor_client.call("session:end", {"session_id": session["id"]}))["session"]["status"] == "completed"

    to_rate = (await mc.call("mentorship:list"))["to_rate"]
    assert [s["id"] for s in to_rate] == [session["id"]]
    assert (await mc.call("feedback:give", {"session_id": session["id"], "rating": 5, "comment": "Me ayudó mucho"}))["ok"]
    assert (await mc.call("feedback:give", {"session_id": session["id"], "rating": 1}))["error"]["code"] == "already_rated"
    assert (await mentor_client.call("feedback:give", {"session_id": session["id"], "rating": 4, "comment": "Buena sesión"}))["ok"]
    assert (await mc.call("mentorship:list"))["to_rate"] == []
    stats = (await mentor_client.call("mentor:stats"))["stats"]
    assert stats["ratings"] == 1 and stats["average_rating"] is None, "one rating is never shown on its own"
    assert stats["sessions_completed"] == 1
    about = (await admin.call("feedback:list", {"user_id": the_mentor.id}))["feedback"]
    assert [(f["rating"], f["comment"]) for f in about] == [(5, "Me ayudó mucho")]
    assert (await mentor_client.call("feedback:list", {"user_id": the_mentor.id}))["error"]["code"] == "forbidden"

    export = json.loads((await asyncio.to_thread(server.cli, "users", "export", mentee.username)).stdout)
    print(f"\nexport sections: {sorted(export)}")
    assert export["matching"]["intake"]["support"] == ["sleep"]
    assert export["mentorship"]["mentorships"][0]["status"] == "active"
    assert export["mentorship"]["feedback_given"][0]["comment"] == "Me ayudó mucho"
    await asyncio.to_thread(server.cli, "users", "delete", mentee.username)
    assert (await mentor_client.call("mentorship:list"))["mentorships"] == [], "erasing the mentee erases the mentorship"
    await close_all(the_mentor, mentee)


async def test_certification_and_credentials_are_set_by_staff_never_by_the_mentor(mentorship_server):
    server = mentorship_server
    pro, pc = await mentor(server, areas=["ptsd"], languages=["es"], track="professional")
    mentee, mc = await spanish_mentee(server, support=["ptsd"], relationship="professional")
    self_declared = await pc.call("mentor_profile:set", {"certification": "master", "credential_verified": True})
    assert self_declared["error"]["code"] == "invalid_payload"
    assert pro.id not in ids((await mc.call("matching:suggestions", {"limit": 50}))["matches"]), \
        "a professional relationship needs a credential staff verified"

    done = await asyncio.to_thread(server.cli, "mentors", "certify", pro.username, "specialist")
    assert "specialist" in done.stdout
    admin = await (await register(server, role="admin")).connect()
    verified = await admin.call("staff:certify", {"user_id": pro.id, "credential_verified": True})
    assert verified["profile"]["credential_verified"] is True and verified["profile"]["certification"] == "specialist"
    card = next(m for m in (await mc.call("matching:suggestions", {"limit": 50}))["matches"] if m["user_id"] == pro.id)
    assert {"kind": "certified", "code": "specialist", "hours": 60} in card["reasons"] and {"kind": "verified"} in card["reasons"]
    assert card["mentor"]["certification_hours"] == 60
    await close_all(pro, mentee)


@pytest.fixture
def two_processes_on_postgres(tmp_path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = new_pg_database()
    env = {"MV_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="), "MV_EVENT_RATE": "1000/second"}
    procs = [ServerProcess(data_dir=tmp_path / "data", database_url=url, extra_env=env) for _ in range(2)]
    for proc in procs:
        proc.start()
    yield procs[0], procs[1]
    for proc in procs:
        proc.stop()


async def test_a_mentors_capacity_holds_under_ten_concurrent_requests_on_two_processes(two_processes_on_postgres):
    first, second = two_processes_on_postgres
    the_mentor, mentor_client = await mentor(first, areas=["loneliness"], languages=["es"], capacity=3)
    mentees = [await register(first if i % 2 else second, languages=["es"]) for i in range(10)]
    clients = [await m.connect() for m in mentees]
    replies = await asyncio.gather(*(c.call("match:request", {"mentor_id": the_mentor.id}) for c in clients))
    outcomes = sorted("ok" if r["ok"] else r["error"]["code"] for r in replies)
    print(f"\n10 concurrent requests to a mentor with 3 seats, over two processes: {outcomes}")
    assert outcomes == ["mentor_full"] * 7 + ["ok"] * 3
    waiting = [m for m in (await mentor_client.call("mentorship:list"))["mentorships"] if m["status"] == "requested"]
    assert len(waiting) == 3
    answers = await asyncio.gather(*(mentor_client.call("match:respond", {"mentorship_id": m["id"], "accept": True}) for m in waiting))
    assert all(a["ok"] for a in answers)
    late = next(c for c, r in zip(clients, replies) if not r["ok"])
    assert (await late.call("match:request", {"mentor_id": the_mentor.id}))["error"]["code"] == "mentor_full"
    await close_all(the_mentor, *mentees)
