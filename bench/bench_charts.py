"""The summary's charts before and after issue 14 item 4, in the same run: the old single 800×500
image (`chart_png` of BASELINE, read from git) against the new charts (one 1080-px image each), for
a ward (100 groups) and a city (30 wards, 3,000 groups) of made-up figures. No database: the
figures are built in memory, so only the drawing is timed.

Run: .venv/bin/python -m bench charts
"""

from __future__ import annotations

import dataclasses
import os
import random
import statistics
import subprocess
import time
import types
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from handlers.i18n import Catalogs
from handlers.summaries.periods import Period
from handlers.summaries.summary import draw_charts
from handlers.summaries.summary_figures import Figures, GroupLine, Summary, Totals, _bucket_edges
from models import summary_queries as q
from models.settings import PROJECT_ROOT, load_settings

BASELINE = "393c027"  # main before the phone charts: exports.chart_png drew one 800×500 image
RUNS = int(os.environ.get("BENCH_CHART_RUNS", "7"))
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TASKS = ("an_ninh", "ve_sinh", "giam_ngheo", "dan_chu")


def _old_chart_png() -> Any:
    """BASELINE's chart_png, loaded from git into a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "-C", str(root), "show", f"{BASELINE}:handlers/summaries/exports.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("bench_old_exports")
    exec(compile(source, "old_exports.py", "exec"), module.__dict__)  # our own code, from git
    return module.chart_png


def _figures(rnd: random.Random) -> Figures:
    figures = Figures(months_due=1, filed=int(rnd.random() < 0.8))
    figures.reports_by_task = {task: rnd.randrange(0, 6) for task in TASKS}
    figures.reports = sum(figures.reports_by_task.values())
    return figures


def made_up(wards: int, groups: int) -> Summary:
    """A summary of November 2026 with `wards` wards of `groups` groups (one ward: its groups)."""
    rnd = random.Random(14)
    period = Period.calendar("month", date(2026, 11, 1), TZ)
    city = q.UnitRow(1, "48", "Thành phố Đà Nẵng", "city", "/1/", None)
    lines: list[GroupLine] = []
    children: list[tuple[q.UnitRow, Figures]] = []
    next_id = 2
    ward = city
    for w in range(wards):
        ward = q.UnitRow(next_id, f"W{w}", f"Phường Hòa Khánh Bắc {w + 1}", "ward", f"/1/{next_id}/", 1)
        next_id += 1
        total = Figures()
        for g in range(groups):
            unit = q.UnitRow(next_id, f"G{next_id}", f"Tổ dân phố Hòa Khánh Bắc {g + 1}", "group",
                             f"{ward.path}{next_id}/", ward.id)
            next_id += 1
            figures = _figures(rnd)
            lines.append(GroupLine(unit, ward.name, figures))
            total.add(figures)
            if wards == 1:
                children.append((unit, figures))
        if wards > 1:
            children.append((ward, total))
    unit = city if wards > 1 else ward
    area = Figures()
    for line in lines:
        area.add(line.figures)
    kind, edges = _bucket_edges(period)
    buckets = [(edge, rnd.randrange(0, 9)) for edge in edges[:-1]]
    before = Period.calendar("month", date(2026, 10, 1), TZ)
    return Summary(unit=unit, current=Totals(period, area, ["2026-11"]),
                   previous=Totals(before, Figures(), ["2026-10"]), groups=lines,
                   children=sorted(children, key=lambda pair: pair[0].name), buckets=buckets,
                   bucket_kind=kind, wards=wards, ack_minutes=15, complete=True)


def _time(work: Any) -> tuple[float, float]:
    """(CPU ms, wall ms) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def main() -> None:
    settings = load_settings({}, PROJECT_ROOT / "config.toml")
    t = Catalogs(Path(settings.locales_dir)).translator("vi", settings.app.tz)
    old_chart_png = _old_chart_png()
    print(f"load before: {open('/proc/loadavg').read().strip()}")
    for name, summary in (("ward (100 groups)", made_up(1, 100)), ("city (30 wards, 3,000 groups)", made_up(30, 100))):
        # The old code read the children as (name, figures).
        old = dataclasses.replace(summary, children=[(unit.name, f) for unit, f in summary.children])
        old_chart_png(old, t)  # imports, font cache
        draw_charts(summary, t)
        before: list[tuple[float, float]] = []
        after: list[tuple[float, float]] = []
        for _run in range(RUNS):  # interleaved, so that the machine's load falls on both alike
            before.append(_time(lambda old=old: old_chart_png(old, t)))
            after.append(_time(lambda summary=summary: draw_charts(summary, t)))
        drawn = draw_charts(summary, t)
        for n, chart in enumerate(drawn.charts, 1):
            if out := os.environ.get("BENCH_CHART_DIR"):
                Path(out, f"{name.split()[0]}-{n}.png").write_bytes(chart.png)
        old_cpu, new_cpu = (statistics.median(c for c, _w in runs) for runs in (before, after))
        old_wall, new_wall = (statistics.median(w for _c, w in runs) for runs in (before, after))
        sizes = ", ".join(f"{c.size[0]}×{c.size[1]}" for c in drawn.charts)
        print(f"{name}: before {old_cpu:.0f} ms CPU ({old_wall:.0f} ms wall), one 800×500 image; "
              f"after {new_cpu:.0f} ms CPU ({new_wall:.0f} ms wall), {len(drawn.charts)} images ({sizes}); "
              f"ratio {new_cpu / old_cpu:.2f}× CPU, {new_wall / old_wall:.2f}× wall; "
              f"per image {new_cpu / len(drawn.charts) / old_cpu:.2f}× CPU")
    print(f"load after: {open('/proc/loadavg').read().strip()}")
