"""A leader files the grassroots-democracy forms (task 4, Dân chủ cơ sở và phản ánh): transcripts on a
real database."""

from __future__ import annotations

from tests import images
from tests.helpers import Chat, saved_reports

PNG = images.png(color=(150, 120, 200, 128))  # a real image: photos are decoded


async def open_form(app: object, title: str) -> Chat:
    """Bà Mai, leader of Tổ dân phố Xuân Hà 9, opens a form of the fourth task from the main menu."""
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    assert "Chọn loại báo cáo:" in await chat.press("Dân chủ cơ sở và phản ánh")
    assert "Cuộc họp tổ dân phố" in chat.labels
    assert "Phản ánh, kiến nghị của người dân" in chat.labels
    await chat.press(title)
    return chat



async def test_a_community_meeting(app) -> None:
    chat = await open_form(app, "Cuộc họp tổ dân phố")
    assert "📝 Cuộc họp tổ dân phố" in chat.text
    assert "(1/6) Tổ họp ngày nào?" in chat.text
    assert "Ngày 01/09/2026 đã quá xa (quá 62 ngày trước)." in await chat.send("01/09/2026")
    # The group's total comes first, offered from the unit: one tap (issue 14).
    assert "Tổ mình có tổng cộng bao nhiêu hộ?" in await chat.press("Hôm nay")
    assert "Số hộ của tổ đang ghi là 87 hộ." in chat.text and "Giữ 87 hộ" in chat.labels
    assert "Bao nhiêu hộ đến dự họp?" in await chat.press("Giữ 87 hộ")
    assert "Vui lòng nhập một số từ 1 đến 1.000." in await chat.send("0")
    assert "Vui lòng nhập một số từ 1 đến 1.000." in await chat.send("đông đủ")
    assert "Cuộc họp bàn những việc gì?" in await chat.send("62 hộ")
    await chat.press("Vệ sinh môi trường")
    await chat.press("Đóng góp các loại quỹ")
    await chat.press("Bầu tổ trưởng")
    assert "✅ Bầu tổ trưởng" in chat.labels and "▫️ An ninh trật tự" in chat.labels
    assert "Cuộc họp đã thống nhất, quyết định những gì?" in await chat.press("Xong")
    assert "Tin nhắn đang trống. Hãy gõ nội dung." in await chat.send("   ")  # blank: the question again
    assert "Câu trả lời quá ngắn: cần ít nhất 5 ký tự." in await chat.send("Ok")
    decisions = ("1. Bầu bà Trần Thị Mai tiếp tục làm tổ trưởng (58/62 hộ đồng ý).\n"
                 "2. Mỗi hộ góp 50.000 đ làm đèn chiếu sáng kiệt 42.\n"
                 "3. Ra quân vệ sinh sáng Chủ nhật hằng tuần.")
    assert "Gửi một ảnh cuộc họp (nếu có)." in await chat.send(decisions)
    summary = await chat.photo(PNG, "image/png")
    assert "Kiểm tra lại báo cáo «Cuộc họp tổ dân phố»" in summary
    for line in ["• Ngày họp: 22/11/2026", "• Số hộ dự họp: 62 hộ", "• Tổng số hộ của tổ: 87 hộ",
                 "• Nội dung họp: Vệ sinh môi trường, Đóng góp các loại quỹ, Bầu tổ trưởng",
                 "• Quyết định, kết luận: 1. Bầu bà Trần Thị Mai", "• Ảnh cuộc họp: 📷 đã gửi ảnh"]:
        assert line in summary
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Cuộc họp tổ dân phố»." in done
    [(report, unit)] = await saved_reports(app)
    assert f"Mã báo cáo: {report.code}" in done
    assert (report.form_key, report.task, unit.code) == ("dan_chu_hop_to", "dan_chu", "TK-XH9")
    data = report.data
    assert (data["ngay"], data["ho_du_hop"], data["tong_so_ho"]) == ("2026-11-22", 62, 87)
    assert data["noi_dung"] == ["ve_sinh", "dong_gop", "bau_to_truong"]
    assert data["ket_luan"] == decisions
    assert isinstance(data["anh"]["attachment"], int)


async def test_a_meeting_without_a_photo(app) -> None:
    chat = await open_form(app, "Cuộc họp tổ dân phố")
    await chat.send("15/11")
    await chat.send("87")
    await chat.send("40")
    assert "Bao nhiêu hộ đến dự họp?" in await chat.press("Quay lại")
    assert "Tổ mình có tổng cộng bao nhiêu hộ?" in await chat.press("Quay lại")
    assert "Bao nhiêu hộ đến dự họp?" in await chat.send("90")
    await chat.send("40")
    await chat.send("1,2,4")  # numbered topics typed with commas
    await chat.send("Thống nhất lịch trực an ninh ban đêm.")
    summary = await chat.press("Bỏ qua")
    assert "• Tổng số hộ của tổ: 90 hộ (số hộ của tổ sẽ đổi từ 87 hộ thành 90 hộ)" in summary
    assert "• Nội dung họp: An ninh trật tự, Vệ sinh môi trường, Xây dựng nông thôn mới, đô thị văn minh" in summary
    assert "• Ảnh cuộc họp: (không có)" in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data["noi_dung"] == ["an_ninh", "ve_sinh", "van_minh"] and report.data["anh"] is None


async def test_feedback_not_yet_passed_to_the_ward(app) -> None:
    chat = await open_form(app, "Phản ánh, kiến nghị")
    assert "📝 Phản ánh, kiến nghị của người dân" in chat.text
    assert "Câu 1. Người dân phản ánh về việc gì?" in chat.text
    assert "Người dân phản ánh, kiến nghị điều gì?" in await chat.press("Đường sá, hạ tầng")
    assert "Không cần ghi tên người phản ánh." in chat.text
    assert "Câu này cần một đoạn chữ, không phải ảnh." in await chat.photo(PNG)
    complaint = "Nắp cống trước nhà số 7 kiệt 42 bị vỡ, trời tối rất dễ sụt chân."
    assert "Gửi một ảnh kèm theo (nếu có)." in await chat.send(complaint)
    assert "Nơi xảy ra việc phản ánh (nếu có)?" in await chat.photo(PNG)
    assert "Tổ đã chuyển phản ánh này lên phường chưa?" in await chat.location(16.0678, 108.2208)
    assert "Hãy bấm «Có» hoặc «Không»." in await chat.send("mai chuyển")
    assert "(6/6) Tổ đã tự giải quyết xong việc này chưa?" in await chat.press("Không")
    summary = await chat.press("Không")
    for line in ["• Lĩnh vực: Đường sá, hạ tầng", f"• Nội dung: {complaint}", "• Ảnh: 📷 đã gửi ảnh",
                 "• Vị trí: 📍 16.06780, 108.22080", "• Đã chuyển lên phường: Không",
                 "• Tổ đã tự giải quyết: Không"]:
        assert line in summary
    assert "✅ Đã gửi báo cáo «Phản ánh, kiến nghị của người dân»." in await chat.press("Gửi báo cáo")
    [(report, unit)] = await saved_reports(app)
    assert (report.form_key, report.task, unit.code) == ("dan_chu_phan_anh", "dan_chu", "TK-XH9")
    data = report.data
    assert data["linh_vuc"] == "ha_tang" and data["noi_dung"] == complaint
    assert data["vi_tri"]["lat"] == 16.0678 and isinstance(data["anh"]["attachment"], int)
    assert data["da_chuyen_phuong"] is False and data["da_giai_quyet"] is False


async def test_feedback_already_passed_to_the_ward_skips_the_follow_up(app) -> None:
    chat = await open_form(app, "Phản ánh, kiến nghị")
    await chat.press("Điện, nước")
    await chat.send("Nước máy yếu vào buổi tối ở khu vực kiệt 18 Hà Huy Tập.")
    await chat.press("Bỏ qua")
    assert "Nơi xảy ra việc phản ánh (nếu có)?" in chat.text
    assert "Tổ đã chuyển phản ánh này lên phường chưa?" in await chat.press("Bỏ qua")
    summary = await chat.press("Có")
    for line in ["• Lĩnh vực: Điện, nước", "• Ảnh: (không có)", "• Vị trí: (không có)", "• Đã chuyển lên phường: Có"]:
        assert line in summary
    assert "Tổ đã tự giải quyết" not in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data == {"linh_vuc": "dien_nuoc",
                           "noi_dung": "Nước máy yếu vào buổi tối ở khu vực kiệt 18 Hà Huy Tập.",
                           "anh": None, "vi_tri": None, "da_chuyen_phuong": True}
