"""Safety monitoring on a live server: what a message's scan does, and what happens when it cannot.

A message is scanned before the room's send lock; a risky one is alerted before anyone reads it.
When the alert cannot be stored, or the message is in a language nobody can read, the message
still arrives (nothing is lost) but says so to every reader, and the failure is counted in
``/metrics`` — never a silent tier 0.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from tests.conftest import database_url_for
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register

METRICS_TOKEN = "scraper-" + uuid.uuid4().hex
RISKY = "I want to kill myself tonight, I have the pills"
BUILD_UP = ["I'm so tired of everything", "nothing I do matters anymore", "I can't keep doing this, what's the point"]


@pytest.fixture
def monitored_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own (tests here change its database) that also expects Dutch messages."""
    data_dir = tmp_path / "data"
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir), extra_env={
        "MV_METRICS_TOKEN": METRICS_TOKEN, "MV_MESSAGE_LANGUAGES": "en,es,fr,nl"})
    proc.start()
    yield proc
    proc.stop()


async def get_json(server: ServerProcess, path: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}{path}") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


async def metric(server: ServerProcess, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as resp:
            assert resp.status == 200
            text = await resp.text()
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}{{{re.escape(selector)}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def conversation(server: ServerProcess, **writer_profile: Any) -> tuple[Person, LiveClient, Person, LiveClient, str]:
    """A mentee and their mentor in a direct room, both connected and joined."""
    mentee, mentor = await register(server, **writer_profile), await register(server, role="mentor")
    writer, reader = await mentee.connect(), await mentor.connect()
    reply = await writer.call("room:create", {"kind": "direct", "member_ids": [mentor.id]})
    assert reply["ok"], reply
    room_id = reply["room"]["id"]
    for client in (writer, reader):
        assert (await client.call("room:join", {"room_id": room_id}))["ok"]
    return mentee, writer, mentor, reader, room_id


async def send(client: LiveClient, room_id: str, body: str, **extra: Any) -> dict[str, Any]:
    reply = await client.call("message:send", {"room_id": room_id, "client_id": uuid.uuid4().hex, "body": body, **extra})
    assert reply["ok"], reply
    return reply["message"]


async def responder_console(server: ServerProcess) -> LiveClient:
    responder = await register(server, role="responder")
    console = await responder.connect(namespaces=["/responders"])
    assert (await console.call("crisis:on_call", {"on": True}))["ok"]
    return console


async def execute(server: ServerProcess, *statements: str) -> None:
    """Run SQL on the server's database from outside, as an operator (or a failing disk) would."""
    if server.database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(server.database_url.split("///", 1)[1]) as db:
            for statement in statements:
                db.execute(statement)
        return
    import asyncpg

    conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


REFUSE_ALERTS = {
    "sqlite": ["CREATE TRIGGER refuse_alerts BEFORE INSERT ON crisis_alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "postgres": [
        "CREATE FUNCTION refuse_alerts() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_alerts BEFORE INSERT ON crisis_alerts FOR EACH ROW EXECUTE FUNCTION refuse_alerts()",
    ],
}
ALLOW_ALERTS = {"sqlite": ["DROP TRIGGER refuse_alerts"], "postgres": ["DROP TRIGGER refuse_alerts ON crisis_alerts"]}


async def test_when_the_alert_cannot_be_stored_the_message_arrives_marked_for_review_and_is_counted(
        monitored_server: ServerProcess, backend: str) -> None:
    mentee, writer, mentor, reader, room_id = await conversation(monitored_server)
    console = await responder_console(monitored_server)
    await execute(monitored_server, *REFUSE_ALERTS[backend])

    message = await send(writer, room_id, RISKY)
    seen = await reader.wait_for("message:new", lambda m: m["id"] == message["id"])
    assert seen["safety"] == message["safety"] == "review"
    resources = await writer.wait_for("crisis:resources", lambda r: r["message_id"] == message["id"])
    assert resources["hotlines"], "the writer still gets the crisis lines at once"
    flag = await reader.wait_for("crisis:flag", lambda f: f["message_id"] == message["id"])
    assert flag["responders_alerted"] is False
    history = await reader.call("message:history", {"room_id": room_id})
    assert [m["safety"] for m in history["messages"] if m["id"] == message["id"]] == ["review"]
    assert await metric(monitored_server, "mentalverse_crisis_failures_total", stage="alert") == 3.0
    assert await metric(monitored_server, "mentalverse_crisis_review_messages_total") == 1.0

    await execute(monitored_server, *ALLOW_ALERTS[backend])
    again = await send(writer, room_id, RISKY)
    alert = await console.wait_for("crisis:alert", lambda a: a["room_id"] == room_id)
    assert again["safety"] is None and alert["tier"] == 3
    assert not [a for a in console.received("crisis:alert") if a["room_id"] == room_id and a["id"] != alert["id"]]
    await close_all(mentee, mentor)


async def test_a_message_nobody_can_read_is_marked_unscanned_named_at_startup_in_healthz_and_counted(
        monitored_server: ServerProcess) -> None:
    health = await get_json(monitored_server, "/healthz")
    assert health["safety_monitoring"]["not_covered"] == ["nl"]
    assert {"en", "es", "fr", "de", "pt", "it"} <= set(health["safety_monitoring"]["native"])
    assert (await get_json(monitored_server, "/api/safety/coverage"))["not_covered"] == ["nl"]
    assert "crisis.languages_not_scanned" in monitored_server.log_text()

    mentee, writer, mentor, reader, room_id = await conversation(monitored_server, languages=["nl"])
    message = await send(writer, room_id, "ik wil niet meer leven", language="nl")
    seen = await reader.wait_for("message:new", lambda m: m["id"] == message["id"])
    assert seen["safety"] == "unscanned" and seen["language"] == "nl"
    covered = await send(writer, room_id, "see you tomorrow", language="en")
    assert covered["safety"] is None
    assert await metric(monitored_server, "mentalverse_crisis_unscanned_messages_total", language="nl") == 1.0
    await close_all(mentee, mentor)


async def test_risk_that_builds_over_three_messages_alerts_though_none_alone_would(
        monitored_server: ServerProcess) -> None:
    mentee, writer, mentor, reader, room_id = await conversation(monitored_server)
    console = await responder_console(monitored_server)
    sent = [await send(writer, room_id, text) for text in BUILD_UP]
    alert = await console.wait_for("crisis:alert", lambda a: a["room_id"] == room_id)
    assert any("built up" in reason for reason in alert["reasons"]), alert
    assert "what's the point" in alert["excerpt"]
    assert len([a for a in console.received("crisis:alert") if a["room_id"] == room_id]) == 1
    assert [m["safety"] for m in sent] == [None, None, None]
    await close_all(mentee, mentor)


async def test_french_and_german_risk_alerts_with_no_translation_package_installed(
        monitored_server: ServerProcess) -> None:
    console = await responder_console(monitored_server)
    for locale, text in (("fr", "je vais me tuer ce soir"),
                         ("de", "Ich will mich heute Nacht umbringen, ich habe die Tabletten")):
        mentee, writer, mentor, reader, room_id = await conversation(monitored_server, locale="en", languages=[locale])
        message = await send(writer, room_id, text, language=locale)
        alert = await console.wait_for("crisis:alert", lambda a: a["room_id"] == room_id)
        assert alert["tier"] >= 2 and alert["language"] == locale and message["safety"] is None
        await close_all(mentee, mentor)


async def test_metrics_are_not_served_without_the_scrapers_token(monitored_server: ServerProcess) -> None:
    mentee = await register(monitored_server)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": f"Bearer {mentee.token}"}, {"Authorization": "Bearer wrong"}):
            async with http.get(f"{monitored_server.url}/metrics", headers=headers) as resp:
                assert resp.status == 404
