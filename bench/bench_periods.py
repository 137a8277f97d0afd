"""Summaries by event day (issue 14): 3,000 groups and 1,000,000 reports (bulk inserted, not through
the engine), the monthly summary of the whole city and of one ward counted by the day each event
happened, as a ratio to the same summary counted by filing time, measured in the same run on the
same data (goal ≤ 1.2), on SQLite and PostgreSQL; absolute times, load average, peak memory.

The baseline is the same code with every period scope on `created_at` (the filing time) instead of
`event_day`: the scopes' bounds are then the period's UTC instants, read through the equivalent
indexes (created_at, unit_path) and (form_key, created_at, unit_path, superseded). The two are run
alternately, so that the machine's noise falls on both. The collector is set as `totruong run` sets it
after start (bot/memory.py), and each run begins with a collection: a full pass of the cycle
collector, falling on one run and not the next, had moved single runs by 60 ms of CPU.

Run: .venv/bin/python -m bench periods   (TOTRUONG_BENCH_REPORTS=100000 for a quicker try,
TOTRUONG_BENCH_ENGINES=sqlite or postgresql for one engine; the
figures in docs/benchmarks.md are from the full size. PostgreSQL: TOTRUONG_BENCH_POSTGRES_URL,
default the local server; a scratch database is created and dropped).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.bench_summary import STORED, load, make_app
from bench.common import scratch_postgres
from bot.memory import settle_after_start
from handlers.summaries import summary_figures
from handlers.summaries.periods import Period
from handlers.summaries.summary import render_text, summarize
from models import summary_queries as q
from models.repos import Repo

RUNS = 11  # of each kind, alternated; the first two of each are warm-up


def _by_filing(path: str, period: Period) -> q.Scope:
    """The baseline: a period's reports by when they were filed (its UTC bounds)."""
    return q.Scope(path, period.start, period.end)


@contextmanager
def counting(scope: Callable[[str, Period], q.Scope]) -> Iterator[None]:
    """Summaries whose periods are scoped by `scope` while inside."""
    original = summary_figures.scope_of
    summary_figures.scope_of = scope
    try:
        yield
    finally:
        summary_figures.scope_of = original


async def _one(repo: Repo, path: str, period: Period, app: Any, now: datetime, t: Any) -> tuple[float, float, int]:
    gc.collect()  # each run starts with no garbage left by the one before (of the other kind)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = await summarize(repo, unit_path=path, period=period, settings=app.settings, now=now)
    render_text(summary, t)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, summary.current.figures.reports


async def measure(url: str, folder: Path, total: int) -> dict[str, Any]:
    app, groups, reporter = await make_app(url, folder)
    try:
        started = time.perf_counter()
        figures: dict[str, Any] = {"stored": await asyncio.to_thread(load, url, groups, reporter, total),
                                   "load_s": time.perf_counter() - started, "groups": len(groups)}
        month = Period.calendar("month", date(2026, 10, 1), app.settings.app.tz)
        now = datetime(2026, 11, 20, tzinfo=UTC)
        t = app.catalogs.translator("vi", app.settings.app.tz)
        settle_after_start()  # the collector as `totruong run` sets it once started (bot/memory.py)
        figures["load_before"] = os.getloadavg()
        async with app.sessions() as session:
            repo = Repo(session)
            city, ward = await repo.unit_by_code("DN"), await repo.unit_by_code("W07")
            assert city is not None and ward is not None
            for name, unit in (("city", city), ("ward", ward)):
                runs: dict[str, list[tuple[float, float, int]]] = {"event": [], "filed": []}
                for _ in range(RUNS):
                    runs["event"].append(await _one(repo, unit.path, month, app, now, t))
                    with counting(_by_filing):
                        runs["filed"].append(await _one(repo, unit.path, month, app, now, t))
                for kind, found in runs.items():
                    figures[f"{name}_{kind}_wall"] = statistics.median(w for w, _c, _n in found[2:])
                    figures[f"{name}_{kind}_cpu"] = statistics.median(c for _w, c, _n in found[2:])
                    figures[f"{name}_{kind}_reports"] = found[-1][2]
        figures["load_after"] = os.getloadavg()
        return figures
    finally:
        await app.stop()


def report(engine: str, f: dict[str, Any]) -> None:
    print(f"{engine}: {f['stored']:,} reports of {f['groups']:,} groups loaded in {f['load_s']:.0f} s; "
          f"load average {f['load_before'][0]:.2f} before, {f['load_after'][0]:.2f} after the timings")
    for name, what in (("city", "whole city"), ("ward", "one ward")):
        event, filed = f[f"{name}_event_wall"], f[f"{name}_filed_wall"]
        cpu_event, cpu_filed = f[f"{name}_event_cpu"], f[f"{name}_filed_cpu"]
        print(f"  monthly summary (October 2026 with September), {what}: by event day {event:.1f} ms "
              f"({f[f'{name}_event_reports']:,} reports), by filing time {filed:.1f} ms "
              f"({f[f'{name}_filed_reports']:,} reports): ratio {event / filed:.2f} wall, "
              f"{cpu_event / cpu_filed:.2f} CPU ({cpu_event:.1f} / {cpu_filed:.1f} ms CPU) (goal ≤ 1.2)")


def main() -> None:
    total = int(os.environ.get("TOTRUONG_BENCH_REPORTS", STORED))
    print(f"command: .venv/bin/python -m bench periods   ({total:,} reports; load average {os.getloadavg()})")
    engines = os.environ.get("TOTRUONG_BENCH_ENGINES", "sqlite,postgresql").split(",")
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory() as tmp:
            report("SQLite", asyncio.run(measure(f"sqlite+aiosqlite:///{tmp}/periods.db", Path(tmp), total)))
    if "postgresql" in engines:
        with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
            if url is not None:
                report("PostgreSQL", asyncio.run(measure(url, Path(tmp), total)))
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the whole bench process (generation included): {usage:.0f} MB (target < 300 MB)")
