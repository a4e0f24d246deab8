"""People in different zones see the same moment, each in their own zone, live and from history.

SQLite hands back naive datetimes; before ``server/storage/utc.py`` a history message's time went
out without an offset and a browser read it as its own local time: a mentee in New York and a
mentor in Los Angeles saw the same message three hours apart after a reload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.web_pages import WebUser

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


async def shown_time(user: WebUser, text: str) -> tuple[datetime, str]:
    """The instant a message carries (its <time datetime>) and the clock text the page shows."""
    item = user.page.locator("ol.messages:not(.outbox) > li").filter(has_text=text)
    stamp = item.locator("time")
    return datetime.fromisoformat(await stamp.get_attribute("datetime")), await stamp.inner_text()


def clock(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.hour % 12 or 12:02d}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


async def test_new_york_and_los_angeles_see_one_instant_in_their_own_zones_before_and_after_a_reload(
        browser: Browser, server) -> None:  # type: ignore[no-untyped-def]
    zones = {"mentee": "America/New_York", "mentor": "America/Los_Angeles"}
    mentee = await (await WebUser.open(browser, server, timezone_id=zones["mentee"])).register(prefix="nyc", display_name="Nia")
    mentor = await (await WebUser.open(browser, server, timezone_id=zones["mentor"])).register(
        prefix="la", display_name="Leo", role="mentor")
    try:
        await mentee.start_conversation(mentor.username)
        await mentor.open_room("Nia")
        await mentee.send("see you at 5 my time")
        await expect(mentor.message("see you at 5 my time")).to_be_visible()
        for phase in ("live", "after a reload"):
            seen = {}
            for role, user in (("mentee", mentee), ("mentor", mentor)):
                moment, text = await shown_time(user, "see you at 5 my time")
                assert moment.tzinfo is not None, f"{role} {phase}: the time has no offset"
                assert text == clock(moment, zones[role]), (role, phase, text)
                seen[role] = moment
            print(f"{phase}: instant {seen['mentee'].isoformat()}; New York shows "
                  f"{clock(seen['mentee'], zones['mentee'])}, Los Angeles {clock(seen['mentor'], zones['mentor'])}")
            assert seen["mentee"] == seen["mentor"]
            for user, other in ((mentee, "Leo"), (mentor, "Nia")):
                await user.page.reload()
                await user.open_room(other)
                await expect(user.message("see you at 5 my time")).to_be_visible()
    finally:
        await mentee.close()
        await mentor.close()
