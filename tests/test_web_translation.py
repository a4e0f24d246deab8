"""Translated chat in the web client: people who write in different languages read each other in
their own, with the original one tap away.

The translation packages are the real ``.argosmodel`` files of ``tests/argos_fixture.py`` (word
for word: "hello friend how are you" → "hola amigo cómo estás tú"), installed into the running
server's data directory with the operator's command ``python -m server translation install``.
English↔Spanish packages exist; nothing leads from English to French, so a French reader gets
the original with a note.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.argos_fixture import build_packages
from tests.browser import headless_chromium
from tests.live_server import ServerProcess, close_all, register
from tests.web_pages import browser_tabs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
def translating_server(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    packages: dict[tuple[str, str], Path] = build_packages(tmp_path_factory.mktemp("argos-packages"))
    print(server.cli("translation", "install", *map(str, packages.values())).stdout)
    return server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
async def people(browser: Browser, translating_server: ServerProcess):  # type: ignore[no-untyped-def]
    async with browser_tabs(browser, translating_server) as open_tab:
        yield open_tab


async def test_a_spanish_and_an_english_reader_read_each_other_translated_and_can_show_the_original(people) -> None:  # type: ignore[no-untyped-def]
    ana = await (await people()).register(prefix="ana", display_name="Ana")
    await ana.open_language_settings()
    settings = ana.page.get_by_role("region", name="Language and translation")
    await settings.get_by_label("Interface language").select_option("es")
    await settings.get_by_label("English").uncheck()
    await settings.get_by_label("Spanish").check()
    await settings.get_by_label("Translate messages for me").check()
    await ana.screenshot("translation-settings")
    await settings.get_by_role("button", name="Save").click()
    # The page now speaks Spanish, and so do the settings.
    await expect(ana.page.get_by_role("heading", name="Idioma y traducción")).to_be_visible()
    await expect(ana.page.get_by_role("status").filter(has_text="Guardado.")).to_be_visible()
    await expect(ana.page.get_by_label("Traducir los mensajes para mí")).to_be_checked()
    await expect(ana.page.get_by_label("español", exact=True)).to_be_checked()

    bob = await (await people()).register(prefix="bob", display_name="Bob")
    await bob.open_language_settings()
    await bob.page.get_by_label("Translate messages for me").check()
    await bob.page.get_by_role("button", name="Save").click()
    await expect(bob.page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await bob.page.get_by_role("button", name="Conversations").click()
    await bob.start_conversation(ana.username)

    await ana.page.get_by_role("button", name="Conversaciones").click()
    await ana.open_room("Bob")
    await bob.send("hello friend how are you")
    await expect(ana.message("hola amigo cómo estás tú")).to_be_visible()
    translated = ana.message_item("hola amigo cómo estás tú")
    await expect(translated.locator(".msg-translation")).to_contain_text("Traducido del inglés")
    await ana.screenshot("translated-for-ana-es")

    await translated.get_by_role("button", name="Ver original").click()
    original = ana.message_item("hello friend how are you")
    await expect(original).to_be_visible()
    await expect(original.get_by_role("button", name="Ver traducción")).to_be_focused()
    await ana.screenshot("original-for-ana-es")
    await original.get_by_role("button", name="Ver traducción").click()
    await expect(ana.message("hola amigo cómo estás tú")).to_be_visible()

    composer = ana.page.get_by_role("textbox", name="Mensaje", exact=True)
    await composer.fill("gracias amigo, hoy yo siento triste")
    await composer.press("Enter")
    await expect(bob.message("thanks friend, today i feel sad")).to_be_visible()
    for_bob = bob.message_item("thanks friend, today i feel sad")
    await expect(for_bob.locator(".msg-translation")).to_contain_text("Translated from Spanish")
    await for_bob.get_by_role("button", name="Show original").click()
    await expect(bob.message("gracias amigo, hoy yo siento triste")).to_be_visible()
    await bob.screenshot("original-for-bob-en")

    # Coming back later, the history reads the same way (message:history with translate_to).
    await ana.page.reload()
    await ana.open_room("Bob")
    await expect(ana.message("hola amigo cómo estás tú")).to_be_visible()
    assert await ana.bodies() == ["hola amigo cómo estás tú", "gracias amigo, hoy yo siento triste"]
    assert not ana.console_errors and not bob.console_errors, ana.console_errors + bob.console_errors


async def test_a_reader_whose_language_has_no_package_sees_the_original_with_a_note(people, translating_server) -> None:  # type: ignore[no-untyped-def]
    claire_account = await register(translating_server, locale="fr", languages=["fr"])
    client = await claire_account.connect()
    assert (await client.call("profile:update", {"translate_messages": True}))["ok"]
    await close_all(claire_account)

    bob = await (await people()).register(prefix="bob", display_name="Bob")
    await bob.start_conversation(claire_account.username)
    claire = await (await people()).sign_in(claire_account.username)
    # Her saved locale turns the page French at sign-in.
    await expect(claire.page.get_by_role("heading", name="Conversations")).to_be_visible()
    await expect(claire.page.locator("html")).to_have_attribute("lang", "fr")
    await claire.open_room("Bob")
    await bob.send("hello friend")
    await expect(claire.message("hello friend")).to_be_visible()
    note = claire.message_item("hello friend").locator(".msg-translation.note")
    await expect(note).to_be_visible()
    print(f"note shown to the French reader: {await note.text_content()!r}")
    assert await note.get_by_role("button").count() == 0, "nothing to toggle: the original is all there is"
    await claire.screenshot("no-translation-note-fr")
