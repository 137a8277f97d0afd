"""SQLite for the async engine without a thread per statement.

aiosqlite runs every call (execute, fetch, close, commit) on a helper thread, and each hand-off
costs more than the SQLite work itself: a step of the conversation engine needs about ten of
them. SQLite in WAL mode answers our short transactions in microseconds, so this adapter runs
sqlite3 directly on the event loop's thread behind the small async interface SQLAlchemy's
aiosqlite dialect expects (passed as `async_creator`). See docs/decisions.md and
bench/bench_engine.py for the measurements.

No lock wait ever runs on the loop's thread: the connections have a busy timeout of 0, and a
statement that finds the write lock taken (SQLITE_BUSY, by another transaction of this process
that awaits something, or by another process) waits with `asyncio.sleep`, growing and jittered,
and runs again, up to a deadline (`DatabaseBusy` then). Where running the statement again cannot
help (SQLITE_BUSY_SNAPSHOT: a transaction that read, then tries to write after another commit),
`RestartTransaction` asks the caller to roll back and start the transaction again.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
BUSY_SNAPSHOT = 517  # SQLITE_BUSY | (2 << 8)
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.02  # below the pause between two chunks of `units import` (bot/cli.py)


class DatabaseBusy(Exception):
    """The database stayed locked (by another process or a long transaction) past the deadline."""


class RestartTransaction(Exception):
    """The transaction read data that another one changed since: roll back and run it again."""


async def _again(run: Callable[[], T], error: sqlite3.OperationalError, deadline_seconds: float) -> T:
    """Runs `run` again until SQLite's write lock is free, sleeping (not blocking) in between."""
    deadline = time.monotonic() + deadline_seconds
    pause = FIRST_PAUSE
    while True:
        code = getattr(error, "sqlite_errorcode", 0)
        if code == BUSY_SNAPSHOT:
            raise RestartTransaction(str(error)) from error
        if time.monotonic() >= deadline:
            raise DatabaseBusy(f"database still locked after {deadline_seconds:g} s") from error
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, LONGEST_PAUSE)
        try:
            return run()
        except sqlite3.OperationalError as next_error:
            if not is_busy(next_error):
                raise
            error = next_error


def is_busy(error: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY and its extended codes (the lock is taken), as opposed to a real failure."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python < 3.11
        return "database is locked" in str(error)
    return bool(code & 0xFF == sqlite3.SQLITE_BUSY)


class InLoopCursor:
    __slots__ = ("_busy_seconds", "_cursor")

    def __init__(self, cursor: sqlite3.Cursor, busy_seconds: float) -> None:
        self._cursor = cursor
        self._busy_seconds = busy_seconds

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> InLoopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, operation: str, parameters: Sequence[Any] | None = None) -> None:
        try:
            self._cursor.execute(operation, parameters or ())
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            await _again(lambda: self._cursor.execute(operation, parameters or ()), error, self._busy_seconds)

    async def executemany(self, operation: str, seq_of_parameters: Iterable[Sequence[Any]]) -> None:
        rows = list(seq_of_parameters)  # a generator could not be run again
        try:
            self._cursor.executemany(operation, rows)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            await _again(lambda: self._cursor.executemany(operation, rows), error, self._busy_seconds)

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size or self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class InLoopConnection:
    """The parts of an aiosqlite connection that SQLAlchemy's dialect uses, run synchronously."""

    def __init__(self, connection: sqlite3.Connection, *, busy_seconds: float = 20.0) -> None:
        self._conn: sqlite3.Connection | None = connection
        self.busy_seconds = busy_seconds

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level if self._conn else None

    def cursor(self) -> InLoopCursor:
        assert self._conn is not None, "connection closed"
        return InLoopCursor(self._conn.cursor(), self.busy_seconds)

    async def run(self, sql: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
        """Runs one statement straight on the sqlite3 connection (the hot path of models/repos.py),
        waiting for the write lock without blocking the loop."""
        assert self._conn is not None, "connection closed"
        conn = self._conn
        try:
            return conn.execute(sql, parameters)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
            return await _again(lambda: conn.execute(sql, parameters), error, self.busy_seconds)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        assert self._conn is not None
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        if self._conn is not None:
            conn = self._conn
            try:
                conn.commit()
            except sqlite3.OperationalError as error:
                if not is_busy(error):
                    raise
                await _again(conn.commit, error, self.busy_seconds)

    async def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def creator(path: str, *, busy_seconds: float = 20.0) -> Any:
    """An `async_creator` for create_async_engine that opens `path` with sqlite3, with no busy
    timeout of SQLite's own: waits for the lock happen in `_again`, off the loop's thread."""

    async def connect() -> InLoopConnection:
        connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
        return InLoopConnection(connection, busy_seconds=busy_seconds)

    return connect
