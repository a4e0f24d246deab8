"""Sessions: mentors publish weekly hours in their own zone, mentees book, nobody is double
booked, both sides hear about changes, reminders arrive (once) even across a restart, and
everyone's calendar app can follow along."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar

from tests.conftest import database_url_for
from tests.live_server import ServerProcess, close_all, register

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = range(7)


def next_us_dst_start(after: date) -> date:
    """The next day New York springs forward, at least a week after ``after``."""
    day = after + timedelta(days=8)
    for _ in range(400):
        before = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).utcoffset()
        later = datetime(day.year, day.month, day.day, 12, tzinfo=NEW_YORK).utcoffset()
        if later > before:
            return day
        day += timedelta(days=1)
    raise AssertionError("no DST change within 400 days")


async def start_server(backend: str, data_dir: Path, database_url: str | None = None, **env: str) -> ServerProcess:
    """A server with scheduling settings shrunk to seconds so tests can watch time pass.
    (Creating the PostgreSQL database and waiting for health are blocking: done off the loop.)"""
    url = database_url or await asyncio.to_thread(database_url_for, backend, data_dir)
    process = ServerProcess(data_dir=data_dir, database_url=url,
                            extra_env={"MV_SCHEDULER_TICK_SECONDS": "0.2", **{f"MV_{k.upper()}": v for k, v in env.items()}})
    return await asyncio.to_thread(process.start)


async def mentor_with_hours(server, start: str = "09:00", end: str = "12:00", tz: str = "America/New_York", **profile):
    mentor = await register(server, role="mentor", timezone=tz, **profile)
    client = await mentor.connect()
    reply = await client.call("availability:set", {"windows": [{"weekday": d, "start": start, "end": end} for d in WEEKDAYS]})
    assert reply["ok"], reply
    return mentor, client


async def first_slot(client, host_id: str, day: date) -> dict:
    reply = await client.call("availability:slots", {"host_id": host_id, "from_date": day.isoformat(), "days": 1})
    assert reply["ok"], reply
    return reply["slots"][0]


async def group_with(server, members: int = 1, leader_tz: str = "UTC"):
    leader = await register(server, role="leader", timezone=leader_tz)
    people = [await register(server, locale="es", timezone="Europe/Madrid") for _ in range(members)]
    lc = await leader.connect()
    reply = await lc.call("room:create", {"kind": "group", "title": "Thursday circle", "member_ids": [p.id for p in people]})
    assert reply["ok"], reply
    return leader, lc, people, reply["room"]["id"]


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


async def test_a_new_york_mentor_keeps_nine_oclock_across_dst_and_a_madrid_mentee_sees_her_own_time(server):
    change = next_us_dst_start(date.today())
    week_before, week_after = change - timedelta(days=6), change + timedelta(days=1)  # Mondays
    mentor, mc = await mentor_with_hours(server)
    mentee = await register(server, timezone="Europe/Madrid", locale="es")
    c = await mentee.connect()

    before, after = await first_slot(c, mentor.id, week_before), await first_slot(c, mentor.id, week_after)
    print(f"\nDST change {change}: 09:00 New York = {before['starts_at']} before, {after['starts_at']} after")
    assert before["host_local"].startswith(f"{week_before}T09:00:00-05:00")
    assert after["host_local"].startswith(f"{week_after}T09:00:00-04:00")
    assert datetime.fromisoformat(before["starts_at"]).hour == 14  # UTC
    assert datetime.fromisoformat(after["starts_at"]).hour == 13
    # Madrid changes its clocks two weeks later: 15:00 before, 14:00 in the week after.
    assert before["local"]["starts_iso"].startswith(f"{week_before}T15:00:00+01:00")
    assert after["local"]["starts_iso"].startswith(f"{week_after}T14:00:00+01:00")
    assert "15:00" in before["local"]["starts"] and "14:00" in after["local"]["starts"]

    booked = [await c.call("session:book", {"host_id": mentor.id, "starts_at": s["starts_at"], "title": "Check-in"}) for s in (before, after)]
    assert all(b["ok"] for b in booked), booked
    assert [b["session"]["starts_at"] for b in booked] == [before["starts_at"], after["starts_at"]]
    assert booked[1]["session"]["local"]["timezone"] == "Europe/Madrid"
    # The mentor is told in her own zone.
    told = await mc.wait_for("session:booked", lambda d: d["session"]["id"] == booked[1]["session"]["id"])
    assert told["session"]["local"]["starts_iso"].startswith(f"{week_after}T09:00:00-04:00")
    # A time that is not one of the mentor's slots cannot be booked.
    off = await c.call("session:book", {"host_id": mentor.id, "starts_at": f"{week_after}T16:00:00+00:00"})
    assert off["error"]["code"] == "not_available"
    await close_all(mentor, mentee)


async def test_ten_mentees_racing_for_one_slot_on_two_server_processes_exactly_one_wins(server):
    second = await asyncio.to_thread(ServerProcess(data_dir=server.data_dir, database_url=server.database_url).start)
    try:
        mentor, mc = await mentor_with_hours(server, tz="Asia/Kolkata")
        mentees = [await register(server) for _ in range(10)]
        clients = [await m.connect(url=(server.url if i % 2 else second.url)) for i, m in enumerate(mentees)]
        slot = await first_slot(clients[0], mentor.id, date.today() + timedelta(days=3))
        replies = await asyncio.gather(*(c.call("session:book", {"host_id": mentor.id, "starts_at": slot["starts_at"]}) for c in clients))
        winners = [r for r in replies if r["ok"]]
        codes = sorted(r["error"]["code"] for r in replies if not r["ok"])
        print(f"\n10 concurrent bookings for one slot over 2 processes: {len(winners)} booked, {len(codes)} refused {set(codes)}")
        assert len(winners) == 1 and codes == ["slot_taken"] * 9
        again = await first_slot(clients[0], mentor.id, date.today() + timedelta(days=3))
        assert again["starts_at"] == slot["starts_at"] and again["free"] is False
        await close_all(mentor, *mentees)
    finally:
        second.stop()


async def test_rescheduling_and_cancelling_tell_the_other_side_in_their_own_language_and_zone(server):
    mentor, mc = await mentor_with_hours(server, tz="America/New_York")
    mentee = await register(server, locale="es", timezone="Europe/Madrid")
    rival = await register(server)
    c, r = await mentee.connect(), await rival.connect()
    day = date.today() + timedelta(days=5)
    slots = (await c.call("availability:slots", {"host_id": mentor.id, "from_date": day.isoformat(), "days": 1}))["slots"]
    mine = (await c.call("session:book", {"host_id": mentor.id, "starts_at": slots[0]["starts_at"], "title": "Plan"}))["session"]
    taken = await r.call("session:book", {"host_id": mentor.id, "starts_at": slots[1]["starts_at"]})
    assert taken["ok"]

    # Moving onto a taken slot changes nothing.
    clash = await mc.call("session:reschedule", {"session_id": mine["id"], "starts_at": slots[1]["starts_at"]})
    assert clash["error"]["code"] == "slot_taken"
    assert (await c.call("session:list"))["sessions"][0]["starts_at"] == mine["starts_at"]

    moved = await mc.call("session:reschedule", {"session_id": mine["id"], "starts_at": slots[2]["starts_at"]})
    assert moved["ok"] and moved["session"]["sequence"] == 1
    notice = await c.wait_for("session:rescheduled", lambda d: d["session"]["id"] == mine["id"])
    print(f"\nmentee told: {notice['notice']}")
    assert notice["previous_starts_at"] == mine["starts_at"] and notice["by"] == mentor.id
    assert "se ha cambiado" in notice["notice"] and notice["session"]["local"]["timezone"] == "Europe/Madrid"
    # The old slot is free again; the new one is not.
    free = {s["starts_at"]: s["free"] for s in (await c.call("availability:slots", {"host_id": mentor.id, "from_date": day.isoformat(), "days": 1}))["slots"]}
    assert free[slots[0]["starts_at"]] and not free[slots[2]["starts_at"]]

    cancelled = await c.call("session:cancel", {"session_id": mine["id"], "reason": "feeling better"})
    assert cancelled["ok"] and cancelled["session"]["status"] == "cancelled"
    told = await mc.wait_for("session:cancelled", lambda d: d["session"]["id"] == mine["id"])
    assert told["by"] == mentee.id and "cancelled" in told["notice"]
    # A stranger can neither see nor change someone else's session.
    assert (await r.call("session:cancel", {"session_id": mine["id"]}))["error"]["code"] == "forbidden"
    await close_all(mentor, mentee, rival)


async def test_a_weekly_group_series_keeps_the_leaders_wall_clock_and_skips_exceptions(server):
    change = next_us_dst_start(date.today())
    leader, lc, (member,), room_id = await group_with(server, leader_tz="America/New_York")
    m = await member.connect()
    # Weeks 1–2 fall before the change, week 3 (skipped) and week 4 after it.
    first = datetime(*(change - timedelta(days=11)).timetuple()[:3], 18, 0, tzinfo=NEW_YORK)
    skipped = (first + timedelta(weeks=2)).date().isoformat()
    reply = await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": first.isoformat(), "duration_minutes": 90,
                                                     "title": "Circle", "weekly_count": 4, "exceptions": [skipped]})
    assert reply["ok"], reply
    starts = [datetime.fromisoformat(s["starts_at"]) for s in reply["sessions"]]
    print(f"\nweekly 18:00 New York: {[s.strftime('%m-%d %H:%M UTC') for s in starts]}")
    assert len(starts) == 3 and skipped not in [s.astimezone(NEW_YORK).date().isoformat() for s in starts]
    assert all(s.astimezone(NEW_YORK).hour == 18 for s in starts)
    assert [s.hour for s in starts] == [23, 23, 22]
    assert len({s["series_id"] for s in reply["sessions"]}) == 1
    await m.wait_for("session:scheduled", lambda d: d["session"]["id"] == reply["sessions"][-1]["id"])
    # Members cannot schedule; the leader cannot be in two places at once.
    assert (await m.call("session:schedule_group", {"room_id": room_id, "starts_at": first.isoformat()}))["error"]["code"] == "forbidden"
    overlap = await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": (first + timedelta(minutes=30)).isoformat()})
    assert overlap["error"]["code"] == "slot_taken"
    await close_all(leader, member)


async def test_the_room_opens_at_the_join_window_and_sessions_go_live_complete_or_no_show(backend, tmp_path):
    server = await start_server(backend, tmp_path / "data", join_window_seconds="4", no_show_grace_seconds="2")
    try:
        leader, lc, (member,), room_id = await group_with(server)
        mc = await member.connect()
        session = (await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": soon(7), "duration_minutes": 30}))["sessions"][0]
        early = await mc.call("session:join", {"session_id": session["id"]})
        assert early["error"]["code"] == "join_window_closed" and "opens_at" in early["error"]["details"]
        await asyncio.sleep(max(0, datetime.fromisoformat(early["error"]["details"]["opens_at"]).timestamp() - time.time()) + 0.3)
        joined = await mc.call("session:join", {"session_id": session["id"]})
        assert joined["ok"] and joined["session"]["status"] == "live" and joined["room_id"] == room_id
        await lc.wait_for("session:status", lambda d: d["session"]["status"] == "live")
        assert (await mc.call("session:end", {"session_id": session["id"]}))["error"]["code"] == "forbidden"
        assert (await lc.call("session:join", {"session_id": session["id"]}))["ok"]
        ended = await lc.call("session:end", {"session_id": session["id"]})
        assert ended["session"]["status"] == "completed"
        await mc.wait_for("session:status", lambda d: d["session"]["status"] == "completed")
        assert (await mc.call("session:join", {"session_id": session["id"]}))["error"]["code"] == "session_closed"

        # Nobody came to the next one: a no-show by the leader once the grace period is over.
        lonely = (await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": soon(2), "duration_minutes": 30}))["sessions"][0]
        status = await mc.wait_for("session:status", lambda d: d["session"]["id"] == lonely["id"], timeout=15)
        assert status["session"]["status"] == "no_show" and status["session"]["absent_ids"] == [leader.id]
        await close_all(leader, member)
    finally:
        server.stop()


async def test_reminders_arrive_live_once_even_across_a_restart_and_with_two_processes(backend, tmp_path):
    """Offsets are seconds (MV_REMINDER_OFFSETS_SECONDS="75,25"): one due in ~5 s, one in ~55 s.
    Both processes restart in between, so the second exists only in the database."""
    data = tmp_path / "data"
    a = await start_server(backend, data, reminder_offsets_seconds="75,25")
    b = await start_server(backend, data, a.database_url, reminder_offsets_seconds="75,25")
    try:
        leader, lc, (member,), room_id = await group_with(a)
        on_a, on_b = await member.connect(), await member.connect(url=b.url)
        start = datetime.now(timezone.utc) + timedelta(seconds=80)
        session = (await lc.call("session:schedule_group", {"room_id": room_id, "starts_at": start.isoformat(), "title": "Circle"}))["sessions"][0]
        first = await asyncio.wait_for(_first_reminder(on_a, on_b, session["id"]), 15)
        print(f"\nfirst reminder ({first['offset_seconds']} s before) at T-{(start - datetime.now(timezone.utc)).total_seconds():.1f} s: {first['notice']!r}")
        assert first["offset_seconds"] == 75 and first["session"]["local"]["timezone"] == "Europe/Madrid"

        restarted = time.monotonic()
        await asyncio.gather(asyncio.to_thread(a.restart), asyncio.to_thread(b.restart))
        print(f"both processes restarted in {time.monotonic() - restarted:.1f} s")
        again_a, again_b = await member.connect(), await member.connect(url=b.url)
        second = await asyncio.wait_for(_first_reminder(again_a, again_b, session["id"]), 70)
        print(f"second reminder at T-{(start - datetime.now(timezone.utc)).total_seconds():.1f} s: {second['notice']!r}")
        assert second["offset_seconds"] == 25 and "minutos" not in second["notice"]
        await asyncio.sleep(1.5)
        everything = [d for c in (on_a, on_b, again_a, again_b) for d in c.received("session:reminder")]
        print(f"reminders received over 2 processes and a restart: {sorted(d['offset_seconds'] for d in everything)}")
        assert sorted(d["offset_seconds"] for d in everything) == [25, 75]
        await close_all(leader, member)
    finally:
        a.stop(), b.stop()


async def _first_reminder(x, y, session_id: str) -> dict:
    while True:
        for client in (x, y):
            for data in client.received("session:reminder"):
                if data["session"]["id"] == session_id:
                    return data
        await asyncio.sleep(0.05)


async def test_the_calendar_feed_parses_back_follows_changes_and_dies_when_revoked(server):
    mentor, mc = await mentor_with_hours(server, tz="America/New_York")
    mentee = await register(server, timezone="Europe/Madrid")
    c = await mentee.connect()
    day = date.today() + timedelta(days=4)
    slots = (await c.call("availability:slots", {"host_id": mentor.id, "from_date": day.isoformat(), "days": 1}))["slots"]
    kept = (await c.call("session:book", {"host_id": mentor.id, "starts_at": slots[0]["starts_at"], "title": "Kept"}))["session"]
    dropped = (await c.call("session:book", {"host_id": mentor.id, "starts_at": slots[1]["starts_at"], "title": "Dropped"}))["session"]
    assert (await c.call("session:cancel", {"session_id": dropped["id"]}))["ok"]

    url = (await c.call("calendar:feed_url"))["url"]
    assert url == (await c.call("calendar:feed_url"))["url"] and url.endswith(".ics")
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200 and resp.content_type == "text/calendar"
            calendar = icalendar.Calendar.from_ical(await resp.read())
        events = {str(e["UID"]).split("@")[0]: e for e in calendar.walk("VEVENT")}
        assert events[kept["id"]].decoded("DTSTART") == datetime.fromisoformat(kept["starts_at"])
        assert events[kept["id"]].decoded("DTEND") == datetime.fromisoformat(kept["ends_at"])
        assert str(events[kept["id"]]["SUMMARY"]) == "Kept" and str(events[kept["id"]]["STATUS"]) == "CONFIRMED"
        assert str(events[dropped["id"]]["STATUS"]) == "CANCELLED" and int(events[dropped["id"]]["SEQUENCE"]) == 1
        assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Madrid"
        # The mentor's own feed has the same session.
        mentor_url = (await mc.call("calendar:feed_url"))["url"]
        async with http.get(mentor_url) as resp:
            assert kept["id"] in (await resp.text())

        new_url = (await c.call("calendar:revoke_feed"))["url"]
        assert new_url != url
        async with http.get(url) as resp:
            assert resp.status == 404
        async with http.get(new_url) as resp:
            assert resp.status == 200
    await close_all(mentor, mentee)
