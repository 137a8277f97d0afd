"""Small holes of issue 12: a superscript digit in a button id, a NaN location, an invite code
pasted with fullwidth or zero-width characters, configuration mistakes at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from models.tables import Feedback
from tests.helpers import Chat
from tests.integration.test_outages import client_for


async def test_a_button_id_with_a_superscript_digit_is_refused_clearly(app) -> None:
    official = Chat(app, "demo-canbo")
    answer = await official.press_id("m.rv.²")
    assert "Nút này không hợp lệ." in answer and "Xin lỗi, đã có lỗi xảy ra" not in answer


async def test_a_nan_location_is_a_422_not_a_500(app) -> None:
    async with client_for(app) as client:
        for bad in ("NaN", "Infinity"):
            body = '{"user": "demo-totruong", "location": {"latitude": ' + bad + ', "longitude": 108.2}}'
            answer = await client.post("/api/send", content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 422, bad


async def test_an_invite_code_with_fullwidth_or_zero_width_characters_is_read(app) -> None:
    fullwidth = Chat(app, "khach-fw")
    assert "Đăng ký thành công" in await fullwidth.send("/start ＨＵＮＧ０５")
    zero_width = Chat(app, "khach-zw")
    assert "Đăng ký thành công" in await zero_width.send("/start TT3\u200bDAN\u2060")


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"TOTRUONG_APP__FORMS_DIR": "{tmp}/nowhere"}, "app.forms_dir: {tmp}/nowhere is not a folder"),
        ({"TOTRUONG_APP__FORMS_DIR": "{tmp}"}, "app.forms_dir: {tmp} has no .toml form files"),
        ({"TOTRUONG_APP__FORMS_DIR": "{tmp}/bad"}, "{tmp}/bad/x.toml: not valid TOML"),
        ({"TOTRUONG_WEB__PORT": "tám nghìn"}, "setting web.port (from environment variable TOTRUONG_WEB__PORT)"),
        ({"TOTRUONG_OUTBOX__RATES": '{"telegram": 0}'}, "outbox.rates.telegram must be a positive number"),
    ],
)
def test_a_configuration_mistake_stops_start_up_with_one_line_not_a_traceback(
    tmp_path: Path, environment: dict[str, str], expected: str
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.toml").write_text("key = \n", encoding="utf-8")
    env = {**os.environ, "TOTRUONG_APP__DATA_DIR": str(tmp_path / "data"), "TOTRUONG_WEB__PORT": "0"}
    env.update({key: value.replace("{tmp}", str(tmp_path)) for key, value in environment.items()})
    done = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "run"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert done.returncode == 2, done.stderr
    assert expected.replace("{tmp}", str(tmp_path)) in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_feedback_location_at_zero_or_outside_the_area_is_refused_and_the_feedback_kept(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    await resident.press("💬 Gửi phản ánh")
    await resident.send("Cống trước nhà số 8 bị nghẹt, nước tràn ra đường")
    answer = await resident.location(0.0, 0.0)
    assert "0, 0: điện thoại chưa xác định được chỗ bạn đang đứng" in answer
    assert "Đã có: nội dung." in answer and resident.has("Gửi phản ánh")  # kept, asked again
    answer = await resident.location(21.0285, 105.8542)  # Hà Nội
    assert "Vị trí 21.0285, 105.8542 nằm ngoài Thành phố Đà Nẵng" in answer
    assert "Đã có: nội dung." in answer
    answer = await resident.location(16.0544, 108.2022)
    assert "Đã có: nội dung, vị trí." in answer
    assert "Đã gửi phản ánh" in await resident.press("Gửi phản ánh")
    async with app.sessions() as session:
        saved = (await session.scalars(select(Feedback))).all()
    assert [(f.text, f.location) for f in saved] == [
        ("Cống trước nhà số 8 bị nghẹt, nước tràn ra đường", {"lat": 16.0544, "lon": 108.2022})]


async def test_a_report_location_at_zero_is_refused_like_one_outside_the_area(app) -> None:
    leader = Chat(app, "demo-totruong-2")
    await leader.send("/menu")
    await leader.press("🚨")
    assert "Ở đâu?" in await leader.press("Cháy, nổ")
    answer = await leader.location(0.0, 0.0)
    assert "0, 0: điện thoại chưa xác định được chỗ bạn đang đứng" in answer, answer
    assert "Ở đâu?" in answer  # the same question again, the choice kept
    assert "Mô tả ngắn" in await leader.location(16.0544, 108.2022)
