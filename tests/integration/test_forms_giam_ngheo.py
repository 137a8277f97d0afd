"""A leader files the poverty-support forms (task 3, Hỗ trợ giảm nghèo): transcripts on a real database.

These rows are sensitive (DESIGN §7): the forms ask a household code chosen by the group, never a
name or an ID number, and the saved data holds exactly the fields of the form.
"""

from __future__ import annotations

from tests.helpers import Chat, saved_reports


async def open_form(app: object, title: str) -> Chat:
    """Bà Mai, leader of Tổ dân phố Xuân Hà 9, opens a poverty-support form from the main menu."""
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    assert "Chọn loại báo cáo:" in await chat.press("Hỗ trợ giảm nghèo")
    assert "Hỗ trợ hộ nghèo, hộ khó khăn" in chat.labels
    assert "Hộ thoát nghèo, thoát cận nghèo" in chat.labels
    await chat.press(title)
    return chat



async def test_support_given_to_a_near_poor_household(app) -> None:
    chat = await open_form(app, "Hỗ trợ hộ nghèo")
    assert "📝 Hỗ trợ hộ nghèo, hộ khó khăn" in chat.text
    assert "Chỉ dùng mã hộ do tổ tự đặt; không ghi họ tên, số CCCD." in chat.text
    assert "(1/6) Mã của hộ được hỗ trợ là gì?" in chat.text
    assert "Mã do tổ tự đặt, ví dụ HN03 — không ghi tên, số CCCD" in chat.text
    assert "Gõ câu trả lời (ít nhất 2, tối đa 12 ký tự)." in chat.text  # the minimum said before a try
    assert "Câu trả lời quá ngắn: cần ít nhất 2 ký tự." in await chat.send("A")
    refused = await chat.send("Nguyễn Thị Hồng Nhung")
    assert "Câu trả lời dài 21 ký tự, quá giới hạn 12 ký tự. Vui lòng viết ngắn lại." in refused
    assert "Hộ thuộc diện nào?" in await chat.send("CN07")
    assert ["Hộ nghèo", "Hộ cận nghèo", "Khó khăn đột xuất"] == chat.labels[:3]
    assert "Hỗ trợ bằng gì?" in await chat.press("Hộ cận nghèo")
    assert "Tổng giá trị hỗ trợ là bao nhiêu đồng?" in await chat.press("Gạo và nhu yếu phẩm")
    assert "Quy ra tiền, ví dụ 500.000." in chat.text
    assert "Số -5 là số âm" in await chat.send("-5")
    assert "Vui lòng nhập một số từ 0 đến 500.000.000." in chat.text
    assert "«khoảng hai triệu» không phải là một số." in await chat.send("khoảng hai triệu")
    assert "Vui lòng nhập một số từ 0 đến 500.000.000." in await chat.send("600.000.000")
    assert "Hỗ trợ từ nguồn nào?" in await chat.send("1.500.000")
    assert "Hỗ trợ vào ngày nào?" in await chat.press("Mạnh thường quân")
    assert "Ngày 23/11/2026 còn ở tương lai. Vui lòng nhập ngày đã diễn ra." in await chat.send("23/11/2026")
    assert "Ngày 01/11/2025 đã quá xa (quá 366 ngày trước)." in await chat.send("01/11/2025")
    summary = await chat.send("20/11")
    assert "Kiểm tra lại báo cáo «Hỗ trợ hộ nghèo, hộ khó khăn»" in summary
    for line in ["• Mã hộ: CN07", "• Diện hộ: Hộ cận nghèo", "• Hình thức hỗ trợ: Gạo và nhu yếu phẩm",
                 "• Giá trị: 1.500.000 đ", "• Nguồn hỗ trợ: Mạnh thường quân", "• Ngày hỗ trợ: 20/11/2026"]:
        assert line in summary
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Hỗ trợ hộ nghèo, hộ khó khăn»." in done
    [(report, unit)] = await saved_reports(app)
    assert f"Mã báo cáo: {report.code}" in done
    assert (report.form_key, report.task, unit.code) == ("giam_ngheo_ho_tro", "giam_ngheo", "TK-XH9")
    assert report.data == {"ma_ho": "CN07", "dien": "can_ngheo", "hinh_thuc": "gao", "gia_tri": 1_500_000,
                           "nguon": "mtq", "ngay": "2026-11-20"}


async def test_support_with_no_money_value_typed_answers(app) -> None:
    chat = await open_form(app, "Hỗ trợ hộ nghèo")
    await chat.send("HN03")
    await chat.send("ho ngheo")  # an option typed without diacritics
    assert "Tổng giá trị" in await chat.send("3")  # the third kind: Việc làm
    assert "Hỗ trợ từ nguồn nào?" in await chat.send("0")
    await chat.press("Tổ tự vận động")
    summary = await chat.press("Hôm nay")
    for line in ["• Mã hộ: HN03", "• Diện hộ: Hộ nghèo", "• Hình thức hỗ trợ: Việc làm", "• Giá trị: 0 đ",
                 "• Nguồn hỗ trợ: Tổ tự vận động", "• Ngày hỗ trợ: 22/11/2026"]:
        assert line in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data["gia_tri"] == 0 and report.data["hinh_thuc"] == "viec_lam"


async def test_a_household_leaves_poverty_for_another_reason(app) -> None:
    chat = await open_form(app, "Hộ thoát nghèo")
    assert "📝 Hộ thoát nghèo, thoát cận nghèo" in chat.text
    assert "Câu 1. Mã của hộ thoát nghèo là gì?" in chat.text
    assert "Trước đây hộ thuộc diện nào?" in await chat.send("HN01")
    assert "Hãy bấm một trong các nút bên dưới." in await chat.send("nghèo lắm")
    assert "Hộ thoát nghèo từ ngày nào?" in await chat.press("Hộ nghèo")
    assert "Không đọc được ngày «31/02/2026»." in await chat.send("31/02/2026")
    assert "Vì sao hộ thoát nghèo được?" in await chat.send("15/11/2026")
    assert "(5/6) Lý do khác là gì? Ghi ngắn gọn." in await chat.press("Khác")
    assert "Ghi chú thêm (nếu có)?" in await chat.send("Con gái được nhận vào làm công nhân khu công nghiệp")
    summary = await chat.press("Bỏ qua")
    for line in ["• Mã hộ: HN01", "• Diện trước đây: Hộ nghèo", "• Ngày thoát nghèo: 15/11/2026",
                 "• Lý do chính: Khác", "• Lý do khác: Con gái được nhận vào làm công nhân khu công nghiệp",
                 "• Ghi chú: (không có)"]:
        assert line in summary
    assert "✅ Đã gửi báo cáo «Hộ thoát nghèo, thoát cận nghèo»." in await chat.press("Gửi báo cáo")
    [(report, unit)] = await saved_reports(app)
    assert (report.form_key, report.task, unit.code) == ("giam_ngheo_thoat_ngheo", "giam_ngheo", "TK-XH9")
    assert report.data == {"ma_ho": "HN01", "dien_truoc": "ho_ngheo", "ngay": "2026-11-15", "ly_do": "khac",
                           "ly_do_khac": "Con gái được nhận vào làm công nhân khu công nghiệp", "ghi_chu": None}


async def test_a_listed_reason_asks_nothing_more_and_an_edit_to_other_asks_it(app) -> None:
    chat = await open_form(app, "Hộ thoát nghèo")
    await chat.send("CN12")
    await chat.press("Hộ cận nghèo")
    await chat.press("Hôm qua")
    assert "(5/5) Ghi chú thêm (nếu có)?" in await chat.press("Vay vốn làm ăn")
    summary = await chat.send("Vay 50.000.000 đ Ngân hàng Chính sách xã hội để mở tiệm tạp hóa.")
    assert "• Lý do chính: Vay vốn làm ăn" in summary
    assert "Lý do khác" not in summary
    # Changing the reason to «Khác» asks what it is, then returns to the summary.
    await chat.press("Sửa một câu")
    assert "Câu trả lời hiện tại: Vay vốn làm ăn" in await chat.press("Lý do chính")
    assert "Lý do khác là gì?" in await chat.press("Khác")
    summary = await chat.send("Được hỗ trợ học nghề may")
    assert "• Lý do khác: Được hỗ trợ học nghề may" in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data == {"ma_ho": "CN12", "dien_truoc": "can_ngheo", "ngay": "2026-11-21", "ly_do": "khac",
                           "ly_do_khac": "Được hỗ trợ học nghề may",
                           "ghi_chu": "Vay 50.000.000 đ Ngân hàng Chính sách xã hội để mở tiệm tạp hóa."}
