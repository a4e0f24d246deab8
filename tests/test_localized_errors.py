"""People read the server's refusals in their own language: in Socket.IO acks by their saved
locale, over HTTP by the browser's ``Accept-Language``."""

from __future__ import annotations

import ast
from pathlib import Path

import aiohttp
import pytest
from babel.messages.pofile import read_po

from server.core.errors import AppError
from server.core.i18n import LOCALE_DIR, SUPPORTED_LOCALES
from tests.live_server import ServerProcess, close_all, register

REPO = Path(__file__).resolve().parent.parent
# The core's modules: every literal error message they raise must be in every catalog.
CORE_MODULES = ("accounts/auth.py", "transport/events.py", "chat/rooms.py", "chat/messages.py", "accounts/users.py",
                "accounts/http_api.py", "transport/validation.py", "accounts/profile.py", "translation/delivery.py")
ERROR_CLASSES = {cls.__name__ for cls in (AppError, *AppError.__subclasses__())}


async def test_a_spanish_user_sending_to_a_room_they_are_not_in_is_refused_in_spanish(server: ServerProcess) -> None:
    mentee, mentor = await register(server), await register(server, role="mentor")
    owner = await mentee.connect()
    room = (await owner.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]

    ana = await register(server, locale="es_MX")
    client = await ana.connect()
    reply = await client.call("message:send", {"room_id": room["id"], "client_id": "x", "body": "hola"})
    assert reply == {"ok": False, "error": {"code": "forbidden", "message": "Esa sala no existe o no eres miembro de ella."}}
    empty = await owner.call("message:send", {"room_id": room["id"], "client_id": "y", "body": "   "})
    assert empty["error"]["message"] == "A message cannot be empty."
    await close_all(mentee, mentor, ana)


async def test_changing_the_locale_changes_the_language_of_the_next_refusal(server: ServerProcess) -> None:
    lea = await register(server)
    client = await lea.connect()
    before = await client.call("message:history", {"room_id": "nope"})
    assert before["error"]["message"] == "That room does not exist or you are not a member."

    updated = await client.call("profile:update", {"locale": "fr", "timezone": "Europe/Paris"})
    assert updated["ok"] and updated["user"]["locale"] == "fr"
    after = await client.call("message:history", {"room_id": "nope"})
    assert after["error"]["message"] == "Ce salon n’existe pas ou vous n’en êtes pas membre."
    bad = await client.call("profile:update", {"timezone": "Mars/Olympus"})
    assert bad["error"] == {"code": "invalid_timezone", "message": "Le fuseau horaire doit être un nom IANA comme 'Europe/Madrid'."}
    too_many = await client.call("profile:update", {"languages": ["en"] * 11})
    assert too_many["error"]["message"] == "Indiquez au plus 10 langues."
    await close_all(lea)


async def test_the_profile_is_read_back_and_shared_with_the_users_other_connections(server: ServerProcess) -> None:
    ana = await register(server, locale="es", country="mx", timezone="America/Mexico_City")
    laptop, phone = await ana.connect(), await ana.connect()
    profile = (await laptop.call("profile:get"))["user"]
    assert (profile["locale"], profile["languages"], profile["country"], profile["translate_messages"]) == ("es", ["es"], "MX", False)

    reply = await laptop.call("profile:update", {"languages": ["ES", "en", "es"], "translate_messages": True})
    assert reply["user"]["languages"] == ["es", "en"]
    pushed = await phone.wait_for("profile:updated")
    assert pushed["user"]["translate_messages"] is True
    assert (await phone.call("profile:get"))["user"]["languages"] == ["es", "en"]
    unknown = await phone.call("profile:update", {"nickname": "x"})
    assert unknown["error"]["code"] == "invalid_payload"
    await close_all(ana)


async def test_an_http_error_is_in_the_browsers_language(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/me", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}) as resp:
            body = await resp.json()
            assert resp.status == 401 and resp.headers["Content-Language"] == "es"
        assert body["error"] == {"code": "unauthorized", "message": "No has iniciado sesión."}
        async with http.post(f"{server.url}/api/auth/login", data=b"{not json", headers={"Accept-Language": "fr", "Content-Type": "application/json"}) as resp:
            assert (await resp.json())["error"]["message"] == "Le contenu envoyé n'est pas du JSON valide."
        async with http.get(f"{server.url}/api/me", headers={"Accept-Language": "de"}) as resp:
            assert (await resp.json())["error"]["message"] == "You are not signed in."


async def test_a_signed_in_users_saved_locale_beats_the_browser_over_http(server: ServerProcess) -> None:
    ana = await register(server, locale="es")
    headers = {"Authorization": f"Bearer {ana.token}", "Accept-Language": "fr"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/register", json={"username": "x"}, headers=headers) as resp:
            assert resp.headers["Content-Language"] == "es"


def _literal_error_messages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ERROR_CLASSES and node.args and isinstance(node.args[0], ast.Constant):
                found.add(node.args[0].value)
            for keyword in node.keywords:
                if keyword.arg == "message" and isinstance(keyword.value, ast.Constant):
                    found.add(keyword.value.value)
    return found


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_error_the_core_raises_has_a_translation(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        translated = {m.id for m in read_po(po, locale=locale) if m.id and m.string}
    raised = set().union(*(_literal_error_messages(REPO / "server" / module) for module in CORE_MODULES))
    print(f"{len(raised)} literal error messages in the core")
    assert raised - translated == set()
