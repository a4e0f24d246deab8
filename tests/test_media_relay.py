"""Group sessions through the media server, with real aiortc peers over a veth pair.

The MediaServer runs in this process in the root namespace and listens on every host address;
the client peers run on a loop inside a network namespace that has only the veth and lo, so
every packet stays on this machine (see tests/netns.py).

The server forwards encoded frames; ``media:stats``' ``frames_decoded`` (counted where frames are
handed to aiortc's decoder, media/aiortc_adapter.py) shows it decodes nothing unless a recording
or a codec mismatch needs it.
"""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import av
import pytest
from aiohttp import web

from media import MediaServer
from media.errors import MediaError
from tests.browser import headless_chromium
from tests.media_peers import ClientPeer, wait_until
from tests.netns import InsideLoop, NetworkNamespace, netns  # noqa: F401  (fixture)

PAGES = Path(__file__).parent / "pages"

pytestmark = pytest.mark.netns

LUMA_TOLERANCE = 12  # VP8 keeps a flat picture's brightness within a few steps
QUIET, LOUD = 0.0005, 0.5  # -72 dBFS (silent) and -9 dBFS
PICTURE_DEADLINE_SECONDS = 1.0  # a joiner's first picture, and the new speaker's after a switch


@pytest.fixture(scope="module")
def inside(netns: NetworkNamespace):  # noqa: F811
    with netns.inside_loop() as loop:
        yield loop


class Session:
    """Joins synthetic people to one MediaServer and tears everything down afterwards."""

    def __init__(self, server: MediaServer, inside: InsideLoop) -> None:
        self.server = server
        self.inside = inside
        self.peers: dict[str, ClientPeer] = {}

    async def join(self, room: str, name: str, *, luma: int, amplitude: float = QUIET,
                   leader: bool = False, video_codec: str | None = None) -> ClientPeer:
        layout = self.server.slot_layout()

        async def make_offer() -> tuple[ClientPeer, dict[str, str]]:
            peer = ClientPeer(name, luma=luma, amplitude=amplitude, audio_slots=layout["audio"],
                              video_slots=layout["video"], video_codec=video_codec)
            return peer, await peer.offer()

        peer, offer = await self.inside.run(make_offer())
        try:
            answer = await self.server.join(room, name, offer, is_leader=leader)
        except MediaError:
            await self.inside.run(peer.close())
            raise
        await self.inside.run(peer.accept(answer))
        self.peers[name] = peer
        return peer

    async def close(self) -> None:
        for peer in self.peers.values():
            await self.inside.run(peer.close())
        await self.server.close()


@pytest.fixture
async def session(inside: InsideLoop, tmp_path: Path):
    s = Session(MediaServer(ice_servers=[], max_participants_per_room=4, max_video_forwards=2,
                            recordings_dir=tmp_path / "recordings"), inside)
    yield s
    await s.close()


def sees(peer: ClientPeer, other: ClientPeer) -> bool:
    """True when one of `peer`'s video slots is showing `other`'s picture."""
    return any(slot.frames > 0 and slot.last_luma is not None
               and abs(slot.last_luma - other.luma) < LUMA_TOLERANCE
               for slot in peer.video_slots())


def hears_everyone_else(peer: ClientPeer, room_size: int) -> bool:
    return sum(1 for slot in peer.audio_slots() if slot.frames > 10) == room_size - 1


def nothing_decoded(stats: dict) -> bool:
    return all(figures["frames_decoded"] == {"audio": 0, "video": 0}
               for figures in stats["participants"].values())


def first_picture_after(peer: ClientPeer, since: float) -> float:
    """Seconds from `since` until every video slot of `peer` had shown a picture."""
    return max(slot.first_frame_at for slot in peer.video_slots()) - since


async def test_two_people_hear_and_see_each_other_through_the_server(session: Session) -> None:
    mentor = await session.join("r1", "mentor", luma=60, leader=True)
    mentee = await session.join("r1", "mentee", luma=180)

    assert await wait_until(lambda: sees(mentor, mentee) and sees(mentee, mentor))
    assert await wait_until(lambda: hears_everyone_else(mentor, 2)
                            and hears_everyone_else(mentee, 2))
    for peer in (mentor, mentee):
        first = min(s.first_frame_at for s in peer.video_slots() if s.first_frame_at)
        print(f"{peer.name}: first relayed video frame {1000 * (first - peer.answered_at):.0f} ms "
              "after the answer")
    stats = await session.server.stats("r1")
    assert stats["participants"]["mentee"]["frames_received"]["video"] > 0
    assert stats["participants"]["mentee"]["connection_state"] == "connected"
    assert nothing_decoded(stats) and stats["transcoding"] == []


async def test_a_late_joiner_sees_everyone_within_a_second(session: Session) -> None:
    first = await session.join("late", "first", luma=60, leader=True)
    second = await session.join("late", "second", luma=180)
    assert await wait_until(lambda: sees(first, second) and sees(second, first))

    late = await session.join("late", "late", luma=120)
    assert await wait_until(lambda: sees(late, first) and sees(late, second))
    assert await wait_until(lambda: sees(first, late) and sees(second, late))
    waited = first_picture_after(late, late.answered_at)
    print(f"late joiner: both pictures {1000 * waited:.0f} ms after the answer (ICE, DTLS and a "
          f"keyframe requested from each publisher)")
    assert waited <= PICTURE_DEADLINE_SECONDS
    assert nothing_decoded(await session.server.stats("late"))


async def test_four_people_each_hear_the_three_others(session: Session) -> None:
    peers = [await session.join("r4", f"p{i}", luma=40 + 50 * i, leader=i == 0)
             for i in range(4)]
    assert await wait_until(lambda: all(hears_everyone_else(p, 4) for p in peers), timeout=30)
    # Every non-leader sees the leader; nobody receives more than two videos.
    assert await wait_until(lambda: all(sees(p, peers[0]) for p in peers[1:]), timeout=30)
    forwarding = session.server.forwarding("r4")
    for receiving in forwarding["receiving"].values():
        assert len([s for s in receiving["video"] if s]) <= 2


async def test_the_loudest_person_becomes_the_forwarded_video(session: Session) -> None:
    leader = await session.join("rs", "leader", luma=40, leader=True)
    listener = await session.join("rs", "listener", luma=90)
    anna = await session.join("rs", "anna", luma=150, amplitude=LOUD)
    ben = await session.join("rs", "ben", luma=210)

    assert await wait_until(lambda: session.server.forwarding("rs")["active_speaker"] == "anna")
    assert await wait_until(lambda: sees(listener, leader) and sees(listener, anna))
    receiving = session.server.forwarding("rs")["receiving"]
    assert set(receiving["listener"]["video"]) == {"leader", "anna"}
    assert all("ben" not in r["video"] for r in receiving.values()), "silent ben is not forwarded"

    async def swap_voices() -> None:
        anna.tone.amplitude, ben.tone.amplitude = QUIET, LOUD

    await session.inside.run(swap_voices())
    assert await wait_until(lambda: session.server.forwarding("rs")["active_speaker"] == "ben",
                            interval=0.01)
    switched_at = time.monotonic()
    assert await wait_until(lambda: sees(listener, ben), interval=0.01)
    waited = time.monotonic() - switched_at
    print(f"speaker switch: ben's picture {1000 * waited:.0f} ms after the server switched")
    assert waited <= PICTURE_DEADLINE_SECONDS
    assert set(session.server.forwarding("rs")["receiving"]["listener"]["video"]) == {
        "leader", "ben"}

    # Asking for someone's video gives them a slot ahead of the active speaker.
    await session.server.request_video("rs", "listener", "anna")
    assert await wait_until(lambda: sees(listener, anna))
    assert set(session.server.forwarding("rs")["receiving"]["listener"]["video"]) == {
        "leader", "anna"}
    assert nothing_decoded(await session.server.stats("rs"))


async def test_video_is_transcoded_only_between_people_whose_codecs_differ(
        session: Session) -> None:
    ana = await session.join("codecs", "ana", luma=60, leader=True, video_codec="VP8")
    hugo = await session.join("codecs", "hugo", luma=130, video_codec="H264")
    hana = await session.join("codecs", "hana", luma=200, video_codec="H264")
    everyone = (ana, hugo, hana)
    assert await wait_until(lambda: all(sees(viewer, other) for viewer in everyone
                                        for other in everyone if other is not viewer))
    stats = await session.server.stats("codecs")
    assert {user: figures["codecs"]["video"] for user, figures in stats["participants"].items()
            } == {"ana": "VP8", "hugo": "H264", "hana": "H264"}
    # hugo and hana forward to each other as they are; only ana's slots and ana's picture in
    # theirs are decoded and re-encoded, once per publisher.
    assert sorted((t["subscriber"], t["source"], t["from"], t["to"])
                  for t in stats["transcoding"]) == [
        ("ana", "hana", "H264", "VP8"), ("ana", "hugo", "H264", "VP8"),
        ("hana", "ana", "VP8", "H264"), ("hugo", "ana", "VP8", "H264")]
    assert all(figures["frames_decoded"]["video"] > 0 and figures["frames_decoded"]["audio"] == 0
               for figures in stats["participants"].values())


async def test_limits_are_reported_with_clear_codes(inside: InsideLoop, tmp_path: Path) -> None:
    session = Session(MediaServer(max_rooms=1, max_participants_per_room=2,
                                  recordings_dir=tmp_path), inside)
    try:
        await session.join("small", "a", luma=50)
        await session.join("small", "b", luma=100)
        with pytest.raises(MediaError) as full_room:
            await session.join("small", "c", luma=150)
        assert full_room.value.code == "media_room_full"
        with pytest.raises(MediaError) as full_server:
            await session.join("other", "d", luma=200)
        assert full_server.value.code == "media_server_full"
        with pytest.raises(MediaError) as bad_offer:
            await session.server.join("small", "e", {"type": "offer", "sdp": "nonsense"},
                                      is_leader=False)
        assert bad_offer.value.code == "media_offer_invalid"
        with pytest.raises(MediaError) as not_there:
            await session.server.request_video("small", "a", "nobody")
        assert not_there.value.code == "media_not_in_room"
    finally:
        await session.close()


async def test_recording_needs_everyones_consent_and_writes_a_playable_file(
        session: Session) -> None:
    mentor = await session.join("rec", "mentor", luma=60, leader=True)
    mentee = await session.join("rec", "mentee", luma=180, amplitude=LOUD)
    assert await wait_until(lambda: sees(mentor, mentee) and sees(mentee, mentor))

    with pytest.raises(MediaError) as refused:
        await session.server.start_recording("rec")
    assert refused.value.code == "consent_required"
    assert refused.value.details["missing"] == ["mentor", "mentee"]

    await session.server.set_consent("rec", "mentor", True)
    with pytest.raises(MediaError):
        await session.server.start_recording("rec")
    consent = await session.server.set_consent("rec", "mentee", True)
    assert consent["user_id"] == "mentee" and consent["granted"] and consent["at"]

    path = Path(await session.server.start_recording("rec"))
    assert session.server.forwarding("rec")["recording"] == "recording"
    await asyncio.sleep(2.0)

    # A newcomer who has not agreed pauses the recording at once.
    await session.join("rec", "visitor", luma=120)
    assert session.server.forwarding("rec")["recording"] == "paused"
    # Once the visitor agrees, recording resumes in a new file; a withdrawal pauses it again.
    await session.server.set_consent("rec", "visitor", True)
    assert session.server.forwarding("rec")["recording"] == "recording"
    await asyncio.sleep(1.0)
    await session.server.set_consent("rec", "mentee", False)
    assert session.server.forwarding("rec")["recording"] == "paused"
    segments = await session.server.stop_recording("rec")
    assert segments[0] == str(path) and len(segments) == 2
    assert session.server.forwarding("rec")["recording"] == "idle"
    # Only the server's user may open the recordings (another account on the machine may not).
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert {stat.S_IMODE(Path(segment).stat().st_mode) for segment in segments} == {0o600}

    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        assert kinds == ["audio", "audio", "video"]
        video_frames = sum(1 for _ in container.decode(video=0))
    print(f"recorded {path.stat().st_size} bytes, {video_frames} video frames in ~2 s")
    assert video_frames > 10
    with av.open(segments[1]) as container:
        assert sorted(stream.type for stream in container.streams) == [
            "audio", "audio", "audio", "video"]
    # Decoded once per recorded track, not per viewer: the leader's picture and everyone's
    # sound; the mentee's picture, which only viewers get, was never decoded.
    decoded = {user: figures["frames_decoded"]
               for user, figures in (await session.server.stats("rec"))["participants"].items()}
    assert decoded["mentor"]["video"] > 10 and decoded["mentee"]["video"] == 0
    assert decoded["mentor"]["audio"] > 0 and decoded["mentee"]["audio"] > 0


async def test_a_consumer_that_stops_reading_holds_a_bounded_number_of_frames() -> None:
    from aiortc import AudioStreamTrack

    from media.relay import BoundedMediaRelay

    relay = BoundedMediaRelay(max_buffered_frames=5)
    source = AudioStreamTrack()
    stalled = relay.subscribe(source, buffered=True)
    reader = relay.subscribe(source, buffered=True)
    for _ in range(30):  # 30 × 20 ms of audio; `stalled` reads only the first frame
        await reader.recv()
        if _ == 0:
            await stalled.recv()
    assert stalled._queue.qsize() <= 5  # an unbounded queue would hold ~29 frames
    stalled.stop()
    reader.stop()
    source.stop()


@pytest.mark.browser
async def test_two_aiortc_peers_and_a_browser_see_each_other_while_the_server_decodes_nothing(
        session: Session, netns: NetworkNamespace) -> None:  # noqa: F811
    # A stand-in for the Socket.IO signaling: POST offer → answer.
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGES / "media_call.html")

    async def offer(request: web.Request) -> web.Response:
        try:
            answer = await session.server.join("web", "browser", await request.json(),
                                               is_leader=False)
        except MediaError as error:
            return web.json_response({"code": error.code}, status=error.status)
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/offer", offer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, netns.host_address, 0).start()
    origin = f"http://{netns.host_address}:{runner.addresses[0][1]}"
    try:
        mentor = await session.join("web", "mentor", luma=30, leader=True, amplitude=LOUD)
        mentee = await session.join("web", "mentee", luma=230)
        async with headless_chromium(namespace=netns, insecure_origin=origin) as browser:
            tab = await browser.new_page()
            await tab.goto(origin + "/")
            candidates = await tab.evaluate("([url, slots]) => joinMediaServer(url, slots)",
                                            [origin + "/offer", session.server.slot_layout()])
            assert candidates > 0

            async def slot_frames() -> list[int]:
                return await tab.evaluate("videoSlotFrames()")

            latest: list[int] = []
            for _ in range(100):  # up to ~20 s for ICE, DTLS and the first keyframes
                latest = await slot_frames()
                if latest and all(latest):
                    break
                await asyncio.sleep(0.2)
            before = latest
            await asyncio.sleep(0.6)
            after = await slot_frames()
            print(f"browser: frames decoded per video slot {before} -> {after}")
            # Both of the browser's slots show someone, and they are the two aiortc peers.
            assert all(a > b > 0 for a, b in zip(after, before)) and len(after) == 2
            receiving = session.server.forwarding("web")["receiving"]
            assert sorted(receiving["browser"]["video"]) == ["mentee", "mentor"]
            assert (await tab.evaluate("inboundTotals()"))["audioBytesReceived"] > 0

            def sees_the_browser(peer: ClientPeer) -> bool:
                slot = receiving[peer.name]["video"].index("browser")
                return peer.video_slots()[slot].frames > 10

            # And the other way: each aiortc peer sees the browser's fake camera and the other.
            assert await wait_until(lambda: sees_the_browser(mentor) and sees_the_browser(mentee))
            assert await wait_until(lambda: sees(mentor, mentee) and sees(mentee, mentor))
            stats = await session.server.stats("web")
            assert stats["participants"]["browser"]["frames_received"]["video"] > 0
            assert stats["participants"]["browser"]["codecs"]["video"] == "VP8"
            assert nothing_decoded(stats) and stats["transcoding"] == []
            await tab.close()
    finally:
        await runner.cleanup()
