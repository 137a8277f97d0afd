"""What the `totruong` commands share: reading the settings and applying the migrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from models.settings import Settings, SettingsError, load_settings

ConfigOption = Annotated[Path | None, typer.Option("--config", help="Another config file (or TOTRUONG_CONFIG).")]


def settings_from_env(config: Path | None) -> Settings:
    """The settings from the environment and the config file; a refused one is one line and exit 2."""
    try:
        return load_settings(os.environ, config)
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def migrate(settings: Settings) -> None:
    """Applies the migrations, unless the operator turned that off."""
    from models.db import upgrade_sync

    if settings.database.auto_migrate:
        upgrade_sync(settings.database_url)
