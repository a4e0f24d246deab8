"""A mentee and their mentor share a photo and work toward a goal together, in real Chromium.

One story, start to end: the mentee attaches a phone photo (the thumbnail shows; the stored copy
has no GPS position), the mentor downloads it, someone outside the conversation gets 404 for the
same URL, a 20 MB scan is refused with a clear message, a goal proposed by the mentee and agreed by
the mentor collects five check-ins over a week and both see its chart, the mentee's data export
holds the photo and the goal, and deleting the mentee's account shreds both. Screenshots go to
test-output/screenshots/. The server side is covered on both databases by tests/test_files_goals.py.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
import socketio
from babel.dates import format_date
from playwright.async_api import Browser, expect

from server.app import build_services
from server.core.config import Settings
from server.goals.goals import CheckIn
from tests.browser import headless_chromium
from tests.live_server import ServerProcess, close_all, register
from tests.photos import gps_of, pdf_with, photo_with_location
from tests.web_pages import WebUser

pytestmark = pytest.mark.browser
MB = 1024 * 1024


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


async def seed_past_check_ins(server: ServerProcess, mentee_id: str, room_id: str, goal_id: str,
                              entries: list[tuple[int, int, str]]) -> None:
    """Check-ins on earlier days, through the service layer against the server's own database (the
    server itself takes no date from a client)."""
    codec = socketio.packet.Packet.json  # building services installs the server's JSON codec process-wide
    services = build_services(Settings(data_dir=str(server.data_dir), database_url=server.database_url))
    today = datetime.now(timezone.utc).date()
    try:
        for days_ago, rating, note in entries:
            await services.goals.check_in(mentee_id, CheckIn(room_id, goal_id, rating, note), day=today - timedelta(days=days_ago))
    finally:
        await services.db.close()
        socketio.packet.Packet.json = codec


async def status_of(server: ServerProcess, token: str, path: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + path, headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status


async def choose_file(user: WebUser, path) -> None:  # type: ignore[no-untyped-def]
    async with user.page.expect_file_chooser() as chooser:
        await user.page.get_by_role("button", name="Attach a file").click()
    await (await chooser.value).set_files(str(path))


async def test_a_mentee_and_mentor_share_a_photo_and_follow_a_goal_and_the_mentees_data_goes_with_them(browser, server, tmp_path):
    mentee, mentor = await register(server, display_name="Ana"), await register(server, role="mentor", display_name="Mo")
    outsider = await register(server)
    setup = await mentee.connect()
    room_id = (await setup.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
    await close_all(mentee)
    ana = await WebUser.open(browser, server)
    mo = await WebUser.open(browser, server)
    try:
        await (await ana.sign_in(mentee.username)).open_room("Mo")
        await (await mo.sign_in(mentor.username)).open_room("Ana")

        # The mentee attaches a phone photo; both see a thumbnail made by the server.
        photo = tmp_path / "beach.jpg"
        photo.write_bytes(photo_with_location())
        assert gps_of(photo.read_bytes())
        await choose_file(ana, photo)
        for user in (ana, mo):
            thumbnail = user.page.get_by_role("img", name="beach.jpg")
            await expect(thumbnail).to_be_visible()
            await user.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await thumbnail.element_handle())
        await ana.screenshot("files-photo-shared-mentee")

        # The mentor downloads it: the same picture, without where it was taken.
        async with mo.page.expect_download() as downloading:
            await mo.page.get_by_role("button", name="Download beach.jpg").click()
        download = await downloading.value
        saved = (tmp_path / "saved.jpg")
        await download.save_as(saved)
        assert download.suggested_filename == "beach.jpg"
        assert gps_of(saved.read_bytes()) == {}, "the stored file has no GPS position"
        await mo.screenshot("files-photo-mentor")
        file_id = await mo.page.evaluate("""(roomId) => JSON.parse(window.mv.store.timelines.get(roomId).messages
            .find((m) => m.kind === "file").body).file_id""", room_id)
        [blob] = [p for p in (server.data_dir / "files").rglob(file_id)]
        assert b"PhoneMaker" not in blob.read_bytes() and not blob.read_bytes().startswith(b"\xff\xd8"), "on disk: ciphertext"

        # Someone outside the conversation gets 404 for the very same URL; the mentor gets the file.
        assert await status_of(server, outsider.token, f"/api/files/{file_id}") == 404
        assert await status_of(server, mentor.token, f"/api/files/{file_id}") == 200

        # A 20 MB scan is refused, and the mentee is told why.
        scan = tmp_path / "scan.pdf"
        scan.write_bytes(pdf_with("scanned letter", size=20 * MB))
        await choose_file(ana, scan)
        refusal = ana.page.get_by_role("alert").filter(has_text="scan.pdf was not shared")
        await expect(refusal).to_have_text("scan.pdf was not shared: The file is larger than 10 MB, the most a conversation accepts.")
        await ana.screenshot("files-too-large")

        # A goal: proposed by the mentee, agreed by the mentor.
        target = (datetime.now(timezone.utc).date() + timedelta(days=21)).isoformat()
        await ana.page.get_by_role("button", name="Goals", exact=True).click()
        panel = ana.page.get_by_role("complementary", name="Shared goals")
        await panel.get_by_label("Goal", exact=True).fill("Walk every morning")
        await panel.get_by_label("Why it matters").fill("I sleep better and feel calmer")
        await panel.get_by_label("Target date").fill(target)
        await panel.get_by_label("Steps").fill("Buy walking shoes\nWalk 10 minutes after breakfast")
        await panel.get_by_role("button", name="Propose goal").click()
        await expect(panel.get_by_text("Waiting for Mo to agree.")).to_be_visible()
        await mo.page.get_by_role("button", name="Goals", exact=True).click()
        mo_panel = mo.page.get_by_role("complementary", name="Shared goals")
        await mo_panel.get_by_role("button", name="Agree to “Walk every morning”").click()
        await expect(panel.get_by_text("Agreed — in progress.")).to_be_visible()

        # Four check-ins earlier in the week, then today's from the mentee in the page.
        heading_id = await mo.page.locator("article.goal").get_attribute("aria-labelledby")
        goal_id = heading_id.removeprefix("goal-")
        await seed_past_check_ins(server, mentee.id, room_id, goal_id, [(6, 3, "Hard to start"), (4, 4, "Twice this week"),
                                                                        (3, 6, "Found a route I like"), (1, 5, "Rainy")])
        await ana.page.get_by_role("button", name="Goals", exact=True).click()
        await ana.page.get_by_role("button", name="Goals", exact=True).click()
        # Reopening reloads the goals and re-renders the form: fill it only once the earlier days show.
        await expect(panel.locator("table.check-ins tbody tr")).to_have_count(4)
        await panel.get_by_label("Progress today (0–10)").fill("7")
        await panel.get_by_label("Note (optional)").fill("Walked four mornings in a row")
        await panel.get_by_role("button", name="Check in").click()
        await expect(panel.get_by_text("You checked in today. Come back tomorrow.")).to_be_visible()

        today = format_date(datetime.now(timezone.utc).date(), "medium", locale="en_US")
        for user, side in ((ana, "mentee"), (mo, "mentor")):
            chart = user.page.locator("svg.progress-chart")
            await expect(chart.locator("circle.point")).to_have_count(5)
            await expect(chart.locator("text.point-label")).to_have_text(["3", "4", "6", "5", "7"])
            label = await chart.get_attribute("aria-label")
            assert label.startswith("Progress on Walk every morning. 5 check-ins from ") and f" to {today}: " in label, label
            rows = user.page.locator("table.check-ins tbody tr")
            await expect(rows).to_have_count(5)
            await expect(rows.first.locator("th")).to_have_text(today)
            await expect(rows.first.locator("td").last).to_have_text("Walked four mornings in a row")
            await chart.scroll_into_view_if_needed()
            await user.screenshot(f"goals-chart-{side}")
        unexpected = [e for e in ana.console_errors + mo.console_errors if "Failed to load resource" not in e]
        assert unexpected == []
    finally:
        await ana.close()
        await mo.close()

    # The mentee's data export holds the photo and the goal with its five check-ins.
    exported = json.loads((await asyncio.to_thread(server.cli, "users", "export", mentee.username)).stdout)
    assert [(f["name"], f["type"]) for f in exported["files"]] == [("beach.jpg", "image/jpeg")]
    [goal] = exported["goals"]
    assert goal["title"] == "Walk every morning" and [c["rating"] for c in goal["check_ins"]] == [3, 4, 6, 5, 7]

    # Deleting the mentee's account shreds them: the blob is gone, the URL answers 404, no goal is left.
    await asyncio.to_thread(server.cli, "users", "delete", mentee.username)
    assert not blob.exists()
    assert await status_of(server, mentor.token, f"/api/files/{file_id}") == 404
    with sqlite3.connect(server.data_dir / "mentalverse.db") as conn:
        left = conn.execute("select (select count(*) from goals where room_id = ?), (select count(*) from room_files where room_id = ?)",
                            (room_id, room_id)).fetchone()
    assert left == (0, 0)
