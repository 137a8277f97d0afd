"""A leader files the sanitation forms (task 2, Vệ sinh môi trường): transcripts on a real database."""

from __future__ import annotations

from tests import images
from tests.helpers import Chat, saved_reports

PNG = images.png(color=(10, 120, 200, 128))  # a real image: photos are decoded
JPEG = images.jpeg()


async def open_form(app: object, title: str) -> Chat:
    """Bà Mai, leader of Tổ dân phố Xuân Hà 9, opens a sanitation form from the main menu."""
    chat = Chat(app, "demo-totruong-2")
    await chat.send("/menu")
    assert "Chọn loại báo cáo:" in await chat.press("Vệ sinh môi trường")
    for form_title in ("Kết quả Ngày Chủ nhật Xanh - Sạch - Đẹp", "Điểm đen rác thải",
                       "Mô hình “Tổ dân phố không rác”", "Khu vực, tuyến phố “điểm” về vệ sinh môi trường"):
        assert form_title in chat.labels
    await chat.press(title)
    return chat



async def test_a_waste_hotspot_with_another_kind_of_waste(app) -> None:
    chat = await open_form(app, "Điểm đen rác thải")
    assert "📝 Điểm đen rác thải" in chat.text
    assert "Câu 1. Điểm rác ở đâu?" in chat.text
    assert "⏭ Bỏ qua" not in chat.labels  # the place is required
    assert "Địa chỉ quá ngắn. Hãy gõ rõ số nhà, tên đường, hoặc gửi vị trí." in await chat.send("cầu")
    assert "nằm ngoài Thành phố Đà Nẵng" in await chat.location(10.7769, 106.7009)  # Thành phố Hồ Chí Minh
    assert "Câu 2. Chụp một ảnh điểm rác và gửi lên." in await chat.location(16.0678, 108.2208)
    assert "⏭ Bỏ qua" not in chat.labels  # the photo is required too
    assert "Câu này cần một ảnh. Hãy gửi một ảnh." in await chat.send("chưa chụp")
    assert "Ở đó có những loại rác gì?" in await chat.photo(JPEG)
    assert "Hãy chọn ít nhất một mục rồi bấm «Xong»." in await chat.press("Xong")
    await chat.press("Xà bần")
    await chat.press("Khác")
    assert "✅ Xà bần, phế thải xây dựng" in chat.labels and "✅ Khác" in chat.labels
    assert "(4/7) Đó là loại rác gì khác?" in await chat.press("Xong")
    assert "Điểm rác lớn cỡ nào?" in await chat.send("Xác gia cầm, lông gà")
    assert "Rác ở đó bao lâu rồi?" in await chat.press("Lớn")
    assert "Ghi chú thêm (nếu có)?" in await chat.press("Dọn rồi vẫn bị đổ lại")
    summary = await chat.send("Thường bị đổ lúc tối khuya, đề nghị lắp camera và biển cấm.")
    assert "Kiểm tra lại báo cáo «Điểm đen rác thải»" in summary
    for line in ["• Vị trí: 📍 16.06780, 108.22080", "• Ảnh điểm rác: 📷 đã gửi ảnh",
                 "• Loại rác: Xà bần, phế thải xây dựng, Khác", "• Loại rác khác: Xác gia cầm, lông gà",
                 "• Quy mô: Lớn — trên 5 m³ (cả xe tải)", "• Đã tồn đọng: Dọn rồi vẫn bị đổ lại nhiều lần",
                 "• Ghi chú: Thường bị đổ lúc tối khuya, đề nghị lắp camera và biển cấm."]:
        assert line in summary
    done = await chat.press("Gửi báo cáo")
    assert "✅ Đã gửi báo cáo «Điểm đen rác thải»." in done
    [(report, unit)] = await saved_reports(app)
    assert f"Mã báo cáo: {report.code}" in done
    assert (report.form_key, report.task, unit.code) == ("ve_sinh_diem_den", "ve_sinh", "TK-XH9")
    data = report.data
    assert data["vi_tri"]["lat"] == 16.0678 and isinstance(data["anh"]["attachment"], int)
    assert data["loai_rac"] == ["xa_ban", "khac"] and data["loai_rac_khac"] == "Xác gia cầm, lông gà"
    assert (data["quy_mo"], data["thoi_gian"]) == ("lon", "tai_dien")


async def test_a_waste_hotspot_typed_without_buttons(app) -> None:
    chat = await open_form(app, "Điểm đen rác thải")
    await chat.send("16.0544, 108.2022")
    await chat.photo(PNG, "image/png")
    # Numbered options typed with a comma; without «Khác» the next question is the size.
    assert "Điểm rác lớn cỡ nào?" in await chat.send("1, 3")
    await chat.send("1")
    assert "Hãy bấm một trong các nút bên dưới." in await chat.send("lâu lắm rồi")
    await chat.send("tren 3 thang")  # an option typed without diacritics
    summary = await chat.press("Bỏ qua")
    for line in ["• Vị trí: 📍 16.05440, 108.20220",
                 "• Loại rác: Rác sinh hoạt, Rác cồng kềnh (bàn ghế, nệm cũ…)",
                 "• Quy mô: Nhỏ — dưới 1 m³ (vài bao)", "• Đã tồn đọng: Trên 3 tháng", "• Ghi chú: (không có)"]:
        assert line in summary
    assert "Loại rác khác" not in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert "loai_rac_khac" not in report.data
    assert report.data["loai_rac"] == ["sinh_hoat", "cong_kenh"]
    assert report.data["ghi_chu"] is None


async def test_litter_free_status_not_registered_yet(app) -> None:
    chat = await open_form(app, "Tổ dân phố không rác")
    assert "Câu 1. Tổ mình đang ở mức nào?" in chat.text
    assert "(2/5) Tổ có muốn đăng ký xây dựng mô hình trong thời gian tới không?" in await chat.press("Chưa đăng ký")
    assert "Bao nhiêu hộ đang phân loại rác tại nhà?" in await chat.press("Có")
    assert "rác hữu cơ (thức ăn thừa, rau củ)" in chat.text
    assert "Vui lòng nhập một số từ 0 đến 1.000." in await chat.send("1.500")
    assert "Vui lòng nhập một số từ 0 đến 1.000." in await chat.send("khoảng một nửa")
    assert "Bao nhiêu hộ có đăng ký thu gom rác" in await chat.send("40 hộ")
    assert "Ghi chú thêm" in await chat.send("85")
    summary = await chat.send("Còn 2 hộ kinh doanh chưa ký hợp đồng thu gom.")
    for line in ["• Tình trạng: Chưa đăng ký", "• Muốn đăng ký xây dựng mô hình: Có",
                 "• Hộ phân loại rác tại nguồn: 40 hộ", "• Hộ có dịch vụ thu gom rác: 85 hộ",
                 "• Ghi chú: Còn 2 hộ kinh doanh chưa ký hợp đồng thu gom."]:
        assert line in summary
    assert "✅ Đã gửi báo cáo «Mô hình “Tổ dân phố không rác”»." in await chat.press("Gửi báo cáo")
    [(report, unit)] = await saved_reports(app)
    assert (report.form_key, unit.code) == ("ve_sinh_khong_rac", "TK-XH9")
    assert report.data == {"trang_thai": "chua_dang_ky", "muon_dang_ky": True, "ho_phan_loai": 40,
                           "ho_thu_gom": 85, "ghi_chu": "Còn 2 hộ kinh doanh chưa ký hợp đồng thu gom."}


async def test_litter_free_status_already_reached(app) -> None:
    chat = await open_form(app, "Tổ dân phố không rác")
    # Already reached: the question about registering is not asked.
    assert "(2/4) Bao nhiêu hộ đang phân loại rác tại nhà?" in await chat.press("Đã đạt")
    await chat.send("70")
    await chat.send("87")
    summary = await chat.press("Bỏ qua")
    assert "• Tình trạng: Đã đạt “Tổ dân phố không rác”" in summary
    assert "Muốn đăng ký" not in summary
    await chat.press("Gửi báo cáo")
    [(report, _unit)] = await saved_reports(app)
    assert report.data == {"trang_thai": "da_dat", "ho_phan_loai": 70, "ho_thu_gom": 87, "ghi_chu": None}


async def test_a_model_sanitation_spot_is_registered(app) -> None:
    chat = await open_form(app, "“điểm” về vệ sinh")
    assert "📝 Khu vực, tuyến phố “điểm” về vệ sinh môi trường" in chat.text
    assert "(1/6) Tổ báo cáo việc gì?" in chat.text
    assert "Tên tuyến đường, kiệt hoặc khu vực là gì?" in await chat.press("Đăng ký điểm mới")
    assert "Ví dụ: Kiệt 25 Hà Huy Tập, đoạn từ số 1 đến số 40." in chat.text
    assert "Câu trả lời quá ngắn: cần ít nhất 3 ký tự." in await chat.send("K2")
    assert "Điểm này ở đâu?" in await chat.send("Kiệt 25 Hà Huy Tập")
    assert "Câu này cần một vị trí, không phải ảnh." in await chat.photo(PNG)
    assert "Gửi một ảnh hiện trạng của điểm." in await chat.send("Đầu kiệt 25 Hà Huy Tập, cạnh nhà văn hóa")
    assert "Tổ đã làm (hoặc sẽ làm) những gì ở điểm này?" in await chat.photo(PNG)
    await chat.press("Trồng hoa")
    await chat.press("Vẽ tranh tường")
    await chat.press("camera")  # pressed by mistake, then pressed again to take it back
    await chat.press("camera")
    assert "▫️ Lắp camera giám sát" in chat.labels
    await chat.press("Đặt thùng rác")
    assert "Ghi chú thêm (kinh phí" in await chat.press("Xong")
    summary = await chat.send("Kinh phí do bà con đóng góp 12.000.000 đ; chi hội phụ nữ phụ trách tưới cây.")
    for line in ["• Hình thức: Đăng ký điểm mới", "• Tên tuyến phố, khu vực: Kiệt 25 Hà Huy Tập",
                 "• Vị trí: 📍 Đầu kiệt 25 Hà Huy Tập, cạnh nhà văn hóa", "• Ảnh hiện trạng: 📷 đã gửi ảnh",
                 "• Việc đã làm: Trồng hoa, cây xanh, Vẽ tranh tường, Đặt thùng rác phân loại"]:
        assert line in summary
    assert "Đã gửi báo cáo" in await chat.press("Gửi báo cáo")
    [(report, unit)] = await saved_reports(app)
    assert (report.form_key, report.task, unit.code) == ("ve_sinh_diem_mau", "ve_sinh", "TK-XH9")
    data = report.data
    assert data["hinh_thuc"] == "dang_ky" and data["ten_khu_vuc"] == "Kiệt 25 Hà Huy Tập"
    assert data["vi_tri"] == {"lat": None, "lon": None, "address": "Đầu kiệt 25 Hà Huy Tập, cạnh nhà văn hóa"}
    assert data["viec_da_lam"] == ["trong_cay", "ve_tranh", "thung_rac"]
