"""Media server cost: CPU per relayed stream and time from join to first decoded frame.

    .venv/bin/python -m bench.media [--sizes 2 4] [--seconds 8] [--width 640 --height 480]

Needs root (it makes a network namespace, removed on exit). The MediaServer runs in this
process in the root namespace; the synthetic client peers run in a child process inside the
namespace, so the CPU time measured here (``time.process_time()``, all threads: aiortc decodes
on its own threads and encodes on the executor) is the server's alone. Per relayed stream means
per (subscriber, slot) actually fed; every publisher is also decoded once, which is included.
The pictures are flat colours, which VP8 encodes far more cheaply than a camera image: read the
video figure as a lower bound (FACTS.md: ≈14 % of a core per 480p encode of real content).
One participant talks (so there is an active speaker), the first one is the leader.

Stops by itself: each size is bounded by ``--seconds`` plus a fixed setup allowance, and the
client process is killed by pid if it overruns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

SETUP_ALLOWANCE_SECONDS = 30.0  # joining and first frames; beyond this the size is abandoned
QUIET, LOUD = 0.0005, 0.5


async def run_clients(url: str, room: str, participants: int, seconds: float, width: int,
                      height: int) -> None:
    """Client side (inside the namespace): join everyone, report first frames, hold, leave."""
    import aiohttp

    from tests.media_peers import ClientPeer, wait_until

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/layout") as response:
            layout = await response.json()
        peers: list[ClientPeer] = []
        joined_at: dict[str, float] = {}
        for i in range(participants):
            name = f"p{i}"
            peer = ClientPeer(name, luma=40 + 40 * i, amplitude=LOUD if i == 1 else QUIET,
                              audio_slots=layout["audio"], video_slots=layout["video"],
                              width=width, height=height)
            joined_at[name] = time.monotonic()
            offer = await peer.offer()
            async with http.post(f"{url}/join", json={"room": room, "user": name,
                                                      "leader": i == 0, "offer": offer}) as resp:
                await peer.accept(await resp.json())
            peers.append(peer)

        def everyone_sees_video() -> bool:
            return all(any(s.frames for s in p.video_slots()) for p in peers)

        ok = await wait_until(everyone_sees_video, timeout=SETUP_ALLOWANCE_SECONDS)
        # Counted from when there was someone to see: the first joiner waits for the second.
        second_join = sorted(joined_at.values())[1]
        first_frame_ms = {
            p.name: round(1000 * (min(s.first_frame_at for s in p.video_slots()
                                      if s.first_frame_at) - max(joined_at[p.name], second_join)))
            for p in peers if any(s.first_frame_at for s in p.video_slots())}
        print(json.dumps({"ready": ok, "first_video_frame_ms": first_frame_ms}), flush=True)
        counts_before = [[s.frames for s in p.video_slots()] for p in peers]
        await asyncio.sleep(seconds)
        counts_after = [[s.frames for s in p.video_slots()] for p in peers]
        fps = [round((a - b) / seconds, 1) for pa, pb in zip(counts_after, counts_before)
               for a, b in zip(pa, pb) if a > b]
        print(json.dumps({"received_video_fps": fps}), flush=True)
        for peer in peers:
            await peer.close()


async def measure(size: int, args: argparse.Namespace, ns: Any) -> dict[str, Any]:
    """Server side: serve joins over HTTP on the veth, measure CPU while everyone is relayed."""
    from aiohttp import web

    from media import MediaServer

    server = MediaServer(ice_servers=[], max_participants_per_room=max(size, 2),
                         max_video_forwards=2, recordings_dir="/nonexistent")
    join_ms: list[float] = []

    async def layout(request: web.Request) -> web.Response:
        return web.json_response(server.slot_layout())

    async def join(request: web.Request) -> web.Response:
        body = await request.json()
        started = time.perf_counter()
        answer = await server.join(body["room"], body["user"], body["offer"],
                                   is_leader=body["leader"])
        join_ms.append(1000 * (time.perf_counter() - started))
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/layout", layout)
    app.router.add_post("/join", join)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, ns.host_address, 0).start()
    url = f"http://{ns.host_address}:{runner.addresses[0][1]}"
    room = f"bench-{size}"
    argv = ns.command([sys.executable, "-m", "bench.media", "--client", url, "--room", room,
                       "--participants", str(size), "--seconds", str(args.seconds),
                       "--width", str(args.width), "--height", str(args.height)])
    client = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                  cwd=os.path.dirname(os.path.dirname(
                                                      os.path.abspath(__file__))))
    result: dict[str, Any] = {"participants": size}
    try:
        line = await asyncio.wait_for(client.stdout.readline(), SETUP_ALLOWANCE_SECONDS + 10)
        ready = json.loads(line or b"{}")
        result["first_video_frame_ms"] = ready.get("first_video_frame_ms")
        result["server_join_ms"] = [round(ms) for ms in join_ms]
        if not ready.get("ready"):
            result["error"] = "not every participant received video within the allowance"
            return result
        stats = await server.stats(room)
        result["server_first_decoded_video_ms"] = {
            user: p["first_frame_after_join_ms"].get("video")
            for user, p in stats["participants"].items()}
        cpu_before, wall_before = time.process_time(), time.monotonic()
        await asyncio.sleep(args.seconds * 0.9)
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        forwarding = server.forwarding(room)["receiving"]
        video_streams = sum(1 for r in forwarding.values() for s in r["video"] if s)
        audio_streams = sum(1 for r in forwarding.values() for s in r["audio"] if s)
        stats = await server.stats(room)
        result.update({
            "server_cpu_percent": round(100 * cpu / wall, 1),
            "relayed_video_streams": video_streams,
            "relayed_audio_streams": audio_streams,
            "cpu_percent_per_relayed_video_stream": round(100 * cpu / wall / video_streams, 1)
            if video_streams else None,
            "cpu_percent_per_relayed_stream_any_kind": round(
                100 * cpu / wall / (video_streams + audio_streams), 1),
            "bitrate_out_kbps": {u: round((p["bitrate_out_bps"] or 0) / 1000)
                                 for u, p in stats["participants"].items()},
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


async def run_server(args: argparse.Namespace) -> None:
    from tests.netns import network_namespace

    with network_namespace() as ns:
        print(f"media bench: {args.width}x{args.height} VP8, 2 video slots, window "
              f"{args.seconds} s, {os.cpu_count()} cores; netns {ns.name}")
        for size in args.sizes:
            result = await asyncio.wait_for(measure(size, args, ns),
                                            SETUP_ALLOWANCE_SECONDS + 3 * args.seconds + 40)
            print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--room", help=argparse.SUPPRESS)
    parser.add_argument("--participants", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(run_clients(args.client, args.room, args.participants, args.seconds,
                                args.width, args.height))
    else:
        asyncio.run(run_server(args))


if __name__ == "__main__":
    main()
