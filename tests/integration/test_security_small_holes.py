"""Small holes of issue 12: a superscript digit in a button id, a NaN location, an invite code
pasted with fullwidth or zero-width characters."""

from __future__ import annotations

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
