"""`totruong role`: list a unit's officials and grant or remove their duties (on duty, social)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlmodel import col

from bot.cli_common import ConfigOption, migrate, settings_from_env
from models.duties import DUTIES, DutyError, officials, set_duty
from models.settings import Settings
from models.tables import Unit

role_app = typer.Typer(help="Officials' duties: on_duty (receives urgent incidents), social (poverty data).",
                       no_args_is_help=True)
UnitOption = Annotated[str, typer.Option("--unit", help="Unit code, e.g. HC.")]
PersonOption = Annotated[str, typer.Option("--person", help="The official: person id (see `role list`) or exact name.")]
DutyOption = Annotated[str, typer.Option("--duty", help=f"One of: {', '.join(DUTIES)}.")]


def _settings_and_migrate(config: Path | None) -> Settings:
    settings = settings_from_env(config)
    migrate(settings)
    return settings


async def _change(settings: Settings, unit_code: str, who: str, duty: str, granted: bool) -> str:
    from bot.bootstrap import build

    app = build(settings)
    try:
        async with app.sessions() as session, session.begin():
            unit = (await session.scalars(select(Unit).where(col(Unit.code) == unit_code))).first()
            if unit is None or unit.id is None:
                raise DutyError(f"no unit with code {unit_code!r}")
            people = await officials(session, unit.id)
            chosen = [p for p in people if str(p.person_id) == who or p.name == who]
            if len(chosen) != 1:
                known = "; ".join(f"{p.person_id} {p.name}" for p in people) or "none"
                raise DutyError(f"{who!r} names {len(chosen)} officials of {unit_code} (officials: {known})")
            after = await set_duty(session, person_id=chosen[0].person_id, unit_id=unit.id, duty=duty,
                                   granted=granted)
            return f"{chosen[0].name} ({unit.name}): duties {', '.join(after) or 'none'}"
    finally:
        await app.db_engine.dispose()


def _run(settings: Settings, unit: str, person: str, duty: str, granted: bool) -> None:
    try:
        typer.echo(asyncio.run(_change(settings, unit, person, duty, granted)))
    except DutyError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@role_app.command("grant")
def grant(unit: UnitOption, person: PersonOption, duty: DutyOption, config: ConfigOption = None) -> None:
    """Give an official of the unit a duty (e.g. on_duty: they receive the ward's urgent incidents)."""
    _run(_settings_and_migrate(config), unit, person, duty, True)


@role_app.command("revoke")
def revoke(unit: UnitOption, person: PersonOption, duty: DutyOption, config: ConfigOption = None) -> None:
    """Remove a duty from an official of the unit."""
    _run(_settings_and_migrate(config), unit, person, duty, False)


@role_app.command("list")
def list_officials(unit: UnitOption, config: ConfigOption = None) -> None:
    """The unit's officials with their person ids and duties."""
    settings = _settings_and_migrate(config)

    async def go() -> list[str]:
        from bot.bootstrap import build

        app = build(settings)
        try:
            async with app.sessions() as session:
                found = (await session.scalars(select(Unit).where(col(Unit.code) == unit))).first()
                if found is None or found.id is None:
                    raise DutyError(f"no unit with code {unit!r}")
                return [f"{p.person_id}\t{p.name}\t{','.join(p.duties) or '-'}"
                        for p in await officials(session, found.id)]
        finally:
            await app.db_engine.dispose()

    try:
        lines = asyncio.run(go())
    except DutyError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo("\n".join(lines) if lines else f"{unit} has no officials yet")
