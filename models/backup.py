"""Backups: the database and the stored files (photos, exports) in one archive, and restoring one
into an empty database.

SQLite is copied with its online backup API (a consistent snapshot while the app keeps writing);
PostgreSQL with `pg_dump --format=custom` (and `pg_restore`). The database is copied first, the
files after: a file is always written before the row that names it (models/files.py), so every
attachment in the snapshot has its file in the archive.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from models.db import sqlite_path
from models.private import FILE_MODE, private_dir

MANIFEST = "totruong-backup.json"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
FILES_MEMBER = "files"
FORMAT = 1


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    archive: Path
    database: str  # "sqlite" or "postgresql"
    revision: str
    files: int
    rows: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        main = {name: self.rows.get(name, 0) for name in ("unit", "person", "report", "attachment")}
        counted = ", ".join(f"{count} {name}" for name, count in main.items())
        return (f"{self.archive}: {self.database} at migration {self.revision or '?'}, {counted} rows; "
                f"{self.files} files")


def sync_url(url: str) -> str:
    """The app's async URL with a driver that works without an event loop."""
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def row_counts(url: str) -> dict[str, int]:
    """Rows of every table but alembic_version ({} for a database without tables)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
            return {name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
                    for name in sorted(names)}
    finally:
        engine.dispose()


def revision(url: str) -> str:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return ""
            return str(connection.scalar(text("SELECT version_num FROM alembic_version")) or "")
    finally:
        engine.dispose()


def _postgres_env(url: str) -> dict[str, str]:
    """libpq's variables for the URL: the password never appears in a command line."""
    parsed = make_url(url)
    env = dict(os.environ)
    for key, value in (("PGHOST", parsed.host), ("PGPORT", parsed.port), ("PGUSER", parsed.username),
                       ("PGPASSWORD", parsed.password), ("PGDATABASE", parsed.database)):
        if value is not None:
            env[key] = str(value)
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools: apt-get install "
                          "postgresql-client)")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        raise BackupError(f"{command[0]} failed: {last}")


def _snapshot(url: str, folder: Path) -> str:
    """Writes the database's copy into `folder`; returns its member name."""
    path = sqlite_path(url)
    if path is None:
        target = folder / POSTGRES_MEMBER
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"], _postgres_env(url))
        return POSTGRES_MEMBER
    if path == ":memory:" or not Path(path).exists():
        raise BackupError(f"the database file {path} does not exist")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    copy = sqlite3.connect(folder / SQLITE_MEMBER)
    try:
        with copy:
            source.backup(copy)  # a consistent snapshot, page by page, while others write
    finally:
        copy.close()
        source.close()
    return SQLITE_MEMBER


def backup(url: str, data_dir: Path, archive: Path, *, now: datetime | None = None) -> BackupSummary:
    """Writes the database and data_dir/files into `archive` (.tar, or .tar.gz/.tgz compressed),
    readable by this user only. An existing archive is not overwritten."""
    if archive.exists():
        raise BackupError(f"{archive} exists already: give a new file name")
    archive.parent.mkdir(parents=True, exist_ok=True)
    files_dir = data_dir / FILES_MEMBER
    with tempfile.TemporaryDirectory(prefix="totruong-backup-") as scratch:
        folder = Path(scratch)
        rows = row_counts(url)
        current = revision(url)
        member = _snapshot(url, folder)
        stored = sorted(p for p in files_dir.rglob("*") if p.is_file() and p.suffix != ".part") \
            if files_dir.is_dir() else []
        manifest = {"format": FORMAT, "created_at": (now or datetime.now(UTC)).isoformat(), "database": member,
                    "revision": current, "rows": rows, "files": len(stored)}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        partial = archive.with_name(archive.name + ".part")
        mode = "w:gz" if archive.name.endswith((".gz", ".tgz")) else "w"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode=mode) as tar:  # type: ignore[call-overload]
                tar.add(folder / MANIFEST, arcname=MANIFEST)
                tar.add(folder / member, arcname=member)
                for path in stored:
                    tar.add(path, arcname=f"{FILES_MEMBER}/{path.relative_to(files_dir).as_posix()}")
            partial.replace(archive)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupSummary(archive, "sqlite" if member == SQLITE_MEMBER else "postgresql", current, len(stored), rows)


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read().decode("utf-8"))
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        raise BackupError(f"{archive} is not a Tổ trưởng backup ({error})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: backup format {manifest.get('format')!r} is not known to this version")
    return manifest


def _not_running(url: str) -> None:
    """SQLite: the app holds an exclusive lock on <db>.lock while it runs (bot/cli.py)."""
    path = sqlite_path(url)
    if path is None or path == ":memory:" or not Path(path + ".lock").exists():
        return
    with open(path + ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"Tổ trưởng is running on {path}: stop it before restoring") from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def restore(url: str, data_dir: Path, archive: Path) -> BackupSummary:
    """Restores the archive into an empty database (no rows in any table; a migrated one is empty)
    and its files into data_dir/files. A database holding anything is refused, untouched."""
    manifest = read_manifest(archive)
    member = str(manifest.get("database"))
    path = sqlite_path(url)
    if (member == SQLITE_MEMBER) != (path is not None) or member not in (SQLITE_MEMBER, POSTGRES_MEMBER):
        kind = "SQLite" if member == SQLITE_MEMBER else "PostgreSQL"
        raise BackupError(f"{archive} holds a {kind} database and database.url is another kind: restore it into "
                          f"{kind}, then move it with `totruong db copy SRC DST`")
    _not_running(url)
    if path is None or Path(path).exists():
        held = {name: count for name, count in row_counts(url).items() if count}
        if held:
            listed = ", ".join(f"{name} ({count})" for name, count in sorted(held.items())[:5])
            raise BackupError(f"the database is not empty: {listed}; restore only into a new, empty database "
                              "(another database.url), nothing was changed")
    with tempfile.TemporaryDirectory(prefix="totruong-restore-") as scratch, tarfile.open(archive) as tar:
        folder = Path(scratch)
        tar.extract(member, folder, filter="data")
        if path is None:
            _run(["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists", "--single-transaction",
                  "--exit-on-error", f"--dbname={make_url(url).database}",
                  str(folder / member)], _postgres_env(url))
        else:
            private_dir(Path(path).parent)
            source = sqlite3.connect(folder / member)
            target = sqlite3.connect(path)
            try:
                with target:
                    source.backup(target)
            finally:
                target.close()
                source.close()
            os.chmod(path, FILE_MODE)
        files = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(FILES_MEMBER + "/")]
        private_dir(data_dir / FILES_MEMBER)
        for item in files:
            destination = data_dir / item.name
            if destination.exists():  # stored under its hash: the same name is the same bytes
                continue
            private_dir(destination.parent)
            tar.extract(item, data_dir, filter="data")
            os.chmod(destination, FILE_MODE)
    return BackupSummary(archive, "sqlite" if path is not None else "postgresql", str(manifest.get("revision", "")),
                         len(files), row_counts(url))


# --- moving between databases (SQLite -> PostgreSQL) ---------------------------------------------

COPY_BATCH = 1000


def _self_first(rows: list[dict[str, Any]], key: str, parents: list[str]) -> list[dict[str, Any]]:
    """Rows of a table that points at itself (unit.parent_id, report.supersedes_id), each after the
    rows it points at, so that every foreign key holds when the row is inserted."""
    by_key = {row[key]: row for row in rows}
    seen: set[Any] = set()
    ordered: list[dict[str, Any]] = []

    def visit(row: dict[str, Any]) -> None:
        if row[key] in seen:
            return
        seen.add(row[key])
        for column in parents:
            parent = by_key.get(row[column])
            if parent is not None:
                visit(parent)
        ordered.append(row)

    for row in rows:
        visit(row)
    return ordered


def copy_database(source: str, target: str, *, progress: Any = None) -> dict[str, int]:
    """Copies every row of every table from `source` to `target` (both at the same, newest
    migration; the target empty), tables in foreign-key order; on PostgreSQL the id sequences are
    then moved past the copied ids. Returns the rows copied per table."""
    from sqlmodel import SQLModel

    import models.tables  # noqa: F401  (the tables' metadata)

    source_revision, target_revision = revision(source), revision(target)
    if source_revision != target_revision:
        raise BackupError(f"the source is at migration {source_revision or 'none'} and the target at "
                          f"{target_revision or 'none'}: run `totruong db upgrade` on both first")
    held = {name: count for name, count in row_counts(target).items() if count}
    if held:
        raise BackupError(f"the target database is not empty ({', '.join(sorted(held)[:5])}): copy only into a new, "
                          "empty database; nothing was copied")
    copied: dict[str, int] = {}
    reader, writer = create_engine(sync_url(source)), create_engine(sync_url(target))
    try:
        with reader.connect() as src, writer.begin() as dst:
            for tbl in SQLModel.metadata.sorted_tables:
                keys = [c.name for c in tbl.primary_key.columns]
                selfish = [fk.parent.name for fk in tbl.foreign_keys if fk.column.table is tbl]
                query = tbl.select().order_by(*tbl.primary_key.columns)
                count = 0
                if selfish:
                    rows = [dict(r._mapping) for r in src.execute(query)]
                    rows = _self_first(rows, keys[0], selfish)
                    for start in range(0, len(rows), COPY_BATCH):
                        dst.execute(tbl.insert(), rows[start:start + COPY_BATCH])
                    count = len(rows)
                else:
                    result = src.execution_options(yield_per=COPY_BATCH).execute(query)
                    for batch in result.partitions(COPY_BATCH):
                        dst.execute(tbl.insert(), [dict(r._mapping) for r in batch])
                        count += len(batch)
                copied[tbl.name] = count
                if progress:
                    progress(tbl.name, count)
            if writer.dialect.name == "postgresql":
                _move_sequences(dst, SQLModel.metadata.sorted_tables)
    finally:
        reader.dispose()
        writer.dispose()
    return copied


def _move_sequences(connection: Any, tables: list[Any]) -> None:
    """PostgreSQL: each id sequence continues after the largest copied id (the next row gets a new id)."""
    for tbl in tables:
        columns = list(tbl.primary_key.columns)
        if len(columns) != 1:
            continue
        name = columns[0].name
        sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": f'"{tbl.name}"', "c": name})
        if sequence is None:
            continue
        highest = connection.scalar(select(func.max(columns[0])))
        connection.execute(text("SELECT setval(:s, :v, :called)"),
                           {"s": sequence, "v": highest or 1, "called": highest is not None})
