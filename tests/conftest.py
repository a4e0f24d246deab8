"""Shared fixtures: real server processes on SQLite and PostgreSQL, real Redis, per-run isolation.

In CI (CI=true) a missing PostgreSQL, Redis or Chromium fails the run instead of skipping:
a green CI must mean everything was actually exercised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.live_server import ServerProcess

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_DSN = os.environ.get("MV_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:8]


def unavailable(what: str) -> None:
    """Fail in CI, skip on a developer machine that lacks the service."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available")


async def _create_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def new_pg_database() -> str:
    """A fresh database for this test run; returns its SQLAlchemy async URL."""
    name = f"mv_test_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    try:
        # A thread of its own, so that async fixtures and tests can call this too.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _create_pg_database(name)).result()
    except Exception as exc:  # connection refused, auth, missing driver
        unavailable(f"PostgreSQL ({exc.__class__.__name__}: {exc})")
    _created_pg.append(name)
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


_created_pg: list[str] = []


def redis_available() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as exc:
        unavailable(f"Redis ({exc})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for name in _created_pg:
        try:
            asyncio.run(_drop_pg_database(name))
        except Exception:
            pass


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def database_url_for(backend: str, data_dir: Path) -> str:
    if backend == "postgres":
        return new_pg_database()
    return f"sqlite+aiosqlite:///{data_dir / 'mentalverse.db'}"


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server per test module and backend; tests use fresh users so they do not interfere."""
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that restart or inspect storage."""
    data_dir = tmp_path / "data"
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for(backend, data_dir))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[ServerProcess]:
    data_dir = tmp_path / "data"
    proc = ServerProcess(data_dir=data_dir, database_url=database_url_for("sqlite", data_dir))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def redis_prefix() -> str:
    redis_available()
    return f"mvtest-{RUN_ID}-{uuid.uuid4().hex[:6]}"
