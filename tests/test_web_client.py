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
from tests.web_pages import PHONE, WebUser

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
    opened: list[WebUser] = []

    async def open_tab(**kwargs) -> WebUser:  # type: ignore[no-untyped-def]
        user = await WebUser.open(browser, server, **kwargs)
        opened.append(user)
        return user

    yield open_tab
    for user in opened:
        await user.close()


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
