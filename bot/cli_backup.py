"""`totruong backup PATH` and `totruong restore PATH`: the database and the stored files in one
archive (models/backup.py), restored only into an empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import ConfigOption, settings_from_env

ArchiveArgument = Annotated[Path, typer.Argument(dir_okay=False,
                                                 help="The archive: NAME.tar, or NAME.tar.gz compressed.")]


def backup(archive: ArchiveArgument, config: ConfigOption = None) -> None:
    """Copy the database (SQLite's online backup, or pg_dump) and the photos into one archive,
    while the app runs."""
    from models.backup import BackupError
    from models.backup import backup as write

    settings = settings_from_env(config)
    try:
        summary = write(settings.database_url, settings.data_dir, archive)
    except BackupError as error:
        typer.echo(f"backup: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Backed up {summary.describe()}.")


def restore(archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                                    help="An archive written by `totruong backup`.")],
            config: ConfigOption = None) -> None:
    """Restore an archive of `totruong backup` into an empty database (a database holding anything
    is refused), then apply the migrations of this version."""
    from models.backup import BackupError
    from models.backup import restore as read
    from models.db import upgrade_sync

    settings = settings_from_env(config)
    try:
        summary = read(settings.database_url, settings.data_dir, archive)
    except BackupError as error:
        typer.echo(f"restore: {error}", err=True)
        raise typer.Exit(1) from None
    upgrade_sync(settings.database_url)
    typer.echo(f"Restored {summary.describe()}.")


def db_copy(
    source: Annotated[str, typer.Argument(help="The database to copy, e.g. sqlite+aiosqlite:///data/totruong.db")],
    target: Annotated[str, typer.Argument(help="A new, empty database, e.g. postgresql+psycopg://totruong@db/totruong")],
) -> None:
    """Copy every row from one database to another (SQLite to PostgreSQL): both are migrated to this
    version first; the target must be empty. Stop the app first. The files folder stays where it is."""
    from models.backup import BackupError, copy_database
    from models.db import upgrade_sync
    from models.settings import DatabaseSettings

    for url in (source, target):
        try:
            DatabaseSettings(url=url)
        except ValueError as error:
            typer.echo(f"{url}: {error.errors()[0]['msg'] if hasattr(error, 'errors') else error}", err=True)
            raise typer.Exit(2) from None
    try:
        upgrade_sync(source)
        upgrade_sync(target)
        copied = copy_database(source, target)
    except BackupError as error:
        typer.echo(f"db copy: {error}", err=True)
        raise typer.Exit(1) from None
    main = ", ".join(f"{copied.get(name, 0)} {name}" for name in ("unit", "person", "report", "attachment"))
    typer.echo(f"Copied {sum(copied.values())} rows in {len(copied)} tables ({main}). "
               "Now set database.url to the target and start the app.")
