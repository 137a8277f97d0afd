"""SQLite for the async engine without a thread per statement.

aiosqlite runs every call (execute, fetch, close, commit) on a helper thread, and each hand-off
costs more than the SQLite work itself: a step of the conversation engine needs about ten of
them. SQLite in WAL mode answers our short transactions in microseconds, so this adapter runs
sqlite3 directly on the event loop's thread behind the small async interface SQLAlchemy's
aiosqlite dialect expects (passed as `async_creator`). See docs/decisions.md and
bench/bench_engine.py for the measurements.

The trade-off: a statement that waits for a lock held by another process blocks the event
loop for up to the busy timeout. The embedded default runs one app process per SQLite file;
several instances belong on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InLoopCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

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
        self._cursor.execute(operation, parameters or ())

    async def executemany(self, operation: str, seq_of_parameters: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(operation, seq_of_parameters)

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

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level if self._conn else None

    def cursor(self) -> InLoopCursor:
        assert self._conn is not None, "connection closed"
        return InLoopCursor(self._conn.cursor())

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        assert self._conn is not None
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()

    async def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def creator(path: str, *, timeout: float = 30.0) -> Any:
    """An `async_creator` for create_async_engine that opens `path` with sqlite3."""

    async def connect() -> InLoopConnection:
        connection = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        return InLoopConnection(connection)

    return connect
