"""What `/metrics` and the JSON logs cost (issue 15, item 5).

1. The Telegram stack's CPU per update with the metrics and request ids (this checkout) and
   without (`TOTRUONG_BENCH_BASE`, default `main`, checked out beside this one), `python -m bench
   telegram` alternately in each, so a change of load hits both alike. Target: ≤ 5 % more.
   (The engine's steps/s against the same base: `python -m bench engine`.)
2. One scrape's database read (models/metrics_queries.py) with a large outbox: 200,000 rows sent,
   2,000 waiting, 20,000 occurrences and 5,000 escalations, on SQLite and PostgreSQL. Target: well
   inside the 2 s bound, on the read engine (SQLite's runs on a thread, not the event loop).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import baseline_tree, scratch_postgres

OUTBOX_SENT = 200_000
OUTBOX_WAITING = 2_000
OCCURRENCES = 20_000
ESCALATIONS = 5_000
MEDIAN = re.compile(r"median: whole stack ([\d,]+) updates/s \(([\d.]+) ms CPU each")


def _telegram_in(code: Path) -> tuple[float, float]:
    """(updates/s, ms CPU per update) of `python -m bench telegram` in the checkout at `code`."""
    env = {**os.environ, "TOTRUONG_BENCH_UPDATES": os.environ.get("TOTRUONG_BENCH_UPDATES", "2000"),
           "TOTRUONG_BENCH_RUNS": "3"}
    done = subprocess.run([sys.executable, "-m", "bench", "telegram"], cwd=code, env=env, capture_output=True,
                          text=True, check=True, timeout=900)
    found = MEDIAN.search(done.stdout)
    assert found, done.stdout[-2000:]
    return float(found.group(1).replace(",", "")), float(found.group(2))


def telegram_cpu() -> None:
    base = os.environ.get("TOTRUONG_BENCH_BASE", "main")
    here = Path(__file__).resolve().parent.parent
    mine: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with baseline_tree(base) as tree:
        for _turn in range(2):
            theirs.append(_telegram_in(tree))
            mine.append(_telegram_in(here))
    cpu_mine = statistics.median(m[1] for m in mine)
    cpu_theirs = statistics.median(t[1] for t in theirs)
    print(f"telegram stack, {base}: " + ", ".join(f"{r:,.0f}/s {c:.2f} ms" for r, c in theirs))
    print("telegram stack, this: " + ", ".join(f"{r:,.0f}/s {c:.2f} ms" for r, c in mine))
    print(f"  CPU per update this/{base}: {cpu_mine / cpu_theirs:.3f} (target ≤ 1.05)   "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def _fill(url: str) -> None:
    from sqlalchemy import insert, select

    from models import db
    from models.tables import Campaign, Identity, Occurrence, Outbox, Person, Report, ReportEvent, Unit

    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        unit = Unit(code="B", name="Bench", level="ward", path="/1/")
        person = Person(name="Bench")
        session.add_all([unit, person])
        await session.flush()
        identity = Identity(person_id=person.id, channel="telegram", external_id="1", chat_id="1")
        campaign = Campaign(code="BENCH1", name="Bench", unit_id=unit.id, unit_path=unit.path, schedule={},
                            reminders=[], follow_up={}, created_at=now, updated_at=now)
        session.add_all([identity, campaign])
        await session.flush()
        identity_id, campaign_id, unit_id, person_id = identity.id, campaign.id, unit.id, person.id
    rows = [{"key": f"b:{n}", "identity_id": identity_id, "channel": ("telegram", "zalo")[n % 2], "chat_id": str(n),
             "payload": [], "kind": ("direct", "broadcast")[n % 3 == 0],
             "status": "sent" if n < OUTBOX_SENT else ("pending", "retry")[n % 2],
             "due_at": now - timedelta(seconds=n % 600), "attempts": 1, "claimed_by": "", "message_id": "1",
             "error": "", "progress": 1, "created_at": now} for n in range(OUTBOX_SENT + OUTBOX_WAITING)]
    for start in range(0, len(rows), 10_000):
        async with sessions() as session, session.begin():
            await session.execute(insert(Outbox), rows[start:start + 10_000])
    async with sessions() as session, session.begin():
        await session.execute(insert(Occurrence), [
            {"key": f"o:{n}", "campaign_id": campaign_id, "step": ("reminder", "follow_up")[n % 2],
             "due_at": now, "event_at": now, "status": ("sent", "skipped")[n % 7 == 0], "reason": "",
             "recipients": 10, "processed_at": now} for n in range(OCCURRENCES)])
        await session.execute(insert(Report), [
            {"code": f"R{n:06d}", "form_key": "su_co", "form_version": 1, "task": "su_co", "unit_id": unit_id,
             "unit_path": "/1/", "reporter_id": person_id, "data": {}, "status": "sent", "status_reason": "",
             "urgent": True, "escalation_level": 1, "superseded": False, "created_at": now, "updated_at": now}
            for n in range(ESCALATIONS)])
        ids = (await session.scalars(select(Report.id))).all()
        await session.execute(insert(ReportEvent), [
            {"report_id": i, "at": now, "status": status, "note": "", "follow_up": {}}
            for i in ids for status in ("sent", "escalated")])
    await engine.dispose()


async def _scrape_seconds(url: str) -> list[float]:
    from models import db
    from models.metrics_queries import read

    main = db.create_engine(url)
    reads = db.create_read_engine(url, main)
    sessions = db.session_factory(reads)
    took = []
    try:
        for _ in range(7):
            started = time.perf_counter()
            async with sessions() as session, session.begin():
                figures = await read(session, now=datetime.now(UTC), timeout_seconds=2.0)
            took.append(time.perf_counter() - started)
        assert sum(figures.outbox.values()) == OUTBOX_SENT + OUTBOX_WAITING and figures.escalations == ESCALATIONS
    finally:
        await main.dispose()
        if reads is not main:
            await reads.dispose()
    return took


def scrape_cost() -> None:
    from models.db import upgrade_sync

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade_sync(url)
        asyncio.run(_fill(url))
        took = asyncio.run(_scrape_seconds(url))
        print(f"scrape's database read, SQLite, {OUTBOX_SENT + OUTBOX_WAITING:,} outbox rows: median "
              f"{statistics.median(took) * 1000:.0f} ms (max {max(took) * 1000:.0f} ms; bound 2,000 ms)")
    with scratch_postgres() as url:
        if url:
            asyncio.run(_fill(url))
            took = asyncio.run(_scrape_seconds(url))
            print(f"scrape's database read, PostgreSQL: median {statistics.median(took) * 1000:.0f} ms "
                  f"(max {max(took) * 1000:.0f} ms)")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    print("command: python -m bench metrics")
    scrape_cost()
    if not os.environ.get("TOTRUONG_BENCH_SKIP_TELEGRAM"):
        telegram_cpu()


if __name__ == "__main__":
    main()
