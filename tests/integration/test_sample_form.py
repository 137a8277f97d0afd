"""A leader registers and files the sample form: transcripts on a real database."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Report
from tests import images
from tests.helpers import Chat

GREEN = "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp"

PNG = images.png(color=(70, 120, 200, 128))  # a real image: photos are decoded


async def register_leader(app: object) -> Chat:
    chat = Chat(app, "new-leader", name="Ông Hùng")
    assert "nhập mã mời" in await chat.send("xin chào")
    answer = await chat.send("/start HUNG05")
    assert "Đăng ký thành công! Bạn là tổ trưởng của Tổ dân phố Thạch Thang 3, Phường Hải Châu" in answer
    return chat


async def test_leader_files_the_sample_form_with_buttons(app) -> None:
    chat = await register_leader(app)
    assert "Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp" in await chat.open_form("Vệ sinh môi trường", GREEN)
    assert "Câu 1. Tổ mình ra quân ngày nào?" in chat.text
    assert "Có bao nhiêu người tham gia?" in await chat.press("Hôm nay")
    assert "Vui lòng nhập một số từ 1 đến 2.000" in chat.text
    assert "Bao nhiêu hộ gia đình tham gia?" in await chat.send("35")
    assert "Tổ đã làm những việc gì?" in await chat.send("20")
    await chat.press("Quét dọn")
    assert "✅ Quét dọn đường, kiệt hẻm" in chat.labels
    await chat.press("Khơi thông")
    assert "Thu gom được khoảng bao nhiêu ký rác?" in await chat.press("Xong")
    assert "Còn điểm rác tồn đọng" in await chat.send("120,5")
    assert "Điểm rác tồn đọng ở đâu?" in await chat.press("Có")
    assert "Tổ tự đánh giá" in await chat.location(16.0718, 108.2204)
    assert "Gửi một ảnh" in await chat.press("Tốt")
    assert "Ghi chú thêm" in await chat.photo(PNG, "image/png")
    summary = await chat.send("Cần thêm xe thu gom rác ở kiệt 42")
    assert "Kiểm tra lại báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»" in summary
    for line in ["• Ngày ra quân: 22/11/2026", "• Số người tham gia: 35 người", "• Số hộ tham gia: 20 hộ",
                 "• Hoạt động: Quét dọn đường, kiệt hẻm, Khơi thông cống rãnh",
                 "• Rác thu gom (kg): 120,5 kg", "• Còn điểm rác tồn đọng: Có",
                 "• Vị trí điểm rác: 📍 16.07180, 108.22040", "• Tự đánh giá: Tốt",
                 "• Ảnh sau khi dọn: 📷 đã gửi ảnh", "• Ghi chú: Cần thêm xe thu gom rác ở kiệt 42"]:
        assert line in summary
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp»." in done
    async with app.sessions() as session:
        reports = (await session.scalars(select(Report))).all()
    assert len(reports) == 1
    report = reports[0]
    assert f"Mã báo cáo: {report.code}" in done
    assert report.data["nguoi_tham_gia"] == 35
    assert report.data["rac_kg"] == 120.5
    assert report.data["hoat_dong"] == ["quet_don", "khoi_thong"]
    assert report.data["vi_tri_diem_rac"]["lat"] == 16.0718
    assert report.status == "sent" and report.task == "ve_sinh"


async def test_skip_condition_back_and_edit(app) -> None:
    chat = await register_leader(app)
    await chat.open_form("Vệ sinh môi trường", GREEN)
    await chat.send("21/11/2026")
    await chat.send("10")
    assert "Có bao nhiêu người tham gia?" in await chat.press("Quay lại")
    assert "Bao nhiêu hộ" in await chat.send("12")
    await chat.send("5")
    await chat.send("1, 3")  # numbered choices typed with commas
    assert "Thu gom" in chat.text
    assert "Còn điểm rác" in await chat.press("Bỏ qua")
    assert "Tổ tự đánh giá" in await chat.press("Không")  # the location question is skipped
    await chat.send("kha")  # an option typed without diacritics
    await chat.press("Bỏ qua")
    summary = await chat.press("Bỏ qua")
    assert "Vị trí điểm rác" not in summary
    assert "• Số người tham gia: 12 người" in summary
    assert "• Rác thu gom (kg): (không có)" in summary
    assert "• Tự đánh giá: Khá" in summary
    # Edit one answer from the summary; changing the yes/no now asks the location it reveals.
    assert "Bạn muốn sửa câu nào?" in await chat.press("Sửa một câu")
    assert "Câu trả lời hiện tại: Không" in await chat.press("Còn điểm rác tồn đọng")
    assert "Điểm rác tồn đọng ở đâu?" in await chat.press("Có")
    summary = await chat.send("Kiệt 15 Lê Duẩn")
    assert "• Vị trí điểm rác: 📍 Kiệt 15 Lê Duẩn" in summary
    assert "Đã gửi báo cáo" in await chat.press("Gửi báo cáo")


async def test_bad_answers_are_refused_with_a_reason_and_nothing_is_lost(app, clock) -> None:
    chat = await register_leader(app)
    await chat.open_form("Vệ sinh môi trường", GREEN)
    assert "còn ở tương lai" in await chat.send("30/12/2026")
    assert "Không đọc được ngày «32/13»" in await chat.send("32/13")
    assert "quá xa" in await chat.send("01/01/2025")
    assert "Câu này cần một ngày, không phải ảnh." in await chat.photo(PNG)
    await chat.send("hôm qua")
    assert "Vui lòng nhập một số từ 1 đến 2.000" in await chat.send("rất đông")
    assert "Vui lòng nhập một số từ 1 đến 2.000" in await chat.send("5000")
    assert "Vui lòng nhập một số từ 1 đến 2.000" in await chat.send("2,5")  # people are whole
    assert "Bao nhiêu hộ" in await chat.send("1.500")
    await chat.send("30")
    await chat.press("Nhặt rác")
    await chat.press("Xong")
    await chat.send("0")
    await chat.press("Có")
    outside = await chat.location(21.0285, 105.8542)  # Hà Nội
    assert "nằm ngoài Thành phố Đà Nẵng" in outside
    assert "Địa chỉ quá ngắn" in await chat.send("abc")
    await chat.send("16.06, 108.21")
    await chat.press("Tốt")
    huge = b"\xff\xd8" + b"0" * 10_000_001
    assert "Ảnh quá lớn" in await chat.photo(huge), chat.text
    assert "Ghi chú thêm" in await chat.press("Bỏ qua"), chat.text
    long_text = "Rác " * 1200
    kept = await chat.send(long_text)  # kept, not lost (issue 14): the first part or a shorter one
    assert "Câu trả lời dài 4.799 ký tự; câu này nhận tối đa 1.000 ký tự." in kept
    assert "✂️ Giữ 1.000 ký tự đầu" in chat.labels
    summary = await chat.send("<b>Cảm ơn</b> bà con & các cháu 🌿")
    assert "• Ghi chú: <b>Cảm ơn</b> bà con & các cháu 🌿" in summary
    assert "• Số người tham gia: 1.500 người" in summary


async def test_pressing_send_twice_saves_one_report(app) -> None:
    chat = await register_leader(app)
    await chat.open_form("Vệ sinh môi trường", GREEN)
    for answer in ("hôm nay", "8", "3"):
        await chat.send(answer)
    await chat.press("Trồng cây")
    await chat.press("Xong")
    await chat.press("Bỏ qua")
    await chat.press("Không")
    await chat.press("Tốt")
    await chat.press("Bỏ qua")
    await chat.press("Bỏ qua")
    send_id = chat.button_id("Gửi báo cáo")
    first = await chat.press_id(send_id)
    second = await chat.press_id(send_id)
    assert "Đã gửi báo cáo" in first
    assert "Báo cáo này đã được gửi rồi" in second
    async with app.sessions() as session:
        assert len((await session.scalars(select(Report))).all()) == 1
