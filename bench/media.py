"""Media server cost, forwarding encoded frames vs decoding and re-encoding per viewer.

    .venv/bin/python -m bench.media [--sizes 2 4 8] [--modes forward transcode] [--seconds 8]
                                    [--width 640 --height 480]

Needs root (it makes a network namespace, removed on exit). The MediaServer runs in this
process in the root namespace; the synthetic participants run in a child process inside the
namespace, so the CPU time measured here (``os.times()``: user + system time of every thread,
including aiortc's decoder threads and the encoder executor) is the server's alone.

What the participants send is camera-like (``tests.media_peers.CameraClip``: textured, moving,
grainy 640x480 VP8 at about 1 Mbit/s, pre-encoded once so eight publishers cost the client
little, every frame also available as a keyframe to answer the server's requests) plus a live
Opus tone. They count received frames without decoding them. Participant 1 talks (so there is
an active speaker), participant 0 leads; each receives at most 2 videos (last-N) and everyone's
audio.

Modes, in the same run: ``forward`` is the relay as built (encoded frames fanned out, nothing
decoded); ``transcode`` is the relay before issue 21 (``MediaServer(transcode_always=True)``:
each publisher decoded once, one encode per viewer slot).

Media, in the same run: ``audio+video`` is a real call, everyone's audio to everyone (the
server's CPU in all); ``video`` leaves microphones out, so that CPU per relayed video stream =
server CPU / video slots fed is the cost of video alone (receiving the publisher's stream,
fanning it out, RTCP); in an ``audio+video`` row that ratio also carries all the audio and is an
upper bound. First video frame = from a participant's join request
(from the second join for the first participant, who had nobody to see before) to its first
received video frame; frames/s per fed video slot over the window.

Stops by itself: each run is bounded by ``--seconds`` plus a fixed setup allowance, and the
client process is killed by pid if it overruns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SETUP_ALLOWANCE_SECONDS = 30.0  # joining and first frames; beyond this the run is abandoned
QUIET, LOUD = 0.0005, 0.5
CLIP_OFFSET_FRAMES = 11  # each publisher starts the clip elsewhere, so no two look alike


async def run_clients(url: str, room: str, participants: int, seconds: float,
                      clip_path: Path, with_audio: bool) -> None:
    """Client side (inside the namespace): join everyone, report first frames, hold, leave."""
    import aiohttp

    from tests.media_peers import CameraClip, ClientPeer, ClipTrack, wait_until

    clip = CameraClip.load(clip_path)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/layout") as response:
            layout = await response.json()
        peers: list[ClientPeer] = []
        joined_at: dict[str, float] = {}
        for i in range(participants):
            name = f"p{i}"
            amplitude = (LOUD if i == 1 else QUIET) if with_audio else None
            peer = ClientPeer(name, luma=0, amplitude=amplitude,
                              audio_slots=layout["audio"] if with_audio else 0,
                              video_slots=layout["video"],
                              clip=ClipTrack(clip, start=i * CLIP_OFFSET_FRAMES))
            joined_at[name] = time.monotonic()
            offer = await peer.offer()
            async with http.post(f"{url}/join", json={"room": room, "user": name,
                                                      "leader": i == 0, "offer": offer}) as resp:
                await peer.accept(await resp.json())
            peers.append(peer)

        def everyone_sees_video() -> bool:
            return all(any(s.frames for s in p.video_slots()) for p in peers)

        ok = await wait_until(everyone_sees_video, timeout=SETUP_ALLOWANCE_SECONDS)
        second_join = sorted(joined_at.values())[1]
        first_frame_ms = {
            p.name: round(1000 * (min(s.first_frame_at for s in p.video_slots()
                                      if s.first_frame_at) - max(joined_at[p.name], second_join)))
            for p in peers if any(s.first_frame_at for s in p.video_slots())}
        print(json.dumps({"ready": ok, "first_video_frame_ms": first_frame_ms}), flush=True)
        counts_before = [[s.frames for s in p.video_slots()] for p in peers]
        cpu_before = time.process_time()
        await asyncio.sleep(seconds)
        client_cpu = time.process_time() - cpu_before
        counts_after = [[s.frames for s in p.video_slots()] for p in peers]
        fps = [round((a - b) / seconds, 1) for pa, pb in zip(counts_after, counts_before)
               for a, b in zip(pa, pb) if a > b]
        print(json.dumps({"received_video_fps": fps,
                          "client_cpu_percent": round(100 * client_cpu / seconds, 1)}),
              flush=True)
        for peer in peers:
            await peer.close()


async def measure(mode: str, media: str, size: int, args: argparse.Namespace, ns: Any,
                  clip_path: Path) -> dict[str, Any]:
    """Server side: serve joins over HTTP on the veth, measure CPU while everyone is relayed."""
    from aiohttp import web

    from media import MediaServer

    server = MediaServer(ice_servers=[], max_participants_per_room=max(size, 2),
                         max_video_forwards=2, recordings_dir="/nonexistent",
                         transcode_always=mode == "transcode")

    async def layout(request: web.Request) -> web.Response:
        return web.json_response(server.slot_layout())

    async def join(request: web.Request) -> web.Response:
        body = await request.json()
        answer = await server.join(body["room"], body["user"], body["offer"],
                                   is_leader=body["leader"])
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/layout", layout)
    app.router.add_post("/join", join)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, ns.host_address, 0).start()
    url = f"http://{ns.host_address}:{runner.addresses[0][1]}"
    room = f"bench-{mode}-{media}-{size}"
    argv = ns.command([sys.executable, "-m", "bench.media", "--client", url, "--room", room,
                       "--participants", str(size), "--seconds", str(args.seconds),
                       "--clip", str(clip_path), "--media", media])
    client = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result: dict[str, Any] = {"mode": mode, "media": media, "participants": size}
    try:
        line = await asyncio.wait_for(client.stdout.readline(), SETUP_ALLOWANCE_SECONDS + 10)
        ready = json.loads(line or b"{}")
        result["first_video_frame_ms"] = ready.get("first_video_frame_ms")
        if not ready.get("ready"):
            result["error"] = "not every participant received video within the allowance"
            return result
        times_before, wall_before = os.times(), time.monotonic()
        await asyncio.sleep(args.seconds * 0.9)
        times_after = os.times()
        wall = time.monotonic() - wall_before
        user = times_after.user - times_before.user
        system = times_after.system - times_before.system
        cpu = user + system
        forwarding = server.forwarding(room)
        video_streams = sum(1 for r in forwarding["receiving"].values() for s in r["video"] if s)
        audio_streams = sum(1 for r in forwarding["receiving"].values() for s in r["audio"] if s)
        stats = await server.stats(room)
        result.update({
            "server_cpu_percent": round(100 * cpu / wall, 1),
            "server_user_system_percent": [round(100 * user / wall, 1),
                                           round(100 * system / wall, 1)],
            "relayed_video_streams": video_streams,
            "relayed_audio_streams": audio_streams,
            "cpu_percent_per_relayed_video_stream": round(100 * cpu / wall / video_streams, 2)
            if video_streams else None,
            "transcoded_slots": len(forwarding["transcoding"]),
            "server_frames_decoded": sum(sum(p["frames_decoded"].values())
                                         for p in stats["participants"].values()),
            "rtt_ms": {u: p["rtt_ms"] for u, p in stats["participants"].items()},
        })
        line = await asyncio.wait_for(client.stdout.readline(), args.seconds + 10)
        result.update(json.loads(line or b"{}"))
    finally:
        if client.returncode is None:
            try:
                await asyncio.wait_for(client.wait(), 15)
            except asyncio.TimeoutError:
                client.kill()
                await client.wait()
        await server.close()
        await runner.cleanup()
    return result


def summary_row(result: dict[str, Any]) -> str:
    """One line of the closing table (what bench/README.md quotes)."""
    label = f"{result['mode']:<10} {result['media']:<12} {result['participants']:>6}"
    if "error" in result or "server_cpu_percent" not in result:
        return f"{label}  {result.get('error', 'failed')}"
    first = sorted((result.get("first_video_frame_ms") or {}).values()) or [0]
    fps = sorted(result.get("received_video_fps") or []) or [0.0]
    return (f"{label} {result['relayed_video_streams']:>7}"
            f" {result['server_cpu_percent']:>10.1f} {result['cpu_percent_per_relayed_video_stream']:>12.2f}"
            f" {statistics.median(first):>9.0f} {first[-1]:>6.0f}"
            f" {fps[0]:>8.1f} {statistics.median(fps):>7.1f}"
            f" {result['server_frames_decoded']:>8} {result.get('client_cpu_percent', 0):>8.1f}")


async def run_server(args: argparse.Namespace) -> None:
    from tests.media_peers import CameraClip
    from tests.netns import network_namespace

    with tempfile.TemporaryDirectory() as scratch, network_namespace() as ns:
        clip = CameraClip.make(args.width, args.height)
        clip_path = Path(scratch) / "clip.vp8s"
        clip.save(clip_path)
        print(f"media bench: {args.width}x{args.height} camera-like VP8 at "
              f"{clip.bitrate / 1000:.0f} kbit/s, 2 video slots, window {args.seconds} s, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; netns {ns.name}")
        results = []
        for size in args.sizes:
            for media in args.media:
                for mode in args.modes:
                    result = await asyncio.wait_for(
                        measure(mode, media, size, args, ns, clip_path),
                        SETUP_ALLOWANCE_SECONDS + 3 * args.seconds + 40)
                    print(json.dumps(result), flush=True)
                    results.append(result)
        print("\nmode       media        people  videos  server CPU%  CPU%/video  first ms median"
              "   max  fps min  median  decoded  client CPU%")
        for result in results:
            print(summary_row(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--modes", nargs="+", choices=["forward", "transcode"],
                        default=["forward", "transcode"])
    parser.add_argument("--media", nargs="+", choices=["audio+video", "video"],
                        default=["audio+video", "video"])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--room", help=argparse.SUPPRESS)
    parser.add_argument("--participants", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # The event loop `python -m server` runs on (server/__main__.py), for both sides.
    import uvloop  # a dependency of the server on Linux; imported here, where the loop is chosen

    if args.client:
        uvloop.run(run_clients(args.client, args.room, args.participants, args.seconds,
                               args.clip, with_audio=args.media == ["audio+video"]))
    else:
        uvloop.run(run_server(args))


if __name__ == "__main__":
    main()
