"""Summaries at city scale (issue 8): 3,000 groups, 1,000,000 reports of every form over 23 months,
then the monthly summary (with the month before) of the whole city and of one ward, on SQLite and on
PostgreSQL; peak memory of a city summary; the charts and the Excel file of the city.

Run: .venv/bin/python -m bench summary   (PostgreSQL: TOTRUONG_BENCH_POSTGRES_URL, default the local
server postgresql+psycopg://root@127.0.0.1:5432/test; a scratch database is created and dropped).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.bench_reports import city_rows
from bench.common import scratch_postgres
from bot.bootstrap import App, build, prepare_database
from handlers.summaries.exports import workbook_xlsx
from handlers.summaries.periods import Period
from handlers.summaries.summary import complete, draw_charts, render_text, summarize
from models.repos import Repo
from models.settings import PROJECT_ROOT, load_settings
from models.summary_queries import Scope
from models.tables import Person, Unit, local_day
from models.units import import_units

STORED = 1_000_000
FIRST_MONTH = date(2025, 1, 1)
MONTHS = 23  # January 2025 to November 2026
RUNS = 15
# Reports per group and month besides the monthly report, by form (about 13 in all).
RATES = {
    "ve_sinh_chu_nhat_xanh": 4.0, "giam_ngheo_ho_tro": 2.0, "dan_chu_phan_anh": 2.0, "an_ninh_cu_tru": 1.0,
    "an_ninh_vu_viec": 1.0, "dan_chu_hop_to": 1.0, "ve_sinh_diem_den": 0.5, "an_ninh_khong_vu_viec": 0.3,
    "ve_sinh_khong_rac": 0.3, "ve_sinh_diem_mau": 0.2, "khan_cap": 0.15, "giam_ngheo_thoat_ngheo": 0.1,
}
TASK_OF = {"an_ninh_vu_viec": "an_ninh", "an_ninh_cu_tru": "an_ninh", "an_ninh_khong_vu_viec": "an_ninh",
           "khan_cap": "an_ninh", "ve_sinh_chu_nhat_xanh": "ve_sinh", "ve_sinh_diem_den": "ve_sinh",
           "ve_sinh_diem_mau": "ve_sinh", "ve_sinh_khong_rac": "ve_sinh", "giam_ngheo_ho_tro": "giam_ngheo",
           "giam_ngheo_thoat_ngheo": "giam_ngheo", "dan_chu_hop_to": "dan_chu", "dan_chu_phan_anh": "dan_chu"}
COLUMNS = ("code, form_key, form_version, task, unit_id, unit_path, reporter_id, data, status, status_reason, "
           "urgent, escalation_level, superseded, created_at, updated_at, acknowledged_at, event_day")
# The forms' event field (forms/*.toml `event_field`): their reports are about the day it names.
EVENT_FIELD = {"an_ninh_vu_viec", "dan_chu_hop_to", "giam_ngheo_ho_tro", "giam_ngheo_thoat_ngheo",
               "ve_sinh_chu_nhat_xanh"}


def event_day(form: str, data: dict[str, Any], at: datetime) -> date:
    """The day a generated report is about, as the core files it (handlers.forms.event_day)."""
    if "_month" in data:
        return date.fromisoformat(f"{data['_month']}-01")
    if form == "an_ninh_khong_vu_viec":
        return date.fromisoformat(f"{data['month']}-01")
    if form in EVENT_FIELD:
        return date.fromisoformat(data["ngay"])
    return local_day(at)
PLACE = {"latitude": 16.0718, "longitude": 108.2204, "address": "Kiệt 25 Hà Huy Tập"}


def _data(form: str, rnd: random.Random, month: str) -> dict[str, Any]:
    """Answers as the forms store them (same keys and kinds of values)."""
    pick = rnd.choice
    if form == "an_ninh_vu_viec":
        return {"loai": pick(["trom_cap", "danh_nhau", "ma_tuy", "tai_nan_gt", "chay_no", "nguoi_la", "khac"]),
                "ngay": f"{month}-10", "buoi": pick(["sang", "toi"]), "dia_diem": PLACE,
                "dien_bien": "Mất xe máy trước nhà lúc nửa đêm, đã báo công an.", "co_nguoi_bi_thuong": False,
                "da_bao_cong_an": True}
    if form == "an_ninh_cu_tru":
        return {"thuong_tru_moi": rnd.randint(0, 4), "tam_tru_moi": rnd.randint(0, 8), "chuyen_di": rnd.randint(0, 3),
                "tam_vang": rnd.randint(0, 3), "ho_moi_den": rnd.randint(0, 2), "ghi_chu": None}
    if form == "ve_sinh_chu_nhat_xanh":
        return {"ngay": f"{month}-07", "nguoi_tham_gia": rnd.randint(5, 60), "so_ho": rnd.randint(3, 40),
                "hoat_dong": ["quet_don", "khoi_thong"], "rac_kg": round(rnd.uniform(5, 200), 1),
                "con_diem_rac": False, "danh_gia": pick(["tot", "kha"]), "anh": None, "ghi_chu": None}
    if form == "ve_sinh_diem_den":
        return {"vi_tri": PLACE, "anh": {"attachment": 1}, "loai_rac": ["sinh_hoat"], "quy_mo": "vua",
                "thoi_gian": "duoi_1_thang", "ghi_chu": None}
    if form == "ve_sinh_diem_mau":
        return {"hinh_thuc": pick(["dang_ky", "duy_tri", "duy_tri"]), "ten_khu_vuc": "Kiệt 25 Hà Huy Tập",
                "vi_tri": PLACE, "anh": {"attachment": 1}, "viec_da_lam": ["trong_cay"], "ghi_chu": None}
    if form == "ve_sinh_khong_rac":
        return {"trang_thai": pick(["da_dat", "dang_xay_dung", "chua_dang_ky"]), "ho_phan_loai": rnd.randint(0, 100),
                "ho_thu_gom": rnd.randint(50, 150), "ghi_chu": None}
    if form == "giam_ngheo_ho_tro":
        return {"ma_ho": f"HN{rnd.randint(1, 12):02}", "dien": pick(["ho_ngheo", "can_ngheo", "dot_xuat"]),
                "hinh_thuc": pick(["tien_mat", "gao"]), "gia_tri": rnd.randrange(0, 2_000_000, 50_000),
                "nguon": pick(["nha_nuoc", "mat_tran", "mtq", "to_van_dong"]), "ngay": f"{month}-12"}
    if form == "giam_ngheo_thoat_ngheo":
        return {"ma_ho": f"HN{rnd.randint(1, 12):02}", "dien_truoc": "ho_ngheo", "ngay": f"{month}-15",
                "ly_do": "viec_lam", "ghi_chu": None}
    if form == "dan_chu_hop_to":
        return {"ngay": f"{month}-15", "ho_du_hop": rnd.randint(40, 120), "tong_so_ho": 120,
                "noi_dung": ["an_ninh", "ve_sinh"], "ket_luan": "Thống nhất ra quân dọn vệ sinh kiệt hẻm.", "anh": None}
    if form == "dan_chu_phan_anh":
        passed = rnd.random() < 0.5
        data = {"linh_vuc": "moi_truong", "noi_dung": "Đèn đường kiệt 25 bị hỏng đã hai tuần.", "anh": None,
                "vi_tri": None, "da_chuyen_phuong": passed}
        if not passed:
            data["da_giai_quyet"] = rnd.random() < 0.6
        return data
    if form == "khan_cap":
        return {"loai": pick(["chay_no", "tai_nan", "danh_nhau", "trom_cuop", "ngap_lut", "khac"]), "vi_tri": PLACE,
                "mo_ta": "Khói bốc lên từ nhà số 12."}
    if form == "an_ninh_khong_vu_viec":
        return {"form": "an_ninh_vu_viec", "month": month}
    return {"_month": month, "so_vu_viec": rnd.randint(0, 3), "so_tin_khan": 0, "so_buoi_cn_xanh": 4,
            "nguoi_tham_gia": rnd.randint(20, 200), "rac_kg": 120.5, "ho_duoc_ho_tro": 2, "tien_ho_tro": 1_500_000,
            "so_cuoc_hop": 1, "phan_anh": 2, "phan_anh_da_chuyen": 1, "nhan_xet": None}


def _month_start(n: int) -> datetime:
    index = FIRST_MONTH.year * 12 + FIRST_MONTH.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC) - timedelta(hours=7)  # local midnight


def report_rows(groups: list[tuple[int, str]], reporter: int, stored: int = STORED) -> Iterator[list[tuple[Any, ...]]]:
    """One month of rows at a time, in time order (as reports arrive), exactly `stored` in all (with
    fewer, a share of the groups file monthly reports)."""
    rnd, monthly = random.Random(71), random.Random(8)
    # Most groups file the monthly report of the month before, most of them by the 5th.
    share = 0.9 * min(1.0, stored / STORED)
    filed = [[group for group in groups if monthly.random() < share] for _n in range(1, MONTHS)]
    others = stored - sum(len(month) for month in filed)
    per_month = others // MONTHS
    forms, weights = list(RATES), list(RATES.values())
    serial = 0
    for n in range(MONTHS):
        start, end = _month_start(n), _month_start(n + 1)
        month = f"{(start + timedelta(hours=7)):%Y-%m}"
        rows: list[tuple[Any, ...]] = []
        count = per_month if n < MONTHS - 1 else others - per_month * (MONTHS - 1)
        for form in rnd.choices(forms, weights, k=count):
            unit_id, path = groups[rnd.randrange(len(groups))]
            at = start + timedelta(seconds=rnd.randrange(int((end - start).total_seconds())))
            urgent = form == "khan_cap"
            acked = at + timedelta(minutes=rnd.uniform(1, 40)) if urgent and rnd.random() < 0.9 else None
            if urgent:
                status = "sent" if acked is None else rnd.choice(["received", "resolved", "resolved"])
            else:
                status = rnd.choice(["sent", "received", "resolved"])
            data = _data(form, rnd, month)
            rows.append((form, 1, TASK_OF[form], unit_id, path, reporter, json.dumps(data),
                         status, "", urgent, 0, False, at, at, acked, event_day(form, data, at)))
        if n > 0:
            before = f"{(_month_start(n - 1) + timedelta(hours=7)):%Y-%m}"
            for unit_id, path in filed[n - 1]:
                at = start + timedelta(days=rnd.choice([-3, -1, 0, 1, 2, 3, 4, 6, 9]), hours=rnd.randint(1, 12))
                data = _data("bao_cao_thang", rnd, before)
                rows.append(("bao_cao_thang", 1, "dan_chu", unit_id, path, reporter, json.dumps(data), "sent", "",
                             False, 0, False, at, at, None, event_day("bao_cao_thang", data, at)))
        rows.sort(key=lambda row: row[12])
        out = []
        for row in rows:
            serial += 1
            out.append((f"S{serial:09}", *row))
        yield out


async def make_app(url: str, folder: Path) -> tuple[App, list[tuple[int, str]], int]:
    settings = load_settings({"TOTRUONG_DATABASE__URL": url, "TOTRUONG_APP__DATA_DIR": str(folder / "data"),
                              "TOTRUONG_PRIVACY__ASK_CONSENT": "false",
                              "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "false"}, PROJECT_ROOT / "config.toml")
    app = build(settings)
    await prepare_database(app)
    async with app.sessions() as session, session.begin():
        await import_units(session, city_rows(), levels=settings.units.levels)
        person = Person(name="Bench")
        session.add(person)
        await session.flush()
        groups = (await session.execute(select(Unit.id, Unit.path).where(Unit.level == "group")  # type: ignore[arg-type]
                                        .order_by(Unit.id))).all()
    return app, [(g[0], g[1]) for g in groups], person.id or 0


def load(url: str, groups: list[tuple[int, str]], reporter: int, total: int = STORED) -> int:
    stored = 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        stamp = "%Y-%m-%d %H:%M:%S.%f"
        for rows in report_rows(groups, reporter, total):
            conn.executemany(f"INSERT INTO report ({COLUMNS}) VALUES ({','.join('?' * 17)})",
                             [(*r[:13], r[13].strftime(stamp), r[14].strftime(stamp),
                               r[15].strftime(stamp) if r[15] else None, r[16].isoformat()) for r in rows])
            stored += len(rows)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        return stored
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for rows in report_rows(groups, reporter, total):
            with conn.cursor() as cur, cur.copy(f"COPY report ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            stored += len(rows)
        conn.execute("VACUUM ANALYZE report")
    return stored


async def measure(url: str, folder: Path) -> dict[str, Any]:
    app, groups, reporter = await make_app(url, folder)
    try:
        started = time.perf_counter()
        stored = await asyncio.to_thread(load, url, groups, reporter)
        figures: dict[str, Any] = {"stored": stored, "load_s": time.perf_counter() - started}
        tz = app.settings.app.tz
        month = Period.calendar("month", date(2026, 10, 1), tz)
        now = datetime(2026, 11, 20, tzinfo=UTC)
        t = app.catalogs.translator("vi", tz)
        async with app.sessions() as session:
            repo = Repo(session)
            city, ward = await repo.unit_by_code("DN"), await repo.unit_by_code("W07")
            assert city is not None and ward is not None
            for name, unit in (("city", city), ("ward", ward)):
                timings = []
                for _ in range(RUNS):
                    started = time.perf_counter()
                    summary = await summarize(repo, unit_path=unit.path, period=month, settings=app.settings, now=now)
                    render_text(summary, t)
                    timings.append((time.perf_counter() - started) * 1000)
                figures[name] = statistics.median(timings[2:])
                figures[f"{name}_groups"] = len(summary.groups)
                figures[f"{name}_reports"] = summary.current.figures.reports
            figures["meeting"] = await meeting_rate_queries(repo, city.path)
            tracemalloc.start()
            summary = await summarize(repo, unit_path=city.path, period=month, settings=app.settings, now=now)
            figures["city_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            figures["text"] = render_text(summary, t)
            started = time.perf_counter()
            await complete(repo, summary)
            figures["complete_ms"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            png = b"".join(chart.png for chart in draw_charts(summary, t).charts)
            figures["chart_ms"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            xlsx = workbook_xlsx(summary, t)
            figures["xlsx_ms"] = (time.perf_counter() - started) * 1000
            figures["sizes"] = (len(png), len(xlsx))
        return figures
    finally:
        await app.stop()


async def meeting_rate_queries(repo: Repo, city_path: str) -> tuple[float, float]:
    """Median CPU ms of the meeting rate's query, `part_of_whole` (leaves out and counts the
    meetings whose households present outnumber the group's), against the plain `sums` of the same
    two fields it replaced: the whole city's October 2026 by group, alternating, in this run."""
    scope = Scope(city_path, date(2026, 10, 1), date(2026, 11, 1))
    queries = repo.summaries
    cpu: dict[str, list[float]] = {"sums": [], "part_of_whole": []}
    for _ in range(RUNS):
        started = time.process_time()
        await queries.sums(scope, "dan_chu_hop_to", ("ho_du_hop", "tong_so_ho"), by_path=True)
        cpu["sums"].append((time.process_time() - started) * 1000)
        started = time.process_time()
        await queries.part_of_whole(scope, "dan_chu_hop_to", "ho_du_hop", "tong_so_ho", by_path=True)
        cpu["part_of_whole"].append((time.process_time() - started) * 1000)
    return statistics.median(cpu["sums"][1:]), statistics.median(cpu["part_of_whole"][1:])


def report(engine: str, figures: dict[str, Any]) -> None:
    print(f"{engine}: {figures['stored']:,} reports loaded in {figures['load_s']:.0f} s")
    print(f"  monthly summary (October 2026 and September), whole city ({figures['city_groups']:,} groups, "
          f"{figures['city_reports']:,} reports): median {figures['city']:.0f} ms (target < 500 ms)")
    print(f"  monthly summary, one ward ({figures['ward_groups']} groups, {figures['ward_reports']:,} reports): "
          f"median {figures['ward']:.1f} ms (target < 100 ms)")
    print(f"  city summary: peak Python memory {figures['city_peak_mb']:.1f} MB (tracemalloc); for the Excel file "
          f"every group's figures {figures['complete_ms']:.0f} ms, workbook {figures['xlsx_ms']:.0f} ms "
          f"({figures['sizes'][1]:,} bytes); charts {figures['chart_ms']:.0f} ms ({figures['sizes'][0]:,} bytes)")
    plain, flagged = figures["meeting"]
    print(f"  meeting rate query, whole city by group: part_of_whole {flagged:.1f} ms CPU against sums {plain:.1f} ms "
          f"(ratio {flagged / plain:.2f}); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    print("command: .venv/bin/python -m bench summary")
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(f"sqlite+aiosqlite:///{tmp}/summary.db", Path(tmp)))
        report("SQLite", figures)
        if os.environ.get("TOTRUONG_BENCH_SHOW_TEXT"):
            print(figures["text"])
    with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        if url is not None:
            report("PostgreSQL", asyncio.run(measure(url, Path(tmp))))
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the whole bench process (generation included): {usage:.0f} MB (target < 300 MB)")
