"""The conversation engine: registration, menus by role, global commands mid-form, stale and forged
buttons, opt-out, odd input, and a restart that resumes the form where it was."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.bootstrap import build
from models.repos import Repo
from models.tables import AuditLog, Invite, Person, Report, RoleAssignment
from tests.helpers import Chat

GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"


async def make_invite(app, *, unit: str, role: str, uses: int = 1, days: int | None = 30) -> str:
    async with app.sessions() as session, session.begin():
        repo = Repo(session)
        found = await repo.unit_by_code(unit)
        expires = app.clock.now() + timedelta(days=days) if days else None
        invite = await repo.create_invite(unit_id=found.id, role=role, max_uses=uses, expires_at=expires)
        return invite.code


async def test_someone_without_a_role_is_told_how_to_join(app) -> None:
    chat = Chat(app, "stranger")
    answer = await chat.send("/start")
    assert "Xin chào! Tôi là trợ lý ảo «Tổ trưởng»" in answer
    assert "nhập mã mời" in answer and "113" in answer and "115" in answer
    assert chat.labels == []
    assert "nhập mã mời" in await chat.send("tôi muốn báo cáo")


async def test_wrong_used_up_and_expired_codes_each_get_their_message(app, clock) -> None:
    one_use = await make_invite(app, unit="HC-HC7", role="leader", uses=1)
    short = await make_invite(app, unit="HC-HC7", role="deputy", uses=1, days=1)
    first, second = Chat(app, "first"), Chat(app, "second")
    assert "Mã mời «ZZZZ99» không đúng" in await first.send("/start ZZZZ99")
    assert "Đăng ký thành công! Bạn là tổ trưởng của Tổ dân phố Hải Châu 7" in await first.send(one_use.lower())
    assert f"Mã mời «{one_use}» đã được dùng hết" in await second.send(f"/start {one_use}")
    clock.advance(days=2)
    assert f"Mã mời «{short}» đã hết hạn từ ngày" in await second.send(short)
    assert "Bạn đã là tổ trưởng của Tổ dân phố Hải Châu 7 rồi" in await first.send(f"/start {one_use}")
    async with app.sessions() as session:
        invite = (await session.scalars(select(Invite).where(Invite.code == one_use))).one()
        audits = (await session.scalars(select(AuditLog).where(AuditLog.action == "register"))).all()
    assert invite.used == 1 and len(audits) == 1


async def test_menus_depend_on_the_role(app) -> None:
    leader = Chat(app, "demo-totruong-2")
    await leader.send("/menu")
    assert leader.labels == ["🚨 Báo tin khẩn", "🛡️ An ninh trật tự", "🌿 Vệ sinh môi trường, nếp sống văn minh",
                             "🤝 Hỗ trợ giảm nghèo", "🗳️ Dân chủ cơ sở và phản ánh", "🗓️ Báo cáo tháng", "☰ Thêm…"]
    await leader.press("☰ Thêm…")
    assert "📜 Báo cáo của tôi" in leader.labels
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    assert "🌿 Vệ sinh môi trường, nếp sống văn minh" not in resident.labels
    assert "❓ Hướng dẫn" in resident.labels
    official = Chat(app, "demo-canbo")
    await official.send("/menu")
    assert "🆘 Tin khẩn đang mở" in official.labels and "📥 Báo cáo chưa xử lý" in official.labels
    assert "🚨 Báo tin khẩn" not in official.labels


async def test_a_resident_cannot_open_a_leader_form_even_with_a_forged_button(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    assert "chỉ dành cho tổ trưởng, tổ phó" in await resident.press_id("m.f.ve_sinh_chu_nhat_xanh")
    assert "chỉ dành cho tổ trưởng, tổ phó" in await resident.press_id("m.t.ve_sinh")
    assert "Nút này không hợp lệ" in await resident.press_id("m.zzz")
    assert "Nút này đã cũ" in await resident.press_id("v9.o.tot")
    assert "Nút này đã cũ" in await resident.press_id("' OR 1=1 --")


async def test_commands_in_the_middle_of_a_form_lose_nothing(app) -> None:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    await chat.press("Hôm nay")
    assert "Có bao nhiêu người tham gia?" in chat.text
    help_text = await chat.send("/help")
    assert "Hướng dẫn sử dụng" in help_text and "Câu 2. Có bao nhiêu người tham gia?" in help_text
    leave = await chat.send("/menu")
    assert "Bạn đang điền dở «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»" in leave
    assert "Câu 2. Có bao nhiêu người tham gia?" in await chat.press("Tiếp tục điền")
    await chat.send("/lang")
    english = await chat.press("English")
    assert "Switched to English." in english and "Question 2." in english
    await chat.send("/lang vi")
    assert "Không có lệnh /xyz" in await chat.send("/xyz")
    assert "Bao nhiêu hộ" in await chat.send("40")  # the form went on at the same step
    # An old menu button pressed mid-form asks before dropping the form.
    assert "Bạn đang điền dở" in await chat.press_id("m.my")
    assert "Đã hủy, báo cáo chưa được gửi." in await chat.press("Bỏ, về menu chính")
    # /huy before any answer cancels straight away (with answers it asks: test_conversation_redesign).
    await chat.open_form("Vệ sinh môi trường", GREEN)
    assert "Đã hủy việc đang làm. Không có gì được gửi." in await chat.send("/huy")
    async with app.sessions() as session:
        assert (await session.scalars(select(Report))).all() == []


async def test_stop_is_asked_first_and_start_turns_messages_back_on(app) -> None:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    assert "Tắt thông báo và lời nhắc?" in await chat.send("/stop")
    assert "Bạn đã tắt thông báo và lời nhắc" in await chat.press("🔕 Tắt")
    assert "Câu 1. Tổ mình ra quân ngày nào?" in chat.text  # the form is still there
    async with app.sessions() as session:
        who = await Repo(session).find_who("sim", "demo-totruong-2")
    assert who.opted_out
    await chat.send("/huy")
    assert "Bạn sẽ nhận lại thông báo" in await chat.send("bắt đầu")
    await chat.send("DỪNG")
    await chat.press("🔕 Tắt")
    assert "Bạn sẽ nhận lại thông báo" in await chat.send("/start")


async def test_odd_input_gets_a_helpful_answer(app) -> None:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    await chat.press("Hôm nay")
    for odd in ["", "   ", "\x00\x07", "🌿🌿🌿", "<script>alert(1)</script>", "x" * 4096, "1" * 400]:
        answer = await chat.send(odd)
        assert "Câu 2. Có bao nhiêu người tham gia?" in answer, odd[:20]
    assert "Bao nhiêu hộ" in await chat.send("12")


async def test_a_restart_in_the_middle_of_a_form_resumes_it(app, settings, clock) -> None:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    await chat.press("Hôm nay")
    await chat.send("25")
    await chat.send("12")
    await app.stop()
    restarted = build(settings, clock=clock)
    try:
        again = Chat(restarted, "demo-totruong-2")
        assert "Câu 4. Tổ đã làm những việc gì?" in await again.send("/help")
        assert "Không nhận ra lựa chọn" in await again.send("7")  # there are five options
        await again.press("Phát quang")
        assert "Thu gom" in await again.press("Xong")
    finally:
        await restarted.stop()


async def test_the_same_user_twice_at_once_is_handled_in_order(app) -> None:
    import asyncio

    from handlers.messages import Incoming

    await Chat(app, "demo-totruong-2").send("/menu")
    results = await asyncio.gather(*[
        app.receive(Incoming(channel="sim", user_id="demo-totruong-2", text=str(n))) for n in range(5)
    ])
    assert all(result.replies for result in results)
    async with app.sessions() as session:
        who = await Repo(session).find_who("sim", "demo-totruong-2")
    assert who.version == 6


async def test_a_resident_moves_to_another_group(app) -> None:
    code = await make_invite(app, unit="ST-MT6", role="resident", uses=0)
    chat = Chat(app, "demo-nguoidan")
    assert "Bạn là người dân của Tổ dân phố Mân Thái 6" in await chat.send(code)
    async with app.sessions() as session:
        roles = (await session.scalars(select(RoleAssignment).join(Person).where(
            Person.name == "Chị Lê Thị Lan", RoleAssignment.active.is_(True)))).all()
    assert len(roles) == 1
