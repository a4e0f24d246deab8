"""Finding a mentor in the web client, in Spanish, on a phone: a mentee states what she looks for
(with a chosen name instead of her own), sees suggestions with the reasons in plain words, asks the
best match, the mentor accepts, they talk and she books a session; then she asks for a different
mentor and gets new suggestions without the first. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.live_server import ServerProcess, close_all, register
from tests.web_pages import DESKTOP, PHONE, WebUser

pytestmark = pytest.mark.browser

REAL_NAME = "Lucía Fernández Real"


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


async def mentor(server: ServerProcess, name: str, languages: list[str], areas: list[str], tz: str, windows: list[dict], bio: str):
    person = await register(server, role="mentor", username=f"{name.lower()}{uuid.uuid4().hex[:6]}", display_name=name,
                            languages=languages, timezone=tz)
    client = await person.connect()
    assert (await client.call("availability:set", {"windows": windows}))["ok"]
    assert (await client.call("mentor_profile:set", {"areas": areas, "bio": bio}))["ok"]
    return person


async def test_a_spanish_speaking_mentee_finds_asks_talks_books_and_changes_mentor_on_her_phone(browser: Browser, server) -> None:  # type: ignore[no-untyped-def]
    tuesdays = [{"weekday": 1, "start": "12:00", "end": "15:00"}]  # Mexico City noon = Madrid evening
    rosa = await mentor(server, "Rosa", ["es", "en"], ["grief", "anxiety"], "America/Mexico_City", tuesdays,
                        "Acompaño procesos de duelo desde hace años.")
    carmen = await mentor(server, "Carmen", ["es"], ["grief"], "Europe/Madrid", [{"weekday": 3, "start": "10:00", "end": "12:00"}],
                          "Escucho sin juzgar.")
    john = await mentor(server, "John", ["en"], ["grief"], "America/New_York", tuesdays, "Here to listen.")
    lucia = await register(server, display_name=REAL_NAME, languages=["es"], locale="es", timezone="Europe/Madrid")

    mentee = await WebUser.open(browser, server, viewport=PHONE, timezone_id="Europe/Madrid")
    rosa_tab = await WebUser.open(browser, server, viewport=DESKTOP, timezone_id="America/Mexico_City")
    try:
        await mentee.sign_in(lucia.username)
        page = mentee.page
        await mentee.go_to("Buscar mentor")
        intake = page.locator("details.intake-card")
        await expect(intake).to_have_attribute("open", "")
        await intake.get_by_label("duelo").check()
        await expect(intake.get_by_label("español")).to_be_checked()
        await intake.get_by_label("Noches").check()
        await intake.get_by_label("Un nombre que los mentores ven en lugar del tuyo (opcional)").fill("Girasol")
        await mentee.screenshot("mentorship-1-intake-es-phone")
        await intake.get_by_role("button", name="Guardar y buscar mentores").click()

        cards = page.locator("ol.mentor-cards").first.locator("li.mentor-card")
        await expect(cards.first.locator("h4")).to_have_text("Rosa")
        await expect(cards.first.locator(".reasons")).to_have_text(
            re.compile(r"^habla español · duelo · libre los martes por la noche \(tu hora\)"))
        shown = await cards.locator("h4").all_text_contents()
        print(f"\nsuggested: {shown}; reasons of the first: {await cards.first.locator('.reasons').inner_text()}")
        assert "John" not in shown and "Carmen" in shown
        await cards.first.scroll_into_view_if_needed()
        await mentee.screenshot("mentorship-2-suggestions-es-phone")

        await cards.first.get_by_role("button", name="Pedírselo a Rosa").click()
        await cards.first.get_by_label("Una nota breve (opcional)").fill("Perdí a mi madre este año y me cuesta dormir.")
        await cards.first.get_by_role("button", name="Enviar solicitud").click()
        await expect(cards.first.get_by_role("status")).to_have_text(re.compile("Solicitud enviada a Rosa"))
        await expect(page.locator(".mentorships .mentorship h4")).to_have_text("Esperando la respuesta de Rosa")

        await rosa_tab.sign_in(rosa.username)
        await rosa_tab.page.get_by_role("button", name="My mentees").click()
        request = rosa_tab.page.locator(".mentorship[data-status=requested]")
        await expect(request.locator("h4")).to_have_text("Girasol would like you as their mentor")
        await expect(request.locator(".note")).to_have_text("Perdí a mi madre este año y me cuesta dormir.")
        await expect(request).to_contain_text("Looking for: grief · in Spanish")
        await rosa_tab.screenshot("mentorship-3-mentor-sees-the-request")
        await request.get_by_role("button", name="Accept").click()
        await expect(rosa_tab.page.locator(".mentorship[data-status=active] h4")).to_have_text("Girasol")

        await expect(page.locator(".find-mentor .notice")).to_contain_text("Rosa aceptó tu solicitud")
        active = page.locator(".mentorship[data-status=active]")
        await expect(active.locator("h4")).to_have_text("Tu mentor: Rosa")
        await active.get_by_role("button", name="Abrir conversación").click()
        composer = page.get_by_role("textbox", name="Mensaje", exact=True)
        await composer.fill("Hola Rosa, gracias por aceptar.")
        await composer.press("Enter")
        await expect(mentee.message("Hola Rosa, gracias por aceptar.")).to_be_visible()
        await rosa_tab.page.get_by_role("button", name="Conversations").click()
        await rosa_tab.open_room("Girasol")
        await expect(rosa_tab.message("Hola Rosa, gracias por aceptar.")).to_be_visible()
        await rosa_tab.send("Hola Girasol, aquí estoy. ¿Hablamos el martes?")
        await expect(mentee.message("Hola Girasol, aquí estoy. ¿Hablamos el martes?")).to_be_visible()
        await mentee.screenshot("mentorship-4-conversation-es-phone")

        await mentee.go_to("Buscar mentor")
        await active.get_by_role("button", name="Reservar una sesión").click()
        await active.locator("ul.slots button").first.click()
        await expect(active.get_by_role("status")).to_have_text(re.compile("^Reservada con Rosa: "))
        await rosa_tab.page.get_by_role("button", name="Schedule").click()
        await expect(rosa_tab.page.locator(".session-item").first).to_contain_text("Girasol")
        await mentee.screenshot("mentorship-5-booked-es-phone")
        await rosa_tab.screenshot("mentorship-5-mentor-schedule")

        await active.get_by_role("button", name="Pedir otro mentor").click()
        await expect(active.locator(".mentorship-panel")).to_contain_text("A Rosa solo se le dirá que la mentoría terminó")
        await active.get_by_role("button", name="Sí, búscame a otra persona").click()
        await expect(page.locator(".find-mentor .notice")).to_have_text("Aquí tienes otros mentores que pueden encajar contigo.")
        await expect(cards.first.locator("h4")).to_have_text("Carmen")
        after = await cards.locator("h4").all_text_contents()
        print(f"after asking for a different mentor: {after}")
        assert "Rosa" not in after
        await expect(page.locator(".mentorships")).to_contain_text("Todavía sin mentor.")
        await mentee.screenshot("mentorship-6-new-suggestions-es-phone")

        await rosa_tab.page.get_by_role("button", name="My mentees").click()
        await expect(rosa_tab.page.locator(".mentees .notice")).to_have_text(
            "Your mentorship with Girasol has ended. Thank you for the support you gave.")
        for tab in (rosa_tab,):
            assert REAL_NAME not in await tab.page.locator("body").inner_text()
        assert not mentee.console_errors and not rosa_tab.console_errors, (mentee.console_errors, rosa_tab.console_errors)
    finally:
        await mentee.close()
        await rosa_tab.close()
        await close_all(rosa, carmen, john, lucia)
