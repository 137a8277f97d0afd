"""Summaries for officials: the figures of a small ward computed by hand, the change from the month
before, the text, the Excel file cell by cell, the chart, the "📊 Tóm tắt" buttons with who may see
what, and household-level poverty data only for those allowed (with its audit row)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select, text

from handlers.summaries.exports import workbook_xlsx
from handlers.summaries.periods import Period
from handlers.summaries.summary import build_summary, complete, render_text
from models.repos import Repo
from models.tables import Attachment, AuditLog
from tests.helpers import Chat

NOV = Period.calendar("month", date(2026, 11, 1), ZoneInfo("Asia/Ho_Chi_Minh"))


def utc(month: int, day: int, hour: int = 3, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def seed(app) -> dict[str, int]:
    """Phường Hải Châu in November 2026 (and a little of October), and one report elsewhere."""
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        units = {code: await repo.unit_by_code(code) for code in ("HC-TT3", "HC-HC7", "HC-PN12", "HC-BH4", "TK-XH9")}
        reporter = (await repo.find_who("sim", "demo-topho")).person_id
        official = (await repo.find_who("sim", "demo-canbo")).person_id

        async def add(group: str, form: str, data: dict, at: datetime, *, urgent: bool = False,
                      acked: int | None = None, status: str | None = None, supersedes=None):
            task = {"an": "an_ninh", "kh": "an_ninh", "ve": "ve_sinh", "gi": "giam_ngheo"}.get(form[:2], "dan_chu")
            report = await repo.add_report(form_key=form, form_version=1, task=task, unit=units[group],
                                           reporter_id=reporter, data=data, at=at, urgent=urgent,
                                           supersedes=supersedes)
            if acked is not None:
                await repo.change_status(report, status="received", person_id=official,
                                         at=at.replace(minute=at.minute + acked))
            if status is not None:
                await repo.change_status(report, status=status, person_id=official, at=at.replace(hour=at.hour + 2))
            return report

        # Thạch Thang 3: every task, one correction.
        await add("HC-TT3", "bao_cao_thang", {"_month": "2026-11"}, utc(11, 20))
        await add("HC-TT3", "khan_cap", {"loai": "chay_no"}, utc(11, 10, 2), urgent=True, acked=10, status="resolved")
        wrong = await add("HC-TT3", "an_ninh_vu_viec", {"loai": "danh_nhau"}, utc(11, 3, 5))
        await add("HC-TT3", "an_ninh_vu_viec", {"loai": "trom_cap"}, utc(11, 3, 6), supersedes=wrong)
        await add("HC-TT3", "an_ninh_vu_viec", {"loai": "trom_cap"}, utc(11, 12, 5))
        await add("HC-TT3", "an_ninh_cu_tru", {"thuong_tru_moi": 2, "tam_tru_moi": 5, "chuyen_di": 1, "tam_vang": 0,
                                              "ho_moi_den": 1}, utc(11, 15))
        await add("HC-TT3", "ve_sinh_chu_nhat_xanh", {"nguoi_tham_gia": 9, "so_ho": 4, "rac_kg": 20.5}, utc(11, 1, 2))
        await add("HC-TT3", "ve_sinh_chu_nhat_xanh", {"nguoi_tham_gia": 12, "so_ho": 6}, utc(11, 8, 2))
        await add("HC-TT3", "ve_sinh_diem_den", {"quy_mo": "vua"}, utc(11, 4), status="resolved")
        await add("HC-TT3", "ve_sinh_diem_den", {"quy_mo": "nho"}, utc(11, 18))
        await add("HC-TT3", "ve_sinh_diem_mau", {"hinh_thuc": "dang_ky"}, utc(11, 9))
        await add("HC-TT3", "ve_sinh_khong_rac", {"trang_thai": "dang_xay_dung"}, utc(9, 10))
        await add("HC-TT3", "ve_sinh_khong_rac", {"trang_thai": "da_dat"}, utc(11, 3, 4))
        for household, category, source, value, day in (("HN01", "ho_ngheo", "nha_nuoc", 500_000, 5),
                                                         ("HN01", "ho_ngheo", "mtq", 200_000, 6),
                                                         ("CN02", "can_ngheo", "nha_nuoc", 1_000_000, 7)):
            await add("HC-TT3", "giam_ngheo_ho_tro", {"ma_ho": household, "dien": category, "hinh_thuc": "tien_mat",
                                                      "nguon": source, "gia_tri": value}, utc(11, day))
        await add("HC-TT3", "giam_ngheo_thoat_ngheo", {"ma_ho": "HN05", "dien_truoc": "ho_ngheo"}, utc(11, 14))
        await add("HC-TT3", "dan_chu_hop_to", {"ho_du_hop": 100, "tong_so_ho": 142}, utc(11, 16))
        await add("HC-TT3", "dan_chu_phan_anh", {"da_chuyen_phuong": True}, utc(11, 19), status="resolved")
        await add("HC-TT3", "dan_chu_phan_anh", {"da_chuyen_phuong": False, "da_giai_quyet": True}, utc(11, 17))
        # Hải Châu 7: October's monthly report comes late (7 November, 10:00 in Đà Nẵng).
        await add("HC-HC7", "bao_cao_thang", {"_month": "2026-11"}, utc(11, 21))
        await add("HC-HC7", "bao_cao_thang", {"_month": "2026-10"}, utc(11, 7))
        await add("HC-HC7", "khan_cap", {"loai": "danh_nhau"}, utc(11, 15, 5), urgent=True, acked=30)
        await add("HC-HC7", "an_ninh_vu_viec", {"loai": "ma_tuy"}, utc(11, 13))
        await add("HC-HC7", "an_ninh_cu_tru", {"thuong_tru_moi": 3, "tam_tru_moi": 0, "chuyen_di": 2, "tam_vang": 1,
                                              "ho_moi_den": 0}, utc(11, 15))
        await add("HC-HC7", "ve_sinh_chu_nhat_xanh", {"nguoi_tham_gia": 15, "so_ho": 8, "rac_kg": 30}, utc(11, 15, 2))
        await add("HC-HC7", "ve_sinh_diem_mau", {"hinh_thuc": "duy_tri"}, utc(11, 10))
        await add("HC-HC7", "ve_sinh_khong_rac", {"trang_thai": "da_dat"}, utc(10, 5))
        await add("HC-HC7", "ve_sinh_khong_rac", {"trang_thai": "dang_xay_dung"}, utc(11, 12))
        await add("HC-HC7", "giam_ngheo_ho_tro", {"ma_ho": "HN01", "dien": "ho_ngheo", "hinh_thuc": "gao",
                                                  "nguon": "mat_tran", "gia_tri": 300_000}, utc(11, 9))
        await add("HC-HC7", "giam_ngheo_thoat_ngheo", {"ma_ho": "CN09", "dien_truoc": "can_ngheo"}, utc(11, 20))
        await add("HC-HC7", "dan_chu_hop_to", {"ho_du_hop": 80, "tong_so_ho": 118}, utc(11, 16))
        await add("HC-HC7", "dan_chu_phan_anh", {"da_chuyen_phuong": True}, utc(11, 18))
        # Phước Ninh 12: October's report at 23:30 on 5 November (on time), an incident nobody took.
        await add("HC-PN12", "khan_cap", {"loai": "khac"}, utc(11, 21, 12), urgent=True)
        await add("HC-PN12", "ve_sinh_diem_den", {"quy_mo": "lon"}, utc(11, 11))
        await add("HC-PN12", "bao_cao_thang", {"_month": "2026-10"}, utc(11, 5, 16, 30))
        await add("HC-PN12", "dan_chu_phan_anh", {"da_chuyen_phuong": False, "da_giai_quyet": False}, utc(11, 19))
        await add("HC-PN12", "ve_sinh_diem_mau", {"hinh_thuc": "dang_ky"}, utc(3, 10))
        await add("HC-PN12", "ve_sinh_khong_rac", {"trang_thai": "da_dat"}, utc(6, 1, year=2025))
        # Bình Hiên 4: only a model spot last year.
        await add("HC-BH4", "ve_sinh_diem_mau", {"hinh_thuc": "dang_ky"}, utc(12, 1, year=2025))
        # October in Thạch Thang 3.
        await add("HC-TT3", "bao_cao_thang", {"_month": "2026-10"}, utc(10, 30))
        await add("HC-TT3", "khan_cap", {"loai": "tai_nan"}, utc(10, 5, 1), urgent=True, acked=5, status="resolved")
        await add("HC-TT3", "an_ninh_vu_viec", {"loai": "trom_cap"}, utc(10, 20))
        await add("HC-TT3", "ve_sinh_chu_nhat_xanh", {"nguoi_tham_gia": 7, "so_ho": 3, "rac_kg": 12}, utc(10, 11, 2))
        await add("HC-TT3", "giam_ngheo_ho_tro", {"ma_ho": "HN01", "dien": "ho_ngheo", "nguon": "nha_nuoc",
                                                  "gia_tri": 100_000}, utc(10, 12))
        # Another ward: never in Hải Châu's figures.
        await add("TK-XH9", "bao_cao_thang", {"_month": "2026-11"}, utc(11, 20))
        await add("TK-XH9", "khan_cap", {"loai": "chay_no"}, utc(11, 20), urgent=True)
        await add("TK-XH9", "an_ninh_vu_viec", {"loai": "trom_cap"}, utc(11, 20))
        await add("TK-XH9", "giam_ngheo_ho_tro", {"ma_ho": "X1", "dien": "ho_ngheo", "nguon": "mtq",
                                                  "gia_tri": 9_000_000}, utc(11, 20))
        return {code: unit.id for code, unit in units.items()} | {"HC": (await repo.unit_by_code("20242")).id,
                                                                   "TK": (await repo.unit_by_code("20209")).id,
                                                                   "DN": (await repo.unit_by_code("48")).id}


def workbook(app, attachment: Attachment) -> openpyxl.Workbook:
    """A stored Excel file, opened (the store names files by content, not by extension)."""
    return openpyxl.load_workbook(io.BytesIO(app.files.path_of(attachment).read_bytes()))


async def hai_chau(app, clock):
    async with app.sessions() as session:
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        return await build_summary(repo, unit_path=ward.path, start=NOV.start, end=NOV.end, settings=app.settings,
                                   now=clock.now())


EXPECTED = """📊 Tóm tắt: Phường Hải Châu
Tháng 11/2026
So với: Tháng 10/2026

📝 Báo cáo tháng
• Đã nộp: 2/4 tổ
• Tỷ lệ: 50% (▼ 25 điểm %)
• Đúng hạn: 2 · trễ hạn: 0
• Chưa nộp đủ: 2 tổ
  – Tổ dân phố Phước Ninh 12
  – Tổ dân phố Bình Hiên 4

🚨 Tin khẩn: 3 (▲ 2)
• Tiếp nhận trong 15 phút: 33%
• Thường tiếp nhận sau: 20 phút
• Còn mở: 2

🛡️ An ninh trật tự
• Vụ việc: 3 (▲ 2)
  – Trộm cắp: 2
  – Ma túy: 1
• Biến động cư trú:
  – Thường trú mới: 5
  – Tạm trú mới: 5
  – Chuyển đi: 3
  – Tạm vắng: 1
  – Hộ mới đến: 1

🌿 Vệ sinh môi trường
• Chủ nhật Xanh: 3 buổi (▲ 2)
  36 lượt người · 50,5 kg rác
• Điểm đen rác: 3 báo · 1 đã dọn
• Điểm mẫu mới: 1 · năm 2026: 2/10
• Tổ không rác: 2/4 tổ

🤝 Giảm nghèo
• Hộ được hỗ trợ: 3 (▲ 2)
  – Hộ nghèo: 2
  – Hộ cận nghèo: 1
• Giá trị: 2.000.000 đ
  – Nhà nước: 1.500.000 đ
  – Mặt trận Tổ quốc: 300.000 đ
  – Mạnh thường quân: 200.000 đ
• Hộ thoát nghèo: 2 (▲ 2)

🗳️ Dân chủ, phản ánh
• Họp tổ: 2 cuộc (▲ 2)
  Hộ dự họp: 69%
• Phản ánh: 4 (▲ 4)
  Chuyển phường 2 · đã xong 2

🏆 Thi đua
Dẫn đầu:
1. Tổ dân phố Thạch Thang 3: 100% · 18 báo cáo
2. Tổ dân phố Hải Châu 7: 100% · 11 báo cáo
Cần cố gắng:
1. Tổ dân phố Bình Hiên 4: 0% · 0 báo cáo
2. Tổ dân phố Phước Ninh 12: 0% · 3 báo cáo"""


HEADLINE = """📊 Phường Hải Châu · Tháng 11/2026
📝 Báo cáo tháng: 2/4 tổ đã nộp (50%)
⚠️ Chưa nộp đủ: 2 tổ
🚨 Tin khẩn: 3 · còn mở: 2
📨 Số báo cáo: 32 (▲ 24)"""


async def test_the_figures_of_a_ward_match_the_hand_computed_ones(app, clock) -> None:
    await seed(app)
    summary = await hai_chau(app, clock)
    now, before = summary.current.figures, summary.previous.figures
    # Monthly reports: Thạch Thang 3 and Hải Châu 7 filed November's; in October three groups did,
    # Hải Châu 7 late (7 November), Phước Ninh 12 at 23:30 on the 5th (on time).
    assert summary.current.months == ["2026-11"] and summary.previous.months == ["2026-10"]
    assert (now.months_due, now.filed, now.on_time, now.late) == (4, 2, 2, 0)
    assert (before.months_due, before.filed, before.on_time, before.late) == (4, 3, 2, 1)
    # Urgent: acknowledged after 10 and 30 minutes, one never; two still open.
    assert (now.urgent, now.urgent_acked, now.urgent_in_time, now.urgent_open) == (3, 2, 1, 2)
    assert summary.current.ack_median == 20
    assert before.urgent == 1
    # The corrected incident counts once, with its corrected kind.
    assert now.incident_reports == 3 and now.incidents == {"trom_cap": 2, "ma_tuy": 1}
    assert now.residence == {"thuong_tru_moi": 5, "tam_tru_moi": 5, "chuyen_di": 3, "tam_vang": 1, "ho_moi_den": 1}
    assert (now.green_sessions, now.participants, now.green_households, now.waste_kg) == (3, 36, 18, 50.5)
    assert (now.hotspots, now.hotspots_cleared, now.model_new, now.model_upkeep) == (3, 1, 1, 1)
    assert (summary.current.model_year, summary.model_target, summary.wards) == (2, 10, 1)
    assert now.litter_free == 2  # Thạch Thang 3 (November) and Phước Ninh 12 (2025); Hải Châu 7 no more
    # HN01 of Thạch Thang 3 and HN01 of Hải Châu 7 are different households.
    assert (now.supports, now.supported, now.supported_by) == (4, 3, {"ho_ngheo": 2, "can_ngheo": 1})
    assert now.money == 2_000_000 and now.money_by == {"nha_nuoc": 1_500_000, "mtq": 200_000, "mat_tran": 300_000}
    assert now.left_poverty == 2 and (before.supported, before.left_poverty) == (1, 0)
    assert (now.meetings, now.attended, now.invited) == (2, 180, 260)
    assert (now.feedback, now.feedback_passed, now.feedback_closed) == (4, 2, 2)
    # October's monthly reports filed in November (Hải Châu 7, Phước Ninh 12) are October's reports:
    # a report counts in the month it is about (its event day), not the month it was filed in.
    assert now.reports == 32
    assert [(g.unit.code, g.figures.reports, g.figures.filed) for g in summary.groups] == [
        ("HC-TT3", 18, 1), ("HC-HC7", 11, 1), ("HC-PN12", 3, 0), ("HC-BH4", 0, 0)]
    assert render_text(summary, app.engine.translator("vi")) == EXPECTED


async def test_the_text_in_english_and_for_a_week(app, clock) -> None:
    await seed(app)
    summary = await hai_chau(app, clock)
    english = render_text(summary, app.engine.translator("en"))
    assert "Summary: Phường Hải Châu" in english and "• Value: 2,000,000 đ" in english
    assert "Tổ dân phố" in english  # unit names are data
    async with app.sessions() as session:
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        week = await build_summary(repo, unit_path=ward.path, start=utc(11, 15, 17), end=utc(11, 22, 17),
                                   settings=app.settings, now=clock.now())
    assert week.current.period.kind == "week" and week.previous.period.first.isoformat() == "2026-11-09"
    text = render_text(week, app.engine.translator("vi"))
    assert text.startswith("📊 Tóm tắt: Phường Hải Châu\nTuần 16/11–22/11/2026\nSo với: Tuần 09/11–15/11/2026")
    assert "📝 Báo cáo tháng: — (tính theo tháng, quý, năm)" in text
    assert "🚨 Tin khẩn: 1 (▼ 1)" in text  # 21 November this week; 10 and 15 November the week before
    assert max(len(line) for line in text.splitlines()) <= 50  # a phone screen


async def test_the_excel_file_has_a_sheet_per_task_and_a_row_per_group(app, clock) -> None:
    await seed(app)
    t = app.engine.translator("vi")
    async with app.sessions() as session:
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        summary = await build_summary(repo, unit_path=ward.path, start=NOV.start, end=NOV.end,
                                      settings=app.settings, now=clock.now())
        await complete(repo, summary)
    book = openpyxl.load_workbook(io.BytesIO(workbook_xlsx(summary, t)))
    assert book.sheetnames == ["Tổng hợp", "Nộp báo cáo", "An ninh trật tự", "Vệ sinh môi trường", "Giảm nghèo",
                               "Dân chủ, phản ánh"]
    overview = book["Tổng hợp"]
    assert overview["A1"].value == "Tóm tắt: Phường Hải Châu" and overview["A2"].value == "Kỳ: Tháng 11/2026"
    rows = {row[0]: row[1:] for row in overview.iter_rows(min_row=8, values_only=True) if row[0]}
    assert rows["Báo cáo tháng đã nộp"] == (2, 3, -1)
    assert rows["Nộp trễ hạn"] == (0, 1, -1)
    assert rows["Tin khẩn"] == (3, 1, 2)
    assert rows["Thời gian tiếp nhận trung vị (phút)"] == (20, 5, 15)
    assert rows["Tổng giá trị hỗ trợ (đ)"] == (2_000_000, 100_000, 1_900_000)
    assert rows["Rác thu gom (kg)"] == (50.5, 12, 38.5)
    assert rows["Tỷ lệ nộp báo cáo tháng"] == (0.5, 0.75, -0.25)
    rate_row = next(row for row in overview.iter_rows(min_row=8) if row[0].value == "Tỷ lệ nộp báo cáo tháng")
    assert rate_row[1].number_format == "0%"  # a share, shown as a percentage
    reporting = book["Nộp báo cáo"]
    assert [c.value for c in reporting[1]] == ["Mã tổ", "Tổ dân phố, thôn", "Thuộc", "Số tháng phải nộp", "Đã nộp",
                                              "Đúng hạn", "Trễ hạn", "Tỷ lệ nộp", "Số báo cáo"]
    assert [c.value for c in reporting[2]] == ["HC-TT3", "Tổ dân phố Thạch Thang 3", "Phường Hải Châu", 1, 1, 1, 0, 1,
                                              18]
    assert [c.value for c in reporting[5]] == ["HC-BH4", "Tổ dân phố Bình Hiên 4", "Phường Hải Châu", 1, 0, 0, 0, 0,
                                              0]
    assert reporting.max_row == 5 and reporting.freeze_panes == "D2"
    security = book["An ninh trật tự"]
    header = [c.value for c in security[1]]
    assert header[3:9] == ["Vụ việc an ninh", "Trộm cắp", "Đánh nhau, gây rối", "Ma túy", "Tai nạn giao thông",
                           "Cháy, nổ"]
    assert [c.value for c in security[2]][3:] == [2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 0, 2, 5, 1, 0, 1]
    assert [c.value for c in security[3]][3:] == [1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 3, 0, 2, 1, 0]
    sanitation = book["Vệ sinh môi trường"]
    assert [c.value for c in sanitation[2]][3:] == [2, 21, 10, 20.5, 2, 1, 1, 0, "Đạt"]
    assert [c.value for c in sanitation[3]][3:] == [1, 15, 8, 30, 0, 0, 0, 1, "Chưa"]
    assert [c.value for c in sanitation[4]][3:] == [0, 0, 0, 0, 1, 0, 0, 0, "Đạt"]
    poverty = book["Giảm nghèo"]
    assert [c.value for c in poverty[1]][3:] == ["Lượt hỗ trợ", "Hộ được hỗ trợ", "Hộ nghèo", "Hộ cận nghèo",
                                                "Khó khăn đột xuất", "Tổng giá trị (đ)", "Nhà nước (đ)",
                                                "Mặt trận Tổ quốc (đ)", "Mạnh thường quân (đ)", "Tổ tự vận động (đ)",
                                                "Hộ thoát nghèo"]
    assert [c.value for c in poverty[2]][3:] == [3, 2, 1, 1, 0, 1_700_000, 1_500_000, 0, 200_000, 0, 1]
    assert poverty.cell(2, 9).number_format == "#,##0"
    democracy = book["Dân chủ, phản ánh"]
    # 0: no meeting whose households present outnumber the group's (flagged, left out of the rate)
    assert [c.value for c in democracy[2]][3:] == [1, 100, 142, 100 / 142, 0, 2, 1, 2]
    assert all("HN01" not in str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row)


async def test_an_official_picks_a_unit_and_a_period_and_gets_text_chart_and_excel(app, clock) -> None:
    ids = await seed(app)
    official = Chat(app, "demo-canbo")
    await official.send("/menu")
    assert "📊 Tóm tắt" in official.labels
    listing = await official.press("📊 Tóm tắt")
    assert "📊 Tóm tắt — chọn đơn vị (trang 1):" in listing
    assert official.labels[:5] == ["📍 Phường Hải Châu (toàn địa bàn)", "Tổ dân phố Bình Hiên 4",
                                   "Tổ dân phố Hải Châu 7", "Tổ dân phố Phước Ninh 12", "Tổ dân phố Thạch Thang 3"]
    choose = await official.press("Phường Hải Châu (toàn địa bàn)")
    assert choose == "📊 Tóm tắt: Phường Hải Châu\nChọn kỳ:"
    assert official.labels == ["Hôm nay", "Tuần này", "Tháng này", "Tháng trước", "Quý này", "Năm nay",
                               "📂 Đơn vị trực thuộc", "⚙️ Bản tin tự động", "☰ Menu"]
    await official.press("Tháng này")
    # The headline first, then each chart as its own photo, then the Excel file; the whole text is
    # behind [Xem chi tiết] (tests/integration/test_summary_charts.py).
    text, *photos, document = official.replies
    assert text.text == HEADLINE and [b.label for b in text.flat_buttons] == ["📋 Xem chi tiết"]
    photo = photos[0]
    assert all(p.photo_id for p in photos) and len(photos) == 6
    assert photo.text == "📈 Biểu đồ 1/6: Tỷ lệ nộp báo cáo tháng\nPhường Hải Châu, Tháng 11/2026"
    assert document.document_id and "tom-tat_20242_2026-11.xlsx" in document.text
    assert [b.label for b in document.flat_buttons] == ["🔁 Chọn kỳ khác", "☰ Menu"]
    assert await official.press("Xem chi tiết") == EXPECTED
    async with app.sessions() as session:
        stored = await session.get(Attachment, document.document_id)
        chart = await session.get(Attachment, photo.photo_id)
        audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all()
    assert stored.mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert chart.mime == "image/png"
    assert "Chi tiết hộ" not in workbook(app, stored).sheetnames and audits == []  # this official has no social duty
    # A group of the ward, last month.
    await official.press_id(f"m.sum.u.{ids['HC-TT3']}")
    await official.press("Tháng trước")
    assert official.replies[0].text.startswith("📊 Tổ dân phố Thạch Thang 3 · Tháng 10/2026\n")


async def test_nobody_summarises_a_unit_outside_their_area(app) -> None:
    ids = await seed(app)
    official = Chat(app, "demo-canbo")  # Phường Hải Châu
    outside = "Đơn vị này không thuộc địa bàn của bạn."
    for forged in (f"m.sum.u.{ids['TK']}", f"m.sum.p.{ids['TK']}.m", f"m.sum.c.{ids['DN']}.0",
                   f"m.sum.p.{ids['TK-XH9']}.y", "m.sum.u.99999"):
        assert outside in await official.press_id(forged), forged
        assert official.replies[0].photo_id is None and official.replies[-1].document_id is None
    for garbled in (f"m.sum.p.{ids['HC']}.zz", "m.sum.u.abc", "m.sum.x", f"m.sum.c.{ids['HC']}", "m.sum.u.1.2"):
        assert "Nút này không hợp lệ." in await official.press_id(garbled), garbled
    leader = Chat(app, "demo-totruong-2")  # Xuân Hà 9: straight to its own group
    assert await leader.press_id("m.sum") == "📊 Tóm tắt: Tổ dân phố Xuân Hà 9\nChọn kỳ:"
    assert "📂 Đơn vị trực thuộc" not in leader.labels
    await leader.press("Tháng này")
    assert leader.replies[0].text.startswith("📊 Tổ dân phố Xuân Hà 9 · Tháng 11/2026")
    for forged in (f"m.sum.u.{ids['HC-TT3']}", f"m.sum.p.{ids['TK']}.m", f"m.sum.c.{ids['TK-XH9']}.0"):
        assert outside in await leader.press_id(forged), forged
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    assert "📊 Tóm tắt" not in resident.labels
    for forged in ("m.sum", f"m.sum.u.{ids['HC-TT3']}", f"m.sum.p.{ids['HC-TT3']}.m"):
        assert "Chức năng này không dành cho tài khoản của bạn." in await resident.press_id(forged), forged
    city = Chat(app, "demo-thanhpho")  # the city covers every ward
    await city.press_id("m.sum")
    assert city.labels[:4] == ["📍 Thành phố Đà Nẵng (toàn địa bàn)", "Phường Hải Châu", "Phường Sơn Trà",
                               "Phường Thanh Khê"]
    await city.press_id(f"m.sum.p.{ids['TK']}.m")
    assert city.replies[0].text.startswith("📊 Phường Thanh Khê · ")


async def test_household_rows_only_for_social_officials_and_the_groups_leaders_and_audited(app, clock) -> None:
    ids = await seed(app)
    social = Chat(app, "demo-canbo-xh")  # Phường Hải Châu, social duty
    await social.press_id(f"m.sum.p.{ids['HC']}.m")
    assert "HN01" not in social.replies[0].text  # the text is always aggregated
    async with app.sessions() as session:
        stored = await session.get(Attachment, social.replies[-1].document_id)
        audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all()
        who = await Repo(session).find_who("sim", "demo-canbo-xh")
    households = workbook(app, stored)["Chi tiết hộ"]
    assert [c.value for c in households[1]] == ["Mã tổ", "Tổ dân phố, thôn", "Mã báo cáo", "Ngày gửi", "Mã hộ",
                                               "Diện hộ", "Hình thức hỗ trợ", "Giá trị (đ)", "Nguồn hỗ trợ"]
    rows = [[c.value for c in row] for row in households.iter_rows(min_row=2)]
    assert [(r[0], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows] == [
        ("HC-TT3", datetime(2026, 11, 5, 10, 0), "HN01", "Hộ nghèo", "Tiền mặt", 500_000, "Nhà nước"),
        ("HC-TT3", datetime(2026, 11, 6, 10, 0), "HN01", "Hộ nghèo", "Tiền mặt", 200_000, "Mạnh thường quân"),
        ("HC-TT3", datetime(2026, 11, 7, 10, 0), "CN02", "Hộ cận nghèo", "Tiền mặt", 1_000_000, "Nhà nước"),
        ("HC-HC7", datetime(2026, 11, 9, 10, 0), "HN01", "Hộ nghèo", "Gạo và nhu yếu phẩm", 300_000,
         "Mặt trận Tổ quốc"),
    ]
    assert households.cell(2, 4).number_format == "dd/mm/yyyy"
    assert [(a.person_id, a.target, a.detail) for a in audits] == [
        (who.person_id, f"unit:{ids['HC']}", {"period": "2026-11", "rows": 4})]
    # The group's deputy sees its own households; another group's leader sees none of them.
    deputy = Chat(app, "demo-topho")
    await deputy.press_id("m.sum")
    assert deputy.text == "📊 Tóm tắt: Tổ dân phố Thạch Thang 3\nChọn kỳ:"
    await deputy.press("Tháng này")
    async with app.sessions() as session:
        stored = await session.get(Attachment, deputy.replies[-1].document_id)
        count = len((await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all())
    sheet = workbook(app, stored)["Chi tiết hộ"]
    assert [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["HN01", "HN01", "CN02"]
    assert count == 2
    other = Chat(app, "demo-totruong-2")  # Xuân Hà 9: its own household only
    await other.press_id("m.sum")
    await other.press("Tháng này")
    async with app.sessions() as session:
        stored = await session.get(Attachment, other.replies[-1].document_id)
    sheet = workbook(app, stored)["Chi tiết hộ"]
    assert [row[4] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["X1"]
    # An official on duty without the social duty: aggregated only, nothing audited.
    on_duty = Chat(app, "demo-canbo")
    await on_duty.press_id(f"m.sum.p.{ids['HC-TT3']}.m")
    async with app.sessions() as session:
        stored = await session.get(Attachment, on_duty.replies[-1].document_id)
        count = len((await session.scalars(select(AuditLog).where(AuditLog.action == "export_sensitive"))).all())
    assert "Chi tiết hộ" not in workbook(app, stored).sheetnames and count == 3


async def test_the_units_under_a_ward_come_page_by_page(app) -> None:
    from models.units import UnitRow, import_units

    async with app.sessions() as session, session.begin():
        rows = [UnitRow(f"ST-N{n:02}", f"Tổ dân phố Nại Hiên {n:02}", "group", "20263", 100) for n in range(1, 11)]
        await import_units(session, rows, levels=app.settings.units.levels)
    city = Chat(app, "demo-thanhpho")
    await city.press_id("m.sum")
    await city.press("Phường Sơn Trà")
    await city.press("Đơn vị trực thuộc")
    assert city.labels[0] == "📍 Phường Sơn Trà (toàn địa bàn)" and len(city.labels) == 1 + 8 + 2
    assert city.labels[-2:] == ["Trang sau ▶️", "☰ Menu"]
    second = await city.press("Trang sau")
    assert "(trang 2)" in second and "◀️ Trang trước" in city.labels
    assert len([label for label in city.labels if label.startswith("Tổ dân phố")]) == 13 - 8


async def test_on_postgresql_a_summary_is_planned_for_its_values_in_its_transaction_only(app, clock) -> None:
    """A generic plan guesses how many reports a range of days and paths holds (a whole city took
    four times as long with it): the summaries' statements are planned for their own values, with
    a setting that ends with the transaction (models/summary_queries.py)."""
    await seed(app)
    async with app.sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("a PostgreSQL setting")
        show = text("SHOW plan_cache_mode")
        assert await session.scalar(show) == "auto"
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        for _ in range(7):  # past psycopg's prepare_threshold and PostgreSQL's five custom plans
            summary = await build_summary(repo, unit_path=ward.path, start=NOV.start, end=NOV.end,
                                          settings=app.settings, now=clock.now())
            assert summary.current.figures.reports == 32
        assert await session.scalar(show) == "force_custom_plan"
        await session.commit()
        assert await session.scalar(show) == "auto"  # the next transaction on this connection
        summary = await build_summary(repo, unit_path=ward.path, start=NOV.start, end=NOV.end,
                                      settings=app.settings, now=clock.now())
        assert await session.scalar(show) == "force_custom_plan"  # set again in the new one
