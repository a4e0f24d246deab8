"""Conversations a person keeps up with: notifications, the tab's count, coming back where they
were, sessions moved or cancelled from the schedule, and seeing at once that the other side of a
call muted their microphone.

The browser's Notification API is replaced, before the page loads, by one that records what the
client asks and shows and answers "Allow" (headless Chromium shows no permission prompt); every
other part is the real client against the real server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.live_server import close_all, register, sign_in
from tests.web_pages import browser_tabs

pytestmark = pytest.mark.browser

# A Notification that records instead of showing, and whose prompt the person answers "Allow".
RECORDING_NOTIFICATION = """
window.__asked = 0;
window.__shown = [];
class RecordingNotification {
  constructor(title, options = {}) { window.__shown.push({ title, body: options.body || "", tag: options.tag || "" }); }
  close() {}
}
// Like the browser, the answer outlives a reload.
RecordingNotification.permission = localStorage.getItem("test.notification-permission") || "default";
RecordingNotification.requestPermission = async () => {
  window.__asked += 1;
  RecordingNotification.permission = "granted";
  localStorage.setItem("test.notification-permission", "granted");
  return "granted";
};
Object.defineProperty(window, "Notification", { value: RecordingNotification, configurable: true, writable: true });
"""


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
async def people(browser, server):  # type: ignore[no-untyped-def]
    async with browser_tabs(browser, server) as open_tab:
        yield open_tab


async def test_permission_is_asked_once_and_a_message_elsewhere_notifies_and_counts_in_the_title(people, server) -> None:  # type: ignore[no-untyped-def]
    mo, lu = await register(server, role="mentor", display_name="Mo"), await register(server, role="mentor", display_name="Lu")
    ana = await people()
    await ana.context.add_init_script(RECORDING_NOTIFICATION)
    await ana.page.reload()
    await ana.register(prefix="ana", display_name="Ana")
    await ana.start_conversation(lu.username)
    assert await ana.page.evaluate("window.__asked") == 0, "asked before the person wrote anything"
    await ana.send("Hello Lu")
    await ana.page.wait_for_function("() => window.__asked === 1")
    await ana.start_conversation(mo.username)
    await ana.send("Hello Mo")
    await ana.send("Are you there?")

    # Back after a reload: the conversation she was in, and no second question.
    await ana.page.reload()
    await expect(ana.page.locator(".chat-title")).to_have_text("Mo")
    await ana.send("Still here")
    assert await ana.page.evaluate("window.__asked") == 0

    mc, lc = await mo.connect(), await lu.connect()
    mo_room = (await mc.call("room:list"))["rooms"][0]["id"]
    lu_room = (await lc.call("room:list"))["rooms"][0]["id"]
    # One message in the open conversation (no notification), then one elsewhere (notified).
    await mc.call("message:send", {"room_id": mo_room, "client_id": "m1", "body": "Yes, here"})
    await lc.call("message:send", {"room_id": lu_room, "client_id": "l1", "body": "A private worry"})
    await ana.page.wait_for_function("() => window.__shown.length === 1")
    shown = (await ana.page.evaluate("window.__shown"))[0]
    assert shown["title"] == "Lu wrote to you" and shown["tag"] == lu_room
    assert "private worry" not in shown["body"], "a notification never carries the words"
    await expect(ana.page).to_have_title("(1) MentalVerse Live")
    lu_badge = ana.page.locator(".room-item", has_text="Lu").locator(".unread")
    await expect(lu_badge).to_have_text("1 unread")  # Lu's one message, not Ana's own "Hello Lu"
    await ana.screenshot("notified-of-another-conversation")
    await lc.call("message:send", {"room_id": lu_room, "client_id": "l2", "body": "Are you free later?"})
    await expect(lu_badge).to_have_text("2 unread")
    # After a reload the count is the server's: still only Lu's messages.
    await ana.page.reload()
    await expect(ana.page.locator(".chat-title")).to_have_text("Mo")
    await expect(lu_badge).to_have_text("2 unread")
    # What Ana writes on her phone is not unread for her.
    phone = await sign_in(server, ana.username)
    await (await phone.connect()).call("message:send", {"room_id": lu_room, "client_id": "p1", "body": "Sorry, busy"})
    lu_preview = ana.page.locator(".room-item", has_text="Lu").locator(".room-preview")
    await expect(lu_preview).to_have_text("You: Sorry, busy")
    await expect(lu_badge).to_have_text("2 unread")

    await ana.open_room("Lu")
    await expect(ana.page).to_have_title("MentalVerse Live")
    await expect(lu_badge).to_have_count(0)
    await close_all(mo, lu, phone)


async def test_a_mentee_moves_then_cancels_a_session_from_her_schedule_and_the_mentor_is_told(people, server) -> None:  # type: ignore[no-untyped-def]
    mentor_account = await register(server, role="mentor", display_name="Mo")
    mentee_account = await register(server, display_name="Ana")
    hc, mc = await mentor_account.connect(), await mentee_account.connect()
    windows = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
    assert (await hc.call("availability:set", {"windows": windows, "timezone": "Europe/Madrid"}))["ok"]
    slots = (await mc.call("availability:slots", {"host_id": mentor_account.id, "days": 3}))["slots"]
    soon = datetime.now(timezone.utc) + timedelta(hours=3)
    slot = next(s for s in slots if s["free"] and datetime.fromisoformat(s["starts_at"]) > soon)
    assert (await mc.call("session:book", {"host_id": mentor_account.id, "starts_at": slot["starts_at"]}))["ok"]
    await close_all(mentor_account, mentee_account)

    mentor = await (await people()).sign_in(mentor_account.username)
    await mentor.page.get_by_role("button", name="Schedule").click()
    await expect(mentor.page.get_by_role("heading", name="Book a session")).to_have_count(0)
    mentee = await (await people()).sign_in(mentee_account.username)
    await mentee.page.get_by_role("button", name="Schedule").click()

    session = mentee.page.locator(".session-item")
    await session.get_by_role("button", name="Move: Mo").click()
    await expect(session.locator(".move-slots .slots button").first).to_be_visible()
    await session.get_by_role("button", name="Later times").click()
    later = session.locator(".move-slots .slots button").first
    await later.click()
    await expect(mentee.page.get_by_role("status").filter(has_text="Moved to")).to_be_visible()
    await expect(mentor.page.get_by_role("status").filter(has_text=re.compile(r"was moved to"))).to_be_visible()
    await mentor.screenshot("schedule-mentor-told-of-move")

    await session.get_by_role("button", name="Cancel: Mo").click()
    await session.get_by_role("button", name="Yes, cancel it").click()
    await expect(mentee.page.locator(".session-item")).to_have_count(0)
    await expect(mentor.page.get_by_role("status").filter(has_text="was cancelled")).to_be_visible()
    await expect(mentor.page.locator(".session-item")).to_have_count(0)
    await mentee.screenshot("schedule-mentee-cancelled")


async def test_the_other_side_sees_a_muted_microphone_within_a_second(people) -> None:  # type: ignore[no-untyped-def]
    ana = await (await people()).register(prefix="ana", display_name="Ana")
    mo = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await ana.start_conversation(mo.username)
    await mo.open_room("Ana")
    await ana.start_call("Video call")
    await mo.incoming_call.get_by_role("button", name="Accept").click()
    await expect(mo.call_panel).to_be_visible()
    await expect(ana.call_panel.get_by_role("status")).not_to_have_text(re.compile("Ringing|Starting"))

    # Each page notes the wall-clock time: the click, and the moment the words appear.
    await mo.page.evaluate("""() => new Promise((ready) => {
      const observer = new MutationObserver(() => {
        if (document.querySelector(".call-panel .mic-off")) { window.__mutedSeenAt = Date.now(); observer.disconnect(); }
      });
      observer.observe(document.body, { childList: true, subtree: true });
      ready();
    })""")
    await ana.page.evaluate("""() => document.querySelector(".call-mic").addEventListener("click", () => { window.__mutedAt = Date.now(); }, { capture: true, once: true })""")
    await ana.call_panel.get_by_role("button", name="Mute microphone").click()
    await expect(mo.call_panel.locator(".mic-off")).to_have_text("Ana's microphone is off")
    delay_ms = await mo.page.evaluate("window.__mutedSeenAt") - await ana.page.evaluate("window.__mutedAt")
    print(f"remote mute indicator after {delay_ms} ms")
    assert 0 <= delay_ms < 1000
    await expect(mo.call_panel.locator(".tile-name")).to_have_text("Ana")
    await mo.screenshot("call-peer-muted")

    await ana.call_panel.get_by_role("button", name="Turn camera off").click()
    await expect(mo.call_panel.locator(".camera-off-card")).to_have_text("Ana's camera is off")
    await ana.call_panel.get_by_role("button", name="Unmute microphone").click()
    await expect(mo.call_panel.locator(".mic-off")).to_have_count(0)
    await ana.call_panel.get_by_role("button", name="Hang up").click()
