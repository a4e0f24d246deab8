"""From a risky message to a human voice, in the web client (issue 15).

A mentee writes something that shows risk; a responder at the console claims the alert, reaches
out in one click, they talk in the ordinary chat view and by audio call, and the responder closes
the loop with an outcome that the report then counts. Around it: the card the writer sees is
only what helps them, in their language, with its Hide button on screen on a phone; the console's
"New crisis alert" line clears once its alert is taken or closed; a shift hands its open alerts
to a colleague; on-call is a state the console shows after signing in again.

The call needs addresses other than loopback, so, as in tests/test_web_calls.py, the server
listens on the root end of a veth pair and Chromium runs inside the network namespace with a
fake microphone and camera. Screenshots go to each test's tmp dir; their paths are printed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.conftest import database_url_for
from tests.live_server import REPO, Person, ServerProcess, close_all, free_port, register
from tests.netns import NetworkNamespace, netns  # noqa: F401  (fixture)
from tests.web_pages import WebUser, browser_tabs

pytestmark = [pytest.mark.browser, pytest.mark.netns]

PHONE_390 = {"width": 390, "height": 844}
RISKY = "I don't want to be alive anymore, I have pills saved up"
CATALOG_EN = json.loads((REPO / "static" / "i18n" / "en.json").read_text("utf-8"))
HOTLINES = json.loads((REPO / "crisis" / "hotlines.json").read_text("utf-8"))
# What the check of a number says about it: for responders and the data file, never the writer's card.
CHECK_WORDS = re.compile(r"confirmed|verified|not opened|no page seen|checked", re.IGNORECASE)


@pytest.fixture(scope="module")
def crisis_server(netns: NetworkNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:  # noqa: F811
    """The real server on the veth address (host candidates only, no STUN/TURN)."""
    data_dir = tmp_path_factory.mktemp("web-crisis")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         host=netns.host_address, port=free_port(netns.host_address),
                         extra_env={"MV_STUN_URLS": "", "MV_TURN_URLS": "", "MV_TURN_SECRET": ""})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser(netns: NetworkNamespace, crisis_server: ServerProcess) -> AsyncIterator[Browser]:  # noqa: F811
    async with headless_chromium(namespace=netns, insecure_origin=crisis_server.url) as chromium:
        yield chromium


@pytest.fixture
async def people(browser: Browser, crisis_server: ServerProcess):  # type: ignore[no-untyped-def]
    async with browser_tabs(browser, crisis_server) as open_tab:
        yield open_tab


async def screenshot(user: WebUser, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    await user.page.screenshot(path=str(path), full_page=False)
    print(f"screenshot: {path}")
    return path


async def audio_keeps_arriving(user: WebUser, *, polls: int = 100) -> tuple[int, int]:
    """Inbound audio bytes of the active call, first once sound arrives, then a moment later."""
    first = 0
    for _ in range(polls):
        first = (await user.inbound_media())["audioBytesReceived"]
        if first > 0:
            break
        await user.page.wait_for_timeout(200)
    await user.page.wait_for_timeout(600)
    return first, (await user.inbound_media())["audioBytesReceived"]


async def console_of(people, account: Person) -> WebUser:  # type: ignore[no-untyped-def]
    responder = await (await people()).sign_in(account.username)
    await expect(responder.page.get_by_role("heading", name="Crisis alerts")).to_be_visible()
    return responder


async def test_a_responder_reaches_a_mentee_in_crisis_talks_and_calls_then_resolves_and_the_report_counts_it(people, crisis_server, tmp_path):  # type: ignore[no-untyped-def]
    responder_account = await register(crisis_server, role="responder", display_name="Sam")
    mentor_account = await register(crisis_server, role="mentor")
    responder = await console_of(people, responder_account)
    await responder.page.get_by_role("button", name="Start my on-call shift").click()
    await expect(responder.page.locator(".on-call-state")).to_have_text("You are on call")

    mentee = await (await people()).register(prefix="ana", display_name="Ana", country="US")
    await mentee.start_conversation(mentor_account.username)
    risky_sent = time.perf_counter()
    await mentee.send(RISKY)

    alert = responder.page.locator(".alert", has_text=RISKY)
    await expect(alert).to_be_visible()
    new_alert_line = responder.page.locator(".alert-notice")
    await expect(new_alert_line).to_contain_text("New crisis alert")
    writer = alert.locator(".writer")
    await expect(writer).to_contain_text("Written by Ana")
    await expect(writer).to_contain_text("Language: English")
    await expect(writer).to_contain_text("Their local time:")
    await expect(writer).to_contain_text("In a one-to-one conversation")
    await expect(writer).to_contain_text("mentor (member)")
    await expect(alert.locator(".tier")).to_have_text(re.compile(r"Tier [23]"))
    await expect(alert.get_by_text("Signals:")).to_be_visible()
    await screenshot(responder, tmp_path, "1-responder-alert-names-the-writer")

    await alert.get_by_role("button", name="Acknowledge — I'm on it").click()
    await expect(alert.locator(".status")).to_have_text("Taken by Sam")
    await expect(new_alert_line).to_be_empty()

    # One click: the private crisis conversation is open in the ordinary chat view.
    await alert.get_by_role("button", name="Reach out privately").click()
    await expect(responder.composer).to_be_focused()
    await expect(responder.page.locator(".chat-members")).to_contain_text("Ana")
    await screenshot(responder, tmp_path, "2-responder-crisis-conversation-open")

    support = mentee.page.get_by_role("complementary", name="Talk to someone now")
    await expect(support.get_by_text("Sam, a crisis responder from MentalVerse, is here to talk with you.")).to_be_visible()
    await support.get_by_role("button", name="Open the conversation").click()
    await expect(mentee.page.locator(".responder-note")).to_have_text("A crisis responder from MentalVerse has joined: Sam.")
    await expect(mentee.page.locator(".chat-members .member", has_text="Sam").locator(".badge")).to_have_text("Crisis responder, MentalVerse")

    first_words = "Hi Ana, I'm Sam from MentalVerse. I'm here with you."
    await responder.send(first_words)
    first_contact = time.perf_counter() - risky_sent
    print(f"time from the risky message to the responder's first message in the conversation: {first_contact:.2f} s")
    from_sam = mentee.message_item(first_words)
    await expect(from_sam).to_be_visible()
    await expect(from_sam.locator(".badge.professional")).to_have_text("Crisis responder, MentalVerse")
    await mentee.send("Thank you. I'm scared, but I can talk.")
    await expect(responder.message("Thank you. I'm scared, but I can talk.")).to_be_visible()
    await screenshot(mentee, tmp_path, "3-mentee-talks-with-the-responder")

    await responder.start_call("Audio call")
    await expect(mentee.incoming_call).to_contain_text("Sam is calling you (audio).")
    await mentee.incoming_call.get_by_role("button", name="Accept").click()
    for person in (mentee, responder):
        await expect(person.call_panel.get_by_role("status")).to_have_text("Connected", timeout=30_000)
        before, after = await audio_keeps_arriving(person)
        print(f"audio reaching {person.username}: {before} -> {after} bytes")
        assert after > before > 0
    await screenshot(responder, tmp_path, "4-responder-on-an-audio-call")
    await responder.call_panel.get_by_role("button", name="Hang up").click()
    await expect(mentee.call_panel).to_have_count(0)

    await responder.page.get_by_role("button", name="Crisis alerts").click()
    await expect(alert.locator(".contact")).to_contain_text("First contact:")
    await alert.get_by_role("button", name="Resolve").click()
    await alert.get_by_label("Reached them — safe for now").check()
    await alert.get_by_label("Resolution note (required)").fill("Talked and called; Ana is with her sister tonight and has her plan.")
    await alert.get_by_role("button", name="Resolve").last.click()
    await expect(alert).to_be_hidden()

    report = responder.page.locator(".report")
    await expect(report.locator(".report-outcomes")).to_contain_text("Reached them — safe for now: 1")
    await expect(report.locator(".report-alerts")).not_to_have_text("0")
    await expect(report.locator(".report-contact")).not_to_contain_text("no data yet")
    print(f"report: {await report.locator('dl').inner_text()}")
    await screenshot(responder, tmp_path, "5-responder-report-counts-it")
    # Resolving ended the responder's access: the crisis conversation left their list.
    await responder.page.get_by_role("button", name="Conversations").click()
    await expect(responder.page.locator(".room-item")).to_have_count(0)
    assert not mentee.console_errors and not responder.console_errors, mentee.console_errors + responder.console_errors


async def test_a_spanish_writer_sees_a_fully_spanish_card_without_check_notes_and_hide_on_screen(people, crisis_server, tmp_path):  # type: ignore[no-untyped-def]
    writer_account = await register(crisis_server, display_name="Lucía", locale="es", languages=["es"], country="ES")
    mentor_account = await register(crisis_server, role="mentor")
    writer_socket = await writer_account.connect()
    plan = {"warning_signs": ["No duermo"], "coping": ["Salir a caminar"], "people_places": ["Casa de mi abuela"],
            "professionals": [{"name": "Dra. Ruiz", "phone": "+34 600 000 000"}], "environment": ["Dar las pastillas a mi hermana"],
            "emergency_contact": {"name": "Marta", "phone": "+34 611 111 111"}}
    assert (await writer_socket.call("safety_plan:set", {"plan": plan}))["ok"]
    room = await writer_socket.call("room:create", {"kind": "direct", "member_ids": [mentor_account.id]})
    assert room["ok"], room
    await close_all(writer_account)

    phone = await people(viewport=PHONE_390, locale="es-ES")
    await phone.page.get_by_label("Idioma").select_option("en")
    await phone.sign_in(writer_account.username)
    await expect(phone.page.get_by_role("heading", name="Conversaciones")).to_be_visible()
    await phone.page.locator(".room-item").first.click()
    composer = phone.page.get_by_role("textbox", name="Mensaje", exact=True)
    await composer.fill("Esta noche me voy a quitar la vida, ya tengo las pastillas guardadas")
    await composer.press("Enter")

    card = phone.page.get_by_role("complementary", name="Habla con alguien ahora")
    await expect(card).to_be_visible()
    hide = card.get_by_role("button", name="Ocultar")
    await expect(hide).to_be_in_viewport()
    await expect(card.get_by_role("link", name="Llamar al 024")).to_be_visible()
    await expect(card.get_by_role("heading", name="Tu plan de seguridad")).to_be_visible()
    await expect(card.get_by_text("Salir a caminar")).to_be_visible()
    await expect(card.get_by_role("link", name="Llamar al +34 611 111 111")).to_be_visible()
    await screenshot(phone, tmp_path, "spanish-crisis-card-on-a-phone")

    text = await card.inner_text()
    print(f"the Spanish writer's card reads:\n{text}")
    assert not CHECK_WORDS.search(text), text
    english = [value for value in CATALOG_EN.values() if len(value) > 12 and "{" not in value and value in text]
    assert english == [], english
    notes = [line["notes"] for country in HOTLINES["countries"] for line in country["hotlines"] if line.get("notes")]
    notes.append(HOTLINES["international_fallback"]["notes"])
    assert [note for note in notes if note in text] == []
    await hide.click()
    await expect(card).to_be_hidden()


async def test_the_new_alert_line_clears_when_its_alert_is_claimed_or_resolved_a_shift_hands_over_and_on_call_survives_signing_in_again(people, crisis_server, tmp_path):  # type: ignore[no-untyped-def]
    watcher_account = await register(crisis_server, role="responder", display_name="Watcher")
    colleague_account = await register(crisis_server, role="responder", display_name="Colleague")
    mentee_account, mentor_account = await register(crisis_server), await register(crisis_server, role="mentor")
    watcher = await console_of(people, watcher_account)
    await watcher.page.get_by_role("button", name="Start my on-call shift").click()
    await expect(watcher.page.locator(".on-call-state")).to_have_text("You are on call")

    colleague = await colleague_account.connect(namespaces=["/responders"])
    mentee = await mentee_account.connect()
    room = (await mentee.call("room:create", {"kind": "direct", "member_ids": [mentor_account.id]}))["room"]
    line = watcher.page.locator(".alert-notice")

    for n, (text, finish) in enumerate((("I am going to end my life tonight", "claim"), ("I am going to kill myself tonight, the pills are ready", "resolve"))):
        sent = await mentee.call("message:send", {"room_id": room["id"], "client_id": f"risk-{n}", "body": text})
        assert sent["ok"], sent
        alert = watcher.page.locator(".alert", has_text=text)
        await expect(alert).to_be_visible()
        await expect(line).to_contain_text("New crisis alert")
        alert_id = await alert.get_attribute("data-alert-id")
        claimed = await colleague.call("crisis:ack", {"alert_id": alert_id})
        assert claimed["ok"], claimed
        if finish == "claim":
            await expect(alert.locator(".status")).to_have_text("Taken by Colleague")
        else:
            resolved = await colleague.call("crisis:resolve", {"alert_id": alert_id, "outcome": "not_a_risk", "note": "Song lyrics."})
            assert resolved["ok"], resolved
            await expect(alert).to_be_hidden()
        await expect(line).to_be_empty()
        await screenshot(watcher, tmp_path, f"alert-line-cleared-after-{finish}")

    # End of a shift: the alert the watcher holds goes to the colleague, now on call.
    assert (await colleague.call("crisis:on_call", {"on": True}))["ok"]
    sent = await mentee.call("message:send", {"room_id": room["id"], "client_id": "risk-handover", "body": "I want to die, I have the rope ready"})
    assert sent["ok"], sent
    alert = watcher.page.locator(".alert", has_text="I want to die, I have the rope ready")
    await alert.get_by_role("button", name="Acknowledge — I'm on it").click()
    await expect(alert.locator(".status")).to_have_text("Taken by Watcher")
    await expect(line).to_be_empty()
    await watcher.page.get_by_label("Hand my open alerts to (username)").fill(colleague_account.username)
    await watcher.page.get_by_role("button", name="Hand over").click()
    await expect(watcher.page.get_by_text("Your open alerts were handed to Colleague.")).to_be_visible()
    await expect(alert.locator(".status")).to_have_text("Taken by Colleague")
    await expect(alert.get_by_role("button", name="Resolve")).to_have_count(0)

    await watcher.page.get_by_role("button", name="Sign out").click()
    await watcher.sign_in(watcher_account.username)
    await expect(watcher.page.locator(".on-call-state")).to_have_text("You are on call")
    await expect(watcher.page.get_by_role("button", name="End my on-call shift")).to_be_visible()
    await screenshot(watcher, tmp_path, "on-call-after-signing-in-again")
    await close_all(colleague_account, mentee_account)


async def test_a_responder_joins_the_writers_room_labelled_reads_the_plan_she_wrote_and_leaving_ends_access(people, crisis_server, tmp_path):  # type: ignore[no-untyped-def]
    responder_account = await register(crisis_server, role="responder", display_name="Sam")
    responder = await console_of(people, responder_account)
    # New alerts go first to the responders on call (others in this module may be).
    await responder.page.get_by_role("button", name="Start my on-call shift").click()
    await expect(responder.page.locator(".on-call-state")).to_have_text("You are on call")
    mentee = await (await people()).register(prefix="ana", display_name="Ana", country="US")
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")

    await mentee.page.get_by_role("button", name="Get help now").click()
    dialog = mentee.page.get_by_role("dialog", name="Talk to someone now")
    await dialog.get_by_role("button", name="My safety plan").click()
    await dialog.get_by_label("Warning signs that a crisis may be starting").fill("I stop sleeping\nI stop answering texts")
    await dialog.get_by_label("Things I can do on my own to feel calmer").fill("Walk the dog")
    await dialog.get_by_label("Professional 1: name").fill("Dr Lee")
    await dialog.get_by_label("Professional 1: phone").fill("+1 555 0100")
    await dialog.get_by_label("Name", exact=True).fill("Maya")
    await dialog.get_by_label("Phone", exact=True).fill("+1 555 0199")
    await dialog.get_by_role("button", name="Save my plan").click()
    await expect(dialog.get_by_role("status")).to_have_text("Saved.")
    await screenshot(mentee, tmp_path, "1-mentee-safety-plan-editor")
    await dialog.get_by_role("button", name="Back to the help lines").click()
    await expect(dialog.locator(".hotline").first).to_be_visible()
    await mentee.page.keyboard.press("Escape")

    await mentee.start_conversation(mentor.username)
    await mentor.open_room("Ana")
    await mentee.send(RISKY)
    card = mentee.page.get_by_role("complementary", name="Talk to someone now")
    await expect(card.get_by_role("heading", name="Your safety plan")).to_be_visible()
    await expect(card.get_by_text("Walk the dog")).to_be_visible()

    alert = responder.page.locator(".alert", has_text=RISKY)
    await expect(alert.locator(".writer")).to_contain_text("They keep a safety plan")
    await alert.get_by_role("button", name="Acknowledge — I'm on it").click()
    await alert.get_by_role("button", name="View safety plan").click()
    await expect(alert.get_by_text("Reading the safety plan is recorded in the audit log.")).to_be_visible()
    await expect(alert.get_by_text("I stop answering texts")).to_be_visible()
    await expect(alert.get_by_role("link", name="Call +1 555 0199")).to_be_visible()
    await screenshot(responder, tmp_path, "2-responder-reads-the-safety-plan")

    await alert.get_by_role("button", name="Reach out in their conversation").click()
    await expect(responder.composer).to_be_focused()
    await expect(responder.page.locator(".chat-members")).to_contain_text("Ana")
    await expect(responder.page.locator(".chat-members")).to_contain_text("Mo")
    for member in (mentee, mentor):
        await expect(member.page.locator(".responder-note")).to_have_text("A crisis responder from MentalVerse has joined: Sam.")
    await responder.send("Hello both, I'm Sam, a crisis responder with MentalVerse.")
    from_sam = mentor.message_item("Hello both, I'm Sam, a crisis responder with MentalVerse.")
    await expect(from_sam.locator(".badge.professional")).to_have_text("Crisis responder, MentalVerse")
    await screenshot(mentor, tmp_path, "3-mentor-sees-the-responder-labelled")

    room_id = await responder.page.evaluate("() => window.mv.store.rooms.keys().next().value")
    await responder.page.get_by_role("button", name="Crisis alerts").click()
    await alert.get_by_role("button", name="Leave the conversation").click()
    await expect(responder.page.locator(".alert-notice")).to_have_text("You left the crisis conversation.")
    await expect(alert.get_by_role("button", name="Reach out in their conversation")).to_be_visible()
    await responder.page.get_by_role("button", name="Conversations").click()
    await expect(responder.page.locator(".room-item")).to_have_count(0)
    refused = await responder.page.evaluate(
        "(id) => window.mv.conn.call('room:join', {room_id: id}).then(() => 'joined', (e) => e.code)", room_id)
    assert refused == "forbidden", refused
    await screenshot(responder, tmp_path, "4-responder-left-the-conversation")
