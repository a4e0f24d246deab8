"""Calls in the web client: two people in real Chromium tabs call each other through the UI.

WebRTC needs addresses other than loopback (aioice leaves 127.0.0.1 out), so, as in
tests/test_calls_media.py, the server listens on the root-namespace end of a veth pair
(10.99.N.1) and Chromium runs inside the network namespace (10.99.N.2) with a fake camera and
microphone. The page comes from our own server, so it is the real web client, signed in through
its own forms. No STUN or TURN server is configured: every packet stays on the veth pair.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, expect

from tests.browser import headless_chromium
from tests.conftest import database_url_for
from tests.live_server import ServerProcess, free_port, register
from tests.netns import NetworkNamespace, netns  # noqa: F401  (fixture)
from tests.web_pages import WebUser, browser_tabs

pytestmark = [pytest.mark.browser, pytest.mark.netns]


@pytest.fixture(scope="module")
def call_server(netns: NetworkNamespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:  # noqa: F811
    """The real server, reachable only on the veth address; host candidates only."""
    data_dir = tmp_path_factory.mktemp("web-calls")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         host=netns.host_address, port=free_port(netns.host_address),
                         extra_env={"MV_STUN_URLS": "", "MV_TURN_URLS": "", "MV_TURN_SECRET": "",
                                    "MV_MEDIA_MAX_PARTICIPANTS": "4"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser(netns: NetworkNamespace, call_server: ServerProcess) -> AsyncIterator[Browser]:  # noqa: F811
    async with headless_chromium(namespace=netns, insecure_origin=call_server.url) as chromium:
        yield chromium


@pytest.fixture
async def people(browser: Browser, call_server: ServerProcess):  # type: ignore[no-untyped-def]
    async with browser_tabs(browser, call_server) as open_tab:
        yield open_tab


async def announced(user: WebUser) -> str:
    return await user.page.locator("#announcer").text_content() or ""


async def test_a_mentee_video_calls_her_mentor_who_answers_and_both_see_and_hear_each_other(people) -> None:  # type: ignore[no-untyped-def]
    mentee = await (await people()).register(prefix="ana", display_name="Ana")
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await mentee.start_conversation(mentor.username)
    await mentor.open_room("Ana")

    await mentee.start_call("Video call")
    await expect(mentee.call_panel.get_by_role("status")).to_have_text("Ringing…")
    ring = mentor.incoming_call
    await expect(ring).to_contain_text("Ana is calling you (video).")
    await expect(ring.get_by_role("button", name="Accept")).to_be_focused()
    await mentor.screenshot("call-incoming")
    await ring.get_by_role("button", name="Accept").click()
    await expect(ring).to_be_hidden()

    for person in (mentee, mentor):
        await expect(person.call_panel.get_by_role("status")).to_have_text("Connected", timeout=30_000)
    for person, other in ((mentee, "Mo"), (mentor, "Ana")):
        before, after = await person.media_keeps_flowing()
        print(f"{other}'s picture and sound reach {person.username}: {before} -> {after}")
        assert after["videoFramesDecoded"] > before["videoFramesDecoded"] > 0
        assert after["audioBytesReceived"] > before["audioBytesReceived"] > 0
        remote = person.call_panel.get_by_label("The other person's video")
        await expect(remote).to_be_visible()
        playing = await remote.evaluate("v => ({paused: v.paused, width: v.videoWidth, time: v.currentTime})")
        assert not playing["paused"] and playing["width"] > 0 and playing["time"] > 0, playing
        quality = person.call_panel.locator(".call-quality")
        await expect(quality).to_contain_text("Connection: good", timeout=10_000)
        print(f"quality indicator for {person.username}: {await quality.text_content()}")

    await mentor.screenshot("call-mentor-connected")
    # Muting and turning the camera off keep the same tracks: no new offer is needed.
    await mentee.call_panel.get_by_role("button", name="Mute microphone").click()
    await mentee.call_panel.get_by_role("button", name="Turn camera off").click()
    await expect(mentee.call_panel.get_by_role("button", name="Unmute microphone")).to_be_visible()
    await expect(mentee.call_panel.get_by_role("button", name="Turn camera on")).to_be_visible()
    state = await mentee.page.evaluate("""() => {
        const s = window.mv.calls.active;
        return {audio: s.local.getAudioTracks()[0].enabled, video: s.local.getVideoTracks()[0].enabled,
                signaling: s.pc.signalingState, senders: s.pc.getSenders().filter(x => x.track).length};
    }""")
    assert state == {"audio": False, "video": False, "signaling": "stable", "senders": 2}, state
    await mentee.screenshot("call-mentee-muted")

    await mentor.call_panel.get_by_role("button", name="Hang up").click()
    await expect(mentor.call_panel).to_have_count(0)
    await expect(mentee.call_panel).to_have_count(0)
    await expect(mentee.page.locator("#announcer")).to_have_text("The call ended.")
    for person in (mentee, mentor):
        # The conversation keeps the call: its kind and length, on both sides.
        record = person.page.locator(".msg.kind-call .msg-body")
        await expect(record).to_have_text(re.compile(r"^Video call · \d+ (s|min)$"))
    await mentee.screenshot("call-record-in-timeline")
    assert not mentee.console_errors and not mentor.console_errors, mentee.console_errors + mentor.console_errors


async def test_a_declined_call_closes_on_both_sides_and_the_caller_is_told(people) -> None:  # type: ignore[no-untyped-def]
    mentee = await (await people()).register(prefix="ana", display_name="Ana")
    mentor = await (await people()).register(prefix="mo", display_name="Mo", role="mentor")
    await mentee.start_conversation(mentor.username)

    await mentee.start_call("Audio call")
    await expect(mentor.incoming_call).to_contain_text("Ana is calling you (audio).")
    await mentor.incoming_call.get_by_role("button", name="Decline").click()
    await expect(mentee.call_panel).to_have_count(0)
    await expect(mentee.page.locator("#announcer")).to_have_text("The call was declined.")
    await expect(mentor.incoming_call).to_have_count(0)
    await expect(mentee.page.locator(".msg.kind-call .msg-body")).to_have_text("Call declined")
    await mentor.open_room("Ana")
    await expect(mentor.page.locator(".msg.kind-call .msg-body")).to_have_text("Call declined")


async def test_a_leader_opens_a_group_invites_a_member_who_accepts_and_they_meet_through_the_relay(
        people, call_server: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    leader_account = await register(call_server, role="leader")
    leader = await (await people()).sign_in(leader_account.username)
    member = await (await people()).register(prefix="lu", display_name="Lucía")

    new_group = leader.page.get_by_role("form", name="New group")
    await new_group.get_by_label("Group name").fill("Thursday circle")
    await new_group.get_by_label("Invite (usernames)").fill(member.username)
    await new_group.get_by_role("button", name="Create group").click()
    await expect(new_group.get_by_role("status")).to_have_text("Group created; 1 invitation(s) sent.")
    await expect(leader.page.locator(".chat-title")).to_have_text("Thursday circle")

    invitations = member.page.get_by_role("region", name="Invitations")
    await expect(invitations).to_contain_text("You are invited to join the group Thursday circle.")
    await member.screenshot("group-invitation")
    await invitations.get_by_role("button", name="Join Thursday circle").click()
    await expect(member.page.locator(".chat-title")).to_have_text("Thursday circle")
    await expect(invitations).to_be_hidden()
    await member.send("Hi everyone")
    await expect(leader.message("Hi everyone")).to_be_visible()

    await leader.start_call("Video call")
    await expect(member.incoming_call).to_contain_text("started a group call in Thursday circle")
    await member.incoming_call.get_by_role("button", name="Accept").click()
    for person in (leader, member):
        await expect(person.call_panel.get_by_role("status")).to_have_text("Connected", timeout=30_000)
        before, after = await person.media_keeps_flowing()
        print(f"through the relay, {person.username} receives: {before} -> {after}")
        assert after["videoFramesDecoded"] > before["videoFramesDecoded"] > 0
        assert after["audioBytesReceived"] > before["audioBytesReceived"] > 0
        await expect(person.call_panel.get_by_label("A participant's video").first).to_be_visible()
        await expect(person.call_panel.locator(".call-quality")).to_contain_text(re.compile(r"Connection: (good|fair|poor)"))
    await member.screenshot("group-call-relay")

    # Each member in the call is named, and the others read in words when they mute or turn the camera off.
    lucia = leader.call_panel.locator(".member-tile", has_text="Lucía")
    await expect(lucia).to_be_visible()
    await expect(lucia.locator(".tile-flag")).to_have_count(0)
    await member.call_panel.get_by_role("button", name="Mute microphone").click()
    await member.call_panel.get_by_role("button", name="Turn camera off").click()
    await expect(lucia.locator(".mic-off")).to_have_text("Lucía's microphone is off")
    await expect(lucia.locator(".camera-off")).to_have_text("Lucía's camera is off")
    await leader.screenshot("group-call-member-muted")

    await member.call_panel.get_by_role("button", name="Hang up").click()
    await expect(member.call_panel).to_have_count(0)
    await expect(leader.page.locator("#announcer")).to_have_text("Lucía left the call.")
    await leader.call_panel.get_by_role("button", name="Hang up").click()
    await expect(leader.call_panel).to_have_count(0)
