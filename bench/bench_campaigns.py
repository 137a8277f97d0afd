"""Campaigns at city scale (issue 7):

1. with 3,000 groups, computing and enqueuing one occurrence for 100,000 recipients, on SQLite and
   on PostgreSQL (target < 10 s);
2. the idle app's ticker and dispatcher: CPU time of `totruong run` over 30 s with nothing to do
   (target < 1% of a core).

Run: .venv/bin/python -m bench campaigns   (PostgreSQL: TOTRUONG_BENCH_POSTGRES_URL as for `bench reports`)
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text, update

from bench.bench_reports import city_rows
from bench.common import running_app, scratch_postgres
from bot.bootstrap import build, prepare_database
from models.codes import new_code
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Campaign, Outbox, Unit
from models.units import import_units

RECIPIENTS = 100_000


async def occurrence_seconds(url: str, folder: Path) -> tuple[float, int]:
    settings = load_settings({"TOTRUONG_DATABASE__URL": url, "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                              "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
                              "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "false"}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    try:
        async with app.sessions() as session, session.begin():
            await import_units(session, city_rows(), levels=settings.units.levels)
            groups = (await session.execute(select(Unit.id, Unit.path).where(Unit.level == "group"))).all()
            city = (await session.scalars(select(Unit).where(Unit.code == "DN"))).one()
            conn = await session.connection()
            now = datetime.now(UTC)
            people = [{"name": f"Cư dân {n}", "language": "vi", "opted_out": False, "created_at": now}
                      for n in range(RECIPIENTS)]
            await conn.execute(text("INSERT INTO person (name, language, opted_out, created_at) "
                                    "VALUES (:name, :language, :opted_out, :created_at)"), people)
            ids = (await conn.execute(text("SELECT id FROM person ORDER BY id"))).scalars().all()
            await conn.execute(text(
                "INSERT INTO identity (person_id, channel, external_id, chat_id, display_name, blocked, created_at) "
                "VALUES (:p, 'sim', :e, :e, '', false, :now)"), [{"p": p, "e": f"r{p}", "now": now} for p in ids])
            await conn.execute(text(
                "INSERT INTO role_assignment (person_id, unit_id, role, duties, active, created_at) "
                "VALUES (:p, :u, 'resident', '', true, :now)"),
                [{"p": p, "u": groups[n % len(groups)][0], "now": now} for n, p in enumerate(ids)])
            await session.execute(update(Campaign).values(status="paused"))
            start = now - timedelta(days=1)
            # An event in two hours whose reminder fell due five minutes ago (both today, local time).
            local = (now - timedelta(minutes=5)).astimezone(settings.app.tz)
            event = (local + timedelta(hours=2)).replace(hour=min(local.hour + 2, 23))
            session.add(Campaign(code=new_code(6), name="Tổng vệ sinh toàn thành phố", unit_id=city.id,
                                 unit_path=city.path, audience="residents",
                                 schedule={"kind": "once", "dates": [local.date().isoformat()],
                                           "time": f"{event:%H}:59"},
                                 reminders=[{"days_before": 0, "time": f"{local:%H:%M}"}], follow_up={},
                                 created_at=start, updated_at=start))
        started = time.perf_counter()
        queued = await app.run_campaigns()
        seconds = time.perf_counter() - started
        async with app.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(Outbox))
        assert queued == rows == RECIPIENTS, (queued, rows)
        return seconds, queued
    finally:
        await app.stop()


def idle_cpu_percent(seconds: float = 30.0) -> float:
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp)) as (process, _port):
        time.sleep(5)  # let start-up settle
        tick = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        before, started = cpu(), time.monotonic()
        time.sleep(seconds)
        return (cpu() - before) / (time.monotonic() - started) * 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seconds, queued = asyncio.run(occurrence_seconds(f"sqlite+aiosqlite:///{tmp}/campaigns.db", Path(tmp)))
    print(f"one occurrence for {queued:,} recipients across 3,000 groups, SQLite: {seconds:.2f} s (target < 10 s)")
    with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            seconds, queued = asyncio.run(occurrence_seconds(url, Path(tmp)))
            print(f"one occurrence for {queued:,} recipients across 3,000 groups, PostgreSQL: {seconds:.2f} s "
                  "(target < 10 s)")
    print(f"idle app (ticker every 30 s, dispatcher polling every 1 s): {idle_cpu_percent():.2f}% of one core "
          "over 30 s (target < 1%)")
