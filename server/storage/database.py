"""The one storage handle: an async engine, a session factory and schema migration at start."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant will do; it only has to be the same in every server process.
_MIGRATION_LOCK_ID = 0x6D766C69


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes may start at once; only one may migrate.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    # Features own independent migration branches off the core schema; upgrade them all.
    command.upgrade(cfg, "heads")


class Database:
    """Owns the engine. Services open ``transaction()`` blocks; nothing else touches the engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # SQLite allows one writer; BEGIN IMMEDIATE takes the write lock up front so two
            # writers queue instead of failing with "database is locked" half-way through.
            event.listen(self.engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            # Readers get their own connections with a deferred BEGIN: in WAL mode they read a
            # snapshot without waiting for the writer, so reads never queue behind sends.
            self.read_engine: AsyncEngine = create_async_engine(url, **kwargs)
            event.listen(self.read_engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.read_engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        else:
            self.read_engine = self.engine
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed (durably) on clean exit and rolled back on error."""
        async with self.sessions() as session:
            async with session.begin():
                yield session

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for pure reads; on SQLite it reads a snapshot without taking the write lock."""
        async with self.read_sessions() as session:
            async with session.begin():
                yield session

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # pysqlite's own transaction handling would fight our BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives power loss, which is what "durable before ack" means.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
