"""The `totruong` command line: run the bot, migrate, load demo data, import units, create invites."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sys
from collections.abc import Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from bot import cli_backup, cli_doctor
from bot.cli_common import ConfigOption, migrate, settings_from_env
from bot.cli_roles import role_app
from models.settings import Settings, SettingsError

app = typer.Typer(help="Tổ trưởng — trợ lý cho tổ dân phố, thôn.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
units_app = typer.Typer(help="Administrative units.", no_args_is_help=True)
invite_app = typer.Typer(help="Invite codes.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(invite_app, name="invite")
app.add_typer(role_app, name="role")
app.command("backup")(cli_backup.backup)
app.command("restore")(cli_backup.restore)
app.command("doctor")(cli_doctor.doctor)
db_app.command("copy")(cli_backup.db_copy)

# Units per transaction of `units import`, and the pause between two (see units_import).
IMPORT_CHUNK = 100
IMPORT_GAP_SECONDS = 0.05


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and Bot API URLs contain the bot's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # The ticker's jobs run every few seconds: only their failures are worth a line.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@app.command()
def run(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default from config).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from config).")] = None,
    clock_start: Annotated[str | None, typer.Option(
        help='Demonstration: start the clock at this local time, e.g. "2026-11-28 18:00".')] = None,
    clock_speed: Annotated[float, typer.Option(
        help="Demonstration: run the clock this many times faster (600: ten minutes a second).", min=1)] = 1,
) -> None:
    """Start the bot: migrate, load the demo when the database is empty, serve the simulator."""
    from bot.logs import configure as configure_logs
    from bot.logs import secrets_of
    from bot.server import serve
    from handlers.ports import ScaledClock

    _logging()
    settings = settings_from_env(config)
    configure_logs(settings.app.log_format, secrets=secrets_of(settings))
    if host:
        settings.web.host = host
    if port is not None:
        settings.web.port = port
    clock = None
    if clock_start or clock_speed != 1:
        # Migrate before the demonstration clock starts: on a busy machine the migrations took more
        # than the ten simulated minutes between --clock-start and the first reminder.
        migrate(settings)
        try:
            start = datetime.fromisoformat(clock_start) if clock_start else datetime.now(settings.app.tz)
        except ValueError:
            typer.echo(f"--clock-start {clock_start!r}: use YYYY-MM-DD HH:MM", err=True)
            raise typer.Exit(2) from None
        clock = ScaledClock(start if start.tzinfo else start.replace(tzinfo=settings.app.tz), clock_speed)
        # Look for due reminders often enough that the fast clock does not outrun them.
        settings.campaigns.check_seconds = max(1, int(settings.campaigns.check_seconds / clock_speed))
        settings.incidents.check_seconds = max(1, int(settings.incidents.check_seconds / clock_speed))
        typer.echo(f"Demonstration clock: {start:%d/%m/%Y %H:%M}, {clock_speed:g}× real time", err=True)
    lock = _one_instance(settings)  # held (open) until the process ends
    try:
        _run_loop(serve(settings, clock=clock))
    except SettingsError as error:  # e.g. a simulator on a public address: the key to change, no traceback
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    finally:
        if lock is not None:
            lock.close()


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Runs the app on uvloop when installed (its socket handling costs about half of asyncio's
    under many connections: bench/bench_load.py), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _one_instance(settings: Settings) -> IO[bytes] | None:
    """On SQLite, an exclusive lock on a file next to the database, so that a second `totruong run`
    on the same file stops at once with a clear message instead of sharing it. CLI commands (db
    upgrade, units import, summary) do not take it and work beside the running app."""
    from models.db import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is None or path == ":memory:":
        return None
    lock_path = Path(path + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        typer.echo(
            f"Một phiên Tổ trưởng khác đang chạy trên cơ sở dữ liệu {path} (khóa {lock_path}). "
            "SQLite chỉ phục vụ một phiên; muốn chạy nhiều phiên, hãy dùng PostgreSQL.\n"
            f"Another Tổ trưởng instance is already running on the database {path} (lock {lock_path}). "
            "SQLite serves one instance; to run several, use PostgreSQL (database.url).", err=True)
        raise typer.Exit(3) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the database migrations."""
    from models.db import upgrade_sync

    settings = settings_from_env(config)
    upgrade_sync(settings.database_url)
    typer.echo("Database is up to date.")


@app.command()
def demo(config: ConfigOption = None) -> None:
    """Load the demo data (idempotent): Đà Nẵng, three wards, ten groups, demo personas."""
    from bot import demo as demo_data

    settings = settings_from_env(config)

    async def go() -> None:
        app_ = _build(settings)
        try:
            async with app_.sessions() as session, session.begin():
                await demo_data.load(session, settings)
            from bot.cli_units import create_campaigns

            await create_campaigns(settings, app_.sessions)  # those that waited for their unit
        finally:
            await app_.db_engine.dispose()

    migrate(settings)
    asyncio.run(go())
    typer.echo("Demo data loaded. Invite codes: " + ", ".join(i["code"] for i in demo_data.INVITES))


@units_app.command("import")
def units_import(
    file: Annotated[Path | None, typer.Argument(exists=True, dir_okay=False, readable=True,
                                                help="CSV with columns code,name,level,parent_code,households")] = None,
    province: Annotated[str | None, typer.Option(
        "--province", help='A province or city from the national list: its code or name, e.g. 48 or "Đà Nẵng".')
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Import or update units: --province from the national list (official codes), then a CSV
    (e.g. the groups under the official ward codes); any error names the line and nothing is imported."""
    from models.units import UnitImportError, apply_units, check_units, in_order, parse_csv

    if file is None and province is None:
        typer.echo("give a CSV file, --province CODE_OR_NAME, or both", err=True)
        raise typer.Exit(2)
    settings = settings_from_env(config)
    if province is not None:
        from bot.cli_units import run_import

        migrate(settings)
        run_import(settings, province)
    if file is None:
        return
    try:
        rows = parse_csv(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        typer.echo(f"{file}: not UTF-8 text", err=True)
        raise typer.Exit(1) from None
    except UnitImportError as error:
        typer.echo(f"{file}: {error}; nothing was imported", err=True)
        raise typer.Exit(1) from None
    migrate(settings)

    async def go() -> tuple[int, int]:
        app_ = _build(settings)
        try:
            with typer.progressbar(length=len(rows), label="Importing", file=sys.stderr) as bar:
                last = 0

                def advance(done: int) -> None:
                    nonlocal last
                    bar.update(done - last)
                    last = done

                levels = settings.units.levels
                async with app_.sessions() as session:  # the whole file is checked before any write
                    await check_units(session, rows, levels=levels)
                # Then short transactions, so that a running app's users are answered meanwhile:
                # each chunk is an upsert by code, so a run cut short is finished by running again.
                added = updated = 0
                ordered = in_order(rows, levels)
                for start in range(0, len(ordered), IMPORT_CHUNK):
                    async with app_.sessions() as session, session.begin():
                        counts = await apply_units(session, ordered[start:start + IMPORT_CHUNK], levels=levels,
                                                   progress=advance, done_before=start)
                    added, updated = added + counts[0], updated + counts[1]
                    # A gap longer than a waiting writer's pause (models/sqlite_inloop.py): the app
                    # gets the write lock between two chunks.
                    await asyncio.sleep(IMPORT_GAP_SECONDS)
                return added, updated
        finally:
            await app_.db_engine.dispose()

    try:
        added, updated = asyncio.run(go())
    except UnitImportError as error:
        typer.echo(f"{file}: {error}; nothing was imported", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Imported {len(rows)} units: {added} added, {updated} updated.")


@invite_app.command("create")
def invite_create(
    unit: Annotated[str, typer.Option(help="Code of the unit the invite is for.")],
    role: Annotated[str, typer.Option(help="leader, deputy, official or resident.")],
    uses: Annotated[int, typer.Option(help="How many people may use it; 0 = unlimited.", min=0)] = 1,
    days: Annotated[int | None, typer.Option(help="Days until it expires (default from config).", min=1)] = None,
    qr: Annotated[Path | None, typer.Option(
        "--qr", dir_okay=False, help="Also write a QR code PNG of the Telegram link (or the code).")] = None,
    config: ConfigOption = None,
) -> None:
    """Create an invite code for a role in a unit and print it (and its Telegram link, if configured)."""
    from models.repos import Repo
    from models.tables import ROLES

    if role not in ROLES:
        typer.echo(f"role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    settings = settings_from_env(config)
    migrate(settings)

    async def go() -> tuple[str, str, str]:
        app_ = _build(settings)
        try:
            async with app_.sessions() as session, session.begin():
                repo = Repo(session)
                found = await repo.unit_by_code(unit)
                if found is None or found.id is None:
                    typer.echo(f"no unit with code {unit!r}", err=True)
                    raise typer.Exit(1)
                expires = app_.clock.now() + timedelta(days=days or settings.limits.invite_default_days)
                invite = await repo.create_invite(unit_id=found.id, role=role, max_uses=uses, expires_at=expires)
                local = expires.astimezone(settings.app.tz).strftime("%d/%m/%Y %H:%M")
                return invite.code, found.name, local
        finally:
            await app_.db_engine.dispose()

    code, name, expires_text = asyncio.run(go())
    typer.echo(code)
    uses_text = "unlimited uses" if uses == 0 else f"{uses} use(s)"
    typer.echo(f"{role} of {name}; {uses_text}; expires {expires_text}", err=True)
    _invite_link(settings, code, qr)


def _invite_link(settings: Settings, code: str, qr: Path | None) -> None:
    """Prints the Telegram deep link for the code and writes the QR code, when asked."""
    link = ""
    if settings.telegram.token:
        from bot.channels.telegram.channel import bot_username, deep_link

        try:
            link = deep_link(asyncio.run(bot_username(settings.telegram)), code)
        except Exception as error:  # no network, a bad token: the code still works typed in
            typer.echo(f"could not ask Telegram for the bot's name ({error}); no link", err=True)
    if link:
        typer.echo(link)
    if qr is not None:
        from bot.channels.telegram.channel import write_qr

        write_qr(link or code, qr)
        typer.echo(f"QR code of the {'link' if link else 'code'} written to {qr}", err=True)


@app.command()
def summary(
    unit: Annotated[str, typer.Option(help="Code of the unit; everything under it is counted.")],
    period: Annotated[str | None, typer.Option(
        help="2026-11, 2026-W47, 2026-Q4, 2026 or 2026-11-26 (default: this month).")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", dir_okay=False, help="Also write the Excel file.")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", dir_okay=False, help=(
        "Also write the charts (PNG): this file, then NAME-2.png, NAME-3.png…"))] = None,
    households: Annotated[bool, typer.Option(
        help="Put household-level poverty rows in the Excel file (written to the audit log).")] = False,
    language: Annotated[str, typer.Option("--lang", help="vi or en.")] = "vi",
    config: ConfigOption = None,
) -> None:
    """Print the summary of a unit for a period, with the change from the period before."""
    from handlers.summaries import periods
    from handlers.summaries.summary import complete, draw_charts, render_text, summarize, workbook
    from models.repos import Repo

    settings = settings_from_env(config)
    try:
        chosen = periods.parse(period, settings.app.tz) if period else None
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    migrate(settings)

    async def go() -> tuple[str, bytes | None, list[bytes]]:
        app_ = _build(settings)
        try:
            async with app_.sessions() as session, session.begin():
                repo = Repo(session)
                found = await repo.unit_by_code(unit)
                if found is None:
                    typer.echo(f"no unit with code {unit!r}", err=True)
                    raise typer.Exit(1)
                now = app_.clock.now()
                result = await summarize(repo, unit_path=found.path, settings=settings, now=now,
                                         period=chosen or periods.containing("month", now, settings.app.tz))
                t = app_.catalogs.translator(language, settings.app.tz)
                book = await workbook(repo, result, t=t, viewer_id=None, households=households,
                                      via="cli") if xlsx else None
                if chart:
                    await complete(repo, result)  # each group's reports by task, for the charts
                pngs = [c.png for c in draw_charts(result, t).charts] if chart else []
                return render_text(result, t), book, pngs
        finally:
            await app_.db_engine.dispose()

    text, book, pngs = asyncio.run(go())
    typer.echo(text)
    if xlsx is not None and book is not None:
        xlsx.write_bytes(book)
        typer.echo(f"Excel file written to {xlsx}", err=True)
    if chart is not None:
        for n, png in enumerate(pngs, 1):
            path = chart if n == 1 else chart.with_name(f"{chart.stem}-{n}{chart.suffix}")
            path.write_bytes(png)
            typer.echo(f"Chart written to {path}", err=True)
        if not pngs:
            typer.echo("No chart: nothing to show in this period", err=True)


def _build(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.bootstrap import build

    return build(settings)


def main() -> None:
    """The `totruong` command. A refused setting or form file (any command) is one line naming the
    key or the file, and exit status 2: never a traceback."""
    try:
        app()
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise SystemExit(2) from None
