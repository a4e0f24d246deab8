"""Alembic environment: runs on the connection the server hands over, or on MV_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from server.storage.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("MV_DATABASE_URL")
    if not url:
        raise SystemExit("Set MV_DATABASE_URL to run alembic directly.")

    async def go() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(go())


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_standalone()
