"""At a phone's 412×915, an official asks for today's summary in the simulator after a leader's
urgent incident: the headline comes first with [📋 Xem chi tiết], then each chart as its own
picture, shown across the whole width of the screen (the PNG is 1080 pixels wide)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AppProcess
from tests.e2e.test_confirmation_in_view import SCREEN, box
from tests.e2e.test_simulator import bot_says, choose, last_bot, press, say

try:
    from playwright.async_api import expect
except ImportError:  # skipped (or failed, when required) by the fixture in conftest.py
    expect = None

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/simulator-summary-412.png")


async def test_the_summary_chart_fills_the_width_of_a_phone(browser: Any, server: AppProcess) -> None:
    expect.set_options(timeout=15_000)
    context = await browser.new_context(viewport=SCREEN, device_scale_factor=2, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh")
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        # Something to count: a leader of Phường Hải Châu reports a fire.
        await choose(page, "demo-totruong")
        await say(page, "/start HUNG05")
        await expect(bot_says(page, "Đăng ký thành công")).to_have_count(1)
        await press(page, "🚨 Báo tin khẩn")
        await press(page, "Cháy, nổ")
        await expect(last_bot(page)).to_contain_text("Ở đâu?")
        await say(page, "Kiệt 45 Hà Huy Tập")
        await expect(last_bot(page)).to_contain_text("Mô tả ngắn")
        await say(page, "Cháy nhà số 12, khói nhiều")
        await expect(bot_says(page, "Đã chuyển tin khẩn")).to_have_count(1)
        # The ward's official asks for today's summary.
        await choose(page, "demo-canbo")
        await say(page, "/menu")
        await press(page, "📊 Tóm tắt")
        await press(page, "Phường Hải Châu (toàn địa bàn)")
        await press(page, "Hôm nay")
        headline = bot_says(page, "📊 Phường Hải Châu · Ngày")
        await expect(headline).to_have_count(1)
        assert len((await headline.locator(".text").inner_text()).splitlines()) <= 5
        await expect(page.get_by_test_id("bot-button").filter(has_text="📋 Xem chi tiết")).to_have_count(1)
        charts = page.get_by_test_id("bot-message").filter(has_text=re.compile(r"📈 Biểu đồ \d/\d"))
        await expect(charts.first).to_be_visible()
        count = await charts.count()
        assert count >= 2  # the reports by ward and the urgent incidents: one picture each
        for n in range(count):
            image = charts.nth(n).locator("img")
            await expect(image).to_have_count(1)
            await image.evaluate("i => i.decode()")
            natural = await image.evaluate("i => i.naturalWidth")
            shown = await box(image)
            width = shown["right"] - shown["left"]
            assert natural >= 1080 and width >= 0.9 * SCREEN["width"], (n, natural, width)
            assert shown["left"] >= 0 and shown["right"] <= SCREEN["width"]
        await charts.first.scroll_into_view_if_needed()
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(SCREENSHOT))
        # The whole text behind the headline.
        await page.get_by_test_id("bot-button").filter(has_text="📋 Xem chi tiết").last.click()
        details = bot_says(page, "So với: Ngày")
        await expect(details).to_have_count(1)
        await expect(details).to_contain_text("📊 Tóm tắt: Phường Hải Châu")
        await expect(details).to_contain_text("🚨 Tin khẩn: 1")
    finally:
        await context.close()
