"""At a phone's 412×915, a leader files an urgent incident in the simulator and sees its code and
the 113/114/115 line without scrolling: the menu is not posted again under the confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import AppProcess
from tests.e2e.test_simulator import bot_says, choose, last_bot, press, say

try:
    from playwright.async_api import expect
except ImportError:  # skipped (or failed, when required) by the fixture in conftest.py
    expect = None

pytestmark = pytest.mark.browser

SCREEN = {"width": 412, "height": 915}
SCREENSHOT = "/tmp/simulator-urgent-412.png"


async def box(locator: Any) -> dict[str, float]:
    return await locator.evaluate("n => { const r = n.getBoundingClientRect(); "
                                  "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }")


async def visible_on_screen(page: Any, locator: Any) -> bool:
    """True when the element lies inside the viewport and inside the visible part of the message list
    (below the header, above the input bar), as a person sees it without scrolling."""
    shown, area = await box(locator), await box(page.get_by_test_id("messages"))
    top, bottom = max(0.0, area["top"]), min(float(SCREEN["height"]), area["bottom"])
    inside_height = shown["top"] >= top and shown["bottom"] <= bottom
    return inside_height and shown["left"] >= 0 and shown["right"] <= SCREEN["width"]


async def test_the_urgent_confirmation_is_on_screen_without_scrolling(browser: Any, server: AppProcess) -> None:
    expect.set_options(timeout=8_000)
    context = await browser.new_context(viewport=SCREEN, device_scale_factor=2, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh")
    page = await context.new_page()
    try:
        await page.goto(server.url + "/")
        await choose(page, "demo-totruong")
        await say(page, "/start HUNG05")
        await expect(bot_says(page, "Đăng ký thành công")).to_have_count(1)
        await press(page, "🚨 Báo tin khẩn")
        await expect(last_bot(page)).to_contain_text("Chuyện gì đang xảy ra?")
        await press(page, "Cháy, nổ")
        await expect(last_bot(page)).to_contain_text("Ở đâu?")
        await page.get_by_test_id("location-button").click()
        await page.locator('[data-testid="landmark"][data-name="Cầu Rồng"] circle').first.click()
        await page.get_by_test_id("location-send").click()
        await expect(last_bot(page)).to_contain_text("Mô tả ngắn")
        await say(page, "Cháy nhà số 12 kiệt 45, khói nhiều")
        done = bot_says(page, "Đã chuyển tin khẩn")
        await expect(done).to_have_count(1)
        await expect(done).to_contain_text(re.compile(r"Mã: [A-Z0-9]{6}"))
        await expect(done).to_contain_text("113 Công an · 114 Cứu hỏa · 115 Cấp cứu")
        await page.wait_for_timeout(300)  # let the page finish scrolling to the newest message
        await page.screenshot(path=SCREENSHOT)
        assert await visible_on_screen(page, done), "the confirmation is not fully on screen"
        # The confirmation is the last message: no menu was posted under it, only its ☰ Menu button.
        assert await last_bot(page).inner_text() == await done.inner_text()
        menu = page.get_by_test_id("bot-button").filter(has_text="☰ Menu").last
        assert await visible_on_screen(page, menu)
    finally:
        await context.close()
