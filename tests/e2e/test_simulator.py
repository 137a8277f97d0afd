"""The simulator page in a real browser against the real app: registering and filing the sample form,
resuming a form after a crash, messages pushed through the long poll, and text that looks like HTML."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import AppProcess

try:
    from playwright.async_api import expect
except ImportError:  # the tests are skipped (or fail, when required) by the fixture in conftest.py
    expect = None

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/simulator-form.png"
FORM_TITLE = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"


def tiny_png(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (46, 125, 50)) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --- what a person does on the page ---------------------------------------------------------

async def choose(page: Any, persona: str) -> None:
    """Picks a persona in the picker (opening it first if needed) and waits for its history."""
    button = page.get_by_test_id(f"persona-{persona}")
    if not await button.is_visible():
        await page.get_by_test_id("switch-persona").click()
    await button.click()
    await expect(page.get_by_test_id("messages")).to_have_attribute("data-state", "ready")


async def say(page: Any, text: str) -> None:
    """Types a message and presses Enter."""
    box = page.get_by_test_id("chat-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def press(page: Any, label: str, *, exact: bool = False) -> None:
    """Clicks the newest bot button whose label contains `label` (or is exactly `label`)."""
    pattern = re.compile(rf"^\s*{re.escape(label)}\s*$") if exact else label
    await page.get_by_test_id("bot-button").filter(has_text=pattern).last.click()


# The sample form's questions by position (forms/ve_sinh_chu_nhat_xanh.toml).
QUESTIONS = {
    1: "Tổ mình ra quân ngày nào?",
    2: "Có bao nhiêu người tham gia?",
    3: "Bao nhiêu hộ gia đình tham gia?",
    4: "Tổ đã làm những việc gì?",
    5: "Thu gom được khoảng bao nhiêu ký rác?",
    6: "Còn điểm rác tồn đọng cần phường hỗ trợ không?",
    7: "Điểm rác tồn đọng ở đâu?",
    8: "Tổ tự đánh giá buổi ra quân thế nào?",
    9: "Gửi một ảnh khu vực sau khi dọn",
    10: "Ghi chú thêm",
}


async def asks(page: Any, number: int, *, after_a_skip: bool = False) -> None:
    """The newest bot message asks question `number` of the sample form, with its counter: "Câu 3."
    while a later question depends on an answer not given yet, "(7/10)" once the total is known.

    The total is not checked; after a skipped question, neither is the position.
    """
    counter = r"(Câu \d+\.|\(\d+/\d+\)) " if after_a_skip else rf"(Câu {number}\.|\({number}/\d+\)) "
    await expect(last_bot(page)).to_contain_text(re.compile(counter + re.escape(QUESTIONS[number])))


def last_bot(page: Any) -> Any:
    return page.get_by_test_id("bot-message").last


def bot_says(page: Any, text: str) -> Any:
    return page.get_by_test_id("bot-message").filter(has_text=text)


async def register_leader(page: Any) -> None:
    await choose(page, "demo-totruong")
    await say(page, "/start HUNG05")
    await expect(bot_says(page, "Đăng ký thành công")).to_have_count(1)
    await expect(bot_says(page, "Đăng ký thành công")).to_contain_text("tổ trưởng của Tổ dân phố Thạch Thang 3")


async def open_sample_form(page: Any) -> None:
    """Opens the sample form from the main menu (through the list of forms when the task has several)."""
    await press(page, "🌿 Vệ sinh môi trường, nếp sống văn minh")
    opened = re.compile(r"\(1/\d+\)|Chọn loại báo cáo")
    await expect(page.get_by_test_id("bot-message").filter(has_text=opened)).to_have_count(1)
    choice = page.get_by_test_id("bot-button").filter(has_text=FORM_TITLE)
    if await choice.count():
        await choice.last.click()
    await asks(page, 1)
    await expect(bot_says(page, "📝 " + FORM_TITLE)).to_have_count(1)


# --- the tests ------------------------------------------------------------------------------

async def test_leader_registers_and_files_the_sample_form(page: Any) -> None:
    await expect(page.get_by_test_id("simulator-banner")).to_contain_text(
        "Trình mô phỏng — không phải Telegram/Zalo thật")
    await expect(page.get_by_test_id("invite-codes")).to_contain_text("HUNG05")
    await register_leader(page)
    await open_sample_form(page)

    await press(page, "Hôm nay")
    await asks(page, 2)
    await say(page, "35")
    await asks(page, 3)
    await say(page, "20")
    await asks(page, 4)
    await press(page, "Quét dọn đường, kiệt hẻm")
    await expect(page.get_by_test_id("bot-button").filter(has_text="✅ Quét dọn đường, kiệt hẻm")).to_have_count(1)
    await press(page, "Khơi thông cống rãnh")
    await expect(page.get_by_test_id("bot-button").filter(has_text="✅ Khơi thông cống rãnh")).to_have_count(1)
    # The buttons of the older questions no longer work: they are greyed out.
    await expect(page.get_by_test_id("bot-button").filter(has_text="Hôm nay")).to_have_class(re.compile(r"\bold\b"))
    await press(page, "✔️ Xong")
    await asks(page, 5)
    await say(page, "120,5")
    await asks(page, 6)
    await press(page, "Có", exact=True)
    await asks(page, 7)

    # The location: the offline map, a landmark picked, then sent.
    await page.get_by_test_id("location-button").click()
    await expect(page.get_by_test_id("location-map")).to_be_visible()
    await page.locator('[data-testid="landmark"][data-name="Cầu Rồng"] circle').first.click()
    await expect(page.get_by_test_id("location-lat")).to_have_value("16.06110")
    await expect(page.get_by_test_id("location-lon")).to_have_value("108.22720")
    await page.get_by_test_id("location-send").click()
    await expect(page.get_by_test_id("location-map")).to_be_hidden()
    await expect(page.get_by_test_id("user-message").last).to_contain_text("📍 16.06110, 108.22720")
    await asks(page, 8)

    await press(page, "Tốt", exact=True)
    await asks(page, 9)
    await page.get_by_test_id("photo-input").set_input_files(
        files=[{"name": "sau-khi-don.png", "mimeType": "image/png", "buffer": tiny_png()}])
    await asks(page, 10)
    await press(page, "⏭ Bỏ qua")

    summary = last_bot(page)
    await expect(summary).to_contain_text("Kiểm tra lại báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»")
    for line in ("• Số người tham gia: 35 người", "• Số hộ tham gia: 20 hộ",
                 "• Hoạt động: Quét dọn đường, kiệt hẻm, Khơi thông cống rãnh",
                 "• Rác thu gom (kg): 120,5 kg", "• Còn điểm rác tồn đọng: Có",
                 "• Vị trí điểm rác: 📍 16.06110, 108.22720", "• Tự đánh giá: Tốt",
                 "• Ảnh sau khi dọn: 📷 đã gửi ảnh", "• Ghi chú: (không có)"):
        await expect(summary).to_contain_text(line)
    await press(page, "✅ Gửi báo cáo")
    done = bot_says(page, "Đã gửi báo cáo")
    await expect(done).to_have_count(1)
    await expect(done).to_contain_text("✅ Đã gửi báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp».")
    await expect(done).to_contain_text(re.compile(r"Mã báo cáo: \S+"))
    # Line breaks of the bot's text are kept on screen.
    assert await done.evaluate("n => getComputedStyle(n).whiteSpace") == "pre-wrap"
    assert await done.evaluate("n => n.getBoundingClientRect().height") > 60
    await done.evaluate("n => n.scrollIntoView({block: 'start'})")
    await page.screenshot(path=SCREENSHOT)


async def test_a_restart_in_the_middle_of_the_form_resumes_it(page: Any, server: AppProcess) -> None:
    await register_leader(page)
    await open_sample_form(page)
    await press(page, "Hôm nay")
    await asks(page, 2)
    await say(page, "35")
    await asks(page, 3)

    await server.kill()
    await expect(page.get_by_test_id("connection")).to_have_class(re.compile(r"\bdown\b"))
    await server.start()
    await expect(page.get_by_test_id("connection")).not_to_have_class(re.compile(r"\bdown\b"), timeout=10_000)
    await page.reload()
    await expect(page.get_by_test_id("messages")).to_have_attribute("data-state", "ready")
    await expect(page.get_by_test_id("current-persona")).to_have_text("Ông Nguyễn Văn Hùng")  # remembered
    await asks(page, 3)
    # What the person typed before the restart is still shown, in its place.
    typed = page.get_by_test_id("user-message").locator(".text")  # the text without the time
    await expect(typed.filter(has_text=re.compile(r"^35$"))).to_have_count(1)

    await say(page, "20")
    await asks(page, 4)
    await press(page, "Trồng cây, hoa")
    await expect(page.get_by_test_id("bot-button").filter(has_text="✅ Trồng cây, hoa")).to_have_count(1)
    await press(page, "✔️ Xong")
    await asks(page, 5)
    await press(page, "⏭ Bỏ qua")
    await asks(page, 6)
    await press(page, "Không", exact=True)
    await asks(page, 8, after_a_skip=True)  # the location question is skipped
    await press(page, "Khá", exact=True)
    await asks(page, 9, after_a_skip=True)
    await press(page, "⏭ Bỏ qua")
    await asks(page, 10, after_a_skip=True)
    await say(page, "Cần thêm xe thu gom rác")
    summary = last_bot(page)
    await expect(summary).to_contain_text("• Số người tham gia: 35 người")
    await expect(summary).to_contain_text("• Số hộ tham gia: 20 hộ")
    await press(page, "✅ Gửi báo cáo")
    await expect(bot_says(page, "Đã gửi báo cáo")).to_contain_text("Mã báo cáo:")


async def test_messages_pushed_to_the_user_appear_without_reloading(page: Any, server: AppProcess) -> None:
    await choose(page, "demo-canbo")
    await expect(page.get_by_test_id("bot-message")).to_have_count(0)
    await page.evaluate("window.__sameDocument = true")

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        # Something else makes the bot write to this user: only the page's long poll can show it.
        response = await client.post("/api/send", json={"user": "demo-canbo", "name": "Anh Phạm Minh Tuấn",
                                                        "text": "/help"})
        response.raise_for_status()
        pushed = response.json()["messages"]
        assert pushed and "Hướng dẫn sử dụng" in pushed[0]["text"]
        for message in pushed:
            bubble = page.locator(f'[data-testid="bot-message"][data-id="{message["id"]}"]')
            await expect(bubble).to_contain_text(message["text"], timeout=5_000)
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"

        # A reply to the page's own message comes back twice (the POST and the long poll): shown once.
        before = await page.get_by_test_id("bot-message").count()
        await say(page, "/menu")
        await expect(page.get_by_test_id("bot-message")).not_to_have_count(before)
        await page.wait_for_timeout(1_000)  # time for the long poll to bring the same replies again
        stored = (await client.get("/api/messages", params={"user": "demo-canbo", "after": 0})).json()["messages"]
    shown = await page.get_by_test_id("bot-message").evaluate_all("nodes => nodes.map(n => Number(n.dataset.id))")
    assert shown == [message["id"] for message in stored]
    assert len(stored) > len(pushed)


async def test_text_that_looks_like_html_is_shown_literally(page: Any) -> None:
    await choose(page, "demo-nguoidan")
    attack = "<img src=x onerror=alert(1)>"
    await say(page, attack)
    await expect(page.get_by_test_id("user-message").last).to_contain_text(attack)
    # A resident's text outside a form is offered as feedback, quoted back: as text, not markup.
    await expect(last_bot(page)).to_contain_text(f"«{attack}»")
    await expect(last_bot(page)).to_contain_text("như một phản ánh?")
    # The bot repeats a wrong invite code back: that text is not markup either.
    await say(page, "/start <b>XIN</b><i>")
    await expect(last_bot(page)).to_contain_text("Mã mời «<b>XIN</b><i>» không đúng")
    messages = page.get_by_test_id("messages")
    assert await messages.locator("img, b, i").count() == 0
    assert await page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    # Typed line breaks are kept.
    box = page.get_by_test_id("chat-input")
    await box.fill("dòng một")
    await box.press("Shift+Enter")
    await box.type("dòng hai")
    await page.get_by_test_id("send").click()
    shown = page.get_by_test_id("user-message").last
    await expect(shown).to_contain_text("dòng một\ndòng hai")


async def test_a_503_from_the_api_shows_its_vietnamese_message(page: Any) -> None:
    """When the database is down or the disk full the API answers 503 with a message: the page shows
    that message as it is (the body is the one bot.web builds), and the next send works again."""
    from bot.web import unavailable

    message = "Hệ thống tạm thời không kết nối được cơ sở dữ liệu. Vui lòng thử lại sau ít phút."
    outage = unavailable("database_unavailable", message)
    await choose(page, "demo-nguoidan")

    async def down(route: Any) -> None:
        await route.fulfill(status=503, content_type="application/json", body=outage.body)

    await page.route("**/api/send", down)
    await say(page, "xin chào")
    await expect(page.get_by_test_id("notice").last).to_have_text(message)
    await page.unroute("**/api/send")
    await say(page, "xin chào")
    await expect(last_bot(page)).to_contain_text("Bạn muốn làm gì?")
