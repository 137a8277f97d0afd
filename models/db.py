"""The database engine, sessions and migrations (SQLite by default, PostgreSQL for larger sites)."""

from __future__ import annotations

import asyncio
import select
from collections import deque
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

from models import private, sqlite_inloop

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (":memory:" for none), or None for another database."""
    if not url.startswith("sqlite"):
        return None
    return url.split("///", 1)[-1] or ":memory:"


def create_engine(url: str, *, echo: bool = False, lock_wait_seconds: float = 20.0) -> AsyncEngine:
    """Creates the async engine; on SQLite turns on WAL and foreign keys, and waits for locks
    without blocking the event loop (see models/sqlite_inloop.py)."""
    kwargs: dict[str, Any] = {"echo": echo}
    path = sqlite_path(url)
    if path is not None:
        private.sqlite_file(path)  # 0600 before SQLite creates it with the umask's 0644
        # sqlite3 on the event loop's thread instead of aiosqlite's helper thread: see sqlite_inloop.
        kwargs["async_creator"] = sqlite_inloop.creator(path, busy_seconds=lock_wait_seconds)
        # AsyncSession closes in a task of its own (asyncio.shield), so under load many sessions
        # are between their last statement and giving the connection back. With the default pool
        # (5 + 10) the extra connections were closed and opened again, with their PRAGMAs, for
        # every request at 200 users (bench/bench_load.py). An in-loop connection costs little.
        kwargs.update(pool_size=64, max_overflow=64)
    else:
        # 200 users at once queue for a connection: with 10 + 10 the p99 of an answer was 13 s
        # and the CPU per step higher (waiters in the pool's queue), with 30 + 30 4.6 s
        # (bench/bench_load.py). 25 + 15 keeps two instances under PostgreSQL's default 100.
        # No pool_pre_ping: its ping was a round trip on every checkout, two per message.
        # `_still_connected` checks the socket instead, and pool_recycle bounds a connection's age
        # (against firewalls that forget idle connections silently).
        kwargs.update(pool_size=25, max_overflow=15, pool_recycle=1800, poolclass=FairQueuePool)
    engine = create_async_engine(url, **kwargs)
    if path is not None:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas_in_loop)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _still_connected)
    return engine


class FairQueue(AsyncAdaptedQueue[Any]):
    """The pool's idle connections, handed out first come, first served.

    SQLAlchemy's async pool keeps them in an asyncio.Queue, where a connection given back goes to
    whoever asks next: a request arriving just then takes it ahead of the waiter that was woken
    for it, and that waiter goes to the back of the line. At 200 users on PostgreSQL (40
    connections) the mean wait for a connection was 0.95 s but the p99 5.8 s, twice per step
    (bench/bench_load.py). Here a connection given back goes straight to the longest waiter, and a
    newcomer waits behind everyone already waiting.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._idle: deque[Any] = deque()
        self._waiters: deque[asyncio.Future[Any]] = deque()  # only while no connection is idle

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not timed out nor cancelled
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._idle.append(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never holds more connections than its size

    def get_nowait(self) -> Any:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self._idle or not block:
            return self.get_nowait()
        return await_(self._wait(within=timeout))

    async def _wait(self, *, within: float | None) -> Any:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(within, _expire, waiter) if within is not None else None
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a connection just as the request was cancelled: give it to the next in line.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.put_nowait(waiter.result())
            raise
        finally:
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(Empty())  # the pool turns it into its TimeoutError


class FairQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool with FairQueue's first come, first served order."""

    _queue_class = FairQueue


def _still_connected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hands out a pooled PostgreSQL connection only if the server has not closed it, without a
    round trip: an idle connection's socket has nothing to read unless the server said goodbye
    (a restart, a terminated backend, a cut network sends its error and EOF). The pool then opens a
    new connection instead (DisconnectionError); other connections of the same pool are checked
    the same way when their turn comes."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is None:
        return
    if driver.closed or driver.broken:
        raise exc.DisconnectionError("connection closed")
    try:
        readable, _w, _x = select.select([driver.pgconn.socket], [], [], 0)
    except Exception as error:  # the socket is gone already (psycopg or the OS says so)
        raise exc.DisconnectionError(str(error)) from error
    if readable:
        raise exc.DisconnectionError("the server closed the connection")


def create_read_engine(url: str, main: AsyncEngine, *, echo: bool = False) -> AsyncEngine:
    """The engine for long reads (summaries, digests, exports). On SQLite: the ordinary aiosqlite
    driver, whose thread runs the queries, so a 0.5 s summary does not hold the event loop; on
    PostgreSQL the main engine, whose driver never holds the loop anyway."""
    if sqlite_path(url) in (None, ":memory:"):
        return main
    engine = create_async_engine(url, echo=echo, pool_size=2, max_overflow=2)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas_reader)
    return engine


def _sqlite_pragmas_in_loop(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Never wait inside SQLite on the loop's thread: sqlite_inloop waits with asyncio.sleep.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def _sqlite_pragmas_reader(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # This connection's waits happen on aiosqlite's thread, not on the loop.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA query_only=ON")
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
