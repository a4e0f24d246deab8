"""Calls with real audio and video, end to end through the real server process.

The server runs as its own process in the root namespace, bound to the veth address
(10.99.N.1); every client — python-socketio with an aiortc peer, or headless Chromium — lives in
the network namespace (10.99.N.2). No STUN or TURN server is configured, so ICE uses host
candidates only and every packet stays on the veth pair (see tests/netns.py).

aiortc clients run on the namespace's asyncio loop (``inside.run``); Chromium is driven from the
test's own loop through Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web
from aioice import stun
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from playwright.async_api import Page

from tests.browser import headless_chromium
from tests.conftest import database_url_for
from tests.live_server import LiveClient, Person, ServerProcess, free_port, register
from tests.media_peers import ClientPeer, ColorTrack, ToneTrack, wait_until
from tests.netns import InsideLoop, NetworkNamespace, netns  # noqa: F401  (fixture)

pytestmark = pytest.mark.netns

PAGE = Path(__file__).parent / "pages" / "call_client.html"
LUMA_TOLERANCE = 12  # VP8 keeps a flat picture's brightness within a few steps
QUIET, LOUD = 0.0005, 0.5  # -72 dBFS and -9 dBFS
GROWTH_WINDOW = 0.6  # seconds between two getStats() samples that must both grow
FIRST_MEDIA_POLLS = 100  # × 0.2 s: ICE, DTLS and the first keyframe


@pytest.fixture(scope="module")
def page_origin(netns: NetworkNamespace) -> str:  # noqa: F811
    """Where the test serves its call page: a private address, like the server's.

    Chromium's local-network-access checks block a page with no address of its own (one
    fulfilled by Playwright) from reaching 10.99.N.1, so the page comes from a real HTTP server.
    """
    return f"http://{netns.host_address}:{free_port(netns.host_address)}"


@pytest.fixture(scope="module")
def media_server(netns: NetworkNamespace, page_origin: str,  # noqa: F811
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server, reachable only on the veth address; no STUN/TURN: host candidates only."""
    data_dir = tmp_path_factory.mktemp("calls-media")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         host=netns.host_address, port=free_port(netns.host_address),
                         extra_env={"MV_STUN_URLS": "", "MV_TURN_URLS": "", "MV_TURN_SECRET": "",
                                    "MV_MEDIA_MAX_PARTICIPANTS": "4", "MV_CORS_ORIGINS": page_origin})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def inside(netns: NetworkNamespace) -> Iterator[InsideLoop]:  # noqa: F811
    with netns.inside_loop() as loop:
        yield loop


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply.get("ok"), reply
    return reply


async def open_group(leader_client: LiveClient, members: list[Person]) -> str:
    """A leader opens a group room with these members; returns its id."""
    reply = ok(await leader_client.call("room:create", {"kind": "group", "title": "Tuesday circle",
                                                         "member_ids": [m.id for m in members]}))
    return reply["room"]["id"]


async def join_relay(client: LiveClient, call_id: str, name: str, *, luma: int,
                     amplitude: float = QUIET) -> ClientPeer:
    """Join the call's media through the server relay, the way docs/protocol.md describes."""
    layout = ok(await client.call("media:layout"))["layout"]
    peer = ClientPeer(name, luma=luma, amplitude=amplitude, audio_slots=layout["audio"],
                      video_slots=layout["video"])
    offer = await peer.offer()
    answer = ok(await client.call("media:join", {"call_id": call_id, **offer}))["answer"]
    await peer.accept(answer)
    return peer


def sees(peer: ClientPeer, other: ClientPeer) -> bool:
    """True when one of `peer`'s video slots shows `other`'s picture (identified by its luma)."""
    return any(slot.frames > 0 and slot.last_luma is not None
               and abs(slot.last_luma - other.luma) < LUMA_TOLERANCE
               for slot in peer.video_slots())


def hears(peer: ClientPeer, others: int) -> bool:
    return sum(1 for slot in peer.audio_slots() if slot.frames > 10) >= others


async def media_stats(client: LiveClient, call_id: str) -> dict[str, Any]:
    return ok(await client.call("media:stats", {"call_id": call_id}))["stats"]


async def close_peers(*peers: ClientPeer | None) -> None:
    for peer in peers:
        if peer is not None:
            await peer.close()


async def hang_up_everyone(*people: Person) -> None:
    for person in people:
        for sio in person.clients:
            if sio.connected:
                await sio.disconnect()


# ---------------------------------------------------------------------------------------------
# Two aiortc people in a group call through the server relay


async def test_two_group_members_see_and_hear_each_other_through_the_server_relay(
        media_server: ServerProcess, inside: InsideLoop) -> None:
    leader = await register(media_server, role="leader")
    members = [await register(media_server) for _ in range(3)]

    async def scenario() -> None:
        lc = await leader.connect()
        mc = await members[0].connect()
        room_id = await open_group(lc, members)
        started = ok(await lc.call("call:start", {"room_id": room_id, "media": "video", "mode": "relay"}))
        call_id = started["call"]["id"]
        assert started["call"]["mode"] == "relay"
        assert started["ice_servers"] == [], "no STUN/TURN configured: host candidates only"
        ring = await mc.wait_for("call:ring", lambda d: d["call"]["id"] == call_id)
        assert ring["from"]["id"] == leader.id
        ok(await mc.call("call:accept", {"call_id": call_id}))

        mentor_peer = mentee_peer = None
        try:
            mentor_peer = await join_relay(lc, call_id, "leader", luma=60, amplitude=LOUD)
            mentee_peer = await join_relay(mc, call_id, "member", luma=180, amplitude=LOUD)
            assert await wait_until(lambda: sees(mentor_peer, mentee_peer) and sees(mentee_peer, mentor_peer))
            assert await wait_until(lambda: hears(mentor_peer, 1) and hears(mentee_peer, 1))
            for peer in (mentor_peer, mentee_peer):
                video = [s for s in peer.video_slots() if s.frames]
                audio = [s for s in peer.audio_slots() if s.frames]
                print(f"{peer.name} decoded {sum(s.frames for s in video)} video and "
                      f"{sum(s.frames for s in audio)} audio frames; first video "
                      f"{1000 * (min(s.first_frame_at for s in video) - peer.answered_at):.0f} ms after the answer")

            await media_stats(mc, call_id)  # the first sample only starts the bitrate clock
            await asyncio.sleep(1.0)
            stats = await media_stats(mc, call_id)
            assert set(stats["participants"]) == {leader.id, members[0].id}
            assert stats["leader_id"] == leader.id
            for uid, figures in stats["participants"].items():
                assert figures["connection_state"] == "connected"
                assert figures["frames_received"]["video"] > 0 and figures["frames_received"]["audio"] > 0
                assert figures["bitrate_in_bps"] > 0 and figures["bitrate_out_bps"] > 0
                assert figures["frames_forwarded"]["video"] > 0
                print(f"server sees {uid[:8]}: in {figures['bitrate_in_bps'] / 1000:.0f} kbit/s, "
                      f"out {figures['bitrate_out_bps'] / 1000:.0f} kbit/s, frames {figures['frames_received']}, "
                      f"rtt {figures['rtt_ms']} ms, loss {figures['packet_loss_in']:.3f}")
            assert stats["participants"][members[0].id]["receiving"]["video"][0] == leader.id
        finally:
            await close_peers(mentor_peer, mentee_peer)
            await hang_up_everyone(leader, *members)

    await inside.run(scenario(), timeout=90)


async def test_a_call_is_recorded_only_after_everyone_consents_and_the_file_plays(
        media_server: ServerProcess, inside: InsideLoop) -> None:
    leader = await register(media_server, role="leader")
    members = [await register(media_server) for _ in range(3)]

    async def scenario() -> None:
        lc, mc = await leader.connect(), await members[0].connect()
        room_id = await open_group(lc, members)
        call_id = ok(await lc.call("call:start", {"room_id": room_id, "media": "video", "mode": "relay"}))["call"]["id"]
        await mc.wait_for("call:ring", lambda d: d["call"]["id"] == call_id)
        ok(await mc.call("call:accept", {"call_id": call_id}))
        ok(await lc.call("room:join", {"room_id": room_id}))
        leader_peer = member_peer = None
        try:
            leader_peer = await join_relay(lc, call_id, "leader", luma=60, amplitude=LOUD)
            member_peer = await join_relay(mc, call_id, "member", luma=180, amplitude=LOUD)
            assert await wait_until(lambda: sees(leader_peer, member_peer))
            assert (await mc.call("media:record_start", {"call_id": call_id}))["error"]["code"] == "forbidden"
            ok(await lc.call("media:consent", {"call_id": call_id, "granted": True}))
            refused = await lc.call("media:record_start", {"call_id": call_id})
            assert refused["error"]["code"] == "consent_required", "one person has not agreed yet"
            ok(await mc.call("media:consent", {"call_id": call_id, "granted": True}))
            started = ok(await lc.call("media:record_start", {"call_id": call_id}))
            assert (await lc.wait_for("media:recording"))["recording"] is True
            await asyncio.sleep(2.0)
            files = ok(await lc.call("media:record_stop", {"call_id": call_id}))["files"]
            assert started["file"] in files
            path = media_server.data_dir / "recordings" / started["file"]
            with av.open(str(path)) as container:
                frames = sum(1 for _ in container.decode(video=0))
            print(f"recording {path.name}: {path.stat().st_size} bytes, {frames} video frames")
            assert frames > 0
            actions = [a for a, *_ in await audit_rows(media_server, room_id)]
            assert actions.count("recording.consent") == 2 and "recording.start" in actions and "recording.stop" in actions
        finally:
            await close_peers(leader_peer, member_peer)
            await hang_up_everyone(leader, *members)

    await inside.run(scenario(), timeout=90)


async def audit_rows(server: ServerProcess, room_id: str) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(server.database_url.split("///", 1)[1]) as db:
        return db.execute("SELECT action, actor_id FROM audit_log WHERE room_id = ? ORDER BY id", (room_id,)).fetchall()


# ---------------------------------------------------------------------------------------------
# Hanging up and disconnecting take people out of the media session


async def test_hanging_up_or_losing_the_connection_removes_a_person_from_the_media_session(
        media_server: ServerProcess, inside: InsideLoop) -> None:
    leader = await register(media_server, role="leader")
    members = [await register(media_server) for _ in range(3)]

    async def scenario() -> None:
        lc = await leader.connect()
        leaving, dropping = await members[0].connect(), await members[1].connect()
        room_id = await open_group(lc, members)
        call_id = ok(await lc.call("call:start", {"room_id": room_id, "mode": "relay"}))["call"]["id"]
        for client in (leaving, dropping):
            await client.wait_for("call:ring", lambda d: d["call"]["id"] == call_id)
            ok(await client.call("call:accept", {"call_id": call_id}))
        peers: list[ClientPeer] = []
        try:
            for client, name, luma in ((lc, "leader", 60), (leaving, "leaving", 120), (dropping, "dropping", 200)):
                peers.append(await join_relay(client, call_id, name, luma=luma, amplitude=LOUD))
            assert await wait_until(lambda: all(hears(p, 2) for p in peers), timeout=30)
            everyone = {leader.id, members[0].id, members[1].id}
            assert set((await media_stats(lc, call_id))["participants"]) == everyone

            ok(await leaving.call("call:end", {"call_id": call_id}))
            left = await lc.wait_for("call:left", lambda d: d["user_id"] == members[0].id)
            assert left["reason"] == "hangup"
            stats = await media_stats(lc, call_id)
            assert set(stats["participants"]) == everyone - {members[0].id}
            assert members[0].id not in stats["participants"][leader.id]["receiving"]["audio"]

            await dropping.disconnect()
            gone = await lc.wait_for("call:left", lambda d: d["user_id"] == members[1].id)
            assert gone["reason"] == "disconnected"
            stats = await media_stats(lc, call_id)
            assert set(stats["participants"]) == {leader.id}
            print(f"after a hang-up and a disconnect the session lists {len(stats['participants'])} person")

            ok(await lc.call("call:end", {"call_id": call_id}))
            again = await lc.call("media:stats", {"call_id": call_id})
            assert again["error"]["code"] == "forbidden", "a call you left shows you nothing"
        finally:
            await close_peers(*peers)
            await hang_up_everyone(leader, *members)

    await inside.run(scenario(), timeout=90)


# ---------------------------------------------------------------------------------------------
# Browser side


@contextlib.asynccontextmanager
async def call_page(netns: NetworkNamespace, page_origin: str, server: ServerProcess,  # noqa: F811
                    person: Person) -> AsyncIterator[Page]:
    """A Chromium tab inside the namespace with the call page, connected to `server` as `person`."""
    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    host, port = page_origin.rsplit("/", 1)[1].split(":")
    await web.TCPSite(runner, host, int(port)).start()
    try:
        async with headless_chromium(namespace=netns, insecure_origin=page_origin) as browser:
            tab = await browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            await tab.goto(page_origin + "/")
            await tab.evaluate("([url, token]) => connect(url, token)", [server.url, person.token])
            try:
                yield tab
            finally:
                assert not errors, errors
                await tab.close()
    finally:
        await runner.cleanup()


async def wait_for_page_event(tab: Page, event: str, timeout: float = 10.0) -> Any:
    handle = await tab.wait_for_function(
        "(name) => received.find(([e]) => e === name)", arg=event, timeout=timeout * 1000)
    return (await handle.json_value())[1]


async def media_keeps_flowing_into(tab: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two getStats() totals GROWTH_WINDOW apart, once the first frames have been decoded."""
    latest: dict[str, Any] = {}
    for _ in range(FIRST_MEDIA_POLLS):
        latest = await tab.evaluate("inboundTotals()")
        if latest["videoFramesDecoded"] > 0 and latest["audioBytesReceived"] > 0:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(GROWTH_WINDOW)
    return latest, await tab.evaluate("inboundTotals()")


class AiortcCallee:
    """The polite side of a peer-to-peer call, in aiortc: answers offers, takes trickled ICE.

    Offers and candidates are handled one at a time in arrival order, so a candidate is never
    applied before the offer it belongs to. aiortc has no trickle of its own: its answer carries
    all of its candidates.
    """

    def __init__(self, client: LiveClient, call_id: str, *, luma: int) -> None:
        self.client = client
        self.call_id = call_id
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.tracks: list[MediaStreamTrack] = [ToneTrack(LOUD), ColorTrack(luma)]
        self.frames = {"audio": 0, "video": 0}
        self.candidates_added = 0
        self._candidates_ended = False
        self._inbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Future[None]] = []

        async def on_offer(data: dict[str, Any]) -> None:
            await self._inbox.put(("offer", data))

        async def on_ice(data: dict[str, Any]) -> None:
            await self._inbox.put(("ice", data))

        client.sio.on("call:offer", on_offer)
        client.sio.on("call:ice", on_ice)
        self.pc.on("track", lambda track: self._tasks.append(asyncio.ensure_future(self._count(track))))
        self._tasks.append(asyncio.ensure_future(self._work()))

    async def _count(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.frames[track.kind] += 1

    async def _work(self) -> None:
        while True:
            kind, data = await self._inbox.get()
            if data["call_id"] != self.call_id:
                continue
            if kind == "offer":
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type=data["type"]))
                for track in self.tracks:
                    if not any(s.track is track for s in self.pc.getSenders()):
                        self.pc.addTrack(track)
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                ok(await self.client.call("call:answer", {"call_id": self.call_id, "to": data["from"],
                                                          "sdp": self.pc.localDescription.sdp}))
            else:
                await self._add_candidate(data["candidate"])

    async def _add_candidate(self, init: dict[str, Any] | None) -> None:
        if init is None or not init.get("candidate"):
            if not self._candidates_ended:
                self._candidates_ended = True
                await self.pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(init["candidate"].split(":", 1)[1])
        candidate.sdpMid, candidate.sdpMLineIndex = init.get("sdpMid"), init.get("sdpMLineIndex")
        await self.pc.addIceCandidate(candidate)
        self.candidates_added += 1

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


# ---------------------------------------------------------------------------------------------
# A 1:1 peer-to-peer call: Chromium and aiortc, signaling through our server only


@pytest.mark.browser
async def test_a_one_to_one_call_connects_peer_to_peer_through_our_signaling(
        media_server: ServerProcess, inside: InsideLoop, netns: NetworkNamespace,  # noqa: F811
        page_origin: str) -> None:
    mentee = await register(media_server)
    mentor = await register(media_server, role="mentor")
    mentor_client: LiveClient = await inside.run(mentor.connect())
    callee: AiortcCallee | None = None
    try:
        room_id = (ok(await inside.run(mentor_client.call(
            "room:create", {"kind": "direct", "member_ids": [mentee.id]}))))["room"]["id"]
        async with call_page(netns, page_origin, media_server, mentee) as tab:
            started = await tab.evaluate(
                "(room) => ack('call:start', {room_id: room, media: 'video', mode: 'p2p'})", room_id)
            call = started["call"]
            call_id = call["id"]
            assert call["mode"] == "p2p" and started["ice_servers"] == []
            assert {p["user_id"]: p["polite"] for p in call["participants"]} == {mentee.id: False, mentor.id: True}

            async def answer_the_ring() -> AiortcCallee:
                await mentor_client.wait_for("call:ring", lambda d: d["call"]["id"] == call_id)
                peer = AiortcCallee(mentor_client, call_id, luma=150)
                accepted = ok(await mentor_client.call("call:accept", {"call_id": call_id}))
                me = next(p for p in accepted["call"]["participants"] if p["user_id"] == mentor.id)
                assert me["polite"] and me["state"] == "joined"
                return peer

            callee = await inside.run(answer_the_ring())
            accepted = await wait_for_page_event(tab, "call:accepted")
            assert accepted["user_id"] == mentor.id and accepted["polite"] is True
            await tab.evaluate("(args) => startP2P(args)", {
                "callId": call_id, "peerId": mentor.id, "polite": False, "iceServers": started["ice_servers"]})

            before, after = await media_keeps_flowing_into(tab)
            print(f"browser (p2p): {before} -> {after}")
            assert after["videoFramesDecoded"] > before["videoFramesDecoded"] > 0
            assert after["audioBytesReceived"] > before["audioBytesReceived"] > 0
            pair = await tab.evaluate("selectedPair()")
            print(f"selected ICE pair: {pair}")
            assert pair["local"] == pair["remote"] == netns.peer_address, "media stays on the veth address"
            assert pair["localType"] == pair["remoteType"] == "host"
            the_callee = callee
            assert await inside.run(wait_until(lambda: the_callee.frames["video"] > 10
                                               and the_callee.frames["audio"] > 10))
            assert callee.candidates_added > 0, "the browser's trickled candidates reached aiortc"
            print(f"aiortc callee decoded {callee.frames}, took {callee.candidates_added} trickled candidates")

            ok(await tab.evaluate("(id) => ack('call:end', {call_id: id})", call_id))
            ended = await inside.run(mentor_client.wait_for("call:ended", lambda d: d["call_id"] == call_id))
            assert ended["reason"] == "hangup" and ended["by"] == mentee.id
    finally:
        if callee is not None:
            await inside.run(callee.close())
        await inside.run(hang_up_everyone(mentor))


async def test_an_offer_and_its_trickled_candidates_arrive_in_the_order_they_were_sent(
        media_server: ServerProcess) -> None:
    mentee = await register(media_server)
    mentor = await register(media_server, role="mentor")
    a, b = await mentee.connect(), await mentor.connect()
    try:
        room_id = ok(await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
        call_id = ok(await a.call("call:start", {"room_id": room_id}))["call"]["id"]
        await b.wait_for("call:ring")
        ok(await b.call("call:accept", {"call_id": call_id}))
        candidates = [{"candidate": f"candidate:{i} 1 udp 2122260223 10.0.0.2 {50000 + i} typ host",
                       "sdpMid": "0", "sdpMLineIndex": 0} for i in range(12)]
        # Sent back to back without waiting for acks, as a browser's onicecandidate does.
        await a.sio.emit("call:offer", {"call_id": call_id, "to": mentor.id, "sdp": "v=0\r\n"})
        for candidate in candidates:
            await a.sio.emit("call:ice", {"call_id": call_id, "to": mentor.id, "candidate": candidate})
        await b.wait_for("call:ice", lambda d: d["candidate"] == candidates[-1])
        relayed = [(name, data) for name, data in b.events if name in ("call:offer", "call:ice")]
        assert relayed[0][0] == "call:offer"
        assert [data["candidate"] for _, data in relayed[1:]] == candidates
        ok(await a.call("call:end", {"call_id": call_id}))
    finally:
        await hang_up_everyone(mentee, mentor)


# ---------------------------------------------------------------------------------------------
# Chromium in a group call through the server relay, with an aiortc participant


@pytest.mark.browser
async def test_a_browser_joins_a_group_call_through_the_server_relay(
        media_server: ServerProcess, inside: InsideLoop, netns: NetworkNamespace,  # noqa: F811
        page_origin: str) -> None:
    leader = await register(media_server, role="leader")
    members = [await register(media_server) for _ in range(3)]
    leader_client: LiveClient = await inside.run(leader.connect())
    leader_peer: ClientPeer | None = None
    try:
        room_id = await inside.run(open_group(leader_client, members))
        async with call_page(netns, page_origin, media_server, members[0]) as tab:
            started = ok(await inside.run(leader_client.call(
                "call:start", {"room_id": room_id, "media": "video", "mode": "relay"})))
            call_id = started["call"]["id"]
            ring = await wait_for_page_event(tab, "call:ring")
            assert ring["call"]["id"] == call_id and ring["call"]["mode"] == "relay"
            accepted = await tab.evaluate("(id) => ack('call:accept', {call_id: id})", call_id)
            leader_peer = await inside.run(join_relay(leader_client, call_id, "leader", luma=70, amplitude=LOUD))
            layout = await tab.evaluate("([id, servers]) => joinRelay(id, servers)",
                                        [call_id, accepted["ice_servers"]])
            assert layout == {"audio": 3, "video": 2}

            before, after = await media_keeps_flowing_into(tab)
            print(f"browser (relay): {before} -> {after}")
            assert after["videoFramesDecoded"] > before["videoFramesDecoded"] > 0
            assert after["audioBytesReceived"] > before["audioBytesReceived"] > 0
            pair = await tab.evaluate("selectedPair()")
            print(f"selected ICE pair: {pair}")
            assert (pair["local"], pair["remote"]) == (netns.peer_address, netns.host_address)

            the_peer = leader_peer
            assert await inside.run(wait_until(lambda: any(s.frames > 10 for s in the_peer.video_slots())
                                               and hears(the_peer, 1)))
            stats = await inside.run(media_stats(leader_client, call_id))
            browser_figures = stats["participants"][members[0].id]
            assert browser_figures["connection_state"] == "connected"
            assert browser_figures["frames_received"]["video"] > 0 and browser_figures["frames_received"]["audio"] > 0
            assert stats["participants"][leader.id]["receiving"]["video"][0] == members[0].id
            print(f"server received from the browser: {browser_figures['frames_received']}, "
                  f"first frames after join {browser_figures['first_frame_after_join_ms']} ms")

            ok(await tab.evaluate("(id) => ack('call:end', {call_id: id})", call_id))
            await inside.run(leader_client.wait_for("call:left", lambda d: d["user_id"] == members[0].id))
            stats = await inside.run(media_stats(leader_client, call_id))
            assert set(stats["participants"]) == {leader.id}
    finally:
        if leader_peer is not None:
            await inside.run(leader_peer.close())
        await inside.run(hang_up_everyone(leader))


# ---------------------------------------------------------------------------------------------
# A 1:1 call that fell back to the relay still ends when one side hangs up


async def test_a_one_to_one_call_on_the_relay_ends_for_both_when_one_hangs_up(
        media_server: ServerProcess, inside: InsideLoop) -> None:
    mentee = await register(media_server)
    mentor = await register(media_server, role="mentor")

    async def scenario() -> None:
        a, b = await mentee.connect(), await mentor.connect()
        peers: list[ClientPeer] = []
        try:
            room_id = ok(await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
            call_id = ok(await a.call("call:start", {"room_id": room_id}))["call"]["id"]
            await b.wait_for("call:ring")
            ok(await b.call("call:accept", {"call_id": call_id}))
            # Peer to peer did not connect (say, both behind strict NATs): both go to the relay.
            peers.append(await join_relay(a, call_id, "mentee", luma=80, amplitude=LOUD))
            peers.append(await join_relay(b, call_id, "mentor", luma=160, amplitude=LOUD))
            assert await wait_until(lambda: sees(peers[0], peers[1]) and sees(peers[1], peers[0]))

            ok(await a.call("call:end", {"call_id": call_id}))
            ended = await b.wait_for("call:ended", lambda d: d["call_id"] == call_id)
            assert ended["reason"] == "hangup" and ended["by"] == mentee.id
            # The server closed the mentor's media session too, not only the mentee's.
            assert await wait_until(lambda: peers[1].pc.connectionState in ("closed", "failed"), timeout=15)
            peers.append(ClientPeer("mentor again", luma=160, amplitude=QUIET, audio_slots=1, video_slots=1))
            refused = await b.call("media:join", {"call_id": call_id, **await peers[2].offer()})
            assert refused["error"]["code"] == "call_ended"
        finally:
            await close_peers(*peers)
            await hang_up_everyone(mentee, mentor)

    await inside.run(scenario(), timeout=90)


# ---------------------------------------------------------------------------------------------
# The media server's own peer uses the STUN servers the clients are given


class StunResponder(asyncio.DatagramProtocol):
    """A minimal STUN server on the veth address: answers Binding requests with the sender's address."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.requests.append(addr)
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id,
                                {"XOR-MAPPED-ADDRESS": addr})
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


async def test_the_media_server_peer_uses_the_stun_servers_clients_are_given(
        netns: NetworkNamespace, inside: InsideLoop,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> None:
    transport, responder = await asyncio.get_running_loop().create_datagram_endpoint(
        StunResponder, local_addr=(netns.host_address, 0))
    stun_url = f"stun:{netns.host_address}:{transport.get_extra_info('sockname')[1]}"
    data_dir = tmp_path_factory.mktemp("calls-stun")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         host=netns.host_address, port=free_port(netns.host_address),
                         extra_env={"MV_STUN_URLS": stun_url, "MV_TURN_URLS": "", "MV_TURN_SECRET": ""})
    await asyncio.to_thread(proc.start)
    try:
        mentee, mentor = await register(proc), await register(proc, role="mentor")

        async def scenario() -> str:
            a, b = await mentee.connect(), await mentor.connect()
            peer = None
            try:
                assert ok(await a.call("call:ice_servers"))["ice_servers"] == [{"urls": [stun_url]}]
                room_id = ok(await a.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
                call_id = ok(await a.call("call:start", {"room_id": room_id}))["call"]["id"]
                await b.wait_for("call:ring")
                ok(await b.call("call:accept", {"call_id": call_id}))
                layout = ok(await a.call("media:layout"))["layout"]
                peer = ClientPeer("mentee", luma=80, amplitude=QUIET, audio_slots=layout["audio"],
                                  video_slots=layout["video"])
                reply = ok(await a.call("media:join", {"call_id": call_id, **await peer.offer()}))
                ok(await a.call("call:end", {"call_id": call_id}))
                return reply["answer"]["sdp"]
            finally:
                await close_peers(peer)
                await hang_up_everyone(mentee, mentor)

        answer = await inside.run(scenario(), timeout=60)
        srflx = [line for line in answer.splitlines() if line.startswith("a=candidate") and " typ srflx " in line]
        print(f"STUN binding requests from the media server: {len(responder.requests)}; "
              f"server-reflexive candidates in its answer: {len(srflx)}")
        assert responder.requests and srflx
    finally:
        await asyncio.to_thread(proc.stop)
        transport.close()
