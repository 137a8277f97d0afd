"""What failed underneath a request: the database could not be reached, or the disk is full.

The engine and the web layer use this to give a clear answer ("try again in a few minutes", HTTP
503) instead of treating an outage like a bug.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy import exc

DATABASE_UNAVAILABLE = "database_unavailable"
DISK_FULL = "disk_full"
PLATFORM_FAULTS = (DATABASE_UNAVAILABLE, DISK_FULL)

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL = 13
# SQLite result codes of a file that cannot be used: PERM, BUSY, LOCKED (for the whole busy
# timeout), READONLY, IOERR, CORRUPT, CANTOPEN, NOTADB.
_SQLITE_UNAVAILABLE = {3, 5, 6, 8, 10, 11, 14, 26}
# PostgreSQL's SQLSTATE classes: 53 insufficient resources (53100 disk full), 08 connection
# exception, 57P0x the server shutting down or not accepting connections.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")


def platform_fault(error: BaseException) -> str | None:
    """Names the platform fault behind an error, or None for a bug or an ordinary refusal."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _fault_of(current)
        if found is not None:
            return found
        # SQLAlchemy keeps the driver's error in .orig; other wrappers chain it as the cause.
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _fault_of(error: BaseException) -> str | None:
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        return DISK_FULL
    if isinstance(error, sqlite3.Error):
        # sqlite3 calls "no such column" an OperationalError too: the result code tells them apart.
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
        if code == _SQLITE_FULL:
            return DISK_FULL
        return DATABASE_UNAVAILABLE if code in _SQLITE_UNAVAILABLE else None
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate == "53100":
            return DISK_FULL
        return DATABASE_UNAVAILABLE if sqlstate.startswith(_PG_UNAVAILABLE) else None
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return DATABASE_UNAVAILABLE
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):  # pool: no connection to be had
        return DATABASE_UNAVAILABLE
    if type(error).__module__.startswith("psycopg") and type(error).__name__ in ("OperationalError",
                                                                                "InterfaceError"):
        return DATABASE_UNAVAILABLE  # psycopg's connection failures carry no SQLSTATE
    if isinstance(error, ConnectionError | TimeoutError):
        return DATABASE_UNAVAILABLE
    return None
