"""Nobody gets in who should not, and nobody stays in who was shown the door.

HTTP hardening (headers, CORS, CSRF-safe bodies, TLS), tokens (expiry, revocation, signing-key
rotation, bans reaching live connections) and rate limits, against real server processes.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import socketio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.transport.security import CONTENT_SECURITY_POLICY
from tests.conftest import REDIS_URL, database_url_for
from tests.live_server import PASSWORD, ServerProcess, close_all, register

ALLOWED_ORIGIN = "https://app.mentalverse.example"
EVIL_ORIGIN = "https://evil.example"


def start_server(tmp_path: Path, name: str = "s", **env: str) -> ServerProcess:
    data_dir = tmp_path / name
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir), extra_env=env)
    return proc.start()


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory):
    """One server for the tests that need no special limits; each test uses its own people."""
    proc = start_server(tmp_path_factory.mktemp("hardened"), MV_CORS_ORIGINS=ALLOWED_ORIGIN)
    yield proc
    proc.stop()


async def login(server: ServerProcess, username: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
            return data["token"]


async def get_me(server: ServerProcess, token: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()


async def socket_refusal(server: ServerProcess, token: str, **kwargs) -> str | None:
    """None when a Socket.IO connection with this token is accepted, else the refusal text."""
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[str] = []
    client.on("connect_error", lambda data: reasons.append(str(data)))
    try:
        await client.connect(server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10, **kwargs)
    except socketio.exceptions.ConnectionError as exc:
        return " ".join(reasons) or str(exc)
    await client.disconnect()
    return None


# --- HTTP hardening --------------------------------------------------------------------------


async def test_every_kind_of_response_carries_the_security_headers(hardened):
    paths = ["/healthz", "/", "/static/js/main.js", "/api/me", "/no/such/page", "/socket.io/?EIO=4&transport=polling"]
    async with aiohttp.ClientSession() as http:
        for path in paths:
            async with http.get(hardened.url + path) as resp:
                h = resp.headers
                assert h["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
                assert h["X-Content-Type-Options"] == "nosniff", path
                assert h["Referrer-Policy"] == "no-referrer", path
                assert "camera=(self)" in h["Permissions-Policy"] and "microphone=(self)" in h["Permissions-Policy"], path
                assert "Strict-Transport-Security" not in h, f"HSTS over plain HTTP on {path}"
                print(f"{path} -> {resp.status} with security headers")


async def test_a_preflight_from_an_unlisted_origin_is_refused_and_a_listed_one_is_answered(hardened):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    async with aiohttp.ClientSession() as http:
        async with http.options(f"{hardened.url}/api/auth/login", headers={"Origin": EVIL_ORIGIN, **preflight}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "origin_not_allowed"
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.options(f"{hardened.url}/api/auth/login", headers={"Origin": ALLOWED_ORIGIN, **preflight}) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        async with http.get(f"{hardened.url}/healthz", headers={"Origin": EVIL_ORIGIN}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers, "a foreign page cannot read our answers"


async def test_a_socketio_handshake_from_an_unlisted_origin_is_refused(hardened):
    mentee = await register(hardened)
    refusal = await socket_refusal(hardened, mentee.token, headers={"Origin": EVIL_ORIGIN})
    assert refusal is not None, "a page on another origin must not open a socket as the user"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hardened.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 400
    assert await socket_refusal(hardened, mentee.token, headers={"Origin": ALLOWED_ORIGIN}) is None
    assert await socket_refusal(hardened, mentee.token) is None, "non-browser clients send no Origin"


async def test_state_changing_routes_refuse_what_a_cross_site_form_can_send(hardened):
    """CSRF-safe by design: bearer tokens, never cookies; and no form-encoded state changes."""
    mentee = await register(hardened)
    body = f"username={mentee.username}&password={PASSWORD}"
    async with aiohttp.ClientSession() as http:
        for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"):
            async with http.post(f"{hardened.url}/api/auth/login", data=body, headers={"Content-Type": content_type}) as resp:
                assert resp.status == 415, content_type
                assert (await resp.json())["error"]["code"] == "unsupported_media_type"
        creds = {"username": mentee.username, "password": PASSWORD}
        async with http.post(f"{hardened.url}/api/auth/login", json=creds, headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "origin_not_allowed"
        async with http.post(f"{hardened.url}/api/auth/login", json=creds) as resp:
            assert resp.status == 200
            assert "Set-Cookie" not in resp.headers, "authentication never rides on a cookie"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    directory.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


async def test_with_a_certificate_configured_the_server_speaks_https_and_wss_only(tmp_path):
    cert, key = self_signed_certificate(tmp_path / "tls")
    data_dir = tmp_path / "tls-server"
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir),
                         extra_env={"MV_TLS_CERT": str(cert), "MV_TLS_KEY": str(key)})
    # The fixture's readiness probe speaks plain HTTP; wait for the port, then probe over TLS.
    with pytest.raises(RuntimeError):
        proc.start(timeout=2)
    trust = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{proc.port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
                assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
            username = f"tls_{uuid.uuid4().hex[:8]}"
            reg = {"username": username, "password": PASSWORD, "display_name": "Tls"}
            async with http.post(f"{base}/api/auth/register", json=reg) as resp:
                assert resp.status == 201
            async with http.post(f"{base}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp:
                token = (await resp.json())["token"]
            client = socketio.AsyncClient(reconnection=False, http_session=http)
            await client.connect(base, auth={"token": token}, transports=["websocket"], wait_timeout=10)
            assert (await client.call("room:list", timeout=10))["ok"]
            print(f"HTTPS healthz and a WSS Socket.IO session on {base} (self-signed, verified against it)")
            await client.disconnect()
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                async with plain.get(f"http://127.0.0.1:{proc.port}/healthz") as resp:
                    assert resp.status >= 400
    finally:
        proc.stop()


# --- Tokens ----------------------------------------------------------------------------------


async def test_an_expired_token_opens_nothing(tmp_path):
    proc = start_server(tmp_path, MV_TOKEN_TTL_SECONDS="2")
    try:
        mentee = await register(proc)
        assert (await get_me(proc, mentee.token))[0] == 200
        assert await socket_refusal(proc, mentee.token) is None
        await asyncio.sleep(3.2)
        status, body = await get_me(proc, mentee.token)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        assert "expired" in (await socket_refusal(proc, mentee.token) or "")
    finally:
        proc.stop()


async def test_logout_revokes_one_token_and_logout_everywhere_ends_every_session_and_connection(hardened):
    mentee = await register(hardened)
    other_device = await login(hardened, mentee.username)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hardened.url}/api/auth/logout", headers={"Authorization": f"Bearer {mentee.token}"}) as resp:
            assert resp.status == 200
    assert (await get_me(hardened, mentee.token))[0] == 401
    assert (await get_me(hardened, other_device))[0] == 200, "logout ends only this device's token"

    third = await login(hardened, mentee.username)
    mentee.token = third
    live = await mentee.connect()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hardened.url}/api/auth/logout-all", headers={"Authorization": f"Bearer {third}"}) as resp:
            assert resp.status == 200
    deadline = time.monotonic() + 5
    while live.sio.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not live.sio.connected, "log out everywhere closes live connections"
    for token in (other_device, third):
        assert (await get_me(hardened, token))[0] == 401
        assert await socket_refusal(hardened, token) is not None


async def test_after_a_signing_key_rotation_the_previous_key_still_works_and_the_one_before_does_not(hardened):
    mentee = await register(hardened)
    first = mentee.token
    await asyncio.to_thread(hardened.cli, "keys", "rotate-signing")
    await asyncio.sleep(5.5)  # each server re-reads the current key id every 5 s
    second = await login(hardened, mentee.username)
    assert (await get_me(hardened, first))[0] == 200, "tokens of the previous key stay valid"
    await asyncio.to_thread(hardened.cli, "keys", "rotate-signing")
    await asyncio.sleep(5.5)
    status, body = await get_me(hardened, first)
    assert status == 401, "a token two keys old is refused"
    assert await socket_refusal(hardened, first) is not None
    assert (await get_me(hardened, second))[0] == 200
    assert await socket_refusal(hardened, second) is None


async def wait_disconnected(client: socketio.AsyncClient, timeout: float) -> float:
    started = time.perf_counter()
    while client.connected and time.perf_counter() - started < timeout:
        await asyncio.sleep(0.02)
    assert not client.connected, f"still connected {timeout}s after the ban"
    return time.perf_counter() - started


async def test_a_banned_user_is_disconnected_within_seconds_and_cannot_come_back(hardened):
    """Without Redis the admin CLI cannot reach the server; the server's own periodic check does."""
    mentee = await register(hardened)
    phone, laptop = await mentee.connect(), await mentee.connect()
    started = time.perf_counter()
    await asyncio.to_thread(hardened.cli, "users", "ban", mentee.username)
    cli_done = time.perf_counter()
    waits = [await wait_disconnected(c.sio, 10) for c in (phone, laptop)]
    print(f"ban without Redis: CLI ran {cli_done - started:.2f}s; both connections closed "
          f"{time.perf_counter() - cli_done:.2f}s after it returned (periodic check every 2 s)")
    assert max(waits) < 10
    assert await socket_refusal(hardened, mentee.token) is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hardened.url}/api/auth/login", json={"username": mentee.username, "password": PASSWORD}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "banned"


async def test_with_redis_a_ban_reaches_every_server_process_at_once(tmp_path, redis_prefix):
    data_dir = tmp_path / "cluster"
    url = database_url_for("sqlite", data_dir)
    # A long periodic check, so only the Redis push can explain a fast disconnect.
    env = {"MV_SESSION_CHECK_SECONDS": "60"}
    a = ServerProcess(data_dir=data_dir, database_url=url, redis_url=REDIS_URL, redis_prefix=redis_prefix, extra_env=env).start()
    b = ServerProcess(data_dir=data_dir, database_url=url, redis_url=REDIS_URL, redis_prefix=redis_prefix, extra_env=env).start()
    try:
        mentee = await register(a)
        on_a = await mentee.connect(url=a.url)
        on_b = await mentee.connect(url=b.url)
        started = time.perf_counter()
        await asyncio.to_thread(a.cli, "users", "ban", mentee.username)
        cli_done = time.perf_counter()
        waits = [await wait_disconnected(c.sio, 10) for c in (on_a, on_b)]
        print(f"ban with Redis: CLI ran {cli_done - started:.2f}s; connections on both processes closed "
              f"{time.perf_counter() - cli_done:.3f}s after it returned (periodic check set to 60 s)")
        assert max(waits) < 30
    finally:
        a.stop()
        b.stop()


# --- Rate limits and quotas ------------------------------------------------------------------


async def test_connection_attempts_per_address_are_limited_with_a_clear_error(tmp_path):
    proc = start_server(tmp_path, MV_CONNECT_RATE_PER_IP="5/minute")
    try:
        mentee = await register(proc)
        outcomes = [await socket_refusal(proc, mentee.token) for _ in range(7)]
        print(f"connection attempts: {outcomes}")
        assert outcomes[:5] == [None] * 5
        assert all(o and "Too many connection attempts" in o for o in outcomes[5:])
    finally:
        proc.stop()


async def test_connection_rate_is_shared_by_every_process_through_redis(tmp_path, redis_prefix):
    data_dir = tmp_path / "shared"
    url = database_url_for("sqlite", data_dir)
    env = {"MV_CONNECT_RATE_PER_IP": "4/minute"}
    a = ServerProcess(data_dir=data_dir, database_url=url, redis_url=REDIS_URL, redis_prefix=redis_prefix, extra_env=env).start()
    b = ServerProcess(data_dir=data_dir, database_url=url, redis_url=REDIS_URL, redis_prefix=redis_prefix, extra_env=env).start()
    try:
        mentee = await register(a)
        outcomes = []
        for proc in (a, b, a, b, a, b):
            outcomes.append(await socket_refusal(proc, mentee.token))
        print(f"connects alternating over two processes, limit 4/minute per address: {['ok' if o is None else 'refused' for o in outcomes]}")
        assert outcomes[:4] == [None] * 4, "four connects across both processes fit the shared budget"
        assert all(o and "Too many" in o for o in outcomes[4:]), "the fifth is refused whichever process gets it"
    finally:
        a.stop()
        b.stop()


async def test_events_per_user_message_size_and_room_creation_are_limited(tmp_path):
    proc = start_server(tmp_path, MV_EVENT_RATE="30/10 seconds", MV_MAX_BODY_CHARS="100", MV_MAX_PAYLOAD_BYTES="2000")
    try:
        mentee, mentor = await register(proc), await register(proc, role="mentor")
        client = await mentee.connect()
        room = (await client.call("room:create", {"kind": "direct", "member_ids": [mentor.id]}))["room"]
        too_long = await client.call("message:send", {"room_id": room["id"], "client_id": "l", "body": "x" * 101})
        assert too_long["error"]["code"] == "body_too_long"
        too_big = await client.call("message:send", {"room_id": room["id"], "client_id": "b", "body": "x", "language": "y" * 3000})
        assert too_big["error"]["code"] == "payload_too_large"
        replies = [await client.call("room:list") for _ in range(30)]
        codes = [r["ok"] if r["ok"] else r["error"]["code"] for r in replies]
        print(f"events in a burst under 30/10s: {codes.count(True)} ok, then {codes[codes.index('rate_limited'):].count('rate_limited') if 'rate_limited' in codes else 0} rate_limited")
        assert "rate_limited" in codes and codes[-1] == "rate_limited"
        assert replies[-1]["error"]["message"], "the error says what to do"
        assert client.sio.connected, "being limited does not cost the connection"

        creator = await (await register(proc, role="mentor")).connect()
        created = []
        for i in range(21):
            reply = await creator.call("room:create", {"kind": "direct", "member_ids": [mentee.id], "title": f"r{i}"})
            created.append(reply["ok"] or reply["error"]["code"])
        print(f"room creations in a row: {created.count(True)} created, then {created[-1]}")
        assert created[:20] == [True] * 20 and created[20] == "rate_limited"
        await close_all(mentee, mentor)
    finally:
        proc.stop()
