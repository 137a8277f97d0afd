"""`totruong backup` and `totruong restore`: the database and the photos in one archive, restored
into an empty database (SQLite with its online backup API, PostgreSQL with pg_dump/pg_restore)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from models.backup import BackupError, backup, restore, row_counts
from models.repos import Repo
from models.tables import Attachment
from tests.images import jpeg


async def _photo(app) -> tuple[str, bytes]:
    content = jpeg((40, 30))
    async with app.sessions() as session, session.begin():
        attachment_id = await app.files.save(Repo(session), content=content, mime="image/jpeg", uploader=None)
        attachment = await session.get(Attachment, attachment_id)
    return attachment.path, content


def _empty_postgres(url: str) -> str:
    import psycopg

    name = f"totruong_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _drop_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_round_trip_with_a_photo(app, settings, tmp_path: Path) -> None:
    if not settings.database.is_sqlite and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    relative, content = await _photo(app)
    before = await asyncio.to_thread(row_counts, settings.database_url)
    archive = tmp_path / "backups" / "totruong-2026-12-02.tar.gz"
    written = await asyncio.to_thread(backup, settings.database_url, settings.data_dir, archive)
    assert written.files == 1 and written.rows == before and before["attachment"] == 1 and before["unit"] == 14
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert f"files/{relative}" in names and "totruong-backup.json" in names

    if settings.database.is_sqlite:
        target = f"sqlite+aiosqlite:///{tmp_path}/restored/totruong.db"
    else:
        target = await asyncio.to_thread(_empty_postgres, settings.database_url)
    try:
        restored = await asyncio.to_thread(restore, target, tmp_path / "restored-data", archive)
        assert restored.rows == before and restored.files == 1
        assert (tmp_path / "restored-data" / "files" / relative).read_bytes() == content
        # A second restore meets a database that holds something: refused, nothing changed.
        with pytest.raises(BackupError, match=r"the database is not empty: .*; restore only into a new, empty"):
            await asyncio.to_thread(restore, target, tmp_path / "restored-data", archive)
        assert await asyncio.to_thread(row_counts, target) == before
    finally:
        if not settings.database.is_sqlite:
            await asyncio.to_thread(_drop_postgres, target)


def test_the_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
           "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/site.db",
           "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data")}
    assert runner.invoke(cli, ["demo"], env=env).exit_code == 0
    archive = tmp_path / "site.tar"
    result = runner.invoke(cli, ["backup", str(archive)], env=env)
    assert result.exit_code == 0, result.output
    assert "Backed up" in result.output and "14 unit" in result.output and "0 files" in result.output
    result = runner.invoke(cli, ["backup", str(archive)], env=env)
    assert result.exit_code == 1 and "exists already" in result.output

    result = runner.invoke(cli, ["restore", str(archive)], env=env)  # into the database it came from
    assert result.exit_code == 1 and "restore: the database is not empty" in result.output

    fresh = {**env, "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/new.db",
             "TOTRUONG_APP__DATA_DIR": str(tmp_path / "new-data")}
    assert runner.invoke(cli, ["db", "upgrade"], env=fresh).exit_code == 0  # migrated and empty: allowed
    result = runner.invoke(cli, ["restore", str(archive)], env=fresh)
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output and "14 unit" in result.output
    result = runner.invoke(cli, ["invite", "create", "--unit", "HC-TT3", "--role", "resident"], env=fresh)
    assert result.exit_code == 0, result.output

    not_ours = tmp_path / "other.tar"
    with tarfile.open(not_ours, "w") as tar:
        tar.add(tmp_path / "site.db", arcname="site.db")
    result = runner.invoke(cli, ["restore", str(not_ours)], env={**fresh, "TOTRUONG_DATABASE__URL":
                                                                 f"sqlite+aiosqlite:///{tmp_path}/third.db"})
    assert result.exit_code == 1 and "is not a Tổ trưởng backup" in result.output


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_db_copy_moves_everything_to_an_empty_database(tmp_path: Path, kind: str) -> None:
    """SQLite -> PostgreSQL (or another SQLite): every row, units under their parents, and new rows
    get new ids afterwards (the sequences moved on)."""
    from tests.conftest import POSTGRES_URL

    if kind == "postgres" and not POSTGRES_URL:
        pytest.skip("needs TOTRUONG_TEST_POSTGRES_URL")
    runner = CliRunner()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
           "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/site.db",
           "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data")}
    assert runner.invoke(cli, ["demo"], env=env).exit_code == 0
    # A unit moved under a ward added after it: its parent has the larger id.
    groups = tmp_path / "later.csv"
    groups.write_text("code,name,level,parent_code,households\nNEW,Phường Mới,ward,48,\n"
                      "HC-TT3,Tổ dân phố Thạch Thang 3,group,NEW,142\n", encoding="utf-8")
    assert runner.invoke(cli, ["units", "import", str(groups)], env=env).exit_code == 0
    source = env["TOTRUONG_DATABASE__URL"]
    target = _empty_postgres(POSTGRES_URL) if kind == "postgres" else f"sqlite+aiosqlite:///{tmp_path}/copy.db"
    try:
        result = runner.invoke(cli, ["db", "copy", source, target], env=env)
        assert result.exit_code == 0, result.output
        assert "15 unit, 7 person" in result.output
        assert row_counts(target) == row_counts(source)
        moved = {**env, "TOTRUONG_DATABASE__URL": target}
        invited = runner.invoke(cli, ["invite", "create", "--unit", "HC-TT3", "--role", "resident"], env=moved)
        assert invited.exit_code == 0, invited.output  # a new row: the id sequence is past the copied ids
        again = runner.invoke(cli, ["db", "copy", source, target], env=env)
        assert again.exit_code == 1 and "the target database is not empty" in again.output
    finally:
        if kind == "postgres":
            _drop_postgres(target)
