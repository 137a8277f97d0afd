"""Plausible answers (issue 14, item 3): the forms' relations checked through the engine, the
group's household count as one tap, numbers as people write them, a too-long text kept, the
minimum length said in the question, and no percentage above 100% in the summary or the Excel
file — the scenario of the issue: 62 households present out of 50 refused, an old such row flagged.

Bà Mai leads Tổ dân phố Xuân Hà 9 (87 households in the demo data); the clock says 22/11/2026."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from handlers.summaries.exports import workbook_xlsx
from handlers.summaries.periods import Period
from handlers.summaries.summary import build_summary, complete, render_text
from models.repos import Repo
from models.settings import PROJECT_ROOT, Settings, load_settings
from tests.helpers import Chat, saved_reports

GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"
NOV = Period.calendar("month", date(2026, 11, 1), ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The usual test settings, with groups' records beginning on 10/11/2026 (`units.since`)."""
    env = {
        "TOTRUONG_DATABASE__URL": database_url,
        "TOTRUONG_DATABASE__AUTO_MIGRATE": "false",
        "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"),
        "TOTRUONG_APP__LOAD_DEMO_WHEN_EMPTY": "true",
        "TOTRUONG_WEB__PORT": "0",
        "TOTRUONG_UNITS__SINCE": "2026-11-10",
    }
    return load_settings(env, PROJECT_ROOT / "config.toml")


async def households_of(app, code: str) -> int | None:
    async with app.sessions() as session:
        unit = await Repo(session).unit_by_code(code)
        return unit.households if unit else None


async def set_households(app, code: str, n: int) -> None:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        unit = await repo.unit_by_code(code)
        assert unit is not None and unit.id is not None
        await repo.set_households(unit.id, n)


async def meeting(app) -> Chat:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.press("Dân chủ cơ sở và phản ánh")
    await chat.press("Cuộc họp tổ dân phố")
    return chat


async def feedback_text(app) -> tuple[Chat, str]:
    """A leader at the text question of a feedback (at most 1,000 characters), and that question."""
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.press("Dân chủ cơ sở và phản ánh")
    await chat.press("Phản ánh, kiến nghị")
    return chat, await chat.press("Môi trường")


async def green_sunday(app) -> Chat:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    return chat


async def test_62_households_present_out_of_50_is_refused_and_the_group_count_updated(app) -> None:
    chat = await meeting(app)
    await chat.press("Hôm nay")
    assert "Giữ 87 hộ" in chat.labels
    assert "Bao nhiêu hộ đến dự họp?" in await chat.send("50")  # the group has 50 households now
    refused = await chat.send("62")
    assert ("Số hộ dự họp (62) không thể nhiều hơn tổng số hộ của tổ (50). "
            "Anh/chị nhập lại số hộ dự họp:") in refused
    assert "Bao nhiêu hộ đến dự họp?" in refused  # the same question, asked again
    assert "Cuộc họp bàn những việc gì?" in await chat.send("45")
    await chat.press("An ninh trật tự")
    await chat.press("Xong")
    await chat.send("Thống nhất lịch trực an ninh ban đêm.")
    summary = await chat.press("Bỏ qua")
    assert "• Tổng số hộ của tổ: 50 hộ (số hộ của tổ sẽ đổi từ 87 hộ thành 50 hộ)" in summary
    assert await households_of(app, "TK-XH9") == 87  # nothing changes before the report is sent
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Cuộc họp tổ dân phố»." in done
    assert "Đã cập nhật số hộ của tổ: 50 hộ." in done
    assert await households_of(app, "TK-XH9") == 50
    [(report, _unit)] = await saved_reports(app)
    assert (report.data["ho_du_hop"], report.data["tong_so_ho"]) == (45, 50)
    # The next report offers the new count as the one tap.
    chat = await meeting(app)
    await chat.press("Hôm nay")
    assert "Giữ 50 hộ" in chat.labels and "Số hộ của tổ đang ghi là 50 hộ." in chat.text


async def test_the_group_household_count_is_one_tap_and_kept(app) -> None:
    chat = await meeting(app)
    asked = await chat.press("Hôm nay")
    assert "(2/6) Tổ mình có tổng cộng bao nhiêu hộ?" in asked
    assert "Số hộ của tổ đang ghi là 87 hộ. Bấm «Giữ 87 hộ» nếu không đổi, hoặc gõ số mới." in asked
    assert "Bao nhiêu hộ đến dự họp?" in await chat.press("Giữ 87 hộ")
    await chat.send("62")
    await chat.send("1")
    await chat.send("Thống nhất lịch trực an ninh ban đêm.")
    summary = await chat.press("Bỏ qua")
    assert "• Tổng số hộ của tổ: 87 hộ\n" in summary and "sẽ đổi" not in summary
    done = await chat.press("Gửi báo cáo")
    assert "Đã cập nhật số hộ" not in done
    assert await households_of(app, "TK-XH9") == 87
    [(report, _unit)] = await saved_reports(app)
    assert (report.data["ho_du_hop"], report.data["tong_so_ho"]) == (62, 87)


async def test_an_edit_at_the_summary_that_breaks_a_relation_is_refused_there(app) -> None:
    chat = await meeting(app)
    await chat.press("Hôm nay")
    await chat.press("Giữ 87 hộ")
    await chat.send("62")
    await chat.send("1")
    await chat.send("Thống nhất lịch trực an ninh ban đêm.")
    await chat.press("Bỏ qua")
    await chat.press("Sửa một câu")
    await chat.press("Tổng số hộ của tổ")
    refused = await chat.send("50")
    assert ("Số hộ dự họp (62) không thể nhiều hơn tổng số hộ của tổ (50). "
            "Anh/chị nhập lại tổng số hộ của tổ:") in refused
    assert "Kiểm tra lại báo cáo" in await chat.send("90")
    assert "• Tổng số hộ của tổ: 90 hộ (số hộ của tổ sẽ đổi từ 87 hộ thành 90 hộ)" in chat.text


async def test_households_taking_part_at_most_the_people_and_the_group(app) -> None:
    chat = await green_sunday(app)
    await chat.press("Hôm nay")
    await chat.send("8")
    refused = await chat.send("10")
    assert ("Số hộ tham gia (10) không thể nhiều hơn số người tham gia (8). "
            "Anh/chị nhập lại số hộ tham gia:") in refused
    assert "Bao nhiêu hộ gia đình tham gia?" in refused
    assert "Tổ đã làm những việc gì?" in await chat.send("8")
    await chat.press("Quay lại")
    await chat.press("Quay lại")  # 300 people: now the group's 87 households bound the count
    await chat.send("300")
    refused = await chat.send("100")
    assert ("Số hộ tham gia (100) không thể nhiều hơn số hộ của tổ (87). "
            "Anh/chị nhập lại số hộ tham gia:") in refused
    assert "Tổ đã làm những việc gì?" in await chat.send("87")


async def test_a_relation_broken_since_the_answer_is_caught_at_the_confirmation(app) -> None:
    chat = await green_sunday(app)
    await chat.press("Hôm nay")
    await chat.send("120")
    await chat.send("80")
    await chat.press("Quét dọn")
    await chat.press("Xong")
    await chat.press("Bỏ qua")
    await chat.press("Không")
    await chat.press("Tốt")
    await chat.press("Bỏ qua")
    assert "Kiểm tra lại báo cáo" in await chat.press("Bỏ qua")
    await set_households(app, "TK-XH9", 50)  # another leader of the group corrected the count meanwhile
    refused = await chat.press("Gửi báo cáo")
    assert ("Số hộ tham gia (80) không thể nhiều hơn số hộ của tổ (50). "
            "Anh/chị nhập lại số hộ tham gia:") in refused
    assert "Câu trả lời hiện tại: 80 hộ" in refused
    assert await saved_reports(app) == []
    assert "Kiểm tra lại báo cáo" in await chat.send("40")
    assert "✅ Đã gửi báo cáo" in await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data["so_ho"] == 40


async def test_a_date_before_the_groups_records_begin_or_in_the_future_is_refused(app) -> None:
    chat = await meeting(app)
    refused = await chat.send("05/11/2026")
    assert ("Ngày họp (05/11/2026) không thể trước ngày bắt đầu tính số liệu (10/11/2026). "
            "Anh/chị nhập lại ngày họp:") in refused
    assert "Tổ họp ngày nào?" in refused
    assert "Ngày 25/11/2026 còn ở tương lai." in await chat.send("25/11/2026")
    assert "Tổ mình có tổng cộng bao nhiêu hộ?" in await chat.send("10/11/2026")


async def test_numbers_as_people_write_them_through_the_form(app) -> None:
    chat = await green_sunday(app)
    await chat.press("Hôm nay")
    assert "Số -2 là số âm, không dùng được ở đây." in await chat.send("-2")
    assert "Câu này cần một số nguyên (đếm được), không phải 3,5." in await chat.send("3,5")
    assert "«rất đông» không phải là một số." in await chat.send("rất đông")
    assert "Vui lòng nhập một số từ 1 đến 2.000." in chat.text  # the rule, with each refusal
    assert "Số 5.000 nằm ngoài giới hạn." in await chat.send("5.000")
    assert "Bao nhiêu hộ gia đình tham gia?" in await chat.send("hai mươi")
    assert "Tổ đã làm những việc gì?" in await chat.send("mười lăm hộ")
    await chat.press("Quét dọn")
    await chat.press("Xong")
    assert "Còn điểm rác tồn đọng" in await chat.send("12,5 kg")
    await chat.press("Không")
    await chat.press("Tốt")
    await chat.press("Bỏ qua")
    summary = await chat.press("Bỏ qua")
    assert "• Số người tham gia: 20 người" in summary and "• Số hộ tham gia: 15 hộ" in summary
    assert "12,5 kg" in summary


async def test_a_too_long_text_is_kept_and_its_first_part_taken(app) -> None:
    chat, asked = await feedback_text(app)
    assert "Gõ câu trả lời (ít nhất 10, tối đa 1.000 ký tự)." in asked  # the minimum, before any try
    long_text = ("Cống thoát nước trước nhà số 8 kiệt 45 bị nghẹt lâu ngày, nước tràn ra đường. " * 70).strip()
    assert len(long_text) > 5000
    kept = await chat.send(long_text)
    assert f"Câu trả lời dài {len(long_text):,} ký tự; câu này nhận tối đa 1.000 ký tự.".replace(",", ".") in kept
    assert "Bài đã gõ vẫn được giữ" in kept
    assert "✂️ Giữ 1.000 ký tự đầu" in chat.labels
    assert "Người dân phản ánh về việc gì?" in await chat.press("Quay lại")  # going back loses nothing
    assert "Người dân phản ánh, kiến nghị điều gì?" in await chat.press("Môi trường")
    assert "✂️ Giữ 1.000 ký tự đầu" in chat.labels
    assert "Gửi một ảnh kèm theo" in await chat.press("Giữ 1.000 ký tự đầu")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    await chat.press("Có")
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    saved = report.data["noi_dung"]
    assert 800 < len(saved) <= 1000 and long_text.startswith(saved) and not saved.endswith(" ")


async def test_a_too_long_text_then_a_shorter_one_typed(app) -> None:
    chat, _asked = await feedback_text(app)
    await chat.send("x" * 1500)
    assert chat.has("Giữ 1.000 ký tự đầu")
    assert "Gửi một ảnh kèm theo" in await chat.send("Cống trước nhà số 8 bị nghẹt, nước tràn ra đường.")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    await chat.press("Có")
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data["noi_dung"] == "Cống trước nhà số 8 bị nghẹt, nước tràn ra đường."


def _utc(day: int) -> datetime:
    return datetime(2026, 11, day, 3, tzinfo=UTC)


async def test_an_old_meeting_of_62_out_of_50_is_flagged_not_124_percent(app, clock) -> None:
    """Rows filed before the checks existed: left out of the rate and counted as flagged."""
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        reporter = (await repo.find_who("sim", "demo-topho")).person_id
        for code, present, total, day in (("HC-TT3", 62, 50, 12), ("HC-HC7", 80, 118, 16), ("HC-TT3", 40, 50, 18)):
            unit = await repo.unit_by_code(code)
            await repo.add_report(form_key="dan_chu_hop_to", form_version=1, task="dan_chu", unit=unit,
                                  reporter_id=reporter, data={"ngay": f"2026-11-{day}", "ho_du_hop": present,
                                                              "tong_so_ho": total}, at=_utc(day))
    t = app.engine.translator("vi")
    async with app.sessions() as session:
        repo = Repo(session)
        ward = await repo.unit_by_code("20242")
        summary = await build_summary(repo, unit_path=ward.path, start=NOV.start, end=NOV.end,
                                      settings=app.settings, now=clock.now())
        await complete(repo, summary)
    text = render_text(summary, t)
    assert "• Họp tổ: 3 cuộc" in text
    assert "  Hộ dự họp: 71%" in text  # (80 + 40) / (118 + 50), the 62/50 left out
    assert "⚠️ 1 biên bản ghi số hộ dự họp nhiều hơn số hộ của tổ: không tính vào tỷ lệ." in text
    assert "124%" not in text
    book = openpyxl.load_workbook(io.BytesIO(workbook_xlsx(summary, t)))
    democracy = book["Dân chủ, phản ánh"]
    header = [c.value for c in democracy[1]]
    rate, flagged = header.index("Tỷ lệ dự họp"), header.index("Biên bản số hộ không hợp lý (không tính)")
    rows = {row[0]: row for row in democracy.iter_rows(min_row=2, values_only=True)}
    assert rows["HC-TT3"][rate] == pytest.approx(40 / 50) and rows["HC-TT3"][flagged] == 1
    assert rows["HC-HC7"][rate] == pytest.approx(80 / 118) and rows["HC-HC7"][flagged] == 0
    overview = {row[0]: row[1:] for row in book["Tổng hợp"].iter_rows(min_row=8, values_only=True) if row[0]}
    assert overview["Tỷ lệ hộ dự họp"][0] == pytest.approx(120 / 168)
    assert overview["Biên bản số hộ không hợp lý (không tính)"][0] == 1
    for sheet in book:  # no share above 100% anywhere in the file
        for row in sheet.iter_rows():
            for cell in row:
                if cell.number_format == "0%" and isinstance(cell.value, int | float):
                    assert cell.value <= 1, (sheet.title, cell.coordinate, cell.value)


async def test_a_long_text_that_telegram_split_in_two_is_kept_whole(app, clock) -> None:
    """Telegram's apps send 5,000 characters as 4,096 and the rest, a moment apart: one answer."""
    chat, _asked = await feedback_text(app)
    first, rest = "a" * 4096, "b" * 903
    assert "Câu trả lời dài 4.096 ký tự" in await chat.send(first)
    clock.advance(seconds=1)
    assert "Câu trả lời dài 5.000 ký tự" in await chat.send(rest)
    clock.advance(seconds=60)  # typed a while later: a new answer, not the rest of the kept one
    assert "Gửi một ảnh kèm theo" in await chat.send("Cống trước nhà số 8 bị nghẹt, nước tràn ra đường.")


async def test_a_long_text_that_telegram_split_in_three_is_kept_whole(app, clock) -> None:
    """9,000 characters come as 4,096, 4,096 and the rest: each part joins what came before."""
    chat, _asked = await feedback_text(app)
    assert "Câu trả lời dài 4.096 ký tự" in await chat.send("a " * 2047 + "aa")
    clock.advance(seconds=1)
    assert "Câu trả lời dài 8.193 ký tự" in await chat.send("b " * 2047 + "bb")
    clock.advance(seconds=1)
    assert "Câu trả lời dài 9.000 ký tự" in await chat.send("c" * 806)
    kept = await chat.press("Giữ")  # the first part of the whole text, not of its last message
    assert "Gửi một ảnh kèm theo" in kept
