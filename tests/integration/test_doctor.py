"""`totruong doctor` on a good and on a broken setup: what it checks and what it tells the operator
to fix, in Vietnamese (app.language) or English (--lang en). Bot tokens are checked against the
fake Bot API servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app as cli
from models.db import upgrade_sync
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_api import FakeZaloApi

ROOT = Path(__file__).resolve().parents[2]


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TOTRUONG_")},
            "TOTRUONG_DATABASE__URL": f"sqlite+aiosqlite:///{folder}/site.db",
            "TOTRUONG_APP__DATA_DIR": str(folder / "data"), **extra}


@contextlib.asynccontextmanager
async def _telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _doctor(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["doctor", *args], env=env)
    return result.exit_code, result.output.splitlines()


async def test_a_good_setup(tmp_path: Path) -> None:
    env = _env(tmp_path)
    loaded = await asyncio.to_thread(CliRunner().invoke, cli, ["demo"], env=env)
    assert loaded.exit_code == 0, loaded.output
    async with _telegram() as telegram, FakeZaloApi() as zalo:
        env |= {"TOTRUONG_TELEGRAM__TOKEN": telegram.token, "TOTRUONG_TELEGRAM__API_URL": telegram.url,
                "TOTRUONG_ZALO__TOKEN": zalo.token, "TOTRUONG_ZALO__API_URL": zalo.url,
                "TOTRUONG_WEB__PUBLIC_URL": "https://totruong.example.vn"}
        status, lines = await _doctor(env)
        assert [c.method for c in telegram.calls] == ["getMe"] and [c.method for c in zalo.calls] == ["getMe"]
    assert status == 0, lines
    assert lines[0] == "✓ Cấu hình đọc được."
    assert "✓ Biểu mẫu: 12 mẫu trong" in lines[1]
    assert any(line.startswith("✓ Cơ sở dữ liệu") and "đã ở phiên bản mới nhất" in line for line in lines)
    assert "✓ Đơn vị: Thành phố Đà Nẵng (48); 1 Thành phố, 3 Phường/Xã, 10 Tổ dân phố/Thôn." in lines
    green = [line for line in lines if line.startswith("✓ Chiến dịch “Ngày Chủ nhật Xanh - Sạch - Đẹp”")]
    assert len(green) == 1 and re.fullmatch(
        r"✓ Chiến dịch “Ngày Chủ nhật Xanh - Sạch - Đẹp”: áp dụng cho Thành phố Đà Nẵng; "
        r"lần nhắc tới: \d\d/\d\d/20\d\d 19:00\.", green[0]), green  # Saturday evening, the day before
    assert "✓ Telegram: mã bot hợp lệ (totruong_test_bot)." in lines
    assert "✓ Zalo: mã bot hợp lệ (bot.ToTruongFake)." in lines
    assert "✓ Địa chỉ công khai: https://totruong.example.vn." in lines
    assert lines[-1] == "Sẵn sàng: không có lỗi, 0 cảnh báo."
    assert not any(line.startswith(("✗", "!")) for line in lines)


async def test_a_broken_setup_says_what_to_fix(tmp_path: Path) -> None:
    env = _env(tmp_path, TOTRUONG_DATABASE__AUTO_MIGRATE="false")
    await asyncio.to_thread(upgrade_sync, env["TOTRUONG_DATABASE__URL"], "0009")  # one migration behind, no units
    async with _telegram() as telegram:
        env |= {"TOTRUONG_TELEGRAM__TOKEN": "999:not-the-token", "TOTRUONG_TELEGRAM__API_URL": telegram.url,
                "TOTRUONG_TELEGRAM__MODE": "webhook",
                "TOTRUONG_WEB__PUBLIC_URL": "http://totruong.example.vn"}
        status, lines = await _doctor(env)
    assert status == 1
    text = "\n".join(lines)
    assert "✗ Cơ sở dữ liệu ở phiên bản 0009, phần mềm cần" in text
    assert "→ Sao lưu (totruong backup FILE.tar.gz) rồi chạy: totruong db upgrade." in text
    assert "✗ Telegram: mã bot bị từ chối (Unauthorized).\n    → Đặt lại mã bot đúng trong biến môi trường " \
           "TOTRUONG_TELEGRAM__TOKEN." in text
    assert "✗ web.public_url = http://totruong.example.vn không dùng https." in text
    assert "✗ Telegram: chế độ webhook mà chưa có địa chỉ công khai." in text
    assert "✗ Telegram: webhook chưa có mã bí mật." in text
    assert lines[-1] == "5 lỗi cần sửa, 0 cảnh báo."

    await asyncio.to_thread(upgrade_sync, env["TOTRUONG_DATABASE__URL"])  # migrated, still no units
    status, lines = await _doctor({**env, "TOTRUONG_TELEGRAM__TOKEN": ""})
    text = "\n".join(lines)
    assert status == 1
    assert "✗ Chưa có đơn vị hành chính nào.\n    → Chạy: totruong units import --province 48" in text

    # In English, and with a campaign naming a unit that does not exist (units now imported).
    imported = await asyncio.to_thread(CliRunner().invoke, cli, ["units", "import", "--province", "48"], env=env)
    assert imported.exit_code == 0, imported.output
    config = tmp_path / "config.toml"
    shipped = (ROOT / "config.toml").read_text(encoding="utf-8")
    config.write_text(shipped.replace('key = "chu_nhat_xanh"\n', 'key = "chu_nhat_xanh"\nunit = "DNG"\n'),
                      encoding="utf-8")
    env = _env(tmp_path, TOTRUONG_CONFIG=str(config), TOTRUONG_APP__FORMS_DIR=str(ROOT / "forms"),
               TOTRUONG_APP__LOCALES_DIR=str(ROOT / "locales"))
    status, lines = await _doctor(env, "--lang", "en")
    assert status == 1
    text = "\n".join(lines)
    assert "✓ Units: Thành phố Đà Nẵng (48); 1 Thành phố, 94 Phường/Xã." in text
    assert "! No residential groups yet: nobody can be invited into a group." in text
    assert ("✗ Campaign “Ngày Chủ nhật Xanh - Sạch - Đẹp”: setting campaigns.defaults[0].unit (chu_nhat_xanh) = 'DNG': "
            "no unit has this code") in text
    assert "→ Fix campaigns.defaults[0] in config.toml." in text


async def test_a_refused_setting_is_named(tmp_path: Path) -> None:
    status, lines = await _doctor(_env(tmp_path, TOTRUONG_WEB__PORT="eighty"), "--lang", "en")
    assert status == 1
    assert lines[0].startswith("✗ Configuration: ")
    assert "setting web.port (from environment variable TOTRUONG_WEB__PORT)" in lines[0]
    assert lines[1].startswith("    → Fix the key named in config.toml or its environment variable")
