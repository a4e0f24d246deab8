"""Private rooms in real Chromium: end-to-end encryption with the safety net on the device.

Two people talk in a private 1:1 room both ways, and after a reload too, while the server's
database file and its DEBUG log hold none of their words; a member removed from a private group
cannot open what is sent after the removal (though they can still open what was sent before);
and a risky message in a private room with consent on reaches a responder's console with its
tier and excerpt and nothing else of the conversation. One SQLite server at DEBUG for the module.
Screenshots go to test-output/screenshots/. The server side is covered on both databases by
tests/test_private_rooms.py, the detector's parity by tests/test_crisis_device_parity.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.conftest import database_url_for
from tests.live_server import ServerProcess, close_all, register
from tests.web_pages import WebUser, browser_tabs

pytestmark = pytest.mark.browser

RISKY = "I don't want to be alive anymore, I have pills saved up"


def canary(label: str) -> str:
    return f"{label} canary {uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("web-private")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         extra_env={"MV_LOG_LEVEL": "DEBUG"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
async def people(browser: Browser, debug_server: ServerProcess):  # type: ignore[no-untyped-def]
    async with browser_tabs(browser, debug_server) as open_tab:
        yield open_tab


async def device_ready(user: WebUser) -> None:
    """This browser has registered its identity key (it does on sign-in), so keys are shared with it."""
    await user.page.wait_for_function("() => Boolean(window.mv?.privateRooms?.identity)")


def files_holding(directory: Path, text: str) -> list[Path]:
    """Every file under the server's data directory (database, WAL, log, keys) that holds ``text``."""
    needle = text.encode()
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_two_people_talk_in_a_private_room_and_the_server_keeps_none_of_their_words(people, debug_server):
    ana = await (await people()).register(prefix="ana", display_name="Ana")
    mo = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await device_ready(mo)
    await ana.page.get_by_label("Private (end-to-end encrypted)").check()
    await ana.start_conversation(mo.username)
    panel = ana.page.locator(".private-room")
    await expect(panel.locator(".badge.private")).to_have_text("Private · end-to-end encrypted")
    await panel.get_by_text("What changes in a private room").click()
    await expect(panel).to_contain_text("the server stores and relays only ciphertext it cannot read")
    await expect(panel).to_contain_text("Translation is not available")
    await expect(panel).to_contain_text("key backup will come later")
    await expect(panel.get_by_label("Safety check on each member's device (consent)")).to_be_checked()

    first, reply, after_reload = canary("hello"), canary("reply"), canary("again")
    await ana.send(first)
    await mo.open_room("Ana")
    await expect(mo.page.locator(".room-item", has_text="Ana").locator(".badge.private")).to_have_text("Private")
    await expect(mo.message(first)).to_be_visible()
    await mo.send(reply)
    await expect(ana.message(reply)).to_be_visible()
    await ana.screenshot("private-room-ana")
    await mo.screenshot("private-room-mo")

    await ana.page.reload()
    await ana.open_room("Mo")
    await expect(ana.message(first)).to_be_visible()
    await expect(ana.message(reply)).to_be_visible()
    await ana.send(after_reload)
    await expect(mo.message(after_reload)).to_be_visible()

    await ana.page.locator(".private-room").get_by_role("button", name="Compare safety numbers").click()
    await mo.page.locator(".private-room").get_by_role("button", name="Compare safety numbers").click()
    # Each page works its number out with WebCrypto after the click: read them once both are shown.
    await expect(ana.page.locator(".safety-number code")).to_have_count(1)
    await expect(mo.page.locator(".safety-number code")).to_have_count(1)
    ana_digits = await ana.page.locator(".safety-number code").all_text_contents()
    mo_digits = await mo.page.locator(".safety-number code").all_text_contents()
    assert len(ana_digits) == len(mo_digits) == 1 and ana_digits == mo_digits and len(ana_digits[0].split()) == 12
    await ana.screenshot("private-room-after-reload-safety-number")

    log = debug_server.log_text()
    assert '"level": "debug"' in log or '"level":"debug"' in log, "the server logs at DEBUG"
    assert files_holding(debug_server.data_dir, mo.username), "the search reads the database and the log"
    for words in (first, reply, after_reload):
        assert files_holding(debug_server.data_dir, words) == []
    assert ana.console_errors == [] and mo.console_errors == []


async def test_a_member_removed_from_a_private_group_cannot_read_what_is_sent_afterwards(people, debug_server):
    leader_account = await register(debug_server, role="leader", display_name="Lea")
    stays_account = await register(debug_server, display_name="Sol")
    leaves_account = await register(debug_server, display_name="Rui")
    setup = await leader_account.connect()
    created = await setup.call("room:create", {"kind": "group", "title": "Evening circle", "private": True,
                                               "member_ids": [stays_account.id, leaves_account.id]})
    assert created["ok"], created
    room_id = created["room"]["id"]
    lea = await (await people()).sign_in(leader_account.username)
    sol = await (await people()).sign_in(stays_account.username)
    rui = await (await people()).sign_in(leaves_account.username)
    for user in (lea, sol, rui):
        await device_ready(user)
        await user.open_room("Evening circle")

    before, after = canary("before"), canary("after")
    await lea.send(before)
    await expect(sol.message(before)).to_be_visible()
    await expect(rui.message(before)).to_be_visible()
    removed = await setup.call("group:remove", {"room_id": room_id, "user_id": leaves_account.id})
    assert removed["ok"], removed
    await lea.send(after)
    await expect(sol.message(after)).to_be_visible()
    await sol.screenshot("private-group-after-removal")

    sealed = """([roomId, text]) => ({...window.mv.store.timelines.get(roomId).messages.find((m) => m.body === text), body: null})"""
    before_message = await sol.page.evaluate(sealed, [room_id, before])
    after_message = await sol.page.evaluate(sealed, [room_id, after])
    assert after_message["sealed"]["key_id"] != before_message["sealed"]["key_id"], "the sender's key was rotated"
    can_open = "(message) => window.mv.privateRooms.canOpen(message)"
    assert await rui.page.evaluate(can_open, before_message) == before
    assert await rui.page.evaluate(can_open, after_message) is None
    assert files_holding(debug_server.data_dir, after) == []
    await close_all(leader_account)


async def test_a_risky_message_in_a_private_room_reaches_the_responder_with_its_excerpt_and_tier_only(people, debug_server):
    responder_account = await register(debug_server, role="responder", display_name="Sam")
    peer = await register(debug_server, role="mentor", display_name="Mara")
    responder = await (await people()).sign_in(responder_account.username)
    await expect(responder.page.get_by_role("heading", name="Crisis alerts")).to_be_visible()
    await responder.page.get_by_role("button", name="Start my on-call shift").click()
    await expect(responder.page.locator(".on-call-state")).to_have_text("You are on call")

    writer = await (await people()).register(prefix="eli", display_name="Eli", country="US")
    await writer.page.get_by_label("Private (end-to-end encrypted)").check()
    await writer.start_conversation(peer.username)
    await expect(writer.page.locator(".private-room").get_by_label("Safety check on each member's device (consent)")).to_be_checked()
    earlier = canary("earlier words")
    await writer.send(earlier)
    await writer.send(RISKY)

    await expect(writer.page.get_by_role("heading", name="Talk to someone now")).to_be_visible()
    alert = responder.page.locator(".alert", has_text=RISKY)
    await expect(alert).to_be_visible()
    await expect(alert.locator(".tier")).to_have_text("Tier 3")
    await expect(alert).not_to_contain_text(earlier)
    await alert.get_by_role("button", name="Acknowledge — I'm on it").click()
    await alert.get_by_role("button", name="View conversation context").click()
    await expect(alert).to_contain_text("its conversation is end-to-end encrypted, so the excerpt above is all that can be shown")
    await expect(alert).not_to_contain_text(earlier)
    await responder.screenshot("private-room-alert-on-console")
    await writer.screenshot("private-room-writer-crisis-lines")
    assert files_holding(debug_server.data_dir, earlier) == []
