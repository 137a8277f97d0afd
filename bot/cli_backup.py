"""`totruong backup PATH` and `totruong restore PATH`: the database and the stored files in one
archive (models/backup.py), restored only into an empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[Path | None, typer.Option("--config", help="Another config file (or TOTRUONG_CONFIG).")]
ArchiveArgument = Annotated[Path, typer.Argument(dir_okay=False,
                                                 help="The archive: NAME.tar, or NAME.tar.gz compressed.")]


def backup(archive: ArchiveArgument, config: ConfigOption = None) -> None:
    """Copy the database (SQLite's online backup, or pg_dump) and the photos into one archive,
    while the app runs."""
    from bot.cli import _settings
    from models.backup import BackupError
    from models.backup import backup as write

    settings = _settings(config)
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
    from bot.cli import _settings
    from models.backup import BackupError
    from models.backup import restore as read
    from models.db import upgrade_sync

    settings = _settings(config)
    try:
        summary = read(settings.database_url, settings.data_dir, archive)
    except BackupError as error:
        typer.echo(f"restore: {error}", err=True)
        raise typer.Exit(1) from None
    upgrade_sync(settings.database_url)
    typer.echo(f"Restored {summary.describe()}.")
