"""Reports at city scale (issue 3):

1. filing 10,000 reports across 3,000 groups through the engine, in form steps per second (SQLite);
2. "open incidents in my ward" with 1,000,000 reports stored, on SQLite and on PostgreSQL.

Run: .venv/bin/python -m bench reports   (PostgreSQL: TOTRUONG_BENCH_POSTGRES_URL, default the local
server postgresql+psycopg://root@127.0.0.1:5432/test; a scratch database is created and dropped).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import scratch_postgres
from bot.bootstrap import App, build, prepare_database
from handlers.messages import Incoming
from handlers.reports.reporting import OPEN
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.tables import Identity, Person, RoleAssignment, local_day
from models.units import UnitRow, import_units

WARDS = 30
GROUPS_PER_WARD = 100
REPORTS_FILED = 10_000
STORED = 1_000_000
# One residence-changes report as a leader files it: open, five counts, skip the note, send.
SCRIPT = [{"button": "m.f.an_ninh_cu_tru"}, {"text": "2"}, {"text": "5"}, {"text": "1"}, {"text": "0"},
          {"text": "1"}, {"text": "bỏ qua"}, {"text": "gửi báo cáo"}]


def city_rows() -> list[UnitRow]:
    rows = [UnitRow("DN", "Thành phố Đà Nẵng", "city", "", None)]
    for w in range(WARDS):
        rows.append(UnitRow(f"W{w:02}", f"Phường {w + 1}", "ward", "DN", None))
        rows += [UnitRow(f"W{w:02}-G{g:03}", f"Tổ dân phố {g + 1}", "group", f"W{w:02}", 120)
                 for g in range(GROUPS_PER_WARD)]
    return rows


async def make_app(url: str, folder: Path) -> App:
    settings = load_settings({"TOTRUONG_DATABASE__URL": url, "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                              "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
                              "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "false"}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    async with app.sessions() as session, session.begin():
        await import_units(session, city_rows(), levels=settings.units.levels)
    return app


async def filing_rate(folder: Path) -> float:
    app = await make_app(f"sqlite+aiosqlite:///{folder}/filing.db", folder)
    try:
        async with app.sessions() as session, session.begin():
            repo = Repo(session)
            for w in range(WARDS):
                for g in range(GROUPS_PER_WARD):
                    unit = await repo.unit_by_code(f"W{w:02}-G{g:03}")
                    person = Person(name=f"Tổ trưởng {w}-{g}")
                    session.add(person)
                    await session.flush()
                    session.add(Identity(person_id=person.id, channel="bench", external_id=f"{w}-{g}"))
                    session.add(RoleAssignment(person_id=person.id, unit_id=unit.id, role="leader"))
        leaders = [f"{w}-{g}" for w in range(WARDS) for g in range(GROUPS_PER_WARD)]
        steps = 0
        started = time.perf_counter()
        for n in range(REPORTS_FILED):
            user = leaders[n % len(leaders)]
            for step in SCRIPT:
                handled = await app.receive(Incoming(channel="bench", user_id=user, **step))  # type: ignore[arg-type]
                assert handled.replies
                steps += 1
        seconds = time.perf_counter() - started
        async with app.sessions() as session:
            from sqlalchemy import func, select

            from models.tables import Report
            assert await session.scalar(select(func.count()).select_from(Report)) == REPORTS_FILED
        return steps / seconds
    finally:
        await app.stop()


def report_rows(unit_paths: list[tuple[int, str]], reporter: int) -> list[tuple[object, ...]]:
    rnd = random.Random(71)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    forms = ["an_ninh_vu_viec", "an_ninh_cu_tru", "ve_sinh_chu_nhat_xanh", "giam_ngheo_ho_tro", "dan_chu_hop_to"]
    rows = []
    for n in range(STORED):
        unit_id, path = unit_paths[rnd.randrange(len(unit_paths))]
        urgent = rnd.random() < 0.01
        status = rnd.choice(["sent", "received", "resolved", "resolved", "resolved"]) if urgent else rnd.choice(
            ["sent", "received", "resolved"])
        at = start + timedelta(seconds=rnd.randrange(700 * 86400))
        form = "khan_cap" if urgent else forms[n % len(forms)]
        rows.append((f"B{n:09}", form, 1, "an_ninh" if urgent else form.split("_")[0], unit_id, path, reporter,
                     json.dumps({"n": n}), status, "", urgent, 0, False, at, at, local_day(at)))
    return rows


COLUMNS = ("code, form_key, form_version, task, unit_id, unit_path, reporter_id, data, status, status_reason, "
           "urgent, escalation_level, superseded, created_at, updated_at, event_day")


async def incident_query_ms(url: str, folder: Path) -> tuple[float, int]:
    app = await make_app(url, folder)
    try:
        async with app.sessions() as session, session.begin():
            person = Person(name="Bench")
            session.add(person)
            await session.flush()
            reporter = person.id
            from sqlalchemy import select

            from models.tables import Unit
            groups = (await session.execute(select(Unit.id, Unit.path).where(Unit.level == "group"))).all()
        rows = report_rows([(g[0], g[1]) for g in groups], reporter or 0)
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1]
            conn = sqlite3.connect(path)
            stamp = "%Y-%m-%d %H:%M:%S.%f"
            conn.executemany(f"INSERT INTO report ({COLUMNS}) VALUES ({','.join('?' * 16)})",
                             [(*r[:13], r[13].strftime(stamp), r[14].strftime(stamp), r[15].isoformat())
                              for r in rows])
            conn.commit()
            conn.execute("ANALYZE")
            conn.close()
        else:
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                with conn.cursor() as cur, cur.copy(f"COPY report ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.execute("ANALYZE report")
        async with app.sessions() as session:
            repo = Repo(session)
            ward = await repo.unit_by_code("W07")
            assert ward is not None
            timings = []
            found = 0
            for _ in range(40):
                started = time.perf_counter()
                found = len(await repo.reports_under(ward.path, urgent=True, statuses=OPEN, limit=6))
                timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings[5:]), found
    finally:
        await app.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rate = asyncio.run(filing_rate(folder))
        print(f"filing {REPORTS_FILED:,} reports across {WARDS * GROUPS_PER_WARD:,} groups through the engine "
              f"(SQLite): {rate:,.0f} form steps/s (target ≥ 1,000)")
        ms, found = asyncio.run(incident_query_ms(f"sqlite+aiosqlite:///{folder}/million.db", folder))
        print(f"open incidents in one ward, {STORED:,} reports stored, SQLite: median {ms:.2f} ms "
              f"({found} shown; target < 50 ms)")
    with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            ms, found = asyncio.run(incident_query_ms(url, Path(tmp)))
            print(f"open incidents in one ward, {STORED:,} reports stored, PostgreSQL: median {ms:.2f} ms "
                  f"({found} shown; target < 50 ms)")
