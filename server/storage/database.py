"""The one storage handle: an async engine, a session factory and schema migration at start.

The database holds the keyring too: some migrations seal values that used to be stored in clear,
and views that are built inside a session (a room's title, its agenda) read them back with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Callable, cast

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from server.core.keyring import Keyring

from .private_files import private_sqlite_database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant will do; it only has to be the same in every server process.
_MIGRATION_LOCK_ID = 0x6D766C69
_KEYRING = "keyring"
_DATABASE = "database"
_CHANGED = "changed_objects"
log = logging.getLogger("server.storage")

# Told, after a transaction commits, which ORM objects it inserted, changed or deleted.
CommitListener = Callable[[list[object]], None]
# Set in config.attributes by a revision that overwrote clear values. SQLite keeps the old bytes in
# free pages and in the WAL until they are reused, so the server then rewrites the file (VACUUM).
CLEAR_TEXT_REMOVED = "clear_text_removed"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def session_keyring(session: AsyncSession) -> Keyring:
    """The keyring of the database this session belongs to (see ``Database``)."""
    return cast(Keyring, session.info[_KEYRING])


def _upgrade(connection: Connection, keyring: Keyring) -> bool:
    """Upgrade every feature branch; True if a revision removed clear values."""
    if connection.dialect.name == "postgresql":
        # Several processes may start at once; only one may migrate.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    # Revisions that seal clear values of an existing deployment need the room keys.
    cfg.attributes[_KEYRING] = keyring
    # Features own independent migration branches off the core schema; upgrade them all.
    command.upgrade(cfg, "heads")
    return bool(cfg.attributes.get(CLEAR_TEXT_REMOVED))


class Database:
    """Owns the engine. Services open ``transaction()`` blocks; nothing else touches the engine.

    Every session carries the keyring in ``session.info`` (read it with ``session_keyring``).
    """

    def __init__(self, url: str, keyring: Keyring) -> None:
        self.url = url
        self.keyring = keyring
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
            path = make_url(url).database
            if path and path != ":memory:":
                private_sqlite_database(Path(path))
        else:
            # Connections beyond pool_size are closed when returned, and reopening one (with its TLS
            # probe) showed in the send path's profile: keep the sends' working set in the pool.
            # The pre-ping stays although it is a round trip per transaction (6 % of the send path's
            # samples, bench/README.md issue 23): without it the first statement on each stale
            # connection after a database restart fails, and that statement may be a crisis alert's.
            kwargs.update(pool_size=20, max_overflow=10, pool_pre_ping=True)
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
        # The send path's one statement on PostgreSQL goes to asyncpg directly (see ``run_alone``).
        self._alone_pool: asyncpg.Pool | None = None
        self._alone_pool_lock = asyncio.Lock()
        self._alone_sql: dict[Executable, tuple[str, tuple[str, ...], dict[str, Any]]] = {}
        self._commit_listeners: list[CommitListener] = []
        info = {_KEYRING: keyring, _DATABASE: self}
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False, info=info)

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` after each committed ORM transaction that changed objects (Core
        statements are not seen), with those objects; per-process caches use it to stay true."""
        self._commit_listeners.append(listener)

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            clear_text_removed = await conn.run_sync(_upgrade, self.keyring)
        if clear_text_removed and self.is_sqlite:
            await self._rewrite_sqlite_file()

    async def _rewrite_sqlite_file(self) -> None:
        """VACUUM rewrites every page, so no free page keeps old bytes, then the WAL, which still
        holds the pages as they were, is checkpointed and truncated to zero bytes."""
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            # Straight to the driver: VACUUM cannot run inside the BEGIN every session starts with.
            driver = raw.driver_connection
            await driver.execute("VACUUM")
            await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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

    async def run_alone(self, statement: Executable, params: dict[str, Any]) -> list[asyncpg.Record]:
        """Run one Core statement as its own transaction, committed (durably) when this returns;
        raises IntegrityError on a constraint violation, as the engine does. PostgreSQL only: a
        data-modifying CTE there does in one statement what takes several here.

        Straight to asyncpg, compiled once: through the engine each call also paid SQLAlchemy's
        execution context, the greenlet hop and a pre-ping of three round trips (BEGIN, ping,
        ROLLBACK), about a third of the send path's database CPU (bench/README.md, issue 23).
        No pre-ping is needed: asyncpg sees a connection the database closed (a restart, a
        terminated backend) as closed, and the pool opens a new one instead. A statement cut off
        half-way fails its send, and the client's retry (same client_id) is answered either way.
        The values go to asyncpg as given (str, bytes, int, bool, aware datetimes): no bind processing.
        """
        sql, names, defaults = self._compiled_alone(statement)
        args = [params[name] if name in params else defaults[name] for name in names]
        pool = await self._pool_alone()
        try:
            return await pool.fetch(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as e:
            raise IntegrityError(sql, None, e) from e

    def _compiled_alone(self, statement: Executable) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        compiled = self._alone_sql.get(statement)
        if compiled is None:
            c = statement.compile(dialect=asyncpg_dialect())
            compiled = (c.string, tuple(c.positiontup or ()), dict(c.params))
            self._alone_sql[statement] = compiled
        return compiled

    async def _pool_alone(self) -> asyncpg.Pool:
        if self._alone_pool is None:
            async with self._alone_pool_lock:
                if self._alone_pool is None:
                    dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
                    self._alone_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10, reset=_nothing_to_reset)
        return self._alone_pool

    async def close(self) -> None:
        if self._alone_pool is not None:
            await self._alone_pool.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    """These connections only ever run one statement at a time, outside any transaction: they
    keep no session state, so the pool's default reset (a round trip on every release: RESET ALL,
    UNLISTEN *, CLOSE ALL…) has nothing to undo. asyncpg still rolls back a transaction left open."""


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


@event.listens_for(Session, "after_flush")
def _remember_changed(session: Session, _flush_context: object) -> None:
    db = session.info.get(_DATABASE)
    if db is not None and db._commit_listeners:
        session.info.setdefault(_CHANGED, []).extend(itertools.chain(session.new, session.dirty, session.deleted))


@event.listens_for(Session, "after_commit")
def _announce_changed(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    if not changed:
        return
    for listener in session.info[_DATABASE]._commit_listeners:
        try:
            listener(changed)
        except Exception:
            log.exception("storage.commit_listener_failed")


@event.listens_for(Session, "after_soft_rollback")
def _forget_changed(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_CHANGED, None)
