"""A leader files the security forms (task 1, An ninh trật tự): transcripts on a real database."""

from __future__ import annotations

from tests import images
from tests.helpers import Chat, saved_reports

PNG = images.png(color=(110, 120, 200, 128))  # a real image: photos are decoded


async def open_form(app: object, title: str) -> Chat:
    """Bà Mai, leader of Tổ dân phố Xuân Hà 9, opens a security form from the main menu."""
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    listing = await chat.press("An ninh trật tự")
    assert "Chọn loại báo cáo:" in listing
    assert "Vụ việc an ninh trật tự" in chat.labels
    assert "Biến động cư trú trong tháng" in chat.labels
    await chat.press(title)
    return chat



async def test_an_incident_of_another_kind_with_people_hurt(app) -> None:
    chat = await open_form(app, "Vụ việc an ninh trật tự")
    assert "📝 Vụ việc an ninh trật tự" in chat.text
    assert "gọi ngay 113 Công an · 114 Cứu hỏa · 115 Cấp cứu" in chat.text
    assert "Câu 1. Đã xảy ra vụ việc gì?" in chat.text
    assert ["Trộm cắp", "Đánh nhau, gây rối", "Ma túy", "Tai nạn giao thông", "Cháy, nổ",
            "Người lạ khả nghi", "Khác"] == chat.labels[:7]
    assert "Hãy bấm một trong các nút bên dưới." in await chat.send("cướp giật")
    assert "Câu 2. Đó là loại vụ việc gì? Ghi ngắn gọn." in await chat.press("Khác")
    assert "Câu trả lời quá ngắn: cần ít nhất 3 ký tự." in await chat.send("ab")
    assert "Câu 3. Vụ việc xảy ra ngày nào?" in await chat.send("Chó thả rông cắn người")
    assert "Ngày 25/11/2026 còn ở tương lai. Vui lòng nhập ngày đã diễn ra." in await chat.send("25/11/2026")
    assert "Ngày 15/10/2026 đã quá xa (quá 31 ngày trước)." in await chat.send("15/10/2026")
    assert "Xảy ra vào buổi nào?" in await chat.press("Hôm qua")
    assert "Vụ việc xảy ra ở đâu?" in await chat.press("Tối")
    assert "Kể ngắn gọn sự việc đã xảy ra." in await chat.location(16.0678, 108.2208)
    assert "Câu trả lời quá ngắn: cần ít nhất 10 ký tự." in await chat.send("Bị cắn")
    story = "Chó nhà số 12 kiệt 42 chạy ra cắn hai cháu đi học về, đã đưa đi tiêm phòng dại."
    assert "Gửi một ảnh hiện trường (nếu có)." in await chat.send(story)
    assert "Có ai bị thương không?" in await chat.photo(PNG, "image/png")
    assert "Bao nhiêu người bị thương?" in await chat.press("Có")
    assert "Vui lòng nhập một số từ 1 đến 100." in await chat.send("0")
    assert "Tổ đã báo cho 113 hoặc công an khu vực chưa?" in await chat.send("2")
    summary = await chat.press("Có")
    assert "Kiểm tra lại báo cáo «Vụ việc an ninh trật tự»" in summary
    for line in ["• Loại vụ việc: Khác", "• Loại vụ việc khác: Chó thả rông cắn người",
                 "• Ngày xảy ra: 21/11/2026", "• Thời điểm: Tối (18–22 giờ)",
                 "• Nơi xảy ra: 📍 16.06780, 108.22080", f"• Diễn biến: {story}",
                 "• Ảnh hiện trường: 📷 đã gửi ảnh", "• Có người bị thương: Có",
                 "• Số người bị thương: 2 người", "• Đã báo 113 hoặc công an khu vực: Có"]:
        assert line in summary
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Vụ việc an ninh trật tự»." in done
    [(report, unit)] = await saved_reports(app)
    assert f"Mã báo cáo: {report.code}" in done
    assert (report.form_key, report.task, report.status) == ("an_ninh_vu_viec", "an_ninh", "sent")
    assert unit.code == "TK-XH9"
    data = report.data
    assert data["loai"] == "khac" and data["loai_khac"] == "Chó thả rông cắn người"
    assert data["ngay"] == "2026-11-21" and data["buoi"] == "toi"
    assert (data["dia_diem"]["lat"], data["dia_diem"]["lon"]) == (16.0678, 108.2208)
    assert isinstance(data["anh"]["attachment"], int)
    assert data["dien_bien"] == story
    assert data["co_nguoi_bi_thuong"] is True and data["so_nguoi_bi_thuong"] == 2
    assert data["da_bao_cong_an"] is True


async def test_a_theft_with_nobody_hurt_then_corrected_from_the_summary(app) -> None:
    chat = await open_form(app, "Vụ việc an ninh trật tự")
    # A listed kind: the question about "another kind" is not asked.
    assert "Câu 2. Vụ việc xảy ra ngày nào?" in await chat.press("Trộm cắp")
    assert "Xảy ra vào buổi nào?" in await chat.send("20/11")
    await chat.press("Đêm")
    assert "Địa chỉ quá ngắn. Hãy gõ rõ số nhà, tên đường, hoặc gửi vị trí." in await chat.send("K42")
    assert "Kể ngắn gọn" in await chat.send("Kiệt 42 Hà Huy Tập")
    await chat.send("Mất trộm xe máy để trong sân lúc 2 giờ sáng, cửa cổng bị cắt khóa.")
    assert "Câu này cần một ảnh. Hãy gửi một ảnh, hoặc chọn «Bỏ qua» nếu không có." in await chat.send("không có ảnh")
    assert "Có ai bị thương không?" in await chat.press("Bỏ qua")
    assert "Tổ đã báo cho 113 hoặc công an khu vực chưa?" in await chat.press("Không")
    assert "Hãy bấm «Có» hoặc «Không»." in await chat.send("để mai")
    summary = await chat.send("chưa")
    for line in ["• Loại vụ việc: Trộm cắp", "• Ngày xảy ra: 20/11/2026", "• Thời điểm: Đêm, rạng sáng (22–5 giờ)",
                 "• Nơi xảy ra: 📍 Kiệt 42 Hà Huy Tập", "• Ảnh hiện trường: (không có)",
                 "• Có người bị thương: Không", "• Đã báo 113 hoặc công an khu vực: Không"]:
        assert line in summary
    assert "Loại vụ việc khác" not in summary
    assert "Số người bị thương" not in summary
    # Changing "anyone hurt" to yes now asks how many, then returns to the summary.
    await chat.press("Sửa một câu")
    assert "Câu trả lời hiện tại: Không" in await chat.press("Có người bị thương")
    assert "Bao nhiêu người bị thương?" in await chat.press("Có")
    summary = await chat.send("1")
    assert "• Số người bị thương: 1 người" in summary
    # And back to no: the count disappears from the summary and from the saved report.
    await chat.press("Sửa một câu")
    await chat.press("Có người bị thương")
    summary = await chat.press("Không")
    assert "Số người bị thương" not in summary
    assert "Đã gửi báo cáo" in await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data == {
        "loai": "trom_cap", "ngay": "2026-11-20", "buoi": "dem",
        "dia_diem": {"lat": None, "lon": None, "address": "Kiệt 42 Hà Huy Tập"},
        "dien_bien": "Mất trộm xe máy để trong sân lúc 2 giờ sáng, cửa cổng bị cắt khóa.",
        "anh": None, "co_nguoi_bi_thuong": False, "da_bao_cong_an": False,
    }


async def test_residence_changes_are_counts_only(app) -> None:
    chat = await open_form(app, "Biến động cư trú")
    assert "📝 Biến động cư trú trong tháng" in chat.text
    assert "Không ghi họ tên, số CCCD của ai." in chat.text
    assert "(1/6) Tháng này có bao nhiêu người mới đến ở hẳn (thường trú) trong tổ?" in chat.text
    assert "Chỉ ghi số lượng, không ghi họ tên." in chat.text
    assert "Vui lòng nhập một số từ 0 đến 500." in await chat.send("Nguyễn Văn An")
    assert "Bao nhiêu người mới đến tạm trú (thuê trọ, ở nhờ)?" in await chat.send("2")
    assert "Vui lòng nhập một số từ 0 đến 1.000." in await chat.send("-1")
    assert "Bao nhiêu người đã chuyển đi nơi khác?" in await chat.send("15 người")
    assert "Vui lòng nhập một số từ 0 đến 500." in await chat.send("1,5")  # people are whole
    assert "Bao nhiêu người mới đi tạm vắng" in await chat.send("3")
    assert "Có bao nhiêu hộ gia đình mới chuyển đến?" in await chat.send("0")
    assert "Vui lòng nhập một số từ 0 đến 100." in await chat.send("150")
    assert "Ghi chú thêm (nếu có)?" in await chat.send("1 hộ")
    summary = await chat.send("Có 1 nhà trọ mới mở ở kiệt 18, chủ trọ chưa khai báo tạm trú cho người thuê.")
    for line in ["• Người mới đến thường trú: 2 người", "• Người mới tạm trú: 15 người",
                 "• Người chuyển đi: 3 người", "• Người đi tạm vắng: 0 người", "• Hộ mới chuyển đến: 1 hộ",
                 "• Ghi chú: Có 1 nhà trọ mới mở ở kiệt 18, chủ trọ chưa khai báo tạm trú cho người thuê."]:
        assert line in summary
    assert "✅ Đã gửi báo cáo «Biến động cư trú trong tháng»." in await chat.press("Gửi báo cáo")
    [(report, unit)] = await saved_reports(app)
    assert (report.form_key, report.task, unit.code) == ("an_ninh_cu_tru", "an_ninh", "TK-XH9")
    assert report.data == {"thuong_tru_moi": 2, "tam_tru_moi": 15, "chuyen_di": 3, "tam_vang": 0,
                           "ho_moi_den": 1, "ghi_chu": "Có 1 nhà trọ mới mở ở kiệt 18, chủ trọ chưa khai báo "
                                                       "tạm trú cho người thuê."}


async def test_residence_changes_back_and_skip_the_note(app) -> None:
    chat = await open_form(app, "Biến động cư trú")
    assert "⬅️ Quay lại" not in chat.labels  # nothing to go back to on the first question
    await chat.send("0")
    await chat.send("4")
    assert "Bao nhiêu người mới đến tạm trú" in await chat.press("Quay lại")
    await chat.send("6")
    await chat.send("1")
    await chat.send("0")
    assert "Câu này cần một số, không phải vị trí." in await chat.location(16.0678, 108.2208)
    assert "Ghi chú thêm" in await chat.send("0")
    summary = await chat.press("Bỏ qua")
    assert "• Người mới tạm trú: 6 người" in summary
    assert "• Ghi chú: (không có)" in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data["tam_tru_moi"] == 6 and report.data["ghi_chu"] is None
