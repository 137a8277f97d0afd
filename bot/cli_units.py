"""`totruong units import --province 48`: the province or city and its phường, xã and đặc khu
from the national list (models/provinces.py), with their official codes and types."""

from __future__ import annotations

import asyncio
from collections import Counter

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.provinces import ProvinceError, rows, units_of
from models.settings import Settings, SettingsError
from models.units import UnitImportError, apply_units, check_units


async def import_province(settings: Settings, query: str) -> tuple[str, int, int]:
    """Adds the province and its communes, or updates their names and types (by official code);
    a re-import adds nothing twice. Returns (what was imported, added, updated)."""
    from models import db

    found = units_of(query)
    levels = settings.units.levels
    wanted = rows(found, levels)
    engine = db.create_engine(settings.database_url, lock_wait_seconds=settings.database.lock_wait_seconds)
    try:
        async with db.session_factory(engine)() as session, session.begin():
            await check_units(session, wanted, levels=levels)
            added, updated = await apply_units(session, wanted, levels=levels, keep_households=True)
        await create_campaigns(settings, db.session_factory(engine))
    finally:
        await engine.dispose()
    kinds = Counter(ward.kind for ward in found.wards)
    counted = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]))
    what = (f"{found.province.code} {found.province.name}: {len(wanted)} units (1 {found.province.kind}, {counted}; "
            f"national list of {found.data_version})")
    return what, added, updated


async def create_campaigns(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """The campaigns of config.toml that waited for their unit are created now, not at the next start."""
    from handlers.campaigns.campaigns import sync_defaults
    from models.repos import Repo
    from models.tables import utcnow

    try:
        async with sessions() as session, session.begin():
            created = await sync_defaults(Repo(session), settings, now=utcnow())
    except SettingsError as error:  # start-up will say it too; the units are imported all the same
        typer.echo(str(error), err=True)
        return
    if created:
        typer.echo(f"Created {created} campaigns of the configuration on the imported units.", err=True)


def run_import(settings: Settings, query: str) -> None:
    """The command's body: one line of counts, or one line saying what is wrong (exit 1)."""
    try:
        what, added, updated = asyncio.run(import_province(settings, query))
    except (ProvinceError, UnitImportError) as error:
        typer.echo(f"--province {query}: {error}; nothing was imported", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Imported {what}: {added} added, {updated} updated.")
    typer.echo("Groups (tổ dân phố, thôn): a CSV whose parent_code is a ward's code above, e.g. "
               "totruong units import groups.csv", err=True)
