"""What a person does in the web client, as Playwright steps: the tests read as user stories.

Locators go by role and accessible name (what a screen reader announces), so the tests also
check that the controls are labelled.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.live_server import PASSWORD, REPO, ServerProcess

SCREENSHOTS = Path(os.environ.get("MV_SCREENSHOT_DIR", REPO / "test-output" / "screenshots"))
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1200, "height": 800}


def new_username(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class WebUser:
    """One person at one browser tab of the web client."""

    def __init__(self, context: BrowserContext, page: Page, server: ServerProcess) -> None:
        self.context = context
        self.page = page
        self.server = server
        self.username = ""
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    async def _on_dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    @classmethod
    async def open(cls, browser: Browser, server: ServerProcess, *, viewport: dict | None = None, locale: str = "en-US",
                   timezone_id: str = "Europe/Madrid") -> "WebUser":
        context = await browser.new_context(viewport=viewport or DESKTOP, locale=locale, timezone_id=timezone_id)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        user = cls(context, page, server)
        await page.goto(server.url + "/")
        return user

    async def close(self) -> None:
        await self.context.close()

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=False)
        return path

    # ---- account ----

    async def register(self, *, prefix: str = "mentee", display_name: str = "", role: str = "mentee", country: str = "") -> "WebUser":
        page = self.page
        self.username = new_username(prefix)
        await page.get_by_role("tab", name="Create an account").click()
        panel = page.get_by_role("tabpanel")
        await panel.get_by_label("Username").fill(self.username)
        await panel.get_by_label("Name others see").fill(display_name or self.username)
        await panel.get_by_label("Password").fill(PASSWORD)
        await panel.get_by_label("I am joining as").select_option(role)
        if country:
            await panel.get_by_label("Country (optional)").fill(country)
        await panel.get_by_role("button", name="Create my account").click()
        await expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
        return self

    async def sign_in(self, username: str, password: str = PASSWORD) -> "WebUser":
        self.username = username
        page = self.page
        panel = page.get_by_role("tabpanel")
        await panel.get_by_label("Username").fill(username)
        await panel.get_by_label("Password").fill(password)
        await panel.get_by_role("button", name="Sign in").click()
        # The name beside "Sign out", whatever language the saved profile switches the page to (on a
        # phone it sits in the folded menu, so it is there but not necessarily visible).
        await expect(page.locator("#user-area .who")).to_be_attached()
        return self

    async def go_to(self, section: str) -> None:
        """Open a section of the app; on a phone the sections sit in the folded "Menu"."""
        button = self.page.get_by_role("navigation", name=re.compile("Sections|Secciones|Sections")).get_by_role("button", name=section)
        if not await button.is_visible():
            await self.page.locator(".menu-toggle").click()
        await button.click()

    # ---- chat ----

    async def start_conversation(self, username: str) -> None:
        await self.page.get_by_label("Start a conversation with (username)").fill(username)
        await self.page.get_by_role("button", name="Start", exact=True).click()
        await expect(self.composer).to_be_focused()

    async def open_room(self, title: str) -> None:
        await self.page.locator(".room-item", has_text=title).click()
        await expect(self.page.locator(".chat-title")).to_have_text(title)

    @property
    def composer(self):  # type: ignore[no-untyped-def]
        return self.page.get_by_role("textbox", name="Message", exact=True)

    async def send(self, text: str) -> None:
        await self.composer.fill(text)
        await self.composer.press("Enter")
        await expect(self.message(text)).to_be_visible()

    def message(self, text: str):  # type: ignore[no-untyped-def]
        """A delivered (stored) message with exactly this body."""
        return self.page.locator("ol.messages:not(.outbox) .msg-body", has_text=re.compile(f"^{re.escape(text)}$"))

    async def bodies(self) -> list[str]:
        return await self.page.locator("ol.messages:not(.outbox) > li .msg-body").all_text_contents()

    async def seqs(self) -> list[int]:
        return [int(s) for s in await self.page.locator("ol.messages:not(.outbox) > li[data-seq]").evaluate_all("ns => ns.map(n => n.dataset.seq)")]

    # ---- calls ----

    @property
    def incoming_call(self):  # type: ignore[no-untyped-def]
        """The incoming-call notice (an alert dialog, so screen readers announce it)."""
        return self.page.get_by_role("alertdialog", name="Incoming call")

    @property
    def call_panel(self):  # type: ignore[no-untyped-def]
        return self.page.locator("section.call-panel")

    async def start_call(self, kind: str = "Video call") -> None:
        await self.page.get_by_role("button", name=kind, exact=True).click()
        await expect(self.call_panel).to_be_visible()

    async def inbound_media(self) -> dict:
        """getStats() totals of the active call's peer connection (cumulative)."""
        return await self.page.evaluate("() => window.mv.calls.active.inboundTotals()")

    async def media_keeps_flowing(self, *, polls: int = 100, window: float = 0.6) -> tuple[dict, dict]:
        """Two getStats() samples `window` seconds apart, taken once the first frames were decoded."""
        latest: dict = {}
        for _ in range(polls):
            latest = await self.inbound_media()
            if latest["videoFramesDecoded"] > 0 and latest["audioBytesReceived"] > 0:
                break
            await self.page.wait_for_timeout(200)
        await self.page.wait_for_timeout(int(window * 1000))
        return latest, await self.inbound_media()

    # ---- settings ----

    async def open_language_settings(self) -> None:
        await self.page.get_by_role("button", name="Language & translation").click()
        await expect(self.page.get_by_role("heading", name="Language and translation")).to_be_visible()

    def message_item(self, text: str):  # type: ignore[no-untyped-def]
        """The whole delivered message (body, captions, buttons) whose shown body is exactly this."""
        body = self.page.locator(".msg-body", has_text=re.compile(f"^{re.escape(text)}$"))
        return self.page.locator("ol.messages:not(.outbox) > li").filter(has=body)


@contextlib.asynccontextmanager
async def browser_tabs(browser: Browser, server: ServerProcess) -> AsyncIterator[Callable[..., Awaitable[WebUser]]]:
    """Opens browser tabs on ``server`` (one context each, like separate devices) and closes every
    one of them when the test is done, whatever it left open."""
    opened: list[WebUser] = []

    async def open_tab(**kwargs: Any) -> WebUser:
        user = await WebUser.open(browser, server, **kwargs)
        opened.append(user)
        return user

    try:
        yield open_tab
    finally:
        for user in opened:
            await user.close()
