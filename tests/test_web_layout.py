"""The web client fits a phone, a phone with its keyboard open, and a desktop.

For each main view (chat, a call beside the chat, the group leader's console, booking, the crisis
responder's console) at 390×844, 390×500 (a phone with the keyboard up) and 1440×900: where there
is a composer it is inside the visible area and nothing covers it; everything a finger presses is
at least 44 px; axe-core finds no serious or critical accessibility violation; no catalog key
shows instead of words. One server, one browser, one tab per person; the viewport changes in a
loop. Screenshots go to test-output/screenshots/layout-<view>-<size>.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import headless_chromium
from tests.live_server import REPO, close_all, register
from tests.web_pages import SCREENSHOTS, WebUser

pytestmark = pytest.mark.browser

VIEWPORTS = {"390x844": (390, 844), "390x500": (390, 500), "1440x900": (1440, 900)}
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_SOURCE = AXE.read_text("utf-8") + "\n;true"
MIN_TAP_PX = 44

# What is on screen, measured in the page: the composer's box, what covers its points, and every
# pressable control smaller than a fingertip.
MEASURE = """() => {
  const visible = (n) => { const r = n.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(n).visibility !== "hidden"; };
  const composer = document.querySelector("form.composer");
  let box = null, covered = [];
  if (composer && visible(composer)) {
    const r = composer.getBoundingClientRect();
    box = { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
    for (const [x, y] of [[r.left + 8, r.top + 8], [r.right - 8, r.top + 8], [r.left + 8, r.bottom - 8], [r.right - 8, r.bottom - 8], [(r.left + r.right) / 2, (r.top + r.bottom) / 2]]) {
      const hit = document.elementFromPoint(x, y);
      if (!hit || !composer.contains(hit)) covered.push(hit ? (hit.className || hit.tagName) : "nothing");
    }
  }
  const small = [];
  for (const n of document.querySelectorAll("button, select, input:not([type=checkbox]):not([type=radio]):not([type=hidden]), [role=button], [role=tab]")) {
    if (!visible(n) || n.closest("[hidden], .visually-hidden")) continue;
    const r = n.getBoundingClientRect();
    if (r.bottom < 0 || r.top > innerHeight) continue;
    if (r.height < 44 - 0.5 || r.width < 44 - 0.5) small.push(`${n.tagName} "${(n.textContent || n.getAttribute("aria-label") || "").trim().slice(0, 40)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  const height = window.visualViewport ? visualViewport.height : innerHeight;
  return { box, covered, small, height, width: innerWidth };
}"""

KEY_LIKE = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
SHOWN_KEYS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (text && n.parentElement && n.parentElement.offsetParent !== null) out.push(text);
  }
  for (const n of document.querySelectorAll("[aria-label], [placeholder]")) out.push(n.getAttribute("aria-label") || n.getAttribute("placeholder"));
  return out;
}"""


@pytest.fixture(scope="module")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


async def check_view(page: Page, view: str, size: str, *, composer: bool) -> None:
    """Everything this module asserts about one view at one size, with a screenshot."""
    measured = await page.evaluate(MEASURE)
    if composer:
        box = measured["box"]
        assert box is not None, f"{view} {size}: no composer on screen"
        assert box["top"] >= 0 and box["bottom"] <= measured["height"] + 0.5, f"{view} {size}: composer outside the viewport {box}"
        assert measured["covered"] == [], f"{view} {size}: something covers the composer: {measured['covered']}"
    assert measured["small"] == [], f"{view} {size}: tap targets under {MIN_TAP_PX} px: {measured['small']}"
    texts = await page.evaluate(SHOWN_KEYS)
    assert [t for t in texts if KEY_LIKE.match(t)] == [], f"{view} {size}: catalog keys shown instead of words"
    # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') refuses a script tag.
    await page.evaluate(AXE_SOURCE)
    violations = await page.evaluate("""async () => {
      const result = await axe.run(document, { resultTypes: ["violations"] });
      return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
    }""")
    assert violations == [], f"{view} {size}: axe found {violations}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"layout-{view}-{size}.png"))


async def at_each_size(page: Page, view: str, *, composer: bool, before=None) -> None:  # type: ignore[no-untyped-def]
    for size, (width, height) in VIEWPORTS.items():
        await page.set_viewport_size({"width": width, "height": height})
        # Resize handlers run with the next frames: measure once two have been drawn.
        await page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        if before is not None:
            await before(size)
        await check_view(page, view, size, composer=composer)


async def test_chat_and_call_fit_every_size_and_keep_the_composer_in_view(browser, server) -> None:  # type: ignore[no-untyped-def]
    mentor_account = await register(server, role="mentor", display_name="Mo")
    mentee = await WebUser.open(browser, server, viewport={"width": 390, "height": 844})
    try:
        await mentee.register(prefix="ana", display_name="Ana")
        await mentee.start_conversation(mentor_account.username)
        for text in ("Hi Mo, thanks for taking me on.", "Could we talk about sleep this week?", "I wrote down three things that helped."):
            await mentee.send(text)
        await at_each_size(mentee.page, "chat", composer=True)

        await mentee.start_call("Video call")
        await expect(mentee.call_panel.get_by_role("status")).to_have_text("Ringing…")
        await at_each_size(mentee.page, "call", composer=True)
        await mentee.call_panel.get_by_role("button", name="Hang up").click()
        await expect(mentee.call_panel).to_be_hidden()
    finally:
        await mentee.close()
        await close_all(mentor_account)


async def test_the_group_console_is_a_panel_beside_the_chat_at_every_size(browser, server) -> None:  # type: ignore[no-untyped-def]
    leader_account, member_account = await register(server, role="leader"), await register(server)
    lc, mc = await leader_account.connect(), await member_account.connect()
    created = await lc.call("group:create", {"title": "Tuesday circle", "invite_ids": [member_account.id]})
    room_id = created["room"]["id"]
    assert (await mc.call("group:accept", {"room_id": room_id}))["ok"]
    await mc.call("message:send", {"room_id": room_id, "client_id": "m1", "body": "Glad to be here."})
    await close_all(leader_account, member_account)

    leader = await WebUser.open(browser, server, viewport={"width": 390, "height": 844})
    try:
        await leader.sign_in(leader_account.username)
        await leader.open_room("Tuesday circle")
        await expect(leader.page.get_by_role("button", name="Raise hand")).to_be_hidden()
        await leader.page.get_by_role("button", name="Group console").click()
        console = leader.page.get_by_role("complementary", name="Group console")
        await expect(console).to_be_visible()
        await at_each_size(leader.page, "group-console", composer=True)
        await expect(console.get_by_role("button", name="Give the floor to the next")).to_be_attached()
    finally:
        await leader.close()


async def test_booking_and_the_responder_console_fit_every_size(browser, server) -> None:  # type: ignore[no-untyped-def]
    mentor_account = await register(server, role="mentor", display_name="Mo")
    hc = await mentor_account.connect()
    windows = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)]
    assert (await hc.call("availability:set", {"windows": windows, "timezone": "Europe/Madrid"}))["ok"]
    mentee_account = await register(server, display_name="Ana")
    mc = await mentee_account.connect()
    slots = (await mc.call("availability:slots", {"host_id": mentor_account.id, "days": 3}))["slots"]
    soon = datetime.now(timezone.utc) + timedelta(hours=2)
    slot = next(s for s in slots if s["free"] and datetime.fromisoformat(s["starts_at"]) > soon)
    assert (await mc.call("session:book", {"host_id": mentor_account.id, "starts_at": slot["starts_at"]}))["ok"]
    responder_account = await register(server, role="responder")
    await close_all(mentor_account, mentee_account)

    mentee = await WebUser.open(browser, server, viewport={"width": 390, "height": 844})
    responder = await WebUser.open(browser, server, viewport={"width": 390, "height": 844})
    try:
        await mentee.sign_in(mentee_account.username)

        async def open_schedule(size: str) -> None:
            if size != "1440x900" and await mentee.page.get_by_role("button", name="Menu").is_visible():
                await mentee.page.get_by_role("button", name="Menu").click()
            await mentee.page.get_by_role("button", name="Schedule").click()
            await expect(mentee.page.locator(".session-item")).to_have_count(1)

        await at_each_size(mentee.page, "booking", composer=False, before=open_schedule)
        await expect(mentee.page.get_by_text(re.compile("Times are shown in your time zone: .*Europe/Madrid"))).to_be_visible()

        await responder.sign_in(responder_account.username)
        await expect(responder.page.get_by_role("heading", name="Crisis alerts")).to_be_visible()
        await at_each_size(responder.page, "responder-console", composer=False)
    finally:
        await mentee.close()
        await responder.close()


JS_KEY_PATTERNS = [
    re.compile(r"""\bi18n:\s*"([^"]+)\""""),
    re.compile(r"""\bt\(\s*"([^"]+)\""""),
    re.compile(r"""i18nAttrs:\s*\{[^}]*?:\s*"([^"]+)\""""),
    re.compile(r"""\btranslatable\(\s*"([^"]+)\""""),
]


def test_every_word_the_client_shows_comes_from_the_catalogs() -> None:
    """A literal key missing from a catalog, or literal visible text in the code, fails here."""
    catalogs = {lang: json.loads((REPO / "static" / "i18n" / f"{lang}.json").read_text("utf-8")) for lang in ("en", "es", "fr")}
    used: dict[str, str] = {}
    literal_text: list[str] = []
    for path in sorted((REPO / "static" / "js").glob("*.js")):
        source = path.read_text("utf-8")
        for pattern in JS_KEY_PATTERNS:
            for key in pattern.findall(source):
                used[key] = path.name
        # Visible text is set from a catalog (i18n / t()) or from data; never from an English literal.
        literal_text += [f"{path.name}: {m}" for m in re.findall(r"""\btext:\s*"([^"]*[A-Za-z][^"]*)\"""", source)]
        literal_text += [f"{path.name}: {m}" for m in re.findall(r"""\.textContent\s*=\s*"([^"]*[A-Za-z][^"]*)\"""", source)]
    html = (REPO / "static" / "index.html").read_text("utf-8")
    for key in re.findall(r'data-i18n="([^"]+)"', html):
        used[key] = "index.html"
    assert len(used) > 300
    for lang, catalog in catalogs.items():
        missing = sorted(f"{key} ({where})" for key, where in used.items() if key not in catalog)
        assert missing == [], f"{lang}: keys used but not in the catalog"
    assert literal_text == []
