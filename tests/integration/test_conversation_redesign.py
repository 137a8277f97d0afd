"""The conversation as a person meets it (issue 13, items 6–11): stopping is deliberate and asked,
"Đúng" never stops anything, the menu is compact, the confirmation stays in view with its next
steps, destructive taps are confirmed, and a resident's typed complaint is kept as feedback."""

from __future__ import annotations

from sqlalchemy import select

from models.repos import Repo
from models.tables import Feedback, Report
from tests import images
from tests.helpers import Chat
from tests.integration.test_reports import button, inbox, leader_files_an_incident

GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"
PNG = images.png(color=(10, 120, 200, 128))


async def opted_out(app, user: str) -> bool:
    async with app.sessions() as session:
        who = await Repo(session).find_who("sim", user)
    assert who is not None
    return who.opted_out


def last_row(chat: Chat) -> list[str]:
    return [button.label for button in chat.replies[-1].buttons[-1]]


async def test_dung_never_stops_anything(app) -> None:
    leader = Chat(app, "demo-totruong-2")
    await leader.send("/menu")
    await leader.open_form("Vệ sinh môi trường", GREEN)
    # Inside a form's question, "DỪNG" and "Đúng" are answers (here: not a date).
    assert "Không đọc được ngày «DỪNG»" in await leader.send("DỪNG")
    assert "Không đọc được ngày «Đúng»" in await leader.send("Đúng")
    assert "Câu 1. Tổ mình ra quân ngày nào?" in leader.text
    resident = Chat(app, "demo-nguoidan")
    for word in ("Đúng", "dung", "Dũng", "DUNG"):
        answer = await resident.send(word)
        assert "Tắt thông báo" not in answer and "đã tắt" not in answer, word
    assert not await opted_out(app, "demo-nguoidan") and not await opted_out(app, "demo-totruong-2")


async def test_stop_asks_says_what_still_arrives_and_leaves_a_way_back(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("/menu")
    assert "🔕 Dừng nhận tin" in resident.labels
    asked = await resident.send("DỪNG")
    assert "Tắt thông báo và lời nhắc?" in asked
    assert "Bạn vẫn nhận trả lời cho báo cáo, phản ánh của mình." in asked
    assert resident.labels == ["🔕 Tắt", "Không"]
    await resident.press("Không")
    assert not await opted_out(app, "demo-nguoidan")
    await resident.send("stop")
    done = await resident.press("🔕 Tắt")
    assert "Bạn đã tắt thông báo và lời nhắc." in done and "bấm «🔔 Nhận tin lại» hoặc gõ BẮT ĐẦU" in done
    assert last_row(resident) == ["🔔 Nhận tin lại", "☰ Menu"]
    assert await opted_out(app, "demo-nguoidan")
    await resident.send("/menu")
    assert "🔔 Nhận tin lại" in resident.labels and "🔕 Dừng nhận tin" not in resident.labels
    assert "Bạn sẽ nhận lại thông báo" in await resident.press("🔔 Nhận tin lại")
    assert not await opted_out(app, "demo-nguoidan")
    # An official is told that urgent matters still reach them; English START resumes.
    official = Chat(app, "demo-canbo")
    assert "tin khẩn cần cán bộ xử lý" in await official.send("/stop")
    await official.press("🔕 Tắt")
    assert await opted_out(app, "demo-canbo")
    assert "Bạn sẽ nhận lại thông báo" in await official.send("START")
    assert not await opted_out(app, "demo-canbo")


async def test_menus_are_compact_with_the_urgent_button_alone_first(app) -> None:
    for user in ("demo-totruong-2", "demo-canbo", "demo-nguoidan", "demo-topho"):
        chat = Chat(app, user)
        await chat.send("/menu")
        assert len(chat.labels) <= 7, (user, chat.labels)
        first_row = [button.label for button in chat.replies[-1].buttons[0]]
        if user in ("demo-totruong-2", "demo-topho"):
            assert first_row == ["🚨 Báo tin khẩn"]


async def test_the_urgent_confirmation_stays_in_view_and_the_official_gets_next_steps(app) -> None:
    leader, code = await leader_files_an_incident(app)
    assert f"Mã: {code}" in leader.text and "113 Công an · 114 Cứu hỏa · 115 Cấp cứu" in leader.replies[-1].text
    assert leader.labels == ["☰ Menu"]  # no menu reposted under the confirmation
    alert = (await inbox(app, "demo-canbo"))[0]
    official = Chat(app, "demo-canbo")
    assert "«Báo tin khẩn» 22/11 «Cháy, nổ»: đã tiếp nhận" in await official.press_id(button(alert, "Đã tiếp nhận"))
    assert last_row(official) == ["🔧 Đang xử lý", "✔️ Đã xử lý", "↩️ Trả lại", "☰ Menu"]
    await official.press("Đang xử lý")
    assert last_row(official)[-1] == "☰ Menu" and "✔️ Đã xử lý" in last_row(official)


async def test_a_returned_report_comes_with_its_correction_button(app) -> None:
    leader = Chat(app, "demo-topho")
    await leader.send("/menu")
    await leader.open_form("Vệ sinh môi trường", GREEN)
    await leader.press("Hôm nay")
    for answer in ("25", "12"):
        await leader.send(answer)
    while "Gửi báo cáo" not in " ".join(leader.labels):
        if leader.has("Bỏ qua"):
            await leader.press("Bỏ qua")
        elif leader.has("Không"):
            await leader.press("Không")
        elif leader.has("Xong"):
            await leader.press(leader.labels[0])
            await leader.press("Xong")
        elif leader.buttons and leader.buttons[0].id.startswith("v") and ".o." in leader.buttons[0].id:
            await leader.press(leader.labels[0])
        else:
            await leader.send("10")
    done = await leader.press("Gửi báo cáo")
    assert "Mã" in done and last_row(leader) == ["🔎 Xem báo cáo", "☰ Menu"]
    async with app.sessions() as session:
        report = (await session.scalars(select(Report))).one()
    official = Chat(app, "demo-canbo")
    await official.press_id(f"m.ret.{report.id}")
    await official.send("Thiếu số hộ tham gia")
    told = (await inbox(app, "demo-topho"))[-1]
    assert "Lý do: Thiếu số hộ tham gia" in told["text"]
    assert "✏️ Sửa báo cáo" in [b["label"] for row in told["buttons"] for b in row]


async def test_cancelling_a_form_with_answers_is_asked_first(app) -> None:
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    await chat.open_form("Vệ sinh môi trường", GREEN)
    await chat.press("Hôm nay")
    asked = await chat.press("✖️ Hủy")
    assert f"Hủy «{GREEN}»? Các câu đã trả lời sẽ mất." in asked
    assert "Câu 2. Có bao nhiêu người tham gia?" in await chat.press("Tiếp tục điền")
    assert "Hủy «" in await chat.send("/huy")
    assert "Đã hủy, báo cáo chưa được gửi." in await chat.press("🗑 Hủy, bỏ câu trả lời")
    assert chat.labels[-1] == "☰ Thêm…"  # back at the main menu
    async with app.sessions() as session:
        assert (await session.scalars(select(Report))).all() == []


async def test_a_complaint_typed_outside_a_form_becomes_feedback(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    assert "Bạn muốn làm gì?" in await resident.send("xin chào")  # a greeting is not a complaint
    complaint = "Cống trước nhà số 8 bị nghẹt, nước tràn ra đường"
    offered = await resident.send(complaint)
    assert "Gửi nội dung này cho tổ trưởng như một phản ánh?" in offered and complaint in offered
    assert resident.labels == ["✅ Gửi", "✏️ Sửa", "Không"]
    assert "Được, chưa gửi gì" in await resident.press("Không")
    async with app.sessions() as session:
        assert (await session.scalars(select(Feedback))).all() == []
    # [Sửa] opens the feedback form with the text as its draft.
    await resident.send(complaint)
    draft = await resident.press("✏️ Sửa")
    assert "Đã có: nội dung." in draft
    await resident.photo(PNG, "image/png")
    assert "Đã gửi phản ánh" in await resident.press("Gửi phản ánh")
    # [Gửi] sends it as it is.
    await resident.send("Đèn đường kiệt 45 tắt từ tối qua")
    assert "Đã gửi phản ánh" in await resident.press("✅ Gửi")
    assert resident.labels[-1] == "☰ Menu"
    async with app.sessions() as session:
        texts = [f.text for f in (await session.scalars(select(Feedback).order_by(Feedback.id))).all()]
    assert texts == [complaint, "Đèn đường kiệt 45 tắt từ tối qua"]


async def test_the_offer_to_send_typed_text_gives_way_to_anything_else(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    await resident.send("Rác đổ ở đầu kiệt 45 mấy hôm nay")
    assert "như một phản ánh?" in resident.text
    assert "Hướng dẫn sử dụng" in await resident.send("/help")  # no "Bạn đang làm dở…"
    await resident.send("Rác đổ ở đầu kiệt 45 mấy hôm nay")
    answer = await resident.press_id("m.nt")
    assert "Bạn đang làm dở" not in answer and resident.labels[-1] == "☰ Menu"
    await resident.send("Rác đổ ở đầu kiệt 45 mấy hôm nay")
    assert "Không có lệnh /abc" in await resident.send("/abc") and resident.labels == ["☰ Menu"]


async def test_after_answering_feedback_the_leader_sees_the_others_waiting(app) -> None:
    resident = Chat(app, "demo-nguoidan")
    for text in ("Đèn đường kiệt 45 tắt từ tối qua", "Rác đổ ở đầu kiệt 12 ba ngày nay"):
        await resident.send(text)
        await resident.press("✅ Gửi")
    leader = Chat(app, "demo-topho")  # deputy of Thạch Thang 3
    await leader.send("/menu")
    listing = await leader.press("📨 Phản ánh của người dân")
    assert "Phản ánh đang chờ xử lý" in listing
    assert [label.split(" · ")[0] for label in leader.labels[:2]] == ["Rác đổ ở đầu kiệt 12 ba ngày nay",
                                                                      "Đèn đường kiệt 45 tắt từ tối qua"]
    assert "Đèn đường kiệt 45" in await leader.press("Đèn đường")
    await leader.press("✍️ Trả lời")
    assert "Đã gửi câu trả lời cho Chị Lê Thị Lan." in await leader.send("Tổ đã báo điện lực, mai sửa.")
    assert last_row(leader) == ["📨 Xem phản ánh khác", "☰ Menu"]
    await leader.press("📨 Xem phản ánh khác")
    assert "Rác đổ ở đầu kiệt 12" in " ".join(leader.labels)
