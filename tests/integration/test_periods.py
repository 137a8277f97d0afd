"""Reports count in the month they happened (their event day), not the month they were filed in;
the monthly and nil reports follow one rule for their month, ask before they are sent, replace
rather than duplicate, and are marked out of date by a later report of their month."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from handlers.forms import event_day
from handlers.summaries.periods import Period
from handlers.summaries.summary import build_summary, workbook
from handlers.summaries.summary_figures import Summary
from models.repos import Repo
from models.tables import Report
from tests.helpers import Chat

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOV = Period.calendar("month", date(2026, 11, 1), TZ)
DEC = Period.calendar("month", date(2026, 12, 1), TZ)
GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment given in Đà Nẵng's time."""
    return datetime(2026, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


async def green_sunday(leader: Chat, day: str, people: str = "9") -> str:
    await leader.send("/menu")
    await leader.open_form("Vệ sinh môi trường", GREEN)
    for step in (day, people, "4"):
        await leader.send(step)
    await leader.press("Trồng cây")
    await leader.press("Xong")
    await leader.press("Bỏ qua")
    await leader.press("Không")
    await leader.press("Khá")
    await leader.press("Bỏ qua")
    await leader.press("Bỏ qua")
    return await leader.press("Gửi báo cáo")


async def meeting(leader: Chat, day: str) -> str:
    await leader.send("/menu")
    await leader.open_form("Dân chủ cơ sở và phản ánh", "Cuộc họp tổ dân phố")
    for step in (day, "90", "40", "1,2,4", "Thống nhất lịch trực an ninh ban đêm."):  # households, then present
        await leader.send(step)
    await leader.press("Bỏ qua")
    return await leader.press("Gửi báo cáo")


async def ward_summary(official: Chat, period: str) -> str:
    """The headline, then the whole text behind [📋 Xem chi tiết]."""
    await official.send("/menu")
    await official.press("📊 Tóm tắt")
    await official.press("Phường Hải Châu (toàn địa bàn)")
    await official.press(period)
    headline = official.replies[0].text
    return headline + "\n" + await official.press("📋 Xem chi tiết")


async def test_reports_of_28_and_29_november_filed_on_2_december_are_novembers(
        app, clock, database_url: str, tmp_path: Path) -> None:
    clock.current = local(12, 2, 9)
    leader = Chat(app, "demo-topho")
    assert "✅ Đã gửi báo cáo" in await green_sunday(leader, "29/11")
    assert "✅ Đã gửi báo cáo" in await meeting(leader, "28/11")
    await leader.send("/menu")
    first = await leader.press("Báo cáo tháng")  # 2 December, before the deadline (the 5th): November
    assert "🗓️ Báo cáo tháng 11/2026 của Tổ dân phố Thạch Thang 3 (hạn nộp 05/12/2026)." in first
    proposed = await leader.press("Lập báo cáo tháng 11/2026")
    assert "Số liệu dưới đây tổng hợp từ 2 báo cáo tháng 11/2026 của tổ." in proposed
    for line in ("• Vệ sinh: buổi Chủ nhật Xanh: 1 buổi", "• Vệ sinh: lượt người tham gia: 9 lượt",
                 "• Dân chủ: cuộc họp tổ: 1 cuộc"):
        assert line in proposed, line
    assert "✅ Đã gửi báo cáo tháng 11/2026." in await leader.press("Gửi báo cáo")

    official = Chat(app, "demo-canbo")
    december = await ward_summary(official, "Tháng này")
    assert december.startswith("📊 Phường Hải Châu · Tháng 12/2026\n") and "📨 Số báo cáo: 0 (▼ 3)" in december
    assert "• Chủ nhật Xanh: 0 buổi (▼ 1)" in december and "• Họp tổ: 0 cuộc (▼ 1)" in december
    november = await ward_summary(official, "Tháng trước")
    assert november.startswith("📊 Phường Hải Châu · Tháng 11/2026\n") and "📨 Số báo cáo: 3 (▲ 3)" in november
    assert "• Chủ nhật Xanh: 1 buổi (▲ 1)" in november and "• Họp tổ: 1 cuộc (▲ 1)" in november
    assert "• Đã nộp: 1/4 tổ" in november

    env = {**os.environ, "TOTRUONG_DATABASE__URL": database_url, "TOTRUONG_APP__DATA_DIR": str(tmp_path / "cli"),
           "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "false"}
    runner = CliRunner()
    for period, sessions, meetings in (("2026-12", "0 buổi (▼ 1)", "0 cuộc (▼ 1)"),
                                       ("2026-11", "1 buổi (▲ 1)", "1 cuộc (▲ 1)")):
        result = await asyncio.to_thread(runner.invoke, cli, ["summary", "--unit", "20242", "--period", period],
                                         env=env)
        assert result.exit_code == 0, result.output
        assert f"• Chủ nhật Xanh: {sessions}" in result.stdout and f"• Họp tổ: {meetings}" in result.stdout


async def _seed_straddling(app) -> dict[str, int]:
    """Reports around the end of November in two groups of Phường Hải Châu, filed as the core files
    them (the day from the form's event field, else the local day filed)."""
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        tt3, hc7 = await repo.unit_by_code("HC-TT3"), await repo.unit_by_code("HC-HC7")
        reporter = (await repo.find_who("sim", "demo-topho")).person_id
        ids: dict[str, int] = {}

        async def add(name: str, unit, form_key: str, answers: dict, at: datetime, supersedes=None) -> None:
            form = app.forms.get(form_key)
            report = await repo.add_report(
                form_key=form_key, form_version=1, task=form.task, unit=unit, reporter_id=reporter, data=answers,
                at=at, supersedes=supersedes, event_day=event_day(form, answers, now=at, tz=TZ))
            ids[name] = report

        # Thạch Thang 3: the Sunday of 29/11 filed on 2/12; an incident at 23:30 on 30/11, filed then;
        # a hotspot filed at 23:30 on 30/11 (November) and one at 00:30 on 1/12 (December, though it is
        # still 30/11 in UTC).
        await add("tt3_green", tt3, "ve_sinh_chu_nhat_xanh", {"ngay": "2026-11-29", "nguoi_tham_gia": 9, "so_ho": 4,
                                                              "rac_kg": 12.5}, local(12, 2, 8))
        await add("tt3_theft", tt3, "an_ninh_vu_viec", {"loai": "trom_cap", "ngay": "2026-11-30"},
                  local(11, 30, 23, 30))
        await add("tt3_spot_nov", tt3, "ve_sinh_diem_den", {"quy_mo": "nho"}, local(11, 30, 23, 30))
        await add("tt3_spot_dec", tt3, "ve_sinh_diem_den", {"quy_mo": "vua"}, local(12, 1, 0, 30))
        # Hải Châu 7: a meeting of 28/11 corrected on 1/12 to 1/12 (it moves to December); a Sunday of
        # 29/11 corrected on 2/12 from 10 to 15 people (it stays in November, with 15).
        await add("hc7_meeting", hc7, "dan_chu_hop_to", {"ngay": "2026-11-28", "ho_du_hop": 50, "tong_so_ho": 118},
                  local(11, 28, 20))
        await add("hc7_meeting_2", hc7, "dan_chu_hop_to", {"ngay": "2026-12-01", "ho_du_hop": 50, "tong_so_ho": 118},
                  local(12, 1, 9), supersedes=ids["hc7_meeting"])
        await add("hc7_green", hc7, "ve_sinh_chu_nhat_xanh", {"ngay": "2026-11-29", "nguoi_tham_gia": 10, "so_ho": 5},
                  local(11, 29, 11))
        await add("hc7_green_2", hc7, "ve_sinh_chu_nhat_xanh", {"ngay": "2026-11-29", "nguoi_tham_gia": 15, "so_ho": 5},
                  local(12, 2, 10), supersedes=ids["hc7_green"])
        # Hải Châu 7's November report on 3/12 (on time); Thạch Thang 3's comes through the chat on 6/12.
        await add("hc7_monthly", hc7, "bao_cao_thang", {"_month": "2026-11", "so_buoi_cn_xanh": 1}, local(12, 3, 9))
        return {name: report.id for name, report in ids.items()}


async def _summary(app, period: Period, now: datetime) -> Summary:
    async with app.sessions() as session:
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        return await build_summary(repo, unit_path=ward.path, start=period.start, end=period.end,
                                   settings=app.settings, now=now)


async def test_reports_straddling_the_end_of_november_are_counted_by_hand(app, clock) -> None:
    ids = await _seed_straddling(app)
    # 6 December: past the deadline, the rule proposes December; the leader chooses November.
    clock.current = local(12, 6, 9)
    leader = Chat(app, "demo-topho")
    await leader.send("/menu")
    assert "🗓️ Báo cáo tháng 12/2026" in await leader.press("Báo cáo tháng")
    months = await leader.press("📅 Chọn tháng khác")
    assert months == "Báo cáo cho tháng nào? (✓: tháng đã có báo cáo)"
    assert leader.labels[:3] == ["Tháng 12/2026", "Tháng 11/2026", "Tháng 10/2026"]
    assert "🗓️ Báo cáo tháng 11/2026 của Tổ dân phố Thạch Thang 3" in await leader.press("Tháng 11/2026")
    proposed = await leader.press("Lập báo cáo tháng 11/2026")
    assert "Số liệu dưới đây tổng hợp từ 3 báo cáo tháng 11/2026 của tổ." in proposed
    for line in ("• An ninh: số vụ việc: 1 vụ", "• Vệ sinh: buổi Chủ nhật Xanh: 1 buổi",
                 "• Vệ sinh: lượt người tham gia: 9 lượt", "• Vệ sinh: rác thu gom (kg): 12,5 kg",
                 "• Vệ sinh: điểm đen rác đã báo: 1 điểm", "• Dân chủ: cuộc họp tổ: 0 cuộc"):
        assert line in proposed, line
    assert "✅ Đã gửi báo cáo tháng 11/2026." in await leader.press("Gửi báo cáo")
    async with app.sessions() as session:
        monthly = (await session.scalars(select(Report).where(Report.form_key == "bao_cao_thang",
                                                              Report.unit_path.like("%")))).all()
        days = {r.id: r.event_day for r in (await session.scalars(select(Report))).all()}
    assert {m.data["_month"] for m in monthly} == {"2026-11"} and {days[m.id] for m in monthly} == {date(2026, 11, 1)}
    assert days[ids["tt3_spot_nov"]] == date(2026, 11, 30) and days[ids["tt3_spot_dec"]] == date(2026, 12, 1)
    assert days[ids["tt3_green"]] == date(2026, 11, 29) and days[ids["hc7_meeting_2"]] == date(2026, 12, 1)

    nov = await _summary(app, NOV, clock.now())
    f = nov.current.figures
    # November: Thạch Thang 3 green, theft, a hotspot and its monthly report; Hải Châu 7 the corrected
    # Sunday (15 people) and its monthly report. The meeting moved to December with its correction.
    assert (f.reports, f.green_sessions, f.participants, f.meetings, f.hotspots, f.incident_reports) == \
        (6, 2, 24, 0, 1, 1)
    assert f.waste_kg == 12.5 and f.incidents == {"trom_cap": 1}
    assert (f.months_due, f.filed, f.on_time, f.late) == (4, 2, 1, 1)
    by_code = {g.unit.code: (g.figures.reports, g.figures.filed, g.figures.on_time) for g in nov.groups}
    assert by_code == {"HC-TT3": (4, 1, 0), "HC-HC7": (2, 1, 1), "HC-PN12": (0, 0, 0), "HC-BH4": (0, 0, 0)}
    top, bottom = nov.ranking()
    assert [g.unit.code for g in top] == ["HC-HC7", "HC-TT3"]  # both filed; Hải Châu 7 on time
    assert [g.unit.code for g in bottom] == ["HC-BH4", "HC-PN12"]
    dec = await _summary(app, DEC, clock.now())
    g = dec.current.figures
    assert (g.reports, g.green_sessions, g.meetings, g.hotspots, g.incident_reports) == (2, 0, 1, 1, 0)
    assert (g.months_due, g.filed) == (4, 0)

    # The Excel file of November: the same figures, cell by cell.
    async with app.sessions() as session:
        xlsx = await workbook(Repo(session), nov, t=app.engine.translator("vi"), viewer_id=None, households=False)
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    totals = {row[0]: row[1:] for row in book["Tổng hợp"].iter_rows(values_only=True) if row and row[0]}
    assert totals["Số báo cáo"][:2] == (6, 0)
    assert totals["Buổi Chủ nhật Xanh"][0] == 2 and totals["Lượt người tham gia"][0] == 24
    assert totals["Cuộc họp tổ"][0] == 0 and totals["Nộp đúng hạn"][0] == 1 and totals["Nộp trễ hạn"][0] == 1
    filed = {row[0]: row[3:9] for row in book["Nộp báo cáo"].iter_rows(min_row=2, values_only=True)}
    assert filed["HC-TT3"] == (1, 1, 0, 1, 1, 4) and filed["HC-HC7"] == (1, 1, 1, 0, 1, 2)
    assert filed["HC-PN12"] == (1, 0, 0, 0, 0, 0)


async def test_the_month_rule_on_the_deadline_day_and_the_day_after(app, clock) -> None:
    leader = Chat(app, "demo-topho")
    for moment, month in ((local(12, 5, 23, 30), "11/2026"), (local(12, 6, 0, 30), "12/2026")):
        clock.current = moment
        await leader.send("/menu")
        assert f"🗓️ Báo cáo tháng {month} của Tổ dân phố Thạch Thang 3" in await leader.press("Báo cáo tháng")
        await leader.send("/menu")
        await leader.press("An ninh trật tự")
        assert f"✅ Không có vụ việc · tháng {month}" in leader.labels  # the button names its month
        asked = await leader.press("Không có vụ việc")
        assert asked == f"Gửi báo cáo «Không có vụ việc» cho tháng {month}?"
    # Another open month for the nil report, chosen and then sent.
    await leader.press("📅 Chọn tháng khác")
    assert "Tháng 10/2026" in leader.labels
    assert "cho tháng 10/2026?" in await leader.press("Tháng 10/2026")
    assert "✅ Đã báo «Không có vụ việc» cho tháng 10/2026." in await leader.press("✅ Gửi")
    async with app.sessions() as session:
        nil = (await session.scalars(select(Report).where(Report.form_key == "an_ninh_khong_vu_viec"))).one()
    assert nil.event_day == date(2026, 10, 1) and nil.data == {"form": "an_ninh_vu_viec", "month": "2026-10"}


async def test_a_second_monthly_report_replaces_the_first_and_keeps_it(app, clock) -> None:
    clock.current = local(12, 2, 9)
    leader = Chat(app, "demo-topho")
    await leader.send("/menu")
    await leader.press("Báo cáo tháng")
    await leader.press("Lập báo cáo tháng 11/2026")
    first = (await leader.press("Gửi báo cáo")).split("Mã báo cáo: ")[1].split()[0]
    clock.advance(hours=2)
    await leader.send("/menu")
    again = await leader.press("Báo cáo tháng")
    assert f"Tháng 11/2026 tổ đã gửi «Báo cáo tháng» lúc 09:00 02/12/2026 (mã {first})." in again
    assert "Gửi bản mới để thay bản đó? Bản cũ vẫn được lưu." in again
    assert leader.labels[:3] == ["🔁 Lập bản mới, thay bản cũ", "📅 Chọn tháng khác", "✖️ Hủy"]
    opened = await leader.press("Lập bản mới, thay bản cũ")
    assert f"Bản này sẽ thay báo cáo {first}; bản cũ vẫn được lưu." in opened
    done = await leader.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo tháng 11/2026." in done and f"{first}-2" in done
    assert f"Đây là bản sửa của báo cáo {first}; bản cũ vẫn được lưu." in done
    async with app.sessions() as session:
        rows = (await session.scalars(select(Report).where(Report.form_key == "bao_cao_thang")
                                      .order_by(Report.id))).all()
    assert [(r.code, r.superseded, r.supersedes_id) for r in rows] == [
        (first, True, None), (f"{first}-2", False, rows[0].id)]
    summary = await _summary(app, NOV, clock.now())
    assert (summary.current.figures.filed, summary.current.figures.on_time) == (1, 1)  # one report, not two


async def test_a_report_for_a_month_already_reported_warns_and_marks_it_out_of_date(app, clock) -> None:
    clock.current = local(12, 2, 9)
    leader = Chat(app, "demo-topho")
    await leader.send("/menu")
    await leader.press("Báo cáo tháng")
    await leader.press("Lập báo cáo tháng 11/2026")
    await leader.press("Gửi báo cáo")
    await leader.send("/menu")
    await leader.press("An ninh trật tự")
    await leader.press("Không có vụ việc")
    await leader.press("✅ Gửi")
    # A Sunday of 29/11 filed now: November already has a monthly report and a nil one.
    done = await green_sunday(leader, "29/11")
    assert "⚠️ Tháng 11/2026 đã có báo cáo tháng; báo cáo này làm nó cũ." in done
    assert "🗓️ Cập nhật báo cáo tháng 11/2026" in leader.labels
    # An incident of 30/11 makes the nil report out of date too.
    await leader.send("/menu")
    await leader.open_form("An ninh trật tự", "Vụ việc an ninh trật tự")
    await leader.press("Trộm cắp")
    await leader.send("30/11")
    await leader.press("Tối (18–22 giờ)")
    await leader.send("Kiệt 45 Lê Duẩn")
    await leader.send("Mất xe máy trước nhà số 8, đã báo công an khu vực.")
    await leader.press("Bỏ qua")
    await leader.press("Không")
    await leader.press("Có")
    incident = await leader.press("Gửi báo cáo")
    assert "⚠️ Tháng 11/2026 tổ đã báo «Không có vụ việc»; báo cáo này làm nó cũ." in incident
    assert "⚠️ Tháng 11/2026 đã có báo cáo tháng; báo cáo này làm nó cũ." in incident
    async with app.sessions() as session:
        nil = (await session.scalars(select(Report).where(Report.form_key == "an_ninh_khong_vu_viec"))).one()
    assert nil.out_of_date
    # The button opens the monthly report to replace the old one, with the new figures.
    updated = await leader.press("Cập nhật báo cáo tháng 11/2026")
    assert "• Vệ sinh: buổi Chủ nhật Xanh: 1 buổi" in updated and "Bản này sẽ thay báo cáo" in updated
    async with app.sessions() as session:
        monthly = (await session.scalars(select(Report).where(Report.form_key == "bao_cao_thang"))).one()
    assert monthly.out_of_date and not monthly.superseded
    # A December report leaves November's alone.
    await leader.send("/huy")
    await leader.press_id("m.leave")
    done = await green_sunday(leader, "hôm nay")
    assert "⚠️" not in done


async def test_the_litter_free_standing_is_read_at_the_periods_last_day_by_event_day(app) -> None:
    """A standing state (the litter-free model) at the end of a month is the group's latest report
    about a day of that month or before, even when filed in the next month; of two about the same
    day, the one filed later; a report about a later day does not count for the earlier month."""
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        tt3, hc7, pn12 = [await repo.unit_by_code(c) for c in ("HC-TT3", "HC-HC7", "HC-PN12")]
        reporter = (await repo.find_who("sim", "demo-topho")).person_id
        form = app.forms.get("ve_sinh_khong_rac")

        async def add(unit, status: str, day: date, at: datetime) -> None:
            await repo.add_report(form_key=form.key, form_version=1, task=form.task, unit=unit,
                                  reporter_id=reporter, data={"trang_thai": status}, at=at, event_day=day)

        # Thạch Thang 3: reached on 28/11, filed on 2/12 (November's standing is "đã đạt").
        await add(tt3, "dang_xay_dung", date(2026, 10, 5), local(10, 5, 9))
        await add(tt3, "da_dat", date(2026, 11, 28), local(12, 2, 8))
        # Hải Châu 7: two reports about 20/11; the later filed ("đang xây dựng") is the standing.
        await add(hc7, "da_dat", date(2026, 11, 20), local(11, 20, 9))
        await add(hc7, "dang_xay_dung", date(2026, 11, 20), local(11, 20, 15))
        # Phước Ninh 12: reached on 1/12 (December), filed that day: not November's.
        await add(pn12, "da_dat", date(2026, 12, 1), local(12, 1, 8))
    nov = await _summary(app, NOV, local(12, 6, 9))
    standing = {g.unit.code: g.figures.litter_free for g in nov.groups}
    assert (standing["HC-TT3"], standing["HC-HC7"], standing["HC-PN12"]) == (1, 0, 0)
    assert nov.current.figures.litter_free == 1
    dec = await _summary(app, DEC, local(12, 6, 9))
    assert {g.unit.code: g.figures.litter_free for g in dec.groups}["HC-PN12"] == 1
    assert dec.current.figures.litter_free == 2
