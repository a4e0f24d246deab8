"""Translated chat: people who write in different languages read each other in their own.

The translation packages are the real ``.argosmodel`` files of ``tests/argos_fixture.py``
(word for word: "hello friend how are you" → "hola amigo cómo estás tú"), installed into the
running server's data directory with the operator's command ``python -m server translation
install FILE``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.argos_fixture import DEFAULT_PAIRS, build_packages
from tests.live_server import LiveClient, Person, ServerProcess, close_all, register


@pytest.fixture(scope="session")
def package_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return build_packages(tmp_path_factory.mktemp("argos-packages"), (*DEFAULT_PAIRS, ("nl", "en")))


def install(server: ServerProcess, *files: Path) -> str:
    """What an operator types on the server machine while the server runs."""
    done = server.cli("translation", "install", *map(str, files))
    return done.stdout


@pytest.fixture(scope="module")
def translating_server(server: ServerProcess, package_files: dict[tuple[str, str], Path]) -> ServerProcess:
    print(install(server, *package_files.values()))
    return server


async def reader(server: ServerProcess, locale: str, *, translate: bool = True, role: str = "mentee",
                 ) -> tuple[Person, LiveClient]:
    person = await register(server, role=role, locale=locale, languages=[locale])
    client = await person.connect()
    reply = await client.call("profile:update", {"translate_messages": translate})
    assert reply["ok"] and reply["user"]["translate_messages"] is translate, reply
    return person, client


async def direct_room(client: LiveClient, other: Person) -> dict:
    reply = await client.call("room:create", {"kind": "direct", "member_ids": [other.id]})
    assert reply["ok"], reply
    return reply["room"]


async def join(room: dict, *clients: LiveClient) -> None:
    for client in clients:
        assert (await client.call("room:join", {"room_id": room["id"]}))["ok"]


async def test_a_spanish_and_an_english_reader_each_read_the_other_in_their_language_with_the_original(
        translating_server: ServerProcess) -> None:
    (ana, a), (bob, b) = await reader(translating_server, "es"), await reader(translating_server, "en")
    room = await direct_room(a, bob)
    await join(room, a, b)

    sent = await b.call("message:send", {"room_id": room["id"], "client_id": "b1", "body": "hello friend how are you"})
    assert sent["ok"] and sent["message"]["language"] == "en"
    original = await a.wait_for("message:new", lambda m: m["id"] == sent["message"]["id"])
    translated = await a.wait_for("message:translated", lambda m: m["message_id"] == original["id"])
    assert original["body"] == "hello friend how are you"
    assert translated == {
        "room_id": room["id"], "message_id": original["id"], "seq": original["seq"],
        "language": "es", "text": "hola amigo cómo estás tú", "source_language": "en",
        "translated": True, "note": None, "caption": "Traducido del inglés",
    }
    # The original arrives first: translation never holds it back.
    names = [name for name, data in a.events if name.startswith("message:")]
    assert names.index("message:new") < names.index("message:translated")

    # Spanish the other way; its language is recognised from the text, not told by the client.
    sent = await a.call("message:send", {"room_id": room["id"], "client_id": "a1", "body": "gracias amigo, hoy yo siento triste"})
    assert sent["message"]["language"] == "es"
    translated = await b.wait_for("message:translated", lambda m: m["message_id"] == sent["message"]["id"])
    assert (translated["text"], translated["caption"]) == ("thanks friend, today i feel sad", "Translated from Spanish")
    assert (await b.wait_for("message:new", lambda m: m["id"] == sent["message"]["id"]))["body"] == \
        "gracias amigo, hoy yo siento triste"

    await asyncio.sleep(0.3)
    # Nobody receives a translation of their own words or of a language they read.
    assert [t["message_id"] for t in a.received("message:translated")] == [original["id"]]
    assert [t["message_id"] for t in b.received("message:translated")] == [sent["message"]["id"]]
    await close_all(ana, bob)


async def test_a_reader_who_has_not_opted_in_gets_only_the_original(translating_server: ServerProcess) -> None:
    (ana, a), (bob, b) = await reader(translating_server, "es", translate=False), await reader(translating_server, "en")
    room = await direct_room(a, bob)
    await join(room, a, b)
    sent = await b.call("message:send", {"room_id": room["id"], "client_id": "b1", "body": "thanks friend"})
    await a.wait_for("message:new", lambda m: m["id"] == sent["message"]["id"])
    await asyncio.sleep(0.5)
    assert a.received("message:translated") == []
    # The translator's figures are for operators only.
    assert (await a.call("translation:status"))["error"]["code"] == "forbidden"
    await close_all(ana, bob)


async def test_a_reader_who_opts_in_mid_conversation_reads_the_next_message_translated(
        translating_server: ServerProcess) -> None:
    """Who reads translations is remembered per room between messages (issue 23); opting in must
    still apply from the very next message."""
    (ana, a), (bob, b) = await reader(translating_server, "es", translate=False), await reader(translating_server, "en")
    room = await direct_room(a, bob)
    await join(room, a, b)
    first = await b.call("message:send", {"room_id": room["id"], "client_id": "b1", "body": "hello friend"})
    await a.wait_for("message:new", lambda m: m["id"] == first["message"]["id"])

    assert (await a.call("profile:update", {"translate_messages": True}))["ok"]
    sent = await b.call("message:send", {"room_id": room["id"], "client_id": "b2", "body": "hello friend how are you"})
    translated = await a.wait_for("message:translated", lambda m: m["message_id"] == sent["message"]["id"])
    assert translated["text"] == "hola amigo cómo estás tú"
    await close_all(ana, bob)


async def test_each_language_is_translated_once_however_many_readers_share_it(
        translating_server: ServerProcess) -> None:
    spanish = [await reader(translating_server, "es") for _ in range(2)]
    (bob, b) = await reader(translating_server, "en")
    # An administrator opens the group and reads the translator's figures.
    admin, ops = await reader(translating_server, "es", role="admin")
    spanish.append((admin, ops))
    reply = await ops.call("room:create", {"kind": "group", "title": "circle", "member_ids": [p.id for p, _c in spanish] + [bob.id]})
    room = reply["room"]
    status = await ops.call("translation:status")
    assert {"en-es", "es-en", "fr-en", "fr-es"} <= set(status["pairs"])
    before = status["cache"]

    sent = await b.call("message:send", {"room_id": room["id"], "client_id": "once", "body": "we can talk later tonight"})
    for _person, client in spanish:
        got = await client.wait_for("message:translated", lambda m: m["message_id"] == sent["message"]["id"])
        assert got["text"] == "nosotros podemos hablar luego esta noche"
    after = (await ops.call("translation:status"))["cache"]
    print(f"3 Spanish readers: model runs {after['misses'] - before['misses']}, cache hits {after['hits'] - before['hits']}")
    assert after["misses"] - before["misses"] == 1

    # Reading it again from history is served from the cache: no new model run.
    history = await spanish[0][1].call("message:history", {"room_id": room["id"], "translate_to": "es"})
    assert history["messages"][-1]["translation"]["text"] == "nosotros podemos hablar luego esta noche"
    assert (await ops.call("translation:status"))["cache"]["misses"] == after["misses"]
    await close_all(*(p for p, _c in spanish), bob)


async def test_history_can_be_read_translated_with_the_original_kept(translating_server: ServerProcess) -> None:
    (ana, a), (bob, b) = await reader(translating_server, "es", translate=False), await reader(translating_server, "en")
    room = await direct_room(a, bob)
    await b.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "hello friend"})
    await a.call("message:send", {"room_id": room["id"], "client_id": "2", "body": "hola amigo", "language": "es"})
    await b.call("message:send", {"room_id": room["id"], "client_id": "3", "body": "bonjour ami", "language": "fr"})

    page = await a.call("message:history", {"room_id": room["id"], "translate_to": "es"})
    assert page["ok"], page
    got = [(m["body"], m["language"], m["translation"] and m["translation"]["text"]) for m in page["messages"]]
    assert got == [("hello friend", "en", "hola amigo"), ("hola amigo", "es", None), ("bonjour ami", "fr", "hola amigo")]
    assert page["messages"][2]["translation"]["caption"] == "Traducido del francés"

    plain = await a.call("message:history", {"room_id": room["id"]})
    assert all("translation" not in m for m in plain["messages"])
    refused = await a.call("message:history", {"room_id": room["id"], "translate_to": "spanish please"})
    assert refused["error"]["code"] == "invalid_languages"
    await close_all(ana, bob)


async def test_a_pair_without_a_package_is_delivered_untranslated_with_a_note(
        translating_server: ServerProcess) -> None:
    (lea, f), (ana, a) = await reader(translating_server, "fr"), await reader(translating_server, "es")
    room = await direct_room(a, lea)
    # Spanish → French: es→en exists but nothing leads from English to French.
    sent = await a.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "hola amigo", "language": "es"})
    got = await f.wait_for("message:translated", lambda m: m["message_id"] == sent["message"]["id"])
    assert got["text"] == "hola amigo" and got["translated"] is False
    assert got["note"] == "no_translation_package"
    assert got["caption"] == "Aucune traduction disponible en français\u00a0; le message original est affiché."
    await close_all(lea, ana)


async def test_translations_reach_members_only(translating_server: ServerProcess) -> None:
    (ana, a), (bob, b) = await reader(translating_server, "es"), await reader(translating_server, "en")
    (eve, e) = await reader(translating_server, "es")
    room = await direct_room(a, bob)
    sent = await b.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "i feel sad"})
    await a.wait_for("message:translated", lambda m: m["message_id"] == sent["message"]["id"])
    await asyncio.sleep(0.3)
    assert e.received("message:translated") == [] and e.received("message:new") == []
    await close_all(ana, bob, eve)


async def test_a_package_installed_while_the_server_runs_is_used_for_the_next_message(
        sqlite_server: ServerProcess, package_files: dict[tuple[str, str], Path]) -> None:
    (ana, a), (bob, b) = await reader(sqlite_server, "es"), await reader(sqlite_server, "en")
    room = await direct_room(a, bob)
    first = await b.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "hello friend"})
    before = await a.wait_for("message:translated", lambda m: m["message_id"] == first["message"]["id"])
    assert (before["text"], before["note"]) == ("hello friend", "no_translation_package")
    assert before["caption"] == "No hay traducción disponible al español; se muestra el original."

    output = install(sqlite_server, package_files[("en", "es")])
    assert "installed en -> es" in output

    second = await b.call("message:send", {"room_id": room["id"], "client_id": "2", "body": "hello friend"})
    after = await a.wait_for("message:translated", lambda m: m["message_id"] == second["message"]["id"])
    assert (after["text"], after["note"], after["translated"]) == ("hola amigo", None, True)
    await close_all(ana, bob)


async def test_a_message_in_a_language_without_a_lexicon_is_scanned_in_its_english_translation(
        translating_server: ServerProcess) -> None:
    """Dutch has no crisis lexicon; with a Dutch→English package installed it is scanned in English."""
    coverage = await healthz_coverage(translating_server)
    assert "nl" in coverage["via_translation"] and "fr" in coverage["native"]
    daan = await register(translating_server, locale="en", languages=["nl"])
    mentor = await register(translating_server, role="mentor")
    writer, watcher = await daan.connect(), await mentor.connect()
    room = await direct_room(writer, mentor)
    sent = await writer.call("message:send", {"room_id": room["id"], "client_id": "1", "body": "ik wil doden mezelf", "language": "nl"})
    assert sent["ok"], sent
    flag = await watcher.wait_for("crisis:flag", lambda f: f["message_id"] == sent["message"]["id"])
    print(f"Dutch risk message flagged at tier {flag['tier']} (responders alerted: {flag['responders_alerted']})")
    assert flag["tier"] >= 2 and flag["author_id"] == daan.id
    assert sent["message"]["safety"] is None
    await writer.wait_for("crisis:resources", lambda r: r["message_id"] == sent["message"]["id"])
    await close_all(daan, mentor)


async def healthz_coverage(server: ServerProcess) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/healthz") as resp:
            return (await resp.json())["safety_monitoring"]
