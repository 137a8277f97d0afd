"""Which errors are the platform failing (an apology and a 503) and which are bugs or refusals:
each error here is produced for real by sqlite3, SQLAlchemy or psycopg, not built by hand."""

from __future__ import annotations

import errno
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, exc, text

from models.faults import DATABASE_UNAVAILABLE, DISK_FULL, platform_fault


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as error:  # the error is what the test looks at
        return error
    raise AssertionError("expected an error")


def test_an_unopenable_sqlite_file_is_the_database_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder" / "t.db"
    assert platform_fault(raised(lambda: sqlite3.connect(missing))) == DATABASE_UNAVAILABLE
    engine = create_engine(f"sqlite:///{missing}")
    wrapped = raised(lambda: engine.connect())
    assert isinstance(wrapped, exc.OperationalError) and platform_fault(wrapped) == DATABASE_UNAVAILABLE


def test_a_file_that_is_not_a_database_is_unavailable_too(tmp_path: Path) -> None:
    garbage = tmp_path / "t.db"
    garbage.write_bytes(b"this is not a database file at all" * 200)
    connection = sqlite3.connect(garbage)
    assert platform_fault(raised(lambda: connection.execute("SELECT * FROM sqlite_master"))) == DATABASE_UNAVAILABLE


def test_sqlite_full_is_the_disk_full() -> None:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def small(dbapi_connection, _record) -> None:
        dbapi_connection.execute("CREATE TABLE t (x BLOB)")
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    def write() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))

    error = raised(write)
    assert "database or disk is full" in str(error) and platform_fault(error) == DISK_FULL


def test_no_space_left_on_device_is_the_disk_full(tmp_path: Path) -> None:
    assert platform_fault(OSError(errno.ENOSPC, "No space left on device")) == DISK_FULL
    assert platform_fault(raised(lambda: (tmp_path / "missing" / "f").write_bytes(b"x"))) is None  # ENOENT: a bug


def test_constraint_and_programming_errors_are_not_outages() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (x INTEGER UNIQUE)")
    connection.execute("INSERT INTO t VALUES (1)")
    assert platform_fault(raised(lambda: connection.execute("INSERT INTO t VALUES (1)"))) is None
    assert platform_fault(raised(lambda: connection.execute("SELECT nope FROM t"))) is None
    engine = create_engine("sqlite://")
    with engine.connect() as sa_connection:
        sa_connection.execute(text("CREATE TABLE t (x INTEGER UNIQUE)"))
        sa_connection.execute(text("INSERT INTO t VALUES (1)"))
        duplicate = raised(lambda: sa_connection.execute(text("INSERT INTO t VALUES (1)")))
    assert isinstance(duplicate, exc.IntegrityError) and platform_fault(duplicate) is None
    assert platform_fault(ValueError("a bug")) is None


def test_postgres_refusing_connections_is_the_database_unavailable() -> None:
    psycopg = pytest.importorskip("psycopg")
    with socket.socket() as probe:  # a port on 127.0.0.1 where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = raised(lambda: psycopg.connect(f"postgresql://nobody@127.0.0.1:{port}/x", connect_timeout=2))
    assert platform_fault(error) == DATABASE_UNAVAILABLE
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/x")
    assert platform_fault(raised(lambda: engine.connect())) == DATABASE_UNAVAILABLE


def test_no_connection_to_be_had_from_the_pool_is_unavailable() -> None:
    assert platform_fault(exc.TimeoutError("QueuePool limit reached")) == DATABASE_UNAVAILABLE
    assert platform_fault(TimeoutError()) == DATABASE_UNAVAILABLE
