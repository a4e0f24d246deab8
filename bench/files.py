"""Shared files: upload and download throughput, the cost of cleaning a phone photo, server memory.

    .venv/bin/python bench/files.py              # 5 × 10 MB PDF up and down, 3 × 12 MP photo up
    .venv/bin/python bench/files.py --rounds 10

One `python -m server` process on SQLite in a temporary data dir, loopback only; two users in a
direct room upload through `POST /api/rooms/{id}/files` and fetch through `GET /api/files/{id}`, one
request at a time. The server's peak RSS (VmHWM) is read before and after, to show that a 10 MB
document streams through in chunks while a photo is held whole while it is cleaned.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live_server import ServerProcess, close_all, register  # noqa: E402

MB = 1024 * 1024


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phone_photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12 MP JPEG with noise-like content (so it compresses like a photo, not like a flat colour)."""
    image = Image.effect_noise((width, height), 64).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def main(rounds: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="mv-bench-files-"))
    server = ServerProcess(data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{data_dir / 'mentalverse.db'}",
                           extra_env={"MV_FILE_UPLOAD_RATE": "10000/minute", "MV_LOG_LEVEL": "WARNING"}).start()
    try:
        mentee, mentor = await register(server), await register(server, role="mentor")
        client = await mentee.connect()
        room_id = (await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]["id"]
        document = b"%PDF-1.4\n" + b"0123456789abcdef" * (10 * MB // 16 - 1)
        photo = phone_photo()
        rss_start = peak_rss_mb(server.proc.pid)
        up, down, photos = [], [], []
        async with aiohttp.ClientSession() as http:
            async def send(data: bytes, name: str) -> str:
                headers = {"Authorization": f"Bearer {mentee.token}", "Content-Type": "application/octet-stream", "X-File-Name": name}
                async with http.post(f"{server.url}/api/rooms/{room_id}/files", data=data, headers=headers) as resp:
                    assert resp.status == 201, await resp.text()
                    return (await resp.json())["file"]["file_id"]

            for i in range(rounds):
                started = time.perf_counter()
                file_id = await send(document, f"doc{i}.pdf")
                up.append(time.perf_counter() - started)
                started = time.perf_counter()
                async with http.get(f"{server.url}/api/files/{file_id}", headers={"Authorization": f"Bearer {mentor.token}"}) as resp:
                    assert len(await resp.read()) == len(document)
                down.append(time.perf_counter() - started)
            rss_documents = peak_rss_mb(server.proc.pid)
            for i in range(max(1, rounds // 2)):
                started = time.perf_counter()
                await send(photo, f"photo{i}.jpg")
                photos.append(time.perf_counter() - started)
            rss_photos = peak_rss_mb(server.proc.pid)
        await close_all(mentee, mentor)
        size_mb = len(document) / MB
        print(f"10 MB document × {rounds}: upload median {statistics.median(up) * 1000:.0f} ms "
              f"({size_mb / statistics.median(up):.0f} MB/s), download median {statistics.median(down) * 1000:.0f} ms "
              f"({size_mb / statistics.median(down):.0f} MB/s)")
        print(f"12 MP photo ({len(photo) / MB:.1f} MB) × {len(photos)}: upload with cleaning and thumbnail, "
              f"median {statistics.median(photos) * 1000:.0f} ms")
        print(f"server peak RSS: {rss_start:.0f} MB at start, {rss_documents:.0f} MB after the documents, "
              f"{rss_photos:.0f} MB after the photos")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
