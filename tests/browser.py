"""Headless Debian Chromium through Playwright, for WebRTC tests.

Why the flags: fake camera and microphone (no devices here, no permission prompt), real IP
candidates instead of mDNS names (aiortc cannot resolve Chromium's mDNS names without a
responder), the page's http origin treated as secure (getUserMedia needs a secure context and
the page is not on localhost), and nothing that phones home. Playwright's ``launch`` gives every
browser a fresh temporary user-data-dir. We never download a browser: Debian's is used.

Inside a network namespace Chromium is started through a two-line wrapper script that runs
``ip netns exec NS /usr/bin/chromium "$@"``; Playwright talks to it over a pipe, which crosses
namespaces untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.netns import NetworkNamespace

CHROMIUM = "/usr/bin/chromium"

QUIET_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MEDIA_FLAGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def require_chromium() -> None:
    """Skip locally, fail in CI, when Debian chromium is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return
    reason = f"browser tests need Debian chromium at {CHROMIUM}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def chromium_args(insecure_origin: str | None = None) -> list[str]:
    args = QUIET_FLAGS + MEDIA_FLAGS
    if insecure_origin:
        args.append(f"--unsafely-treat-insecure-origin-as-secure={insecure_origin}")
    return args


def _wrapper_in_namespace(directory: Path, namespace: NetworkNamespace) -> Path:
    wrapper = directory / "chromium-in-netns"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec ip netns exec {namespace.name} {CHROMIUM} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@contextlib.asynccontextmanager
async def headless_chromium(*, namespace: NetworkNamespace | None = None,
                            insecure_origin: str | None = None) -> AsyncIterator[Browser]:
    """A headless Chromium, inside `namespace` when given; closed (and its files removed) on exit."""
    require_chromium()
    scratch = Path(tempfile.mkdtemp(prefix="mvl-chromium-"))
    try:
        executable = _wrapper_in_namespace(scratch, namespace) if namespace else Path(CHROMIUM)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(executable), headless=True,
                args=chromium_args(insecure_origin), timeout=30_000)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
