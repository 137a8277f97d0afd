"""People's rights over their data on the simulator page in a real browser, with the app as
shipped (the privacy notice asked in the chat): agreeing, reading /dulieu, downloading the file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import AppProcess
from tests.e2e.test_simulator import bot_says, choose, last_bot, press, say

try:
    from playwright.async_api import expect
except ImportError:  # skipped (or failed, when required) by the fixture in conftest.py
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[AppProcess]:
    """The real app with the privacy notice on, as config.toml ships it."""
    app = AppProcess(tmp_path, [])
    app.env["TOTRUONG_PRIVACY__ASK_CONSENT"] = "true"
    try:
        await app.start()
        yield app
    finally:
        await app.stop()


async def test_a_leader_agrees_reads_their_data_and_downloads_it(page: Any, server: AppProcess) -> None:
    await choose(page, "demo-totruong")
    await say(page, "/start HUNG05")
    await expect(last_bot(page)).to_contain_text("🔒 Trước khi tham gia, xin bạn đọc và đồng ý:")
    await expect(bot_says(page, "Đăng ký thành công")).to_have_count(0)
    await press(page, "✅ Đồng ý")
    await expect(bot_says(page, "Đăng ký thành công")).to_have_count(1)
    await say(page, "/dulieu")
    await expect(last_bot(page)).to_contain_text("Vai trò: Tổ trưởng — Tổ dân phố Thạch Thang 3")
    await press(page, "📄 Gửi file")
    link = last_bot(page).locator("a.doc")
    await expect(link).to_have_count(1)
    href = await link.get_attribute("href")
    async with httpx.AsyncClient(base_url=server.url) as client:
        mine = await client.get(href)
        theirs = await client.get(href.replace("user=demo-totruong", "user=demo-nguoidan"))
    assert mine.status_code == 200 and json.loads(mine.content)["roles"][0]["unit"] == "Tổ dân phố Thạch Thang 3"
    assert theirs.status_code == 404  # the file is the person's only
