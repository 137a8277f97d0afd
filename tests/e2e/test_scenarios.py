"""Whole scenarios in the simulator, as people would play them on one page, switching persona with
the page's persona switcher: an urgent incident reaching the official on duty and his
acknowledgement reaching the leader; a notice to a ward's residents with its delivery count; the
city's Green Sunday campaign on the demonstration clock (the Saturday reminder, Sunday's follow-up
opening the prefilled report, the official reading the record of the campaign's occurrences)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import AppProcess
from tests.e2e.test_simulator import QUESTIONS, asks, bot_says, choose, last_bot, press, say

try:
    from playwright.async_api import expect
except ImportError:  # the tests are skipped (or fail, when required) by the fixture in conftest.py
    expect = None

pytestmark = pytest.mark.browser

CAMPAIGN = "Ngày Chủ nhật Xanh - Sạch - Đẹp"
LEADER, DEPUTY, RESIDENT, OFFICIAL = "demo-totruong", "demo-topho", "demo-nguoidan", "demo-canbo"
NEW_USER = "new"  # the picker's "Người dùng mới"
# Hải Châu, near Lê Duẩn street: inside the area, typed into the location dialog's fields.
LATITUDE, LONGITUDE = "16.07170", "108.21660"


# --- helpers on top of those of test_simulator.py -------------------------------------------

def row_of(bubble: Any) -> Any:
    """The row of a bot message: its bubble and the buttons under it."""
    return bubble.page.locator(".row.bot").filter(has=bubble)


async def text_of(locator: Any) -> str:
    return str(await locator.locator(".text").text_content())


async def open_menu(page: Any) -> None:
    """Greets the bot, as the empty chat suggests, and waits for the main menu."""
    before = await bot_says(page, "Bạn muốn làm gì?").count()
    await say(page, "xin chào")
    await expect(bot_says(page, "Bạn muốn làm gì?")).to_have_count(before + 1)


async def mark_document(page: Any) -> None:
    await page.evaluate("window.__sameDocument = true")


async def same_document(page: Any) -> None:
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def show(page: Any, bubble: Any, path: str, *, block: str = "start") -> None:
    """A screenshot with `bubble` at the top of the chat (or at its bottom: block="end")."""
    await bubble.evaluate("(n, block) => n.scrollIntoView({block})", block)
    await page.screenshot(path=path)


# --- 1. an urgent incident ------------------------------------------------------------------

async def test_urgent_incident_reaches_the_official_and_his_acknowledgement_comes_back(page: Any) -> None:
    await mark_document(page)
    await choose(page, LEADER)
    await expect(page.get_by_test_id("current-persona")).to_have_text("Ông Nguyễn Văn Hùng")
    await say(page, "/start HUNG05")
    await expect(bot_says(page, "Đăng ký thành công")).to_contain_text("tổ trưởng của Tổ dân phố Thạch Thang 3")

    await press(page, "🚨 Báo tin khẩn")
    numbers = bot_says(page, "Khẩn cấp, gọi ngay")
    await expect(numbers).to_have_count(1)
    await expect(numbers).to_contain_text("113 Công an · 114 Cứu hỏa · 115 Cấp cứu")
    await expect(last_bot(page)).to_contain_text("(1/3) Chuyện gì đang xảy ra?")
    await press(page, "Cháy, nổ", exact=True)
    await expect(last_bot(page)).to_contain_text("(2/3) Ở đâu?")

    # The location: the map dialog opened from the question's own button, the coordinates typed in.
    await page.get_by_test_id("bot-location-button").last.click()
    await expect(page.get_by_test_id("location-map")).to_be_visible()
    await page.get_by_test_id("location-lat").fill(LATITUDE)
    await page.get_by_test_id("location-lon").fill(LONGITUDE)
    await page.get_by_test_id("location-send").click()
    await expect(page.get_by_test_id("location-map")).to_be_hidden()
    await expect(page.get_by_test_id("user-message").last).to_contain_text(f"📍 {LATITUDE}, {LONGITUDE}")
    await expect(last_bot(page)).to_contain_text("(3/3) Mô tả ngắn")

    # The description is the last answer: the incident goes at once, without a summary to confirm.
    await say(page, "Cháy quán ăn đầu kiệt")
    sent = bot_says(page, "Đã chuyển tin khẩn")
    await expect(sent).to_have_count(1)
    await expect(sent).to_contain_text("🚨 Đã chuyển tin khẩn tới 1 cán bộ trực của Phường Hải Châu")
    await expect(sent).to_contain_text("113 Công an · 114 Cứu hỏa · 115 Cấp cứu")
    assert await bot_says(page, "Kiểm tra lại").count() == 0
    found = re.search(r"Mã: ([A-Z0-9]+)", await text_of(sent))
    assert found, await text_of(sent)
    code = found.group(1)

    # The official on duty: the incident is in his chat, with its two buttons.
    await choose(page, OFFICIAL)
    await expect(page.get_by_test_id("current-persona")).to_have_text("Anh Phạm Minh Tuấn")
    incident = bot_says(page, f"🚨 TIN KHẨN {code}")
    await expect(incident).to_have_count(1)
    for line in ("Từ: Ông Nguyễn Văn Hùng — Tổ dân phố Thạch Thang 3", "• Sự việc: Cháy, nổ",
                 f"{LATITUDE}, {LONGITUDE}", "• Mô tả: Cháy quán ăn đầu kiệt"):
        await expect(incident).to_contain_text(line)
    buttons = row_of(incident).get_by_test_id("bot-button")
    await expect(buttons).to_have_text(["✅ Đã tiếp nhận", "✔️ Đã xử lý"])
    await buttons.filter(has_text="✅ Đã tiếp nhận").click()
    named = r"«Báo tin khẩn» \d\d/\d\d «Cháy quán ăn đầu kiệt»"  # named by what it is, not its code
    await expect(bot_says(page, re.compile(named + ": đã tiếp nhận"))).to_have_count(1)

    # Back to the leader: the acknowledgement is there.
    await choose(page, LEADER)
    acknowledged = bot_says(page, f"(Mã {code})")
    await expect(acknowledged).to_have_count(1)
    await expect(acknowledged).to_contain_text(re.compile(
        r"✅ Anh Phạm Minh Tuấn \(Phường Hải Châu\) đã tiếp nhận báo cáo " + named
        + r" lúc \d\d:\d\d \d\d/\d\d/\d{4}"))
    await same_document(page)
    await show(page, acknowledged, "/tmp/e2e-urgent.png", block="end")


# --- 2. a notice with its delivery count ----------------------------------------------------

# A Wednesday morning, whenever the test runs: "Gửi ngay" is not held back by the quiet hours
# (21:00–06:30), and no campaign reminder is due to mix in.
@pytest.mark.app_args("--clock-start", "2026-12-09 09:00")
async def test_notice_to_the_residents_reaches_a_new_resident_and_the_sender_gets_the_count(page: Any) -> None:
    await mark_document(page)

    # The deputy leader reads the group's code out at a meeting…
    await choose(page, DEPUTY)
    await open_menu(page)
    await press(page, "☰ Thêm…")  # the second screen of the menu
    await press(page, "👥 Mời người dân")
    invitation = bot_says(page, "Mã để người dân tham gia Tổ dân phố Thạch Thang 3")
    await expect(invitation).to_have_count(1)
    found = re.search(r"Thạch Thang 3: ([A-Z0-9]+)", await text_of(invitation))
    assert found, await text_of(invitation)
    group_code = found.group(1)

    # …and someone new types it.
    await choose(page, NEW_USER)
    await expect(page.get_by_test_id("current-persona")).to_have_text("Người dùng mới")
    await say(page, group_code)
    await expect(bot_says(page, "Đăng ký thành công")).to_contain_text(
        "Bạn là người dân của Tổ dân phố Thạch Thang 3")

    # The ward's official writes to every resident of the ward.
    await choose(page, OFFICIAL)
    await open_menu(page)
    await press(page, "📢 Gửi thông báo")
    await expect(last_bot(page)).to_contain_text("Gửi cho đơn vị nào?")
    await press(page, "🏛 Phường Hải Châu")
    await expect(last_bot(page)).to_contain_text("Gửi cho ai?")
    await press(page, "Toàn thể người dân", exact=True)
    await expect(last_bot(page)).to_contain_text("Gõ nội dung thông báo")
    notice = "Sáng Chủ nhật 06/12 cả phường ra quân tổng vệ sinh. Mời bà con tham gia đông đủ."
    await say(page, notice)
    await expect(last_bot(page)).to_contain_text("Gửi một ảnh kèm thông báo")
    await press(page, "Không cần ảnh")
    await expect(last_bot(page)).to_contain_text("Khi nào gửi?")
    await press(page, "Gửi ngay", exact=True)
    preview = bot_says(page, "Xem trước thông báo:")
    await expect(preview).to_have_count(1)
    await expect(preview).to_contain_text(notice)
    await expect(preview).to_contain_text("Gửi tới: Toàn thể người dân — Phường Hải Châu")
    await expect(preview).to_contain_text(re.compile(r"Số người nhận: \d+"))
    found = re.search(r"Số người nhận: (\d+)", await text_of(preview))
    assert found
    recipients = int(found.group(1))
    assert recipients >= 2, "Chị Lê Thị Lan and the new resident at least"
    assert "Giờ yên tĩnh" not in await text_of(preview)

    await row_of(preview).get_by_test_id("bot-button").filter(has_text="✅ Gửi thông báo").click()
    queued = bot_says(page, "✅ Đã lên lịch gửi thông báo")
    await expect(queued).to_have_count(1)
    found = re.search(r"thông báo tới (\d+) người, .*\(mã ([A-Z0-9]+)\)", await text_of(queued))
    assert found, await text_of(queued)
    notice_code = found.group(2)
    assert int(found.group(1)) == recipients
    # The outbox delivers in the background; its report comes through the page's long poll.
    done = bot_says(page, f"✅ Đã gửi xong thông báo {notice_code}")
    await expect(done).to_have_count(1, timeout=15_000)
    await expect(done).to_contain_text(f"{recipients} người đã nhận")
    await same_document(page)

    # The new resident has it.
    await choose(page, NEW_USER)
    received = bot_says(page, "📢 THÔNG BÁO — Phường Hải Châu")
    await expect(received).to_have_count(1)
    await expect(received).to_contain_text(notice)
    await expect(received).to_contain_text("— Anh Phạm Minh Tuấn")
    await same_document(page)
    await show(page, received, "/tmp/e2e-notice.png")


# --- 3. the Green Sunday campaign on the demonstration clock --------------------------------

SATURDAY = ("--clock-start", "2026-11-28 18:50", "--clock-speed", "600")  # 10 simulated minutes a second
SUNDAY = ["--clock-start", "2026-11-29 09:40", "--clock-speed", "600"]


@pytest.mark.app_args(*SATURDAY)
async def test_green_sunday_reminder_follow_up_report_and_the_campaign_record(page: Any, server: AppProcess) -> None:
    # Saturday 18:50: the reminder of 19:00 reaches the resident about a second later.
    await choose(page, RESIDENT)
    reminder = bot_says(page, f"🔔 Nhắc lịch: {CAMPAIGN}")
    await expect(reminder).to_have_count(1, timeout=15_000)
    await expect(reminder).to_contain_text("Chủ nhật 29/11/2026 lúc 07:00")
    await expect(reminder).to_contain_text("Cả tổ ra quân dọn vệ sinh")

    # Sunday morning, second run on the same database: the clock starts at 09:40, so the follow-up of
    # 10:00 comes within seconds (the 06:30 reminder, missed while the app was stopped, is skipped).
    await server.stop()
    server.args = SUNDAY
    await server.start()
    await choose(page, DEPUTY)
    await expect(bot_says(page, f"🔔 Nhắc lịch: {CAMPAIGN}")).to_have_count(1)  # Saturday's, to leaders too
    follow_up = bot_says(page, f"📝 Hôm nay tổ mình làm «{CAMPAIGN}» thế nào?")
    await expect(follow_up).to_have_count(1, timeout=15_000)
    await row_of(follow_up).get_by_test_id("bot-button").filter(has_text="📝 Báo cáo ngay").click()

    # The form opens at question 2: the date is already Sunday's.
    await expect(bot_says(page, "📝 Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp")).to_have_count(1)
    await asks(page, 2)
    assert await bot_says(page, QUESTIONS[1]).count() == 0
    await say(page, "40")
    await asks(page, 3)
    await say(page, "25")
    await asks(page, 4)
    await press(page, "Quét dọn đường, kiệt hẻm")
    await expect(page.get_by_test_id("bot-button").filter(has_text="✅ Quét dọn đường, kiệt hẻm")).to_have_count(1)
    await press(page, "Khơi thông cống rãnh")
    await expect(page.get_by_test_id("bot-button").filter(has_text="✅ Khơi thông cống rãnh")).to_have_count(1)
    await press(page, "✔️ Xong")
    await asks(page, 5)
    await say(page, "150")
    await asks(page, 6)
    await press(page, "Không", exact=True)
    await asks(page, 8, after_a_skip=True)
    await press(page, "Tốt", exact=True)
    await asks(page, 9, after_a_skip=True)
    await press(page, "⏭ Bỏ qua")
    await asks(page, 10, after_a_skip=True)
    await press(page, "⏭ Bỏ qua")
    summary = last_bot(page)
    await expect(summary).to_contain_text(f"Kiểm tra lại báo cáo «Kết quả {CAMPAIGN}»")
    for line in ("• Ngày ra quân: 29/11/2026", "• Số người tham gia: 40 người", "• Số hộ tham gia: 25 hộ",
                 "• Hoạt động: Quét dọn đường, kiệt hẻm, Khơi thông cống rãnh", "• Rác thu gom (kg): 150 kg",
                 "• Còn điểm rác tồn đọng: Không", "• Tự đánh giá: Tốt"):
        await expect(summary).to_contain_text(line)
    await press(page, "✅ Gửi báo cáo")
    await expect(bot_says(page, "Đã gửi báo cáo")).to_contain_text(f"✅ Đã gửi báo cáo «Kết quả {CAMPAIGN}».")

    # The ward's official looks at the campaign: what each occurrence did.
    await choose(page, OFFICIAL)
    await open_menu(page)
    await press(page, "🎯 Chiến dịch")
    await expect(last_bot(page)).to_contain_text("🗓️ Chiến dịch trong địa bàn")
    await press(page, CAMPAIGN)
    record = bot_says(page, "Các lần gần đây:")
    await expect(record).to_have_count(1)
    await expect(record).to_contain_text(f"🗓️ {CAMPAIGN}")
    await expect(record).to_contain_text("Lịch: Hằng tuần, Chủ nhật lúc 07:00")
    await expect(record).to_contain_text(re.compile(r"• 19:00 28/11/2026 · Nhắc · đã gửi [1-9]\d* người"))
    await expect(record).to_contain_text("• 06:30 29/11/2026 · Nhắc · bỏ qua")
    await expect(record).to_contain_text(re.compile(r"• 10:00 29/11/2026 · Hỏi kết quả · đã gửi [1-9]\d* người"))
    await show(page, record, "/tmp/e2e-campaign.png")
