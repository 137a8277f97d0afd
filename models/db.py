"""The database engine, sessions and migrations (SQLite by default, PostgreSQL for larger sites)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from models import private, sqlite_inloop

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Creates the async engine; on SQLite turns on WAL, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] or ":memory:"
        private.sqlite_file(path)  # 0600 before SQLite creates it with the umask's 0644
        # sqlite3 on the event loop's thread instead of aiosqlite's helper thread: see sqlite_inloop.
        kwargs["async_creator"] = sqlite_inloop.creator(path, timeout=30)
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Applies the migrations up to `revision` (runs its own event loop: call outside one)."""
    if url.startswith("sqlite"):
        private.sqlite_file(url.split("///", 1)[-1])
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Applies the migrations from inside a running event loop."""
    await asyncio.to_thread(upgrade_sync, url, revision)


async def table_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names())
