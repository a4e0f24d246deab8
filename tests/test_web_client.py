"""The web client, driven in a real headless Chromium against a real server.

Each test is a user story seen through the page (what is on screen, what a screen reader would
find by role and name) and leaves a screenshot in test-output/screenshots/ for a person to look at.
The server logic behind these pages is tested on SQLite and PostgreSQL by the protocol tests; the
browser tests run on SQLite (``backend`` below) because what they check is the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.live_server import REPO, close_all, register
from tests.web_pages import PHONE, browser_tabs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
async def people(browser, server):  # type: ignore[no-untyped-def]
    """Opens browser tabs (one context each, like two devices) and closes them after the test."""
    async with browser_tabs(browser, server) as open_tab:
        yield open_tab


async def two_people_in_a_conversation(people):  # type: ignore[no-untyped-def]
    mentee = await (await people()).register(prefix="ana", display_name="Ana")
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await mentee.start_conversation(mentor.username)
    await mentor.open_room("Ana")
    return mentee, mentor


async def test_two_people_register_and_chat_both_ways(people):
    mentee, mentor = await two_people_in_a_conversation(people)

    await mentee.composer.fill("I had a hard week")
    await expect(mentor.page.get_by_text("Ana is typing…")).to_be_visible()
    await mentee.composer.press("Enter")
    await expect(mentor.message("I had a hard week")).to_be_visible()
    await expect(mentor.page.get_by_text("Ana is typing…")).to_be_hidden()

    await mentor.send("I'm here. Tell me more?")
    await expect(mentee.message("I'm here. Tell me more?")).to_be_visible()
    # The mentor read Ana's message while looking at the room: she sees it was seen.
    await mentee.send("Thank you")
    await expect(mentee.page.locator(".msg.mine .msg-receipt")).to_have_text("Seen")
    await expect(mentee.page.locator(".chat-members .member.online")).to_contain_text("Mo")

    assert await mentee.bodies() == await mentor.bodies() == ["I had a hard week", "I'm here. Tell me more?", "Thank you"]
    assert await mentee.seqs() == [1, 2, 3]
    await mentee.screenshot("chat-mentee-desktop")
    await mentor.screenshot("chat-mentor-desktop")
    assert not mentee.console_errors and not mentor.console_errors, mentee.console_errors + mentor.console_errors


async def test_a_reader_who_was_offline_sees_the_missed_messages_in_order_after_reconnecting(people):
    mentee, mentor = await two_people_in_a_conversation(people)
    await mentor.send("before the tunnel")
    await expect(mentee.message("before the tunnel")).to_be_visible()

    await mentee.context.set_offline(True)
    await expect(mentee.page.get_by_role("status")).to_contain_text("reconnecting")
    await mentee.screenshot("reconnect-banner")
    for text in ("missed one", "missed two", "missed three"):
        await mentor.send(text)
    await mentee.context.set_offline(False)

    await expect(mentee.page.get_by_role("status")).to_contain_text("Back online")
    await expect(mentee.message("missed three")).to_be_visible()
    assert await mentee.bodies() == ["before the tunnel", "missed one", "missed two", "missed three"]
    assert await mentee.seqs() == [1, 2, 3, 4]
    await mentee.screenshot("reconnect-caught-up")


async def test_markup_in_messages_and_names_is_shown_as_text_and_never_runs(people):
    mentee = await (await people()).register(prefix="ana", display_name="Ana")
    mentor = await (await people()).register(prefix="mo", display_name="<b>Mo</b><img src=x onerror=alert(2)>", role="mentor")
    await mentee.start_conversation(mentor.username)
    await mentor.open_room("Ana")
    attacks = ["<img src=x onerror=alert(1)>", "<script>window.__pwned = 1; alert(3)</script>", '"><svg onload=alert(4)>']
    for text in attacks:
        await mentor.send(text)
    for text in attacks:
        await expect(mentee.message(text)).to_be_visible()
    await expect(mentee.page.locator(".chat-title")).to_have_text("<b>Mo</b><img src=x onerror=alert(2)>")
    assert await mentee.bodies() == attacks
    for user in (mentee, mentor):
        assert await user.page.locator("main img, main script, main svg, main b").count() == 0
        assert await user.page.evaluate("window.__pwned") is None
        assert user.dialogs == []
    await mentee.screenshot("xss-shown-as-text")


async def test_the_author_edits_and_deletes_a_message_and_the_other_side_sees_it(people):
    mentee, mentor = await two_people_in_a_conversation(people)
    await mentee.send("I feel tird")
    await expect(mentor.message("I feel tird")).to_be_visible()

    mine = mentee.page.locator("ol.messages:not(.outbox) > li.mine").first
    await mine.get_by_role("button", name="Edit").click()
    editor = mentee.page.get_by_role("textbox", name="Edit your message")
    await expect(editor).to_be_focused()
    await editor.fill("I feel tired")
    await editor.press("Enter")
    await expect(mentor.message("I feel tired")).to_be_visible()
    await expect(mentor.page.locator(".msg-edited")).to_have_text("(edited)")

    await mine.get_by_role("button", name="Delete").click()
    await mine.get_by_role("button", name="Yes, delete").click()
    await expect(mentor.page.locator(".msg-body.deleted")).to_have_text("This message was deleted.")
    await expect(mentee.page.locator(".msg-body.deleted")).to_have_text("This message was deleted.")
    # The mentor cannot edit or delete what the mentee wrote.
    assert await mentor.page.locator("ol.messages > li:not(.mine) .msg-actions").count() == 0
    await mentor.screenshot("edited-and-deleted")


async def test_scrolling_up_loads_older_history_page_by_page(people, server):
    a, b = await register(server), await register(server, role="mentor")
    ca, cb = await a.connect(), await b.connect()
    room = (await ca.call("room:create", {"kind": "direct", "member_ids": [b.id]}))["room"]
    for i in range(1, 61):
        sender = ca if i % 2 else cb
        reply = await sender.call("message:send", {"room_id": room["id"], "client_id": f"m{i}", "body": f"message number {i}"})
        assert reply["ok"], reply
        await asyncio.sleep(0.11)  # under the per-user rate limit
    await close_all(a, b)

    reader = await (await people()).sign_in(a.username)
    await reader.open_room(b.user["display_name"])
    await expect(reader.message("message number 60")).to_be_visible()
    assert await reader.seqs() == list(range(11, 61))
    older = reader.page.get_by_role("button", name="Load earlier messages")
    await expect(older).to_be_visible()
    await reader.page.locator(".messages-scroll").evaluate("s => s.scrollTop = 0")
    await expect(reader.message("message number 1")).to_be_visible()
    assert await reader.seqs() == list(range(1, 61))
    await expect(older).to_be_hidden()
    await reader.screenshot("history-paged")


async def test_on_a_phone_in_spanish_the_page_fits_and_speaks_spanish(people):
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    phone = await people(viewport=PHONE, locale="es-MX")
    await expect(phone.page.get_by_role("heading", name="Bienvenida")).to_be_visible()
    await phone.page.get_by_label("Idioma").select_option("en")
    await phone.register(prefix="lu", display_name="Lucía")
    # Signed in on a phone, the language sits in the folded menu.
    await phone.page.get_by_role("button", name="Menu").click()
    await phone.page.get_by_label("Language").select_option("es")
    await expect(phone.page.get_by_role("heading", name="Conversaciones")).to_be_visible()
    await phone.page.get_by_label("Iniciar una conversación con (usuario)").fill(mentor.username)
    await phone.page.get_by_role("button", name="Iniciar", exact=True).click()
    composer = phone.page.get_by_role("textbox", name="Mensaje", exact=True)
    await composer.fill("Hola, ¿tienes un momento?")
    await composer.press("Enter")
    await expect(phone.message("Hola, ¿tienes un momento?")).to_be_visible()
    width = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    await phone.screenshot("phone-chat-es")
    await phone.page.get_by_role("button", name="← Conversaciones").click()
    await expect(phone.page.get_by_role("heading", name="Conversaciones")).to_be_visible()
    await expect(phone.page.locator(".room-item", has_text="Mo")).to_be_focused()
    await phone.screenshot("phone-rooms-es")


async def test_a_mentee_in_crisis_sees_help_lines_and_a_responder_acknowledges_and_resolves_the_alert(people, server):
    responder_account = await register(server, role="responder")
    responder = await (await people()).sign_in(responder_account.username)
    await expect(responder.page.get_by_role("heading", name="Crisis alerts")).to_be_visible()
    await expect(responder.page.get_by_text("No open alerts.")).to_be_visible()

    mentee = await (await people()).register(prefix="ana", display_name="Ana", country="US")
    mentor = await register(server, role="mentor")
    await mentee.start_conversation(mentor.username)
    await mentee.send("I am going to end my life tonight")

    support = mentee.page.get_by_role("complementary", name="Talk to someone now")
    await expect(support).to_be_visible()
    await expect(support.get_by_role("link", name="Call 988")).to_be_visible()
    await mentee.screenshot("crisis-resources-for-mentee")

    alert = responder.page.locator(".alert", has_text="I am going to end my life tonight")
    await expect(alert).to_be_visible()
    await expect(alert.locator(".tier")).to_have_text("Tier 3")
    await expect(responder.page.get_by_role("alert").filter(has_text="New crisis alert")).to_be_visible()
    await expect(alert.locator(".age")).to_have_text("0 min ago")
    await responder.screenshot("responder-alert-arrived")

    await alert.get_by_role("button", name="Acknowledge — I'm on it").click()
    await expect(alert.locator(".status")).to_have_text(f"Taken by {responder_account.user['display_name']}")
    await alert.get_by_role("button", name="View conversation context").click()
    await expect(alert.get_by_text("Opening the context is recorded in the audit log.")).to_be_visible()
    await expect(alert.locator(".context .flagged")).to_contain_text("I am going to end my life tonight")
    await responder.screenshot("responder-alert-acknowledged")

    await alert.get_by_role("button", name="Resolve").click()
    await alert.get_by_label("Reached them — safe for now").check()
    await responder.page.get_by_label("Resolution note (required)").fill("Called Ana; she is safe with her sister tonight.")
    await alert.get_by_role("button", name="Resolve").last.click()
    await expect(alert).to_be_hidden()
    await expect(responder.page.get_by_text("No open alerts.")).to_be_visible()


async def test_get_help_now_is_reachable_before_signing_in_and_speaks_the_readers_language(people):
    visitor = await people(locale="es-ES")
    await visitor.page.get_by_role("button", name="Pedir ayuda ahora").click()
    dialog = visitor.page.get_by_role("dialog", name="Habla con alguien ahora")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".hotline").first).to_be_visible()
    await expect(dialog.get_by_role("button", name="Cerrar")).to_be_focused()
    await visitor.screenshot("get-help-now-es")
    await visitor.page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(visitor.page.get_by_role("button", name="Pedir ayuda ahora")).to_be_focused()


async def test_a_group_leader_mutes_a_member_from_the_console_and_the_member_is_told(people, server):
    leader_account, member_account = await register(server, role="leader"), await register(server)
    lc, mc = await leader_account.connect(), await member_account.connect()
    created = await lc.call("group:create", {"title": "Tuesday circle", "invite_ids": [member_account.id]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    assert (await mc.call("group:accept", {"room_id": room_id}))["ok"]
    await close_all(leader_account, member_account)

    leader = await (await people()).sign_in(leader_account.username)
    member = await (await people()).sign_in(member_account.username)
    await leader.open_room("Tuesday circle")
    await member.open_room("Tuesday circle")
    await member.page.get_by_role("button", name="Raise hand").click()

    await leader.page.get_by_role("button", name="Group console").click()
    console = leader.page.get_by_role("complementary", name="Group console")
    member_name = member_account.user["display_name"]
    await expect(console.locator(".gc-hands")).to_have_text(member_name)
    await console.get_by_role("button", name=f"Mute {member_name}").click()
    await expect(console.get_by_role("button", name=f"Unmute {member_name}")).to_be_visible()

    await expect(member.page.get_by_text("A group leader has muted you for now.")).to_be_visible()
    await expect(member.composer).to_be_disabled()
    await leader.screenshot("leader-console-muted-member")
    await member.screenshot("member-muted")


async def test_a_booking_appears_in_both_schedules_in_local_time(people, server):
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await mentor.page.get_by_role("button", name="Schedule").click()
    editor = mentor.page.locator("form.availability")
    for day in range(7):
        await editor.get_by_role("button", name="Add a time").click()
        row = editor.locator(".window").nth(day)
        await row.get_by_label("Day").select_option(str(day))
        await row.get_by_label("From").fill("00:00")
        await row.get_by_label("Until").fill("23:59")
    await editor.get_by_role("button", name="Save availability").click()
    await expect(editor.get_by_role("status")).to_have_text("Saved.")

    mentee = await (await people()).register(prefix="ana", display_name="Ana")
    await mentee.page.get_by_role("button", name="Schedule").click()
    await mentee.page.get_by_label("Mentor's username").fill(mentor.username)
    await mentee.page.get_by_role("button", name="Find free times").click()
    first_slot = mentee.page.locator(".slots button").first
    when = await first_slot.text_content()
    await first_slot.click()
    await expect(mentee.page.get_by_role("status").filter(has_text="Booked with Mo")).to_be_visible()

    for person in (mentee, mentor):
        session = person.page.locator(".session-item")
        await expect(session).to_have_count(1)
        await expect(session.locator("time")).to_have_text(when)
    await mentee.screenshot("schedule-mentee-booked")
    await mentor.screenshot("schedule-mentor-booked")


def test_the_interface_catalogs_cover_the_same_words_in_every_language():
    catalogs = {lang: json.loads((REPO / "static" / "i18n" / f"{lang}.json").read_text("utf-8")) for lang in ("en", "es", "fr")}
    for lang, catalog in catalogs.items():
        assert catalog.keys() == catalogs["en"].keys(), (lang, catalog.keys() ^ catalogs["en"].keys())
        assert all(value.strip() for value in catalog.values()), lang
